//! The bus between the controller and the site agents.
//!
//! Tasks travel to the agent of the server's site, routed by site and driver
//! (the AMQP routing key will be `task.<site>.<driver>`); events travel back
//! on one stream. The controller never talks to a BMC: every hardware action
//! crosses this bus, in `ironrack serve` too, so one path is always tested.
//!
//! Invariant: the bus knows messages, not the database or HTTP.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use ironrack_core::{PowerState, SelEntry, SensorReading, TaskEvent};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

pub mod amqp;
mod secret;
pub use amqp::{AmqpBus, AmqpConfig};
pub use secret::{Secret, SecretError};

/// How the agent reaches a server's BMC.
#[derive(Clone, Serialize, Deserialize)]
pub struct BmcTarget {
    pub driver: String,
    pub address: String,
    pub port: u16,
    pub username: String,
    /// In clear only inside a process; sealed to the site agent's key
    /// before it crosses a broker (see [`Secret`]).
    pub password: Option<Secret>,
    pub options: serde_json::Value,
    /// The target's other secrets by name (e.g. `vnc_password` of a
    /// console), carried like the password. Secrets never go in `options`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, Secret>,
}

/// The name of a VNC console's password in [`BmcTarget::secrets`].
pub const VNC_PASSWORD: &str = "vnc_password";

impl BmcTarget {
    /// The BMC password in clear (`None` if there is none, or if it is
    /// still sealed: agents open secrets before drivers run).
    pub fn plain_password(&self) -> Option<&str> {
        self.password.as_ref().and_then(Secret::plain)
    }

    /// Another secret in clear, by name.
    pub fn plain_secret(&self, name: &str) -> Option<&str> {
        self.secrets.get(name).and_then(Secret::plain)
    }
}

