//! Integration tests against OpenIPMI's ipmi_sim, cross-checked with
//! ipmitool. Each test starts its own BMC (lab/bmcs.sh) on a free loopback
//! port. Skipped, with a notice on stderr, when ipmi_sim is not installed.

mod common;

use std::time::Duration;

use ironrack_ipmi::*;

/// Value of "Key   : value" in ipmitool output.
fn line_value(text: &str, key: &str) -> String {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| panic!("no {key:?} in {text}"))
}

#[tokio::test]
async fn device_id_matches_ipmitool() {
    let bmc = bmc_or_skip!("device_id_matches_ipmitool");
    let mut s = Session::connect(bmc.config()).await.expect("connect");
    let id = s.get_device_id().await.expect("device id");
    let mc = bmc.ipmitool(&["mc", "info"]);
    assert_eq!(id.firmware(), line_value(&mc, "Firmware Revision"));
    assert_eq!(id.device_id.to_string(), line_value(&mc, "Device ID"));
    assert_eq!(
        id.manufacturer_id.to_string(),
        line_value(&mc, "Manufacturer ID")
    );
    assert_eq!(
        format!("{}.{}", id.ipmi_version.0, id.ipmi_version.1),
        line_value(&mc, "IPMI Version")
    );
    s.close().await.expect("close");
}

#[tokio::test]
async fn power_control_matches_ipmitool() {
    let bmc = bmc_or_skip!("power_control_matches_ipmitool");
    let mut s = Session::connect(bmc.config()).await.expect("connect");
    assert!(!s.chassis_status().await.expect("status").power_on);
    assert!(
        bmc.ipmitool(&["chassis", "power", "status"])
            .contains("Chassis Power is off")
    );

    s.chassis_control(ChassisControl::PowerOn)
        .await
        .expect("power on");
    assert!(s.chassis_status().await.expect("status").power_on);
    assert!(
        bmc.ipmitool(&["chassis", "power", "status"])
            .contains("Chassis Power is on")
    );
    assert_eq!(bmc.state("power"), "1");

    bmc.ipmitool(&["chassis", "power", "off"]);
    assert!(!s.chassis_status().await.expect("status").power_on);

    s.chassis_control(ChassisControl::PowerOn)
        .await
        .expect("power on");
    s.chassis_control(ChassisControl::HardReset)
        .await
        .expect("reset");
    s.chassis_control(ChassisControl::PowerOff)
        .await
        .expect("power off");
    assert!(
        bmc.ipmitool(&["chassis", "power", "status"])
            .contains("Chassis Power is off")
    );
    s.close().await.expect("close");
}

#[tokio::test]
async fn boot_device_seen_by_ipmitool() {
    let bmc = bmc_or_skip!("boot_device_seen_by_ipmitool");
    let mut s = Session::connect(bmc.config()).await.expect("connect");
    s.set_boot_device(BootFlags::new(BootDevice::Pxe, false, false))
        .await
        .expect("bootdev pxe");
    assert!(
        bmc.ipmitool(&["chassis", "bootparam", "get", "5"])
            .contains("Force PXE")
    );
    assert_eq!(bmc.state("boot"), "pxe");
    assert_eq!(s.boot_device().await.expect("get").device, BootDevice::Pxe);

    s.set_boot_device(BootFlags::new(BootDevice::Bios, false, false))
        .await
        .expect("bootdev bios");
    assert!(
        bmc.ipmitool(&["chassis", "bootparam", "get", "5"])
            .contains("BIOS Setup")
    );

    // And the other way round.
    bmc.ipmitool(&["chassis", "bootdev", "cdrom"]);
    assert_eq!(
        s.boot_device().await.expect("get").device,
        BootDevice::Cdrom
    );
    s.close().await.expect("close");
}

