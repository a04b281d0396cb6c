//! The site agent: takes its site's tasks off the bus, runs each through the
//! server's driver, and reports progress, results and observations.
//!
//! Invariant: this is the only crate that knows which driver a server uses
//! and how to talk to it. It never touches the database or the public API.

pub mod console;
mod driver;
mod observe;
mod poller;

use std::sync::Arc;

use ironrack_bus::{Delivery, Event, EventSender, TaskRequest};
use ironrack_core::{PowerAction, TaskEvent, TaskEventKind};
use ironrack_seal::AgentKey;
use tokio::sync::{Semaphore, mpsc};

pub use driver::{BmcLimiter, DriverError, Drivers, FakeMachines, IpmiMachines, ipmi_config};
pub use poller::DEFAULT_POLL_LIMIT;

/// Runs tasks for one site until the queue closes.
pub struct Agent {
    site: String,
    drivers: Arc<Drivers>,
    events: EventSender,
    /// Bounds the tasks in flight so a burst cannot open a socket per task.
    slots: Arc<Semaphore>,
    poller: Arc<poller::PowerPoller>,
    /// This site's console gateway, if it runs one.
    console: Option<ironrack_console::Gateway>,
    /// Opens the secrets sealed to this site (`None` in-process, where
    /// they arrive in clear).
    key: Option<Arc<AgentKey>>,
    /// Keys this agent had before a rotation, for tasks sealed to them.
    previous_keys: Vec<Arc<AgentKey>>,
    /// Desktop sessions this agent may start (console kind `desktop`).
    desktops: Option<Arc<ironrack_desktop::Desktops>>,
}

impl Agent {
    pub fn new(site: impl Into<String>, drivers: Drivers, events: EventSender) -> Agent {
        let drivers = Arc::new(drivers);
        let poller = poller::PowerPoller::new(drivers.clone(), events.clone(), DEFAULT_POLL_LIMIT);
        Agent {
            site: site.into(),
            drivers,
            events,
            slots: Arc::new(Semaphore::new(64)),
            poller: Arc::new(poller),
            console: None,
            key: None,
            previous_keys: Vec::new(),
            desktops: None,
        }
    }

    /// Opens sealed secrets with this key (the site's registered one).
    pub fn with_key(mut self, key: AgentKey) -> Agent {
        self.key = Some(Arc::new(key));
        self
    }

    /// Also opens secrets sealed to these keys (the agent's keys before a
    /// rotation), so tasks queued before the new key was registered run.
    pub fn with_previous_keys(mut self, keys: Vec<AgentKey>) -> Agent {
        self.previous_keys = keys.into_iter().map(Arc::new).collect();
        self
    }

    /// At most `limit` power polls at once (default [`DEFAULT_POLL_LIMIT`]).
    pub fn with_poll_limit(mut self, limit: usize) -> Agent {
        self.poller = Arc::new(poller::PowerPoller::new(
            self.drivers.clone(),
            self.events.clone(),
            limit,
        ));
        self
    }

    /// Serves `console.*` tasks through this gateway.
    pub fn with_console(mut self, gateway: ironrack_console::Gateway) -> Agent {
        self.console = Some(gateway);
        self
    }

    /// Starts desktop sessions for `console.open` of kind `desktop`.
    pub fn with_desktops(mut self, desktops: Arc<ironrack_desktop::Desktops>) -> Agent {
        self.desktops = Some(desktops);
        self
    }

    /// Runs tasks from an in-process queue (nothing to acknowledge).
    pub async fn run(self, tasks: mpsc::UnboundedReceiver<TaskRequest>) {
        self.run_deliveries(ironrack_bus::unacked_deliveries(tasks))
            .await
    }

