//! The `ipmi` driver end to end: power tasks through `Agent` +
//! `InProcessBus` against a real ipmi_sim (started via lab/bmcs.sh by the
//! ipmi crate's test harness). Skipped with a notice if ipmi_sim is missing.

#[path = "../../ipmi/tests/common/mod.rs"]
mod common;

use ironrack_agent::{Agent, Drivers};
use ironrack_bus::{BmcTarget, Event, InProcessBus, TaskRequest};
use ironrack_core::{PowerState, TaskEvent, TaskEventKind};
use serde_json::json;
use tokio::sync::mpsc;

fn task(
    task_id: i64,
    port: u16,
    password: &str,
    action: &str,
    options: serde_json::Value,
) -> TaskRequest {
    TaskRequest {
        task_id,
        server_id: 42,
        site: "lab".into(),
        kind: "power".into(),
        params: json!({ "action": action }),
        bmc: BmcTarget {
            driver: "ipmi".into(),
            address: "127.0.0.1".into(),
            port,
            username: common::USER.into(),
            password: Some(password.into()),
            options,
            secrets: Default::default(),
        },
    }
}

/// Events up to and including the task's terminal one.
async fn finish(rx: &mut mpsc::UnboundedReceiver<Event>) -> (Vec<Event>, TaskEventKind) {
    let mut seen = Vec::new();
    loop {
        let ev = tokio::time::timeout(std::time::Duration::from_secs(60), rx.recv())
            .await
            .expect("task finishes")
            .expect("bus open");
        seen.push(ev.clone());
        if let Event::Task(TaskEvent {
            what: what @ (TaskEventKind::Succeeded { .. } | TaskEventKind::Failed { .. }),
            ..
        }) = ev
        {
            return (seen, what);
        }
    }
}

fn succeeded(action: &str, power: &str) -> TaskEventKind {
    TaskEventKind::Succeeded {
        result: json!({ "action": action, "power": power }),
    }
}

#[tokio::test]
async fn ipmi_power_tasks_against_ipmi_sim() {
    let bmc = bmc_or_skip!("ipmi_power_tasks_against_ipmi_sim");
    let bus = InProcessBus::new();
    let mut events = bus.take_events().unwrap();
    tokio::spawn(
        Agent::new("lab", Drivers::default(), bus.event_sender())
            .run(bus.consume_site("lab").unwrap()),
    );
    let opts = json!({ "timeout_ms": 300 });
    let mut id = 0;
    let mut run = async |action: &str, options: &serde_json::Value| {
        id += 1;
        bus.publish_task(task(
            id,
            bmc.port,
            common::PASSWORD,
            action,
            options.clone(),
        ))
        .unwrap();
        finish(&mut events).await
    };

    let (_, what) = run("status", &opts).await;
    assert_eq!(what, succeeded("status", "off"));

    let (seen, what) = run("on", &opts).await;
    assert_eq!(what, succeeded("on", "on"));
    assert!(seen.contains(&Event::Power {
        server_id: 42,
        state: PowerState::On
    }));
    // The simulated chassis (its chassis_control backend) really is on,
    // and ipmitool sees the same.
    assert_eq!(bmc.state("power"), "1");
    assert!(
        bmc.ipmitool(&["chassis", "power", "status"])
            .contains("Chassis Power is on")
    );

    let (_, what) = run("reset", &opts).await;
    assert_eq!(what, succeeded("reset", "on"));
    assert!(
        std::fs::read_to_string(bmc.dir.join("bmc1/events"))
            .unwrap_or_default()
            .contains("reset"),
        "reset reached the chassis backend"
    );

    let (_, what) = run("off", &opts).await;
    assert_eq!(what, succeeded("off", "off"));
    assert_eq!(bmc.state("power"), "0");

    // Cycle of a chassis that is off powers it on.
    let (_, what) = run("cycle", &opts).await;
    assert_eq!(what, succeeded("cycle", "on"));

    // Fixed cipher suite and operator privilege are taken from options.
    let (_, what) = run(
        "soft",
        &json!({ "cipher_suite": 3, "privilege": "operator" }),
    )
    .await;
    assert_eq!(what, succeeded("soft", "off"));

    let (_, what) = run("status", &json!({ "cipher_suite": "1" })).await;
    assert_eq!(what, succeeded("status", "off"));
}

#[tokio::test]
async fn ipmi_driver_errors_are_meaningful() {
    let bmc = bmc_or_skip!("ipmi_driver_errors_are_meaningful");
    let bus = InProcessBus::new();
    let mut events = bus.take_events().unwrap();
    tokio::spawn(
        Agent::new("lab", Drivers::default(), bus.event_sender())
            .run(bus.consume_site("lab").unwrap()),
    );
    let fast = json!({ "timeout_ms": 100, "tries": 2 });

    bus.publish_task(task(1, bmc.port, "wrong", "status", fast.clone()))
        .unwrap();
    let (_, what) = finish(&mut events).await;
    assert!(
        matches!(&what, TaskEventKind::Failed { error } if error.starts_with("BMC login failed:") && error.contains("RAKP 2")),
        "{what:?}"
    );

    let closed = common::free_udp_port();
    bus.publish_task(task(2, closed, common::PASSWORD, "on", fast.clone()))
        .unwrap();
    let (_, what) = finish(&mut events).await;
    assert!(
        matches!(&what, TaskEventKind::Failed { error } if error.starts_with("BMC unreachable:")),
        "{what:?}"
    );

    bus.publish_task(task(
        3,
        bmc.port,
        common::PASSWORD,
        "on",
        json!({ "cipher_suite": 0 }),
    ))
    .unwrap();
    let (_, what) = finish(&mut events).await;
    assert!(
        matches!(&what, TaskEventKind::Failed { error } if error.starts_with("bad request:") && error.contains("CVE-2013-4782")),
        "{what:?}"
    );
    // Nothing was switched on by the refused tasks.
    assert_eq!(bmc.state("power"), "0");
}

