//! The `fence:<agent>` driver end to end: power tasks through `Agent` +
//! `InProcessBus`, run by Debian's real `fence_ipmilan` against ipmi_sim
//! (started via lab/bmcs.sh by the ipmi crate's test harness). Skipped with
//! a notice if ipmi_sim or fence_ipmilan is missing.

#[path = "../../ipmi/tests/common/mod.rs"]
mod common;

mod lab;
use lab::{Lab, succeeded};

use ironrack_bus::{BmcTarget, Event};
use ironrack_core::{PowerState, TaskEventKind};
use serde_json::{Value, json};

const AGENT: &str = "/usr/sbin/fence_ipmilan";

fn target(port: u16, password: &str, options: Value) -> BmcTarget {
    BmcTarget {
        driver: "fence:fence_ipmilan".into(),
        address: "127.0.0.1".into(),
        port,
        username: common::USER.into(),
        password: Some(password.into()),
        options,
        secrets: Default::default(),
    }
}

fn have_agent(test: &str) -> bool {
    let ok = std::path::Path::new(AGENT).exists();
    if !ok {
        common::skip(
            test,
            "fence_ipmilan not installed (apt-get install -y fence-agents)",
        );
    }
    ok
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fence_ipmilan_drives_ipmi_sim() {
    let test = "fence_ipmilan_drives_ipmi_sim";
    if !have_agent(test) {
        return;
    }
    let Some(bmc) = common::Bmc::start(test) else {
        return;
    };
    let mut lab = Lab::new();
    let opts = json!({ "lanplus": true, "cipher": 3, "timeout_s": 120 });
    let t = || target(bmc.port, common::PASSWORD, opts.clone());

    let (_, what) = lab.power("status", t()).await;
    assert_eq!(what, succeeded("status", "off"));

    let (seen, what) = lab.power("on", t()).await;
    assert_eq!(what, succeeded("on", "on"));
    assert!(seen.contains(&Event::Power {
        server_id: 42,
        state: PowerState::On
    }));
    // The simulated chassis really is on, and ipmitool sees the same.
    assert_eq!(bmc.state("power"), "1");
    assert!(
        bmc.ipmitool(&["chassis", "power", "status"])
            .contains("Chassis Power is on")
    );
    let (_, what) = lab.power("status", t()).await;
    assert_eq!(what, succeeded("status", "on"));

    // reset → the agent's `reboot` (off, then on: it ends on).
    let (_, what) = lab.power("reset", t()).await;
    assert_eq!(what, succeeded("reset", "on"));
    assert_eq!(bmc.state("power"), "1");

    let (_, what) = lab.power("off", t()).await;
    assert_eq!(what, succeeded("off", "off"));
    assert_eq!(bmc.state("power"), "0");
    let (_, what) = lab.power("status", t()).await;
    assert_eq!(what, succeeded("status", "off"));

    // No graceful shutdown in fence agents: refused, not turned into a hard off.
    bmc.ipmitool(&["chassis", "power", "on"]);
    let (_, what) = lab.power("soft", t()).await;
    assert!(
        matches!(&what, TaskEventKind::Failed { error } if error.contains("no graceful shutdown")),
        "{what:?}"
    );
    assert_eq!(bmc.state("power"), "1");

    let (_, what) = lab.run("boot_device", json!({"device": "pxe"}), t()).await;
    assert!(
        matches!(&what, TaskEventKind::Failed { error } if error.starts_with("not supported by this agent:") && error.contains("cannot set a boot device")),
        "{what:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fence_failures_carry_the_agents_reason_without_the_password() {
    let test = "fence_failures_carry_the_agents_reason_without_the_password";
    if !have_agent(test) {
        return;
    }
    let Some(bmc) = common::Bmc::start(test) else {
        return;
    };
    let mut lab = Lab::new();
    let wrong = "Wr0ng-Secret-9";
    let (_, what) = lab
        .power(
            "on",
            target(bmc.port, wrong, json!({ "lanplus": "1", "verbose": true })),
        )
        .await;
    let TaskEventKind::Failed { error } = &what else {
        panic!("{what:?}");
    };
    assert!(
        error.starts_with("BMC error: fence_ipmilan on failed (exit 1):")
            && error.contains("Unable to obtain correct plug status"),
        "{error}"
    );
    // verbose makes fence_ipmilan print its ipmitool command lines, which
    // hold the password: they arrive redacted.
    assert!(!error.contains(wrong), "{error}");
    assert!(
        error.contains("<redacted>") || error.contains("[set]"),
        "{error}"
    );
    assert_eq!(bmc.state("power"), "0", "nothing switched on");

    // A BMC that does not answer, with a short limit: the agent is killed.
    let closed = common::free_udp_port();
    let (_, what) = lab
        .power(
            "status",
            target(
                closed,
                common::PASSWORD,
                json!({ "lanplus": 1, "timeout_s": 2 }),
            ),
        )
        .await;
    assert!(
        matches!(&what, TaskEventKind::Failed { error } if error.starts_with("BMC unreachable:") && error.contains("did not finish within 2 s and was killed")),
        "{what:?}"
    );

    // Options that would let a BMC record run programs are refused.
    let (_, what) = lab
        .power(
            "status",
            target(
                bmc.port,
                common::PASSWORD,
                json!({ "ipmitool_path": "/bin/sh" }),
            ),
        )
        .await;
    assert!(
        matches!(&what, TaskEventKind::Failed { error } if error.starts_with("bad request:") && error.contains("ipmitool_path")),
        "{what:?}"
    );
}