#[tokio::test]
async fn sdr_and_sensors_match_ipmitool() {
    let bmc = bmc_or_skip!("sdr_and_sensors_match_ipmitool");
    let mut s = Session::connect(bmc.config()).await.expect("connect");
    let ours = s.sensor_readings().await.expect("sensors");
    let theirs = bmc.ipmitool(&["sdr", "list"]);
    let names: Vec<&str> = theirs
        .lines()
        .filter_map(|l| l.split('|').next())
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect();
    let our_names: Vec<&str> = ours.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(our_names, names);
    // "CPU Temp | 40 degrees C | ok" etc.: same values and units.
    for v in ours.iter().filter(|v| v.value.is_some()) {
        let line = theirs
            .lines()
            .find(|l| l.starts_with(&v.name))
            .expect("sensor line");
        let col = line.split('|').nth(1).expect("value column").trim();
        let (num, unit) = col.split_once(' ').expect("value unit");
        let num: f64 = num.parse().expect("number");
        assert!(
            (v.value.unwrap_or(f64::NAN) - num).abs() < 0.01,
            "{v:?} vs {line}"
        );
        assert_eq!(v.unit, unit);
    }
    s.close().await.expect("close");
}

#[tokio::test]
async fn sel_list_and_clear_match_ipmitool() {
    let bmc = bmc_or_skip!("sel_list_and_clear_match_ipmitool");
    let mut s = Session::connect(bmc.config()).await.expect("connect");
    let sel = s.sel_list().await.expect("sel");
    let info = bmc.ipmitool(&["sel", "info"]);
    assert_eq!(sel.len().to_string(), line_value(&info, "Entries"));
    assert!(sel.len() >= 2, "{sel:?}");
    s.sel_clear().await.expect("clear");
    assert!(s.sel_list().await.expect("sel").is_empty());
    let info = bmc.ipmitool(&["sel", "info"]);
    assert_eq!(line_value(&info, "Entries"), "0");
    s.close().await.expect("close");
}

#[tokio::test]
async fn fru_and_lan_match_ipmitool() {
    let bmc = bmc_or_skip!("fru_and_lan_match_ipmitool");
    let mut s = Session::connect(bmc.config()).await.expect("connect");
    let fru = s.fru().await.expect("fru");
    let theirs = bmc.ipmitool(&["fru", "print", "0"]);
    let board = fru.board.expect("board area");
    let product = fru.product.expect("product area");
    assert_eq!(board.manufacturer, line_value(&theirs, "Board Mfg"));
    assert_eq!(board.serial, line_value(&theirs, "Board Serial"));
    assert_eq!(product.name, line_value(&theirs, "Product Name"));
    assert_eq!(product.serial, line_value(&theirs, "Product Serial"));
    assert_eq!(product.asset_tag, line_value(&theirs, "Product Asset Tag"));

    let lan = s.lan_config().await.expect("lan");
    let theirs = bmc.ipmitool(&["lan", "print", "1"]);
    assert_eq!(lan.ip.to_string(), line_value(&theirs, "IP Address"));
    assert_eq!(
        lan.mac_string(),
        line_value(&theirs, "MAC Address").to_lowercase()
    );
    s.close().await.expect("close");
}

#[tokio::test]
async fn every_suite_ipmi_sim_supports() {
    let bmc = bmc_or_skip!("every_suite_ipmi_sim_supports");
    // 7 and 8 (HMAC-MD5-128 integrity) fail against ipmi_sim with ipmitool
    // too (first in-session message is rejected), so they are not checked.
    for id in [1u8, 2, 3, 6] {
        let mut s = Session::connect(bmc.config().cipher_suite(id))
            .await
            .unwrap_or_else(|e| panic!("suite {id}: {e}"));
        assert_eq!(s.cipher_suite().id, id);
        s.get_device_id()
            .await
            .unwrap_or_else(|e| panic!("suite {id}: {e}"));
        s.close().await.expect("close");
    }
    // ipmi_sim lacks SHA-256: asking for 17 explicitly is refused by name.
    let e = Session::connect(bmc.config().cipher_suite(17))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::UnsupportedCipherSuite(_)), "{e}");
}

