//! The virtual BMC (`ironrack_ipmi::bmc`) against two independent clients:
//! this crate's `Session` and ipmitool (`-I lanplus -C 17` and `-C 3`),
//! which checks our RAKP and integrity math from its own implementation.

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use ironrack_ipmi::bmc::{BmcConfig, SerialPort, Server};
use ironrack_ipmi::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const USER: &str = "ADMIN";
const PASSWORD: &str = "s3cret-pass";

async fn start(
    serial: Option<SerialPort>,
) -> (SocketAddr, std::sync::Arc<std::sync::Mutex<bmc::Bmc>>) {
    let mut cfg = BmcConfig::new(USER, PASSWORD.as_bytes());
    cfg.serial = serial;
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), cfg)
        .await
        .expect("bind");
    let addr = server.local_addr().unwrap();
    let state = server.state();
    tokio::spawn(server.run());
    (addr, state)
}

fn config(addr: SocketAddr) -> Config {
    Config::new("127.0.0.1", USER, PASSWORD)
        .port(addr.port())
        .timeout(Duration::from_millis(300))
}

#[tokio::test]
async fn our_client_on_suites_17_and_3() {
    let (addr, state) = start(None).await;
    for suite in [None, Some(17), Some(3)] {
        let mut cfg = config(addr);
        cfg.cipher_suite = suite;
        let mut s = Session::connect(cfg).await.expect("connect");
        assert_eq!(s.cipher_suite().id, suite.unwrap_or(17));
        assert_eq!(s.get_device_id().await.unwrap().firmware(), "1.00");
        s.chassis_control(ChassisControl::PowerOn).await.unwrap();
        assert!(s.chassis_status().await.unwrap().power_on);
        s.set_boot_device(BootFlags::new(BootDevice::Pxe, true, false))
            .await
            .unwrap();
        assert_eq!(
            s.boot_device().await.unwrap(),
            BootFlags::new(BootDevice::Pxe, true, false)
        );
        let sensors = s.sensor_readings().await.unwrap();
        let v: Vec<_> = sensors
            .iter()
            .map(|x| (x.name.as_str(), x.value.map(|v| v.round() as i64)))
            .collect();
        assert_eq!(
            v,
            [
                ("CPU Temp", Some(40)),
                ("Sys 12V", Some(12)),
                ("FAN1", Some(6000)),
                ("PSU1 Status", None)
            ]
        );
        s.chassis_control(ChassisControl::PowerOff).await.unwrap();
        s.close().await.unwrap();
    }
    {
        let bmc = state.lock().unwrap();
        assert!(!bmc.chassis.power_on);
        assert_eq!(bmc.session_count(), 0, "sessions closed");
    }
    let e = Session::connect(Config::new("127.0.0.1", USER, "wrong").port(addr.port()))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::AuthenticationFailed { .. }), "{e}");
}

fn have_ipmitool() -> bool {
    Command::new("ipmitool").arg("-V").output().is_ok()
}

