//! The bus between the controller and the site agents.
//!
//! Tasks travel to the agent of the server's site, routed by site and driver
//! (the AMQP routing key will be `task.<site>.<driver>`); events travel back
//! on one stream. The controller never talks to a BMC: every hardware action
//! crosses this bus, in `ironrack serve` too, so one path is always tested.
//!
//! Invariant: the bus knows messages, not the database or HTTP.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ironrack_core::{PowerState, SelEntry, SensorReading, TaskEvent};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

pub mod amqp;
pub use amqp::{AmqpBus, AmqpConfig};

/// How the agent reaches a server's BMC.
#[derive(Clone, Serialize, Deserialize)]
pub struct BmcTarget {
    pub driver: String,
    pub address: String,
    pub port: u16,
    pub username: String,
    /// In clear only on the in-process bus; across a broker it will be
    /// sealed to the site agent's key.
    pub password: Option<String>,
    pub options: serde_json::Value,
}

impl std::fmt::Debug for BmcTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BmcTarget")
            .field("driver", &self.driver)
            .field("address", &self.address)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// A task for a site agent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskRequest {
    pub task_id: i64,
    pub server_id: i64,
    pub site: String,
    pub kind: String,
    pub params: serde_json::Value,
    pub bmc: BmcTarget,
}

/// The `kind` of a power poll: not a task (no task row, no task events)
/// but a request to read one server's power state and report it if it
/// changed. The controller publishes one per server and interval on the
/// task queue of the server's site, so both transports carry it unchanged.
pub const POWER_POLL: &str = "power_poll";

/// The parameters of a power poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PowerPoll {
    /// When the controller sent it (Unix ms).
    pub sent_at: i64,
    /// Older than this on arrival (e.g. queued while no agent ran): dropped,
    /// a newer one follows.
    pub max_age_ms: i64,
    /// The agent waits a random time below this before polling, so that one
    /// interval's polls spread out instead of hitting every BMC at once.
    pub jitter_ms: u64,
    /// Report an unchanged state again after this long, so the stored
    /// observation time stays recent.
    pub report_every_ms: u64,
}

impl TaskRequest {
    /// A power poll for one server (task id 0: there is no task row).
    pub fn power_poll(
        server_id: i64,
        site: String,
        bmc: BmcTarget,
        poll: PowerPoll,
    ) -> TaskRequest {
        TaskRequest {
            task_id: 0,
            server_id,
            site,
            kind: POWER_POLL.to_owned(),
            params: serde_json::to_value(poll).unwrap_or_default(),
            bmc,
        }
    }

    /// The poll's parameters if this is a power poll.
    pub fn as_power_poll(&self) -> Option<Result<PowerPoll, BusError>> {
        (self.kind == POWER_POLL).then(|| {
            serde_json::from_value(self.params.clone()).map_err(|e| BusError::Codec(e.to_string()))
        })
    }
}

/// What agents report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    Task(TaskEvent),
    Power {
        server_id: i64,
        state: PowerState,
    },
    /// Every sensor of a server as read at `read_at` (Unix ms): the set
    /// replaces the stored one.
    Sensors {
        server_id: i64,
        read_at: i64,
        readings: Vec<SensorReading>,
    },
    /// A server's System Event Log as read at `read_at`, oldest first: the
    /// set replaces the stored one.
    Sel {
        server_id: i64,
        read_at: i64,
        entries: Vec<SelEntry>,
    },
    /// A console session changed on a site's gateway.
    Console {
        session_id: i64,
        change: ConsoleChange,
    },
    /// An agent is alive and serving `site`.
    Heartbeat {
        site: String,
        agent: String,
        version: String,
        /// Its console gateway's instance (new each process start; absent
        /// without a gateway): the controller closes the sessions of an
        /// instance that was replaced or went silent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        console_instance: Option<String>,
    },
}

/// What happened to a console session. Times are Unix milliseconds on the
/// agent's clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "what", rename_all = "snake_case")]
pub enum ConsoleChange {
    /// The first viewer connected.
    Opened { at_ms: i64 },
    Status {
        viewers: u32,
        last_input_ms: Option<i64>,
        closes_at_ms: i64,
    },
    Closed {
        reason: String,
        detail: Option<String>,
        at_ms: i64,
    },
}