#[tokio::test]
async fn operator_user_and_privilege() {
    let bmc = bmc_or_skip!("operator_user_and_privilege");
    let cfg = Config::new("127.0.0.1", "operator", "operator")
        .port(bmc.port)
        .timeout(Duration::from_millis(300))
        .privilege(Privilege::Operator);
    let mut s = Session::connect(cfg.clone()).await.expect("operator login");
    s.chassis_control(ChassisControl::PowerOn)
        .await
        .expect("operator may power on");
    assert!(s.chassis_status().await.expect("status").power_on);
    s.close().await.expect("close");
    // A User-level session may read but not control.
    let mut s = Session::connect(cfg.privilege(Privilege::User))
        .await
        .expect("user login");
    assert!(s.chassis_status().await.expect("status").power_on);
    let e = s
        .chassis_control(ChassisControl::PowerOff)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::CompletionCode { code: 0xD4, .. }), "{e}");
    s.close().await.expect("close");
}

#[tokio::test]
async fn wrong_password_is_authentication_failure() {
    let bmc = bmc_or_skip!("wrong_password_is_authentication_failure");
    let mut cfg = bmc.config();
    cfg.password = "wrong".as_bytes().to_vec().into();
    let e = Session::connect(cfg).await.unwrap_err();
    let Error::AuthenticationFailed { reason } = &e else {
        panic!("{e:?}")
    };
    assert!(reason.contains("RAKP 2"), "{reason}");
}

#[tokio::test]
async fn unknown_user_is_authentication_failure() {
    let bmc = bmc_or_skip!("unknown_user_is_authentication_failure");
    let mut cfg = bmc.config();
    cfg.username = "nobody".into();
    let e = Session::connect(cfg).await.unwrap_err();
    let Error::AuthenticationFailed { reason } = &e else {
        panic!("{e:?}")
    };
    assert!(reason.contains("unauthorized name"), "{reason}");
}

#[tokio::test]
async fn suite_zero_and_null_user_refused() {
    // No BMC needed: refused before any packet is sent.
    let cfg = Config::new("127.0.0.1", "ADMIN", "password").cipher_suite(0);
    let e = Session::connect(cfg).await.unwrap_err();
    assert!(matches!(e, Error::InsecureRefused(_)));
    assert!(e.to_string().contains("CVE-2013-4782"), "{e}");
    let e = Session::connect(Config::new("127.0.0.1", "", "x"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("CVE-2013-4782"), "{e}");
    let e = Session::connect(Config::new("127.0.0.1", "ADMIN", "x".repeat(21)))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Config(_)), "{e}");
}

#[tokio::test]
async fn suite_zero_with_insecure_flag_works() {
    let bmc = bmc_or_skip!("suite_zero_with_insecure_flag_works");
    let mut s = Session::connect(bmc.config().cipher_suite(0).insecure(true))
        .await
        .expect("suite 0 with insecure");
    s.get_device_id().await.expect("device id");
    s.close().await.expect("close");
}

#[tokio::test]
async fn bmc_down_is_unreachable_after_tries() {
    // Nothing listens: loopback answers with ICMP port unreachable.
    let port = common::free_udp_port();
    let cfg = Config::new("127.0.0.1", "ADMIN", "password")
        .port(port)
        .timeout(Duration::from_millis(50))
        .tries(3);
    let e = Session::connect(cfg).await.unwrap_err();
    assert!(matches!(e, Error::Unreachable { .. }), "{e:?}");
    assert!(e.to_string().contains("3 tries"), "{e}");

    // Something listens but never answers: a timeout after N tries.
    let sink = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = sink.local_addr().expect("addr").port();
    let cfg = Config::new("127.0.0.1", "ADMIN", "password")
        .port(port)
        .timeout(Duration::from_millis(50))
        .tries(3);
    let t0 = std::time::Instant::now();
    let e = Session::connect(cfg).await.unwrap_err();
    assert!(matches!(e, Error::Timeout { tries: 3 }), "{e:?}");
    // Backoff: 50 + 100 + 200 ms.
    assert!(
        t0.elapsed() >= Duration::from_millis(340),
        "{:?}",
        t0.elapsed()
    );
    drop(sink);
}