    /// Runs delivered tasks. A delivery is acknowledged only after the
    /// task's final event is published, so a task whose agent dies midway is
    /// delivered again.
    pub async fn run_deliveries(self, mut tasks: mpsc::Receiver<Delivery<TaskRequest>>) {
        tracing::info!(site = %self.site, "agent running");
        while let Some(mut delivery) = tasks.recv().await {
            if let Err(e) = delivery
                .message
                .open_secrets_among(self.key.as_deref(), &self.previous_keys)
            {
                self.refuse(delivery, e).await;
                continue;
            }
            // Power polls are not tasks: the poller takes them.
            let Some(delivery) = self.poller.take(delivery).await else {
                continue;
            };
            let Ok(permit) = self.slots.clone().acquire_owned().await else {
                break;
            };
            let drivers = self.drivers.clone();
            let events = self.events.clone();
            let console = console::Consoles {
                gateway: self.console.clone(),
                desktops: self.desktops.clone(),
            };
            tokio::spawn(async move {
                let Delivery { message, settler } = delivery;
                let task_id = message.task_id;
                let settled = match run_task(&drivers, &console, &events, message).await {
                    Ok(()) => settler.ack().await,
                    // Not reported: let the bus deliver it again.
                    Err(e) => {
                        tracing::warn!(task = task_id, error = %e, "could not report a task's result");
                        settler.nack().await
                    }
                };
                if let Err(e) = settled {
                    tracing::warn!(task = task_id, error = %e, "could not settle a task delivery");
                }
                drop(permit);
            });
        }
    }
}

impl Agent {
    /// A task whose secrets do not open fails with the reason (a poll is
    /// only logged: the next one would fail alike); either way it is
    /// settled, since delivering it again cannot help.
    async fn refuse(&self, delivery: Delivery<TaskRequest>, e: ironrack_bus::SecretError) {
        let Delivery { message, settler } = delivery;
        let reported = if message.as_power_poll().is_some() {
            tracing::warn!(server = message.server_id, error = %e, "power poll dropped");
            Ok(())
        } else {
            tracing::warn!(task = message.task_id, server = message.server_id, error = %e, "task failed");
            self.events
                .send(Event::Task(TaskEvent {
                    task_id: message.task_id,
                    seq: 2,
                    what: TaskEventKind::Failed {
                        error: e.to_string(),
                    },
                }))
                .await
        };
        let settled = match reported {
            Ok(()) => settler.ack().await,
            Err(_) => settler.nack().await,
        };
        if let Err(e) = settled {
            tracing::warn!(task = message.task_id, error = %e, "could not settle a task delivery");
        }
    }
}

/// How long a task may run before the agent reports it started.
const QUIET_START: std::time::Duration = std::time::Duration::from_millis(100);

/// Reports events for one task: started (if it takes a while), then
/// succeeded or failed. Errs only when the final event could not be published.
async fn run_task(
    drivers: &Drivers,
    console: &console::Consoles,
    events: &EventSender,
    task: TaskRequest,
) -> Result<(), ironrack_bus::BusError> {
    let task_event = |seq, what| {
        Event::Task(TaskEvent {
            task_id: task.task_id,
            seq,
            what,
        })
    };
    // What the task observed (a power state) travels with its final event,
    // so a broker confirms both in one round trip.
    let mut observed = Vec::new();
    let work = async {
        match task.kind.as_str() {
            "power" => run_power(drivers, &mut observed, &task).await,
            "boot_device" => Ok(run_boot_device(drivers, &task).await),
            "virtual_media" => Ok(drivers.virtual_media(&task.bmc, &task.params).await),
            "sensors" => observe::sensors(drivers, events, &task).await,
            "sel" => observe::sel(drivers, events, &task).await,
            "bmc_reset" => observe::bmc_reset(drivers, &task).await,
            k if k.starts_with("console.") => Ok(console::run(console, &task).await),
            other => Ok(Err(DriverError::Unsupported(format!(
                "task kind `{other}`"
            )))),
        }
    };
    // A task that ends within QUIET_START reports only its result (the
    // store takes a result as implying the start): one message less per task
    // on the bus, and nobody could have watched it run. A slower task says
    // "started" while the driver goes on; losing that only hides progress.
    let outcome = {
        tokio::pin!(work);
        tokio::select! {
            done = &mut work => done,
            _ = tokio::time::sleep(QUIET_START) => {
                tokio::join!(events.send(task_event(1, TaskEventKind::Started)), &mut work).1
            }
        }
    };
    let last = match outcome? {
        Ok(result) => TaskEventKind::Succeeded { result },
        Err(e) => {
            tracing::warn!(task = task.task_id, server = task.server_id, error = %e, "task failed");
            TaskEventKind::Failed {
                error: e.to_string(),
            }
        }
    };
    observed.push(task_event(2, last));
    events.send_all(observed).await
}