fn ipmitool(addr: SocketAddr, suite: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new("ipmitool")
        .args(["-I", "lanplus", "-C", suite, "-H", "127.0.0.1", "-p"])
        .arg(addr.port().to_string())
        .args(["-U", USER, "-P", PASSWORD, "-N", "1", "-R", "2"])
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run ipmitool");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipmitool_on_suites_17_and_3() {
    if !have_ipmitool() {
        common::skip("ipmitool_on_suites_17_and_3", "ipmitool not installed");
        return;
    }
    let (addr, state) = start(None).await;
    for suite in ["17", "3"] {
        let run = |args: &'static [&'static str]| {
            tokio::task::spawn_blocking(move || ipmitool(addr, suite, args))
        };
        let (ok, out) = run(&["power", "status"]).await.unwrap();
        assert!(
            ok && out.contains("Chassis Power is off"),
            "-C {suite}: {out}"
        );
        let (ok, out) = run(&["power", "on"]).await.unwrap();
        assert!(ok && out.contains("Chassis Power Control: Up/On"), "{out}");
        assert!(state.lock().unwrap().chassis.power_on);
        let (ok, out) = run(&["power", "status"]).await.unwrap();
        assert!(ok && out.contains("Chassis Power is on"), "{out}");
        let (ok, out) = run(&["power", "off"]).await.unwrap();
        assert!(ok && out.contains("Down/Off"), "{out}");
        assert!(!state.lock().unwrap().chassis.power_on);
        let (ok, out) = run(&["chassis", "bootdev", "pxe"]).await.unwrap();
        assert!(ok && out.contains("Set Boot Device to pxe"), "{out}");
        assert_eq!(state.lock().unwrap().chassis.boot_flags[1] >> 2 & 0x0F, 1);
        let (ok, out) = run(&["mc", "info"]).await.unwrap();
        assert!(
            ok && out.contains("Firmware Revision         : 1.00"),
            "{out}"
        );
        assert!(out.contains("IPMI Version              : 2.0"), "{out}");
        let (ok, out) = run(&["sdr", "list"]).await.unwrap();
        assert!(ok, "{out}");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines,
            [
                "CPU Temp         | 40 degrees C      | ok",
                "Sys 12V          | 12 Volts          | ok",
                "FAN1             | 6000 RPM          | ok",
                "PSU1 Status      | 0x01              | ok",
            ],
            "-C {suite}"
        );
        let (ok, out) = run(&["sensor", "list"]).await.unwrap();
        assert!(ok, "{out}");
        assert!(
            out.lines()
                .next()
                .unwrap_or_default()
                .starts_with("CPU Temp         | 40.000     | degrees C  | ok"),
            "{out}"
        );
    }
    // A wrong password is refused by ipmitool's own RAKP 2 check.
    let out = tokio::task::spawn_blocking(move || {
        Command::new("ipmitool")
            .args(["-I", "lanplus", "-C", "17", "-H", "127.0.0.1", "-p"])
            .arg(addr.port().to_string())
            .args([
                "-U", USER, "-P", "wrong", "-N", "1", "-R", "1", "power", "status",
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(!out.status.success());
}

#[tokio::test]
async fn sol_bridges_the_serial_port() {
    let serial = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (addr, _) = start(Some(SerialPort {
        addr: serial.local_addr().unwrap(),
        telnet: false,
    }))
    .await;
    let s = Session::connect(config(addr)).await.unwrap();
    let mut console = s.sol_activate(1).await.expect("activate");
    let (mut port, _) = tokio::time::timeout(Duration::from_secs(5), serial.accept())
        .await
        .expect("BMC connects the serial port")
        .unwrap();
    port.write_all(b"login: ").await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    while !got.ends_with(b"login: ") {
        let n = tokio::time::timeout(Duration::from_secs(5), console.read(&mut buf))
            .await
            .expect("host output reaches the console")
            .unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    console.write_all(b"root\r").await.unwrap();
    let mut typed = vec![0u8; 5];
    tokio::time::timeout(Duration::from_secs(5), port.read_exact(&mut typed))
        .await
        .expect("keys reach the host")
        .unwrap();
    assert_eq!(&typed, b"root\r");
    console.close().await.expect("close");
}

/// ipmitool's own SOL client (`sol activate`, `~B`, `~.`) against our BMC,
/// whose serial port is a telnet peer in this test. ipmitool wants a
/// terminal (raw mode), so it runs under `script`, which gives it a pty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipmitool_sol_activate_reaches_the_serial_port() {
    let have_script = Command::new("script").arg("-V").output().is_ok();
    if !have_ipmitool() || !have_script {
        common::skip(
            "ipmitool_sol_activate_reaches_the_serial_port",
            "ipmitool or script (bsdutils) not installed",
        );
        return;
    }
    let serial = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (addr, state) = start(Some(SerialPort {
        addr: serial.local_addr().unwrap(),
        telnet: true,
    }))
    .await;
    // `sol info` reads the SOL configuration parameters.
    let (ok, info) = tokio::task::spawn_blocking(move || ipmitool(addr, "17", &["sol", "info"]))
        .await
        .unwrap();
    assert!(ok, "{info}");
    for line in [
        "Enabled                         : true",
        "Privilege Level                 : USER",
        "Volatile Bit Rate (kbps)        : 115.2",
        &format!("Payload Port                    : {}", addr.port()),
    ] {
        assert!(info.contains(line), "{line:?} missing in\n{info}");
    }

    let cmd = format!(
        "ipmitool -I lanplus -C 17 -H 127.0.0.1 -p {} -U {USER} -P {PASSWORD} sol activate",
        addr.port()
    );
    let mut child = tokio::process::Command::new("script")
        .args(["-qfec", &cmd, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run script");
    let mut keys = child.stdin.take().unwrap();
    let mut screen = child.stdout.take().unwrap();
    common::read_until(&mut screen, b"[SOL Session operational").await;
    let (mut host, _) = tokio::time::timeout(Duration::from_secs(5), serial.accept())
        .await
        .expect("the BMC connects the serial port")
        .unwrap();
    let mut hello = [0u8; 6];
    host.read_exact(&mut hello).await.unwrap();
    assert_eq!(hello, bmc::telnet::GREETING);

    host.write_all(b"login: ").await.unwrap();
    common::read_until(&mut screen, b"login: ").await;
    keys.write_all(b"root\r").await.unwrap();
    let mut typed = [0u8; 5];
    host.read_exact(&mut typed).await.unwrap();
    assert_eq!(&typed, b"root\r");
    // ipmitool's ~B: a SOL break, which reaches the telnet peer as IAC BREAK.
    keys.write_all(b"~B").await.unwrap();
    let mut brk = [0u8; 2];
    tokio::time::timeout(Duration::from_secs(5), host.read_exact(&mut brk))
        .await
        .expect("the break reaches the serial port")
        .unwrap();
    assert_eq!(brk, bmc::telnet::BREAK);
    host.write_all(b"bye\r\n").await.unwrap();
    common::read_until(&mut screen, b"bye").await;

    // ~. deactivates the payload: ipmitool exits, the serial port hangs up.
    keys.write_all(b"\r~.").await.unwrap();
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("ipmitool exits after ~.")
        .unwrap();
    assert!(status.success(), "{status}");
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), host.read_to_end(&mut rest))
        .await
        .expect("serial port closed")
        .unwrap();
    assert_eq!(rest, b"\r");
    assert_eq!(state.lock().unwrap().session_count(), 0);
}