/// Wraps an in-process queue as deliveries with nothing to acknowledge.
pub fn unacked_deliveries<T: Send + 'static>(
    mut rx: mpsc::UnboundedReceiver<T>,
) -> mpsc::Receiver<Delivery<T>> {
    let (tx, out) = mpsc::channel(64);
    tokio::spawn(async move {
        while let Some(message) = rx.recv().await {
            if tx.send(Delivery::unacked(message)).await.is_err() {
                break;
            }
        }
    });
    out
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("the bus is closed")]
    Closed,
    #[error("the broker is unreachable: {0}")]
    Unreachable(String),
    #[error("the broker did not confirm the message: {0}")]
    NotConfirmed(String),
    #[error("a message could not be encoded or decoded: {0}")]
    Codec(String),
}

type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

/// How a transport settles one delivered message.
pub trait Settle: Send {
    /// `done`: the message was handled (ack). Otherwise it goes back to be
    /// delivered again, or to the dead-letter queue after too many tries.
    fn settle(self: Box<Self>, done: bool) -> BoxFuture<Result<(), BusError>>;
}

/// The pending acknowledgement of a delivered message. Dropping it without
/// settling leaves the message to the transport: a broker redelivers it
/// when the connection closes.
pub struct Settler(Option<Box<dyn Settle>>);

impl Settler {
    /// For transports with nothing to acknowledge (in-process).
    pub fn none() -> Settler {
        Settler(None)
    }

    pub fn new(settle: Box<dyn Settle>) -> Settler {
        Settler(Some(settle))
    }

    pub async fn ack(self) -> Result<(), BusError> {
        match self.0 {
            Some(s) => s.settle(true).await,
            None => Ok(()),
        }
    }

    pub async fn nack(self) -> Result<(), BusError> {
        match self.0 {
            Some(s) => s.settle(false).await,
            None => Ok(()),
        }
    }
}

/// A message from the bus with its acknowledgement.
pub struct Delivery<T> {
    pub message: T,
    pub settler: Settler,
}

impl<T> Delivery<T> {
    pub fn unacked(message: T) -> Delivery<T> {
        Delivery {
            message,
            settler: Settler::none(),
        }
    }
}

/// Where the controller hands tasks. Publishing returns once the bus has
/// taken responsibility for the task (for a broker: after its confirm).
pub trait TaskPublisher: Send + Sync {
    /// Whether published tasks survive a controller restart (a broker's
    /// durable queues do; an in-process queue does not).
    fn durable(&self) -> bool {
        false
    }

    fn publish(
        &self,
        task: TaskRequest,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), BusError>> + Send + '_>>;
}

impl TaskPublisher for InProcessBus {
    fn publish(
        &self,
        task: TaskRequest,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), BusError>> + Send + '_>>
    {
        let outcome = self.publish_task(task);
        Box::pin(std::future::ready(outcome))
    }
}

/// The in-process bus of `ironrack serve`: one queue per site, one event
/// stream. Tasks published before a site's agent subscribes wait in the
/// site's queue.
#[derive(Clone)]
pub struct InProcessBus {
    inner: Arc<Inner>,
}

struct Inner {
    sites: Mutex<HashMap<String, SiteQueue>>,
    /// When set, every site's tasks go to this one queue (`ironrack serve`).
    catch_all: Option<String>,
    events_tx: mpsc::UnboundedSender<Event>,
    events_rx: Mutex<Option<mpsc::UnboundedReceiver<Event>>>,
}

struct SiteQueue {
    tx: mpsc::UnboundedSender<TaskRequest>,
    rx: Option<mpsc::UnboundedReceiver<TaskRequest>>,
}

impl Default for InProcessBus {
    fn default() -> Self {
        Self::new()
    }
}

impl InProcessBus {
    pub fn new() -> InProcessBus {
        Self::build(None)
    }

    /// A bus whose single agent, at `site`, serves the servers of every
    /// site: the one-process setup, where all BMCs are reachable from here.
    pub fn single_agent(site: &str) -> InProcessBus {
        Self::build(Some(site.to_owned()))
    }

    fn build(catch_all: Option<String>) -> InProcessBus {
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        InProcessBus {
            inner: Arc::new(Inner {
                sites: Mutex::new(HashMap::new()),
                catch_all,
                events_tx,
                events_rx: Mutex::new(Some(events_rx)),
            }),
        }
    }

