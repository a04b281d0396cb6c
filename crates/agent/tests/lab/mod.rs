//! Shared by the driver tests: an agent on an in-process bus, tasks in,
//! terminal outcomes out.

use std::time::Duration;

use ironrack_agent::{Agent, Drivers};
use ironrack_bus::{BmcTarget, Event, InProcessBus, TaskRequest};
use ironrack_core::{TaskEvent, TaskEventKind};
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// An agent on an in-process bus; tasks in, terminal outcomes out.
pub struct Lab {
    bus: InProcessBus,
    events: mpsc::UnboundedReceiver<Event>,
    next_id: i64,
}

impl Lab {
    pub fn new() -> Lab {
        let bus = InProcessBus::new();
        let events = bus.take_events().unwrap();
        tokio::spawn(
            Agent::new("lab", Drivers::default(), bus.event_sender())
                .run(bus.consume_site("lab").unwrap()),
        );
        Lab {
            bus,
            events,
            next_id: 0,
        }
    }

    pub async fn run(
        &mut self,
        kind: &str,
        params: Value,
        bmc: BmcTarget,
    ) -> (Vec<Event>, TaskEventKind) {
        self.next_id += 1;
        self.bus
            .publish_task(TaskRequest {
                task_id: self.next_id,
                server_id: 42,
                site: "lab".into(),
                kind: kind.into(),
                params,
                bmc,
            })
            .unwrap();
        let mut seen = Vec::new();
        loop {
            let ev = tokio::time::timeout(Duration::from_secs(180), self.events.recv())
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

    pub async fn power(&mut self, action: &str, bmc: BmcTarget) -> (Vec<Event>, TaskEventKind) {
        self.run("power", json!({ "action": action }), bmc).await
    }
}

pub fn succeeded(action: &str, power: &str) -> TaskEventKind {
    TaskEventKind::Succeeded {
        result: json!({ "action": action, "power": power }),
    }
}
