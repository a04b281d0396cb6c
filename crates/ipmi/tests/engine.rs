//! Many sessions over two shared sockets (`Engine`) against ipmi_sim.

mod common;

use std::net::Ipv4Addr;
use std::time::Duration;

use ironrack_ipmi::{BootDevice, BootFlags, ChassisControl, Config, Engine, Error};

#[tokio::test]
async fn engine_drives_many_bmcs_over_two_sockets() {
    let Some(lab) = common::Bmc::start_n("engine_drives_many_bmcs_over_two_sockets", 10, &[])
    else {
        return;
    };
    let engine = std::sync::Arc::new(
        Engine::bind(Ipv4Addr::LOCALHOST.into(), 2)
            .await
            .expect("bind"),
    );
    // Ten BMCs, plus three more concurrent logins to the first one: their
    // session-less replies share a socket and a peer address.
    let targets: Vec<u16> = (0..lab.count).chain([0, 0, 0]).collect();
    let jobs: Vec<_> = targets
        .iter()
        .map(|&i| {
            let engine = engine.clone();
            let cfg = lab.config().port(lab.port + i);
            tokio::spawn(async move {
                let mut s = engine.connect(cfg).await?;
                let id = s.get_device_id().await?;
                s.chassis_control(ChassisControl::PowerOn).await?;
                s.set_boot_device(BootFlags::new(BootDevice::Cdrom, false, true))
                    .await?;
                let on = s.chassis_status().await?.power_on;
                s.close().await?;
                Ok::<_, Error>((id.firmware(), on))
            })
        })
        .collect();
    for (k, j) in jobs.into_iter().enumerate() {
        let (fw, on) = j
            .await
            .expect("join")
            .unwrap_or_else(|e| panic!("job {k}: {e}"));
        assert_eq!(fw, "9.08");
        assert!(on);
    }
    for i in 1..=lab.count {
        let d = lab.dir.join(format!("bmc{i}"));
        let boot = std::fs::read_to_string(d.join("boot")).expect("boot file");
        assert_eq!(boot.trim(), "cdrom", "bmc{i}");
    }
    assert_eq!(engine.sessions(), 0, "closed sessions unregister");
}

#[tokio::test]
async fn engine_down_bmc_times_out_and_unregisters() {
    let engine = Engine::bind(Ipv4Addr::LOCALHOST.into(), 1)
        .await
        .expect("bind");
    let cfg = Config::new("127.0.0.1", "ADMIN", "password")
        .port(common::free_udp_port())
        .timeout(Duration::from_millis(40))
        .tries(2);
    let e = engine.connect(cfg).await.unwrap_err();
    assert!(matches!(e, Error::Timeout { tries: 2 }), "{e:?}");
    assert_eq!(engine.sessions(), 0);
    let e = engine
        .connect(Config::new("127.0.0.1", "ADMIN", "x").cipher_suite(0))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("CVE-2013-4782"), "{e}");
}