    fn with_site<R>(&self, site: &str, f: impl FnOnce(&mut SiteQueue) -> R) -> R {
        let mut sites = self.inner.sites.lock().unwrap_or_else(|p| p.into_inner());
        let queue = sites.entry(site.to_owned()).or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            SiteQueue { tx, rx: Some(rx) }
        });
        f(queue)
    }

    pub fn publish_task(&self, task: TaskRequest) -> Result<(), BusError> {
        let site = self
            .inner
            .catch_all
            .clone()
            .unwrap_or_else(|| task.site.clone());
        self.with_site(&site, |q| q.tx.send(task).map_err(|_| BusError::Closed))
    }

    /// The task queue of one site; there is one consumer per site in-process.
    pub fn consume_site(&self, site: &str) -> Option<mpsc::UnboundedReceiver<TaskRequest>> {
        self.with_site(site, |q| q.rx.take())
    }

    pub fn event_sender(&self) -> EventSender {
        EventSender::new(Arc::new(InProcessEvents(self.inner.events_tx.clone())))
    }

    /// The controller's single event stream.
    pub fn take_events(&self) -> Option<mpsc::UnboundedReceiver<Event>> {
        self.inner
            .events_rx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}

/// Publishes events, returning once the transport holds them (for a broker:
/// after its confirm).
pub trait EventPublisher: Send + Sync {
    fn publish_event(&self, event: Event) -> BoxFuture<Result<(), BusError>>;
}

/// What an agent holds to report events.
#[derive(Clone)]
pub struct EventSender(Arc<dyn EventPublisher>);

impl EventSender {
    pub fn new(publisher: Arc<dyn EventPublisher>) -> EventSender {
        EventSender(publisher)
    }

    pub async fn send(&self, event: Event) -> Result<(), BusError> {
        self.0.publish_event(event).await
    }
}

struct InProcessEvents(mpsc::UnboundedSender<Event>);

impl EventPublisher for InProcessEvents {
    fn publish_event(&self, event: Event) -> BoxFuture<Result<(), BusError>> {
        Box::pin(std::future::ready(
            self.0.send(event).map_err(|_| BusError::Closed),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ironrack_core::TaskEventKind;

    fn request(task_id: i64, site: &str) -> TaskRequest {
        TaskRequest {
            task_id,
            server_id: 1,
            site: site.into(),
            kind: "power".into(),
            params: serde_json::json!({"action": "on"}),
            bmc: BmcTarget {
                driver: "fake".into(),
                address: "127.0.0.1".into(),
                port: 623,
                username: "u".into(),
                password: Some("pw".into()),
                options: serde_json::json!({}),
            },
        }
    }

    #[tokio::test]
    async fn tasks_reach_only_their_site() {
        let bus = InProcessBus::new();
        bus.publish_task(request(1, "ams")).unwrap();
        bus.publish_task(request(2, "fra")).unwrap();
        let mut ams = bus.consume_site("ams").unwrap();
        let mut fra = bus.consume_site("fra").unwrap();
        assert!(bus.consume_site("ams").is_none(), "one consumer per site");
        assert_eq!(ams.recv().await.unwrap().task_id, 1);
        assert_eq!(fra.recv().await.unwrap().task_id, 2);
        assert!(ams.try_recv().is_err());
    }

    #[tokio::test]
    async fn a_single_agent_takes_every_site() {
        let bus = InProcessBus::single_agent("local");
        bus.publish_task(request(1, "ams")).unwrap();
        bus.publish_task(request(2, "fra")).unwrap();
        let mut local = bus.consume_site("local").unwrap();
        assert_eq!(local.recv().await.unwrap().task_id, 1);
        assert_eq!(local.recv().await.unwrap().task_id, 2);
    }

    #[tokio::test]
    async fn events_flow_back() {
        let bus = InProcessBus::new();
        let mut events = bus.take_events().unwrap();
        let ev = Event::Task(TaskEvent {
            task_id: 3,
            seq: 1,
            what: TaskEventKind::Started,
        });
        bus.event_sender().send(ev.clone()).await.unwrap();
        assert_eq!(events.recv().await.unwrap(), ev);
    }

    #[test]
    fn power_polls_round_trip() {
        let poll = PowerPoll {
            sent_at: 5,
            max_age_ms: 60_000,
            jitter_ms: 30_000,
            report_every_ms: 600_000,
        };
        let base = request(1, "ams");
        let req = TaskRequest::power_poll(3, "ams".into(), base.bmc.clone(), poll);
        let back: TaskRequest =
            serde_json::from_str(&serde_json::to_string(&req).unwrap()).unwrap();
        assert_eq!(back.as_power_poll().unwrap().unwrap(), poll);
        assert!(base.as_power_poll().is_none(), "a power task is not a poll");
    }

    #[test]
    fn passwords_are_not_debug_printed() {
        let text = format!("{:?}", request(1, "ams"));
        assert!(!text.contains("pw\""), "{text}");
        assert!(text.contains("<redacted>"));
    }
}