fn read_task(task_id: i64, port: u16, kind: &str, params: serde_json::Value) -> TaskRequest {
    TaskRequest {
        kind: kind.into(),
        params,
        ..task(
            task_id,
            port,
            common::PASSWORD,
            "status",
            json!({ "timeout_ms": 300 }),
        )
    }
}

#[tokio::test]
async fn ipmi_sensors_and_sel_against_ipmi_sim() {
    let bmc = bmc_or_skip!("ipmi_sensors_and_sel_against_ipmi_sim");
    let bus = InProcessBus::new();
    let mut events = bus.take_events().unwrap();
    tokio::spawn(
        Agent::new("lab", Drivers::default(), bus.event_sender())
            .run(bus.consume_site("lab").unwrap()),
    );

    bus.publish_task(read_task(1, bmc.port, "sensors", json!({})))
        .unwrap();
    let (seen, what) = finish(&mut events).await;
    let readings = seen
        .iter()
        .find_map(|e| match e {
            Event::Sensors {
                server_id: 42,
                readings,
                ..
            } => Some(readings.clone()),
            _ => None,
        })
        .expect("a sensors event before the task's end");
    assert!(
        matches!(&what, TaskEventKind::Succeeded { result } if result["sensors"] == 4),
        "{what:?}"
    );
    // What lab/bmcs.sh configures: CPU Temp 40 degrees C, Sys 12V 12 Volts,
    // FAN1 6000 RPM, and a discrete PSU sensor.
    let by_name = |n: &str| readings.iter().find(|r| r.name == n).unwrap().clone();
    let cpu = by_name("CPU Temp");
    assert_eq!(
        (cpu.sensor_type.as_str(), cpu.reading, cpu.unit.as_deref()),
        ("Temperature", Some(40.0), Some("degrees C"))
    );
    assert_eq!(cpu.status, ironrack_core::SensorStatus::Ok);
    assert_eq!(by_name("FAN1").reading, Some(6000.0));
    assert_eq!(by_name("Sys 12V").unit.as_deref(), Some("Volts"));
    let psu = by_name("PSU1 Status");
    assert_eq!((psu.reading, psu.unit), (None, None));
    assert_eq!(psu.sensor_type, "Power Supply");

    // The SEL, then the SEL cleared: ipmitool agrees it is gone.
    let before = bmc.ipmitool(&["sel", "list"]);
    bus.publish_task(read_task(2, bmc.port, "sel", json!({ "clear": true })))
        .unwrap();
    let (seen, what) = finish(&mut events).await;
    let entries = seen
        .iter()
        .find_map(|e| match e {
            Event::Sel { entries, .. } => Some(entries.clone()),
            _ => None,
        })
        .expect("a SEL event");
    assert!(matches!(&what, TaskEventKind::Succeeded { .. }), "{what:?}");
    assert_eq!(entries.len(), before.lines().count(), "{before}");
    assert!(
        entries
            .iter()
            .any(|e| e.text == "Temperature #0x01 | Upper Critical going high | Asserted"),
        "{entries:?}"
    );
    assert!(!bmc.ipmitool(&["sel", "list"]).contains("Upper Critical"));

    // Bad parameters are named.
    bus.publish_task(read_task(
        3,
        bmc.port,
        "bmc_reset",
        json!({ "kind": "hot" }),
    ))
    .unwrap();
    let (_, what) = finish(&mut events).await;
    assert!(
        matches!(&what, TaskEventKind::Failed { error } if error.contains("bmc_reset task") && error.contains("hot")),
        "{what:?}"
    );
    // ipmi_sim implements neither BMC reset (ipmitool's `mc reset cold`
    // looks fine only because ipmitool ignores the answer): the BMC's
    // refusal is reported as it is, and the next task still works.
    bus.publish_task(read_task(
        4,
        bmc.port,
        "bmc_reset",
        json!({ "kind": "cold" }),
    ))
    .unwrap();
    let (_, what) = finish(&mut events).await;
    assert!(
        matches!(&what, TaskEventKind::Failed { error } if error.contains("BMC reset") && error.contains("Invalid command")),
        "{what:?}"
    );
    bus.publish_task(read_task(5, bmc.port, "sensors", json!({})))
        .unwrap();
    let (_, what) = finish(&mut events).await;
    assert!(matches!(&what, TaskEventKind::Succeeded { .. }), "{what:?}");
}
