//! `ironrack ipmi` against ipmi_sim, line for line against ipmitool on the
//! same BMC; `--hosts` fan-out; `--json`; and `ironrack lab bmc` proven by
//! ipmitool on cipher suites 17 and 3. Skipped (with a notice) without
//! ipmi_sim.

#[path = "../../ipmi/tests/common/mod.rs"]
mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

fn ironrack(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ironrack"))
        .args(args)
        .env("IPMI_PASSWORD", common::PASSWORD)
        .stdin(Stdio::null())
        .output()
        .expect("run ironrack");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ours(bmc: &common::Bmc, cmd: &[&str]) -> String {
    let port = bmc.port.to_string();
    let mut args = vec![
        "ipmi",
        "-H",
        "127.0.0.1",
        "-p",
        &port,
        "-U",
        common::USER,
        "-E",
        "-N",
        "0.3",
    ];
    args.extend_from_slice(cmd);
    let (ok, out, err) = ironrack(&args);
    assert!(ok, "ironrack ipmi {cmd:?} failed: {err}");
    out
}

#[test]
fn output_matches_ipmitool_line_for_line() {
    let Some(bmc) = common::Bmc::start("output_matches_ipmitool_line_for_line") else {
        return;
    };
    for cmd in [
        &["power", "status"][..],
        &["chassis", "status"],
        &["mc", "info"],
        &["sdr", "list"],
        &["sdr", "list", "all"],
        &["sdr", "list", "mcloc"],
        &["sensor", "list"],
        &["sel", "list"],
        &["fru", "print"],
    ] {
        assert_eq!(ours(&bmc, cmd), bmc.ipmitool(cmd), "{cmd:?}");
    }
    // lan print: ipmitool's 27 lines, parameters ipmi_sim lacks included.
    let theirs = bmc.ipmitool(&["lan", "print"]);
    assert_eq!(ours(&bmc, &["lan", "print"]), theirs);
    assert!(theirs.lines().count() > 20, "{theirs}");
    // Actions print ipmitool's text and take effect.
    assert_eq!(
        ours(&bmc, &["power", "on"]),
        "Chassis Power Control: Up/On\n"
    );
    assert_eq!(bmc.ipmitool(&["power", "status"]), "Chassis Power is on\n");
    assert_eq!(
        ours(&bmc, &["chassis", "power", "status"]),
        "Chassis Power is on\n"
    );
    assert_eq!(
        ours(&bmc, &["chassis", "bootdev", "pxe", "options=efiboot"]),
        "Set Boot Device to pxe\n"
    );
    assert_eq!(bmc.state("boot"), "pxe");
    assert_eq!(
        ours(&bmc, &["power", "off"]),
        "Chassis Power Control: Down/Off\n"
    );
    assert_eq!(bmc.state("power"), "0");
    assert_eq!(
        ours(&bmc, &["sel", "clear"]),
        bmc.ipmitool(&["sel", "clear"])
    );
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(ours(&bmc, &["sel", "list"]), "SEL has no entries\n");

    let v: serde_json::Value =
        serde_json::from_str(&ours(&bmc, &["--json", "power", "status"])).unwrap();
    assert_eq!(v, serde_json::json!({ "power": "off" }));
    let v: serde_json::Value =
        serde_json::from_str(&ours(&bmc, &["--json", "sdr", "list"])).unwrap();
    assert_eq!(v[1]["name"], "Sys 12V");
    assert_eq!(v[1]["value"], 12.0);
}

#[test]
fn fan_out_prints_one_line_per_host() {
    let Some(bmcs) = common::Bmc::start_n("fan_out_prints_one_line_per_host", 2, &[]) else {
        return;
    };
    let dead = common::free_udp_port();
    let file = bmcs.dir.join("hosts.txt");
    std::fs::write(
        &file,
        format!(
            "# lab\n127.0.0.1:{}\n127.0.0.1:{} operator operator\n127.0.0.1:{dead}\n",
            bmcs.port,
            bmcs.port + 1
        ),
    )
    .unwrap();
    let file = file.to_str().unwrap();
    let (ok, out, err) = ironrack(&[
        "ipmi",
        "--hosts",
        file,
        "-U",
        common::USER,
        "-E",
        "-N",
        "0.2",
        "-R",
        "2",
        "power",
        "status",
    ]);
    assert!(!ok, "a dead host fails the run");
    assert!(err.contains("1 of 3 hosts failed"), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(
        lines[0],
        format!("127.0.0.1:{}: Chassis Power is off", bmcs.port)
    );
    assert_eq!(
        lines[1],
        format!("127.0.0.1:{}: Chassis Power is off", bmcs.port + 1)
    );
    assert!(
        lines[2].starts_with(&format!("127.0.0.1:{dead}: Error: ")),
        "{out}"
    );

    let (_, out, _) = ironrack(&[
        "ipmi",
        "--hosts",
        file,
        "-U",
        common::USER,
        "-E",
        "-N",
        "0.2",
        "-R",
        "2",
        "--json",
        "power",
        "status",
    ]);
    let v: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(v[0]["result"]["power"], "off");
    assert_eq!(v[2]["ok"], false);
}

/// Kills the child (ours, by handle) on drop.
struct Child(std::process::Child);
impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn lab_bmc_speaks_suites_17_and_3_to_ipmitool() {
    if Command::new("ipmitool").arg("-V").output().is_err() {
        common::skip("lab_bmc_speaks_suites_17_and_3_to_ipmitool", "no ipmitool");
        return;
    }
    let port = common::free_udp_port();
    let listen = format!("127.0.0.1:{port}");
    let _bmc = Child(
        Command::new(env!("CARGO_BIN_EXE_ironrack"))
            .args([
                "lab",
                "bmc",
                "--listen",
                &listen,
                "--user",
                "ADMIN",
                "--password",
                "lab-pass",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ironrack lab bmc"),
    );
    let p = port.to_string();
    let tool = |suite: &str, cmd: &[&str]| {
        let mut args = vec![
            "-I",
            "lanplus",
            "-C",
            suite,
            "-H",
            "127.0.0.1",
            "-p",
            &p,
            "-U",
            "ADMIN",
            "-P",
            "lab-pass",
            "-N",
            "1",
            "-R",
            "3",
        ];
        args.extend_from_slice(cmd);
        let out = Command::new("ipmitool").args(&args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // Wait for the listener.
    for _ in 0..50 {
        if tool("17", &["power", "status"]).contains("Chassis Power") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    for suite in ["17", "3"] {
        assert_eq!(
            tool(suite, &["power", "on"]),
            "Chassis Power Control: Up/On\n"
        );
        assert_eq!(tool(suite, &["power", "status"]), "Chassis Power is on\n");
        assert_eq!(
            tool(suite, &["power", "off"]),
            "Chassis Power Control: Down/Off\n"
        );
        // Our CLI reads the same, with either suite.
        let (ok, out, err) = ironrack(&[
            "ipmi",
            "-H",
            "127.0.0.1",
            "-p",
            &p,
            "-U",
            "ADMIN",
            "-P",
            "lab-pass",
            "-C",
            suite,
            "sdr",
            "list",
        ]);
        assert!(ok, "{err}");
        assert_eq!(out, tool(suite, &["sdr", "list"]));
    }
}

/// `ironrack ipmi sol activate` on the console of a QEMU machine behind
/// ipmi_sim: the VM's first words after power on, keys typed through it
/// (the guest echoes them upper-cased), `~.` to quit. Without a terminal
/// on stdin the command reads keys from the pipe, as here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sol_activate_shows_the_vm_console() {
    use tokio::io::AsyncWriteExt;
    let _vm = common::one_vm().await;
    let Some(bmc) = common::Bmc::start_qemu("sol_activate_shows_the_vm_console") else {
        return;
    };
    let port = bmc.port.to_string();
    let base = [
        "ipmi",
        "-H",
        "127.0.0.1",
        "-p",
        &port,
        "-U",
        common::USER,
        "-E",
    ];
    let mut sol = tokio::process::Command::new(env!("CARGO_BIN_EXE_ironrack"))
        .args(base)
        .args(["sol", "activate"])
        .env("IPMI_PASSWORD", common::PASSWORD)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run ironrack ipmi sol activate");
    let mut keys = sol.stdin.take().unwrap();
    let mut screen = sol.stdout.take().unwrap();
    // Power on once the console is up (QEMU drops serial output nobody reads).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let on = ironrack(&[&base[..], &["power", "on"]].concat());
    assert!(on.0, "power on: {}", on.2);
    common::read_until(&mut screen, b"IRONRACK-GUEST up").await;
    keys.write_all(b"hello\r").await.unwrap();
    common::read_until(&mut screen, b"HELLO").await;
    keys.write_all(b"\r~.").await.unwrap();
    let status = tokio::time::timeout(Duration::from_secs(10), sol.wait())
        .await
        .expect("sol activate ends after ~.")
        .unwrap();
    assert!(status.success(), "{status}");
    let off = ironrack(&[&base[..], &["power", "off"]].concat());
    assert!(off.0, "power off: {}", off.2);
}