async fn run_power(
    drivers: &Drivers,
    observed: &mut Vec<Event>,
    task: &TaskRequest,
) -> Result<Result<serde_json::Value, DriverError>, ironrack_bus::BusError> {
    let Some(action) = task
        .params
        .get("action")
        .and_then(|a| a.as_str())
        .and_then(PowerAction::parse)
    else {
        return Ok(Err(DriverError::BadRequest(
            "power task without a valid `action`".into(),
        )));
    };
    let state = match drivers.power(task.server_id, &task.bmc, action).await {
        Ok(state) => state,
        Err(e) => return Ok(Err(e)),
    };
    observed.push(Event::Power {
        server_id: task.server_id,
        state,
    });
    Ok(Ok(
        serde_json::json!({ "action": action.as_str(), "power": state.as_str() }),
    ))
}

async fn run_boot_device(
    drivers: &Drivers,
    task: &TaskRequest,
) -> Result<serde_json::Value, DriverError> {
    let req: ironrack_core::BootRequest = serde_json::from_value(task.params.clone())
        .map_err(|e| DriverError::BadRequest(format!("boot device task: {e}")))?;
    drivers.boot_device(&task.bmc, req).await?;
    serde_json::to_value(req).map_err(|e| DriverError::BadRequest(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ironrack_bus::{BmcTarget, InProcessBus};
    use ironrack_core::PowerState;

    fn power(task_id: i64, action: &str, options: serde_json::Value) -> TaskRequest {
        TaskRequest {
            task_id,
            server_id: 7,
            site: "lab".into(),
            kind: "power".into(),
            params: serde_json::json!({ "action": action }),
            bmc: BmcTarget {
                driver: "fake".into(),
                address: "127.0.0.1".into(),
                port: 623,
                username: "u".into(),
                password: None,
                options,
                secrets: Default::default(),
            },
        }
    }

    async fn next_terminal(rx: &mut mpsc::UnboundedReceiver<Event>) -> (Vec<Event>, TaskEventKind) {
        let mut seen = Vec::new();
        loop {
            let ev = rx.recv().await.unwrap();
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

    #[tokio::test]
    async fn fake_machine_keeps_power_state() {
        let bus = InProcessBus::new();
        let mut events = bus.take_events().unwrap();
        let agent = Agent::new("lab", Drivers::default(), bus.event_sender());
        tokio::spawn(agent.run(bus.consume_site("lab").unwrap()));

        bus.publish_task(power(1, "status", serde_json::json!({})))
            .unwrap();
        let (_, what) = next_terminal(&mut events).await;
        assert_eq!(
            what,
            TaskEventKind::Succeeded {
                result: serde_json::json!({"action": "status", "power": "off"})
            }
        );

        bus.publish_task(power(2, "on", serde_json::json!({})))
            .unwrap();
        let (seen, _) = next_terminal(&mut events).await;
        assert!(seen.contains(&Event::Power {
            server_id: 7,
            state: PowerState::On
        }));

        bus.publish_task(power(3, "status", serde_json::json!({})))
            .unwrap();
        let (_, what) = next_terminal(&mut events).await;
        assert_eq!(
            what,
            TaskEventKind::Succeeded {
                result: serde_json::json!({"action": "status", "power": "on"})
            }
        );
    }

    #[tokio::test]
    async fn only_slow_tasks_report_their_start() {
        let bus = InProcessBus::new();
        let mut events = bus.take_events().unwrap();
        tokio::spawn(
            Agent::new("lab", Drivers::default(), bus.event_sender())
                .run(bus.consume_site("lab").unwrap()),
        );
        let started = |seen: &[Event]| {
            seen.iter().any(|e| {
                matches!(
                    e,
                    Event::Task(TaskEvent {
                        what: TaskEventKind::Started,
                        seq: 1,
                        ..
                    })
                )
            })
        };
        bus.publish_task(power(1, "status", serde_json::json!({})))
            .unwrap();
        let (seen, _) = next_terminal(&mut events).await;
        assert!(
            !started(&seen),
            "a quick task reports only its result: {seen:?}"
        );

        bus.publish_task(power(2, "status", serde_json::json!({"delay_ms": 400})))
            .unwrap();
        let (seen, _) = next_terminal(&mut events).await;
        assert!(started(&seen), "a slow task says it started: {seen:?}");
        // Its observation travels right before the result, after the start.
        assert!(
            matches!(seen[seen.len() - 2], Event::Power { .. }),
            "{seen:?}"
        );
    }

    #[tokio::test]
    async fn sealed_secrets_open_only_with_the_sites_key() {
        let bus = InProcessBus::new();
        let mut events = bus.take_events().unwrap();
        let ours = AgentKey::generate();
        let same = AgentKey::from_base64(&ours.to_base64()).unwrap();
        let other = AgentKey::generate();
        let (ours_fp, other_fp) = (
            ours.public().fingerprint().to_owned(),
            other.public().fingerprint().to_owned(),
        );
        tokio::spawn(
            Agent::new("lab", Drivers::default(), bus.event_sender())
                .with_key(ours)
                .run(bus.consume_site("lab").unwrap()),
        );
        let sealed_to = |task_id, key: &AgentKey| {
            let mut t = power(task_id, "on", serde_json::json!({}));
            t.bmc.password = Some("pw".into());
            t.seal_secrets(key.public()).unwrap();
            t
        };
        bus.publish_task(sealed_to(1, &other)).unwrap();
        let (_, what) = next_terminal(&mut events).await;
        let TaskEventKind::Failed { error } = what else {
            panic!("{what:?}")
        };
        assert!(
            error.contains(&format!(
                "sealed to key {other_fp}, this agent has key {ours_fp}"
            )),
            "{error}"
        );
        assert!(error.contains("on site `lab`"), "{error}");

        bus.publish_task(sealed_to(2, &same)).unwrap();
        let (_, what) = next_terminal(&mut events).await;
        assert!(matches!(what, TaskEventKind::Succeeded { .. }), "{what:?}");

        let mut clear = power(3, "on", serde_json::json!({}));
        clear.bmc.password = Some("pw".into());
        bus.publish_task(clear).unwrap();
        let (_, what) = next_terminal(&mut events).await;
        assert!(
            matches!(what, TaskEventKind::Succeeded { .. }),
            "in clear is fine in-process: {what:?}"
        );
    }

    #[tokio::test]
    async fn failures_are_reported_with_their_reason() {
        let bus = InProcessBus::new();
        let mut events = bus.take_events().unwrap();
        tokio::spawn(
            Agent::new("lab", Drivers::default(), bus.event_sender())
                .run(bus.consume_site("lab").unwrap()),
        );
        bus.publish_task(power(1, "on", serde_json::json!({"fail": "BMC on fire"})))
            .unwrap();
        let (_, what) = next_terminal(&mut events).await;
        assert_eq!(
            what,
            TaskEventKind::Failed {
                error: "BMC error: BMC on fire".into()
            }
        );
        bus.publish_task(power(2, "explode", serde_json::json!({})))
            .unwrap();
        let (_, what) = next_terminal(&mut events).await;
        assert!(
            matches!(what, TaskEventKind::Failed { error } if error.contains("valid `action`"))
        );
    }
}