/// A UDP relay between one client and the BMC that drops a fraction of the
/// datagrams in both directions, reproducibly (seeded). Ends with the test.
async fn lossy_relay(bmc_port: u16, loss: f64, seed: u64) -> (u16, tokio::task::JoinHandle<()>) {
    use rand::{Rng, SeedableRng};
    let front = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let back = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    back.connect(("127.0.0.1", bmc_port))
        .await
        .expect("connect");
    let port = front.local_addr().expect("addr").port();
    let task = tokio::spawn(async move {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut client = None;
        let (mut a, mut b) = (vec![0u8; 2048], vec![0u8; 2048]);
        loop {
            tokio::select! {
                Ok((n, from)) = front.recv_from(&mut a) => {
                    client = Some(from);
                    if !rng.gen_bool(loss) {
                        let _ = back.send(&a[..n]).await;
                    }
                }
                Ok(n) = back.recv(&mut b) => {
                    if let Some(c) = client && !rng.gen_bool(loss) {
                        let _ = front.send_to(&b[..n], c).await;
                    }
                }
            }
        }
    });
    (port, task)
}

#[tokio::test]
async fn survives_30_percent_loss() {
    let bmc = bmc_or_skip!("survives_30_percent_loss");
    let seed = std::env::var("IPMI_LOSS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7);
    let (port, relay) = lossy_relay(bmc.port, 0.3, seed).await;
    let cfg = bmc
        .config()
        .port(port)
        .timeout(Duration::from_millis(50))
        .tries(10);
    let mut s = Session::connect(cfg).await.expect("connect through loss");
    for _ in 0..5 {
        s.get_device_id().await.expect("device id through loss");
    }
    s.chassis_control(ChassisControl::PowerOn)
        .await
        .expect("power on");
    assert!(s.chassis_status().await.expect("status").power_on);
    // Four sensors, an event-only record, a FRU and an MC locator.
    assert_eq!(s.sdr_list().await.expect("sdr").len(), 7);
    let _ = s.close().await;
    relay.abort();
    assert!(
        bmc.ipmitool(&["chassis", "power", "status"])
            .contains("Chassis Power is on")
    );
}

#[tokio::test]
async fn asf_ping() {
    let bmc = bmc_or_skip!("asf_ping");
    // ipmi_sim answers ASF presence pings (as rmcp_ping shows).
    let r = ping("127.0.0.1", bmc.port, Duration::from_millis(200), 3).await;
    assert!(r.expect("pong"), "pong must announce IPMI support");
    // Nothing listening: unreachable, not a hang.
    let port = common::free_udp_port();
    let e = ping("127.0.0.1", port, Duration::from_millis(50), 2)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Unreachable { .. }), "{e}");
}

#[tokio::test]
async fn dropped_sessions_free_their_slots() {
    let bmc = bmc_or_skip!("dropped_sessions_free_their_slots");
    // More sessions than ipmi_sim's 63 slots; each is dropped, not closed.
    for i in 0..70 {
        let mut s = Session::connect(bmc.config().cipher_suite(3))
            .await
            .unwrap_or_else(|e| panic!("session {i}: {e}"));
        s.get_device_id().await.expect("device id");
    }
    // Only ipmitool's own session is left.
    let info = bmc.ipmitool(&["session", "info", "active"]);
    assert_eq!(line_value(&info, "active sessions"), "1", "{info}");
}

#[tokio::test]
async fn many_bmcs_in_parallel() {
    let Some(lab) = common::Bmc::start_n("many_bmcs_in_parallel", 12, &[]) else {
        return;
    };
    let jobs = (0..lab.count).map(|i| {
        let cfg = lab.config().port(lab.port + i).cipher_suite(3);
        tokio::spawn(async move {
            let mut s = Session::connect(cfg).await?;
            s.chassis_control(ChassisControl::PowerOn).await?;
            s.set_boot_device(BootFlags::new(BootDevice::Pxe, true, false))
                .await?;
            let on = s.chassis_status().await?.power_on;
            s.close().await?;
            Ok::<bool, Error>(on)
        })
    });
    for (i, j) in jobs.collect::<Vec<_>>().into_iter().enumerate() {
        assert!(j.await.expect("join").expect("bmc job"), "bmc {i}");
        let d = lab.dir.join(format!("bmc{}", i + 1));
        let power = std::fs::read_to_string(d.join("power")).expect("power file");
        let boot = std::fs::read_to_string(d.join("boot")).expect("boot file");
        assert_eq!((power.trim(), boot.trim()), ("1", "pxe"), "bmc {i}");
    }
}