impl std::fmt::Debug for BmcTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BmcTarget")
            .field("driver", &self.driver)
            .field("address", &self.address)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &self.password)
            .field("secrets", &self.secrets)
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

    /// Whether running this task again changes nothing on the machine: a
    /// power status, a sensor read, a power poll. Only such tasks share a
    /// broker message with others, because a message delivered again runs
    /// everything it carries again.
    pub fn is_read_only(&self) -> bool {
        match self.kind.as_str() {
            POWER_POLL | "sensors" => true,
            "power" => self.params.get("action").and_then(|a| a.as_str()) == Some("status"),
            _ => false,
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
        /// Fingerprint of the agent's key (absent from older agents).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
        /// Its console gateway's instance (new each process start; absent
        /// without a gateway): the controller closes the sessions of an
        /// instance that was replaced or went silent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        console_instance: Option<String>,
        /// The desktop templates it knows (absent when it runs no desktop
        /// sessions, and from older agents): the controller refuses an
        /// unknown template itself instead of sending a task to fail.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        desktop_templates: Option<Vec<String>>,
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

#[derive(Clone, Debug, thiserror::Error)]
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

    /// Whether tasks stay inside this process, so their secrets may stay in
    /// clear. Otherwise the publisher must be handed tasks whose secrets are
    /// sealed to the site agent's key: a secret in clear does not serialize.
    fn in_process(&self) -> bool {
        false
    }

    fn publish(
        &self,
        task: TaskRequest,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), BusError>> + Send + '_>>;
}

impl TaskPublisher for InProcessBus {
    fn in_process(&self) -> bool {
        true
    }

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

    /// Publishes `events` in this order and returns once the transport holds
    /// all of them. A broker may have them all in flight at once (one round
    /// trip instead of one per event); this default sends one by one.
    fn publish_events(&self, events: Vec<Event>) -> BoxFuture<Result<(), BusError>> {
        let each: Vec<_> = events.into_iter().map(|e| self.publish_event(e)).collect();
        Box::pin(async move {
            for sent in each {
                sent.await?;
            }
            Ok(())
        })
    }
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

    /// Sends `events` in order; returns once all are held by the transport.
    pub async fn send_all(&self, events: Vec<Event>) -> Result<(), BusError> {
        match events.len() {
            0 => Ok(()),
            1 => {
                self.send(events.into_iter().next().expect("one event"))
                    .await
            }
            _ => self.0.publish_events(events).await,
        }
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
                secrets: BTreeMap::new(),
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
        let mut req = TaskRequest::power_poll(3, "ams".into(), base.bmc.clone(), poll);
        req.seal_secrets(ironrack_seal::AgentKey::generate().public())
            .unwrap();
        let back: TaskRequest =
            serde_json::from_str(&serde_json::to_string(&req).unwrap()).unwrap();
        assert_eq!(back.as_power_poll().unwrap().unwrap(), poll);
        assert!(base.as_power_poll().is_none(), "a power task is not a poll");
    }

    #[test]
    fn passwords_are_not_debug_printed() {
        let mut req = request(1, "ams");
        req.bmc
            .secrets
            .insert("vnc_password".into(), "vnc-pw".into());
        let text = format!("{req:?}");
        assert!(!text.contains("pw\""), "{text}");
        assert!(!text.contains("vnc-pw"), "{text}");
        assert!(text.contains("<redacted>"));
        let key = ironrack_seal::AgentKey::generate();
        req.seal_secrets(key.public()).unwrap();
        let text = format!("{req:?}");
        assert!(
            text.contains(&format!("<sealed to {}>", key.public().fingerprint())),
            "{text}"
        );
    }

    fn with_vnc(mut req: TaskRequest) -> TaskRequest {
        req.bmc
            .secrets
            .insert("vnc_password".into(), "vnc-pw".into());
        req
    }

    #[test]
    fn secrets_in_clear_do_not_serialize() {
        let err = serde_json::to_string(&request(1, "ams")).unwrap_err();
        assert!(
            err.to_string().contains("cannot leave the process"),
            "{err}"
        );
        let mut req = with_vnc(request(1, "ams"));
        req.bmc.password = None;
        assert!(serde_json::to_string(&req).is_err(), "nor other secrets");
        req.bmc.secrets.clear();
        assert!(serde_json::to_string(&req).is_ok(), "no secret, no problem");
    }

    #[test]
    fn sealed_secrets_cross_the_wire_and_open_at_the_agent() {
        let key = ironrack_seal::AgentKey::generate();
        let mut req = with_vnc(request(7, "ams"));
        assert!(req.has_plain_secrets());
        req.seal_secrets(key.public()).unwrap();
        assert!(!req.has_plain_secrets());
        let json = serde_json::to_string(&req).unwrap();
        assert!(!json.contains("pw\""), "{json}");
        assert!(!json.contains("vnc-pw"), "{json}");
        let mut back: TaskRequest = serde_json::from_str(&json).unwrap();
        assert_eq!(back.bmc.plain_password(), None, "sealed until opened");
        back.open_secrets(Some(&key)).unwrap();
        assert_eq!(back.bmc.plain_password(), Some("pw"));
        assert_eq!(back.bmc.plain_secret("vnc_password"), Some("vnc-pw"));
        // Without a key, a sealed secret is an error, not an empty password.
        let mut keyless: TaskRequest = serde_json::from_str(&json).unwrap();
        let err = keyless.open_secrets(None).unwrap_err();
        assert!(err.to_string().contains("no key"), "{err}");
        // A request without secrets needs no key at all.
        let mut plain = request(8, "ams");
        plain.bmc.password = None;
        plain.open_secrets(None).unwrap();
    }

    #[test]
    fn a_sealed_secret_does_not_open_in_another_message() {
        let key = ironrack_seal::AgentKey::generate();
        let mut sealed = with_vnc(request(7, "ams"));
        sealed.seal_secrets(key.public()).unwrap();
        type Change = (&'static str, fn(&mut TaskRequest));
        let changes: [Change; 9] = [
            ("task", |r| r.task_id = 8),
            ("server", |r| r.server_id = 2),
            ("site", |r| r.site = "fra".into()),
            ("kind", |r| r.kind = "sensors".into()),
            ("driver", |r| r.bmc.driver = "ipmi".into()),
            ("address", |r| r.bmc.address = "192.0.2.66".into()),
            ("port", |r| r.bmc.port = 624),
            ("username", |r| r.bmc.username = "root".into()),
            ("slot", |r| {
                // The VNC password put where the BMC password goes.
                let vnc = r.bmc.secrets.remove("vnc_password").unwrap();
                r.bmc.password = Some(vnc);
            }),
        ];
        for (what, change) in changes {
            let mut moved = sealed.clone();
            change(&mut moved);
            let err = moved.open_secrets(Some(&key)).unwrap_err();
            assert!(matches!(err, SecretError::Invalid { .. }), "{what}: {err}");
        }
        sealed.clone().open_secrets(Some(&key)).unwrap();
    }

    #[test]
    fn a_secret_for_another_agent_names_both_keys_and_the_site() {
        let (site_key, agent_key) = (
            ironrack_seal::AgentKey::generate(),
            ironrack_seal::AgentKey::generate(),
        );
        let mut req = request(1, "ams");
        req.seal_secrets(site_key.public()).unwrap();
        let err = req.open_secrets(Some(&agent_key)).unwrap_err().to_string();
        assert!(err.contains(site_key.public().fingerprint()), "{err}");
        assert!(err.contains(agent_key.public().fingerprint()), "{err}");
        assert!(
            err.contains("register this agent's key on site `ams`"),
            "{err}"
        );
    }

    #[test]
    fn secrets_sealed_before_a_rotation_open_with_the_previous_key() {
        let (old, new) = (
            ironrack_seal::AgentKey::generate(),
            ironrack_seal::AgentKey::generate(),
        );
        let mut queued = request(1, "ams");
        queued.seal_secrets(old.public()).unwrap();
        let mut fresh = request(2, "ams");
        fresh.seal_secrets(new.public()).unwrap();
        let previous = [std::sync::Arc::new(
            ironrack_seal::AgentKey::from_base64(&old.to_base64()).unwrap(),
        )];
        let mut q = queued.clone();
        q.open_secrets_among(Some(&new), &previous).unwrap();
        assert_eq!(q.bmc.plain_password(), Some("pw"));
        fresh.open_secrets_among(Some(&new), &previous).unwrap();
        assert_eq!(fresh.bmc.plain_password(), Some("pw"));
        // Without the previous key, the queued task names both keys.
        let err = queued.open_secrets_among(Some(&new), &[]).unwrap_err();
        assert!(matches!(err, SecretError::OtherKey { .. }), "{err}");
    }

    #[test]
    fn heartbeats_of_older_agents_carry_no_template_list() {
        let old = r#"{"type":"heartbeat","site":"ams","agent":"a1","version":"0.1.0"}"#;
        let ev: Event = serde_json::from_str(old).unwrap();
        assert!(matches!(
            ev,
            Event::Heartbeat {
                desktop_templates: None,
                ..
            }
        ));
        let new = Event::Heartbeat {
            site: "ams".into(),
            agent: "a1".into(),
            version: "0.2.0".into(),
            key: None,
            console_instance: None,
            desktop_templates: Some(vec!["ami-java".into()]),
        };
        let text = serde_json::to_string(&new).unwrap();
        assert!(
            text.contains(r#""desktop_templates":["ami-java"]"#),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<Event>(&text).unwrap(), new);
    }
}
