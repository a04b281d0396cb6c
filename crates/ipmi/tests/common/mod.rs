//! Test harness: starts ipmi_sim BMCs through lab/bmcs.sh on a free
//! loopback port and cross-checks with ipmitool.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use ironrack_ipmi::Config;

pub const USER: &str = "ADMIN";
pub const PASSWORD: &str = "password";

fn lab_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../lab/bmcs.sh")
}

fn have(bin: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {bin}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Print a skip notice straight to stderr: libtest captures `eprintln!`
/// of passing tests, but not writes to the stderr handle.
pub fn skip(test: &str, why: &str) {
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

/// A UDP port that was free a moment ago.
pub fn free_udp_port() -> u16 {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    s.local_addr().expect("addr").port()
}

/// One running ipmi_sim; stopped (by PID, via the lab script) on drop.
pub struct Bmc {
    pub dir: PathBuf,
    /// Port of the first BMC; BMC i (0-based) listens on `port + i`.
    pub port: u16,
    pub count: u16,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl Bmc {
    /// Start a BMC, or `None` (after printing why) if ipmi_sim is missing.
    pub fn start(test: &str) -> Option<Bmc> {
        Self::start_with(test, &[])
    }

    /// Like [`Bmc::start`] with extra `lab/bmcs.sh start` options.
    pub fn start_with(test: &str, extra: &[&str]) -> Option<Bmc> {
        Self::start_n(test, 1, extra)
    }

    /// Start `n` BMCs on consecutive ports.
    pub fn start_n(test: &str, n: u16, extra: &[&str]) -> Option<Bmc> {
        if !have("ipmi_sim") {
            skip(
                test,
                "ipmi_sim not installed (apt-get install -y openipmi ipmitool)",
            );
            return None;
        }
        let k = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("ironrack-ipmi-{}-{k}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for _ in 0..5 {
            // One free port is checked; the next n-1 usually are free too,
            // and the script fails (then we retry) if one is not.
            let port = free_udp_port().min(65535 - n);
            let out = Command::new("bash")
                .arg(lab_script())
                .arg("start")
                .arg(n.to_string())
                .args(["--base-port", &port.to_string(), "--dir"])
                .arg(&dir)
                .args(extra)
                .output()
                .expect("run lab/bmcs.sh");
            if out.status.success() {
                return Some(Bmc {
                    dir,
                    port,
                    count: n,
                });
            }
            eprintln!(
                "bmcs.sh start failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        panic!("could not start ipmi_sim");
    }

    pub fn config(&self) -> Config {
        Config::new("127.0.0.1", USER, PASSWORD)
            .port(self.port)
            .timeout(Duration::from_millis(300))
            .tries(4)
    }

    fn ipmitool_cmd(&self, args: &[&str]) -> std::process::Output {
        assert!(
            have("ipmitool"),
            "ipmitool not installed (apt-get install -y ipmitool)"
        );
        Command::new("ipmitool")
            .args(["-I", "lanplus", "-C", "3", "-H", "127.0.0.1", "-p"])
            .arg(self.port.to_string())
            .args(["-U", USER, "-P", PASSWORD, "-N", "1", "-R", "3"])
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run ipmitool")
    }

    /// Run ipmitool; returns (success, stdout + stderr).
    pub fn ipmitool_status(&self, args: &[&str]) -> (bool, String) {
        let out = self.ipmitool_cmd(args);
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    }

    /// Run ipmitool -I lanplus -C 3 against this BMC; returns stdout.
    pub fn ipmitool(&self, args: &[&str]) -> String {
        let out = self.ipmitool_cmd(args);
        assert!(
            out.status.success(),
            "ipmitool {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Contents of a chassis_control state file (power, boot).
    pub fn state(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join("bmc1").join(name))
            .unwrap_or_default()
            .trim()
            .to_string()
    }
}

impl Drop for Bmc {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(lab_script())
            .args(["stop", "--dir"])
            .arg(&self.dir)
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Start a BMC or return from the test with a SKIPPED notice.
#[macro_export]
macro_rules! bmc_or_skip {
    ($name:expr) => {
        match common::Bmc::start($name) {
            Some(b) => b,
            None => return,
        }
    };
}
