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

/// The first of `n` consecutive TCP ports on 127.0.0.1 that were free a
/// moment ago (ephemeral, so above 5900 as VNC needs).
pub fn free_tcp_ports(n: u16) -> u16 {
    loop {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let p = l.local_addr().expect("addr").port();
        if p.checked_add(n).is_some()
            && (1..n).all(|i| std::net::TcpListener::bind(("127.0.0.1", p + i)).is_ok())
        {
            return p;
        }
    }
}

/// Held while a test runs a VM: QEMU (TCG) is heavy, so one at a time.
pub async fn one_vm() -> tokio::sync::MutexGuard<'static, ()> {
    static VM: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    VM.lock().await
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
        for _ in 0..5 {
            if let Some(b) = Self::try_start(n, extra) {
                return Some(b);
            }
        }
        panic!("could not start ipmi_sim");
    }

    /// One `lab/bmcs.sh start` on a free port; `None` if it failed (the
    /// script then stopped what it had started).
    fn try_start(n: u16, extra: &[&str]) -> Option<Bmc> {
        let k = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("ironrack-ipmi-{}-{k}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        // One free port is checked; the next n-1 usually are free too, and
        // the script fails (then the caller retries) if one is not.
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
        let _ = std::fs::remove_dir_all(&dir);
        None
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

    /// Start one BMC with a QEMU machine behind it (`lab/bmcs.sh
    /// --qemu-port`), or `None` (after printing why) if a tool is missing.
    /// Hold [`one_vm`]'s guard while it lives: VMs run one at a time.
    pub fn start_qemu(test: &str) -> Option<Bmc> {
        if !have("ipmi_sim") {
            skip(test, "ipmi_sim not installed (apt-get install -y openipmi)");
            return None;
        }
        for bin in ["qemu-system-x86_64", "socat", "python3", "as"] {
            if !have(bin) {
                skip(
                    test,
                    &format!(
                        "{bin} not installed (apt-get install -y qemu-system-x86 socat python3 binutils)"
                    ),
                );
                return None;
            }
        }
        for _ in 0..5 {
            let q = free_tcp_ports(3).to_string();
            if let Some(b) = Self::try_start(1, &["--qemu-port", &q]) {
                return Some(b);
            }
        }
        panic!("could not start ipmi_sim with QEMU");
    }

    /// The running VM's pid (BMC 1), checked against /proc: a process that
    /// is gone or a zombie counts as no VM.
    pub fn vm_pid(&self) -> Option<u32> {
        let pid: u32 = std::fs::read_to_string(self.dir.join("bmc1/qemu.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        (!cmdline.is_empty()).then_some(pid)
    }

    /// A process's command line, arguments joined by spaces.
    pub fn cmdline(pid: u32) -> String {
        let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        String::from_utf8_lossy(&raw).replace('\0', " ")
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

/// Read from `r` until `want` has been seen (or panic after 10 s); returns
/// everything read.
pub async fn read_until<R: tokio::io::AsyncRead + Unpin>(r: &mut R, want: &[u8]) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let done = tokio::time::timeout(Duration::from_secs(10), async {
        while !got.windows(want.len()).any(|w| w == want) {
            let n = r.read(&mut buf).await.expect("read");
            assert!(n > 0, "EOF before {:?}", String::from_utf8_lossy(want));
            got.extend_from_slice(&buf[..n]);
        }
    })
    .await;
    assert!(
        done.is_ok(),
        "timed out waiting for {:?}; got {:?}",
        String::from_utf8_lossy(want),
        String::from_utf8_lossy(&got)
    );
    got
}
