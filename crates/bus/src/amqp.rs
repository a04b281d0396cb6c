//! The bus over an AMQP 0-9-1 broker (RabbitMQ).
//!
//! Client: lapin rather than amqprs. lapin is the more used and more actively
//! maintained client (4.11–4.12.3 are all recovery fixes), has publisher
//! confirms with per-message futures and a typed `Acker` that fails once its
//! channel is gone — exactly what at-least-once needs. amqprs has no recovery
//! either, so it would not save us any work, and offers nothing we miss here.
//! lapin's own auto-recovery is *not* used: it has had bugs where it never
//! reconnected after a broker restart (amqp-rs/lapin#450), and it replays
//! only what was declared on the old connection. Instead a supervisor task
//! owns the connection: it notices the loss, reconnects with capped,
//! jittered backoff, redeclares the whole topology and publishes the new
//! link; consumers and publishers simply wait for the next link.
//!
//! Topology (every name starts with `AmqpConfig::prefix`):
//! - `<p>.tasks`: topic exchange; `<p>.tasks.<site>` is a quorum queue bound
//!   with `task.<site>.*` (routing key `task.<site>.<driver>`); tasks
//!   published at the same moment go out together and share one confirm
//!   round; read-only ones ([`TaskRequest::is_read_only`]) with the same
//!   routing key also share a message (a JSON array), acknowledged by the
//!   agent once each is reported. A task that changes the machine always
//!   travels alone, so that no redelivery runs it because of another;
//! - `<p>.events`: topic exchange → quorum queue `<p>.events` (`event.#`);
//!   an agent's events go as batches: one message (routing key
//!   `event.batch`, a JSON array) carries whatever its tasks reported while
//!   the previous batch was being confirmed (group commit), and the
//!   controller acknowledges it once every event in it is stored;
//! - `<p>.dlx`: fanout exchange → quorum queue `<p>.dead`, where messages go
//!   that were delivered `max_deliveries` times or could not be decoded.
//!
//! Guarantees: a publish returns `Ok` only after the broker's confirm, and
//! is retried across reconnects for up to [`PUBLISH_DEADLINE`]; deliveries
//! are acknowledged by the handler (at-least-once: handlers are idempotent).

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use ironrack_group::GroupCommit;
use lapin::options::{
    BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
    BasicRejectOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{Acker, BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use rand::Rng;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::{
    BoxFuture, BusError, Delivery, Event, EventPublisher, EventSender, Settle, Settler,
    TaskPublisher, TaskRequest,
};

/// How long a publish keeps trying (waiting for a reconnect, re-sending
/// unconfirmed messages) before it reports failure. A broker restart takes
/// a few seconds; anything much longer is an outage the caller should see.
pub const PUBLISH_DEADLINE: Duration = Duration::from_secs(30);
/// How long one confirm may take before the publish is retried.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);
/// Bounds a TCP + AMQP handshake, so a half-up broker cannot stall recovery.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the supervisor checks the connection; lapin updates its status
/// as soon as the socket or the broker closes it.
const HEALTH_CHECK: Duration = Duration::from_millis(250);
const BACKOFF_BASE: Duration = Duration::from_millis(200);
const BACKOFF_CAP: Duration = Duration::from_secs(5);

const JSON: &str = "application/json";

/// The least prefetch window of the events consumer: the controller applies
/// what it holds in one transaction (up to 256 events, `api::apply_events`),
/// so a smaller window would cap those batches and add commits.
const EVENTS_PREFETCH: u16 = 256;

/// The routing key of an agent's batch of events.
const EVENT_BATCH_KEY: &str = "event.batch";
/// At most this many events per message, so that one message never holds
/// more than the controller applies in one transaction.
const EVENTS_PER_MESSAGE: usize = 256;
/// At most this many read-only tasks per message: an agent runs 64 at a
/// time, and a message is acknowledged only when all it carries are done.
const TASKS_PER_MESSAGE: usize = 64;

#[derive(Clone, Debug)]
pub struct AmqpConfig {
    /// e.g. `amqp://guest:guest@127.0.0.1:5672/%2f` (never logged as is).
    pub url: String,
    /// Names of exchanges and queues start with this (tests use a unique prefix).
    pub prefix: String,
    /// Unacknowledged deliveries per consumer.
    pub prefetch: u16,
    /// Dead-letter a message after this many deliveries.
    pub max_deliveries: u32,
}

impl AmqpConfig {
    fn tasks_exchange(&self) -> String {
        format!("{}.tasks", self.prefix)
    }
    fn events_exchange(&self) -> String {
        format!("{}.events", self.prefix)
    }
    fn dead_letter_exchange(&self) -> String {
        format!("{}.dlx", self.prefix)
    }
    /// The queue of one site's tasks.
    pub fn task_queue(&self, site: &str) -> String {
        format!("{}.tasks.{site}", self.prefix)
    }
    /// The controller's queue of events.
    pub fn events_queue(&self) -> String {
        format!("{}.events", self.prefix)
    }
    /// Where messages end that failed too often or could not be decoded.
    pub fn dead_queue(&self) -> String {
        format!("{}.dead", self.prefix)
    }
    /// Every exchange this bus declares (for cleanup in tests and tools).
    pub fn exchanges(&self) -> Vec<String> {
        vec![
            self.tasks_exchange(),
            self.events_exchange(),
            self.dead_letter_exchange(),
        ]
    }
}

/// The bus over RabbitMQ. Clones share one connection; dropping the last
/// clone closes it, which hands unacknowledged deliveries back to the broker.
#[derive(Clone)]
pub struct AmqpBus {
    handle: Arc<Handle>,
}

/// Owned only by `AmqpBus` clones, so its drop means "nobody uses this bus".
struct Handle {
    core: Arc<Core>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.core.shutdown.send_replace(true);
    }
}

/// Shared with the supervisor and consumer tasks.
struct Core {
    cfg: AmqpConfig,
    /// The current healthy link, `None` while reconnecting.
    link: watch::Sender<Option<Arc<Link>>>,
    /// Sites whose queues every new link declares.
    sites: Mutex<BTreeSet<String>>,
    shutdown: watch::Sender<bool>,
    /// Events waiting to go out together as one message.
    events_out: GroupCommit<Vec<Event>, Result<(), BusError>>,
    /// Tasks waiting to go out together (one confirm round).
    tasks_out: GroupCommit<OutgoingTask, Result<(), BusError>>,
}

/// A task ready for the broker: serialized by its caller, so that a task
/// that cannot be encoded fails alone, not the batch it would have joined.
struct OutgoingTask {
    task_id: i64,
    site: String,
    routing_key: String,
    read_only: bool,
    json: Vec<u8>,
}

/// One connection with its confirm-mode publishing channel.
struct Link {
    generation: u64,
    conn: Connection,
    publisher: Channel,
    /// Site queues already declared on this connection.
    declared: Mutex<HashSet<String>>,
}

impl Link {
    fn healthy(&self) -> bool {
        self.conn.status().connected() && self.publisher.status().connected()
    }
}

impl AmqpBus {
    /// Connects, declares the topology and starts the supervisor that keeps
    /// the connection up. Fails if the broker cannot be reached now.
    pub async fn connect(cfg: AmqpConfig) -> Result<AmqpBus, BusError> {
        let (shutdown, _) = watch::channel(false);
        let (link, _) = watch::channel(None);
        let core = Arc::new(Core {
            cfg,
            link,
            sites: Mutex::new(BTreeSet::new()),
            shutdown,
            events_out: GroupCommit::default(),
            tasks_out: GroupCommit::default(),
        });
        let first = open_link(&core, 1)
            .await
            .map_err(|e| BusError::Unreachable(format!("{}: {e}", redact_url(&core.cfg.url))))?;
        core.link.send_replace(Some(first.clone()));
        tokio::spawn(supervise(core.clone(), first));
        Ok(AmqpBus {
            handle: Arc::new(Handle { core }),
        })
    }

    fn core(&self) -> &Arc<Core> {
        &self.handle.core
    }

    /// The tasks of `site`, as deliveries to settle. Keeps consuming across
    /// reconnects until the receiver is dropped.
    pub async fn consume_tasks(
        &self,
        site: &str,
    ) -> Result<mpsc::Receiver<Delivery<TaskRequest>>, BusError> {
        check_word("site", site)?;
        self.core().remember_site(site);
        self.consume(Source::Site(site.to_owned())).await
    }

    /// The events of every agent (the controller's single stream).
    pub async fn consume_events(&self) -> Result<mpsc::Receiver<Delivery<Event>>, BusError> {
        self.consume(Source::Events).await
    }

    pub fn event_sender(&self) -> EventSender {
        EventSender::new(Arc::new(self.clone()))
    }

    /// Closes the connection now rather than when the last clone drops.
    /// Unacknowledged deliveries go back to their queues.
    pub async fn close(&self) {
        self.core().shutdown.send_replace(true);
        if let Some(link) = self.core().link.send_replace(None) {
            close_link(&link).await;
        }
    }

    async fn consume<T: FromBody + Send + 'static>(
        &self,
        source: Source,
    ) -> Result<mpsc::Receiver<Delivery<T>>, BusError> {
        let core = self.core().clone();
        let link = core
            .wait_link(Instant::now() + PUBLISH_DEADLINE)
            .await
            .ok_or_else(|| core.unreachable())?;
        // Opened here once so that a wrong topology or a dead broker is the
        // caller's error, not a log line.
        let first = open_consumer(&core.cfg, &link, &source)
            .await
            .map_err(|e| {
                BusError::Unreachable(format!("consuming {}: {e}", source.queue(&core.cfg)))
            })?;
        let (tx, rx) = mpsc::channel(usize::from(source.prefetch(&core.cfg)));
        tokio::spawn(run_consumer(core, source, tx, first));
        Ok(rx)
    }

    /// Publishes `messages` in order on one link, then waits for all their
    /// confirms: one round trip to the broker for the lot. A failure
    /// publishes the whole lot again on the next link (receivers must
    /// tolerate duplicates, as with any redelivery), until
    /// [`PUBLISH_DEADLINE`].
    async fn publish_confirmed(
        &self,
        exchange: &str,
        sites: &[&str],
        messages: &[(String, Vec<u8>, BasicProperties)],
    ) -> Result<(), BusError> {
        let core = self.core();
        for site in sites {
            core.remember_site(site);
        }
        let deadline = Instant::now() + PUBLISH_DEADLINE;
        let mut attempt = 0u32;
        loop {
            let Some(link) = core.wait_link(deadline).await else {
                return Err(core.unreachable());
            };
            let error = match try_publish(&core.cfg, &link, exchange, sites, messages).await {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            tracing::debug!(%exchange, link = link.generation, error = %error, "publish not confirmed; retrying");
            let pause = backoff(attempt).min(BACKOFF_CAP);
            attempt = attempt.saturating_add(1);
            if Instant::now() + pause >= deadline || *core.shutdown.borrow() {
                return Err(error);
            }
            tokio::time::sleep(pause).await;
        }
    }
}

/// Properties of every message: JSON, persistent (delivery mode 2).
fn persistent_json() -> BasicProperties {
    BasicProperties::default()
        .with_content_type(JSON.into())
        .with_delivery_mode(2)
}

impl TaskPublisher for AmqpBus {
    /// Confirmed tasks sit in durable quorum queues as persistent messages.
    fn durable(&self) -> bool {
        true
    }

    fn publish(
        &self,
        task: TaskRequest,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), BusError>> + Send + '_>>
    {
        Box::pin(async move {
            check_word("site", &task.site)?;
            check_word("driver", &task.bmc.driver)?;
            let outgoing = OutgoingTask {
                task_id: task.task_id,
                routing_key: format!("task.{}.{}", task.site, task.bmc.driver),
                read_only: task.is_read_only(),
                json: serde_json::to_vec(&task).map_err(|e| BusError::Codec(e.to_string()))?,
                site: task.site,
            };
            let bus = self.clone();
            self.core()
                .tasks_out
                .submit(outgoing, move |tasks| async move {
                    let callers = tasks.len();
                    let outcome = bus.publish_tasks(tasks).await;
                    vec![outcome; callers]
                })
                .await
                .unwrap_or(Err(BusError::Closed))
        })
    }
}

impl AmqpBus {
    /// Tasks as messages, all confirmed together: read-only ones grouped by
    /// routing key, at most [`TASKS_PER_MESSAGE`] to a message, every other
    /// task a message of its own.
    async fn publish_tasks(&self, tasks: Vec<OutgoingTask>) -> Result<(), BusError> {
        let mut sites: Vec<&str> = tasks.iter().map(|t| t.site.as_str()).collect();
        sites.sort_unstable();
        sites.dedup();
        let mut messages = Vec::new();
        let mut shared: Vec<(&str, Vec<&OutgoingTask>)> = Vec::new();
        for task in &tasks {
            if !task.read_only {
                messages.push(task_message(std::slice::from_ref(&task)));
                continue;
            }
            match shared.iter_mut().find(|(key, _)| *key == task.routing_key) {
                Some((_, group)) => group.push(task),
                None => shared.push((&task.routing_key, vec![task])),
            }
        }
        for (_, group) in &shared {
            messages.extend(group.chunks(TASKS_PER_MESSAGE).map(task_message));
        }
        let exchange = self.core().cfg.tasks_exchange();
        self.publish_confirmed(&exchange, &sites, &messages).await
    }
}

/// One message for `tasks` (all with the same routing key): a single task
/// as its JSON object with its id as message id, several as a JSON array.
fn task_message(tasks: &[&OutgoingTask]) -> (String, Vec<u8>, BasicProperties) {
    let routing_key = tasks[0].routing_key.clone();
    if let [task] = tasks {
        let properties = persistent_json().with_message_id(task.task_id.to_string().into());
        return (routing_key, task.json.clone(), properties);
    }
    let mut body = Vec::with_capacity(tasks.iter().map(|t| t.json.len() + 1).sum::<usize>() + 1);
    body.push(b'[');
    for (i, task) in tasks.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(&task.json);
    }
    body.push(b']');
    (routing_key, body, persistent_json())
}

impl EventPublisher for AmqpBus {
    fn publish_event(&self, event: Event) -> BoxFuture<Result<(), BusError>> {
        self.publish_events(vec![event])
    }

    /// Events from concurrent callers (an agent's tasks ending together)
    /// share one message and one confirm: while a batch is being confirmed
    /// the next one gathers. Each caller returns once its events are held.
    fn publish_events(&self, events: Vec<Event>) -> BoxFuture<Result<(), BusError>> {
        let bus = self.clone();
        Box::pin(async move {
            let core = bus.core().clone();
            core.events_out
                .submit(events, move |batches| async move {
                    let callers = batches.len();
                    let all: Vec<Event> = batches.into_iter().flatten().collect();
                    let outcome = bus.publish_event_batches(&all).await;
                    vec![outcome; callers]
                })
                .await
                .unwrap_or(Err(BusError::Closed))
        })
    }
}

impl AmqpBus {
    /// `events` as messages of at most [`EVENTS_PER_MESSAGE`] each, all
    /// confirmed together.
    async fn publish_event_batches(&self, events: &[Event]) -> Result<(), BusError> {
        let messages = events
            .chunks(EVENTS_PER_MESSAGE)
            .map(|chunk| {
                let payload =
                    serde_json::to_vec(chunk).map_err(|e| BusError::Codec(e.to_string()))?;
                Ok((EVENT_BATCH_KEY.to_owned(), payload, persistent_json()))
            })
            .collect::<Result<Vec<_>, BusError>>()?;
        let exchange = self.core().cfg.events_exchange();
        self.publish_confirmed(&exchange, &[], &messages).await
    }
}

impl Core {
    fn remember_site(&self, site: &str) {
        let mut sites = self.sites.lock().unwrap_or_else(|p| p.into_inner());
        if !sites.contains(site) {
            sites.insert(site.to_owned());
        }
    }

    fn unreachable(&self) -> BusError {
        if *self.shutdown.borrow() {
            BusError::Closed
        } else {
            BusError::Unreachable(format!(
                "no connection to {} within {}s",
                redact_url(&self.cfg.url),
                PUBLISH_DEADLINE.as_secs()
            ))
        }
    }

    /// The current healthy link; waits for the supervisor's next one until
    /// `deadline`. `None` on timeout or shutdown.
    async fn wait_link(&self, deadline: Instant) -> Option<Arc<Link>> {
        let mut links = self.link.subscribe();
        let mut shutdown = self.shutdown.subscribe();
        tokio::select! {
            found = tokio::time::timeout_at(deadline, links.wait_for(|l| l.as_ref().is_some_and(|l| l.healthy()))) => {
                found.ok()?.ok()?.clone()
            }
            _ = stopped(&mut shutdown) => None,
        }
    }
}

/// Keeps a link up: waits for it to fail, then reconnects with backoff.
async fn supervise(core: Arc<Core>, mut link: Arc<Link>) {
    let mut shutdown = core.shutdown.subscribe();
    loop {
        let mut check = tokio::time::interval(HEALTH_CHECK);
        loop {
            tokio::select! {
                _ = stopped(&mut shutdown) => {
                    core.link.send_replace(None);
                    close_link(&link).await;
                    return;
                }
                _ = check.tick() => {}
            }
            if !link.healthy() {
                break;
            }
        }
        tracing::warn!(
            link = link.generation,
            "lost the broker connection; reconnecting"
        );
        core.link.send_replace(None);
        // A dead publishing channel on a live connection needs a fresh
        // connection too; closing an already dead one is harmless.
        close_link(&link).await;
        let generation = link.generation + 1;
        let mut attempt = 0u32;
        link = loop {
            let pause = backoff(attempt);
            attempt = attempt.saturating_add(1);
            tokio::select! {
                _ = stopped(&mut shutdown) => return,
                _ = tokio::time::sleep(pause) => {}
            }
            match open_link(&core, generation).await {
                Ok(link) => break link,
                Err(e) => tracing::warn!(
                    broker = %redact_url(&core.cfg.url), attempt, error = %e,
                    "cannot reach the broker yet"
                ),
            }
        };
        tracing::info!(link = link.generation, "reconnected to the broker");
        core.link.send_replace(Some(link.clone()));
    }
}

/// Resolves once the bus shuts down (or its sender is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not `Send`; drop it right here.
    let _ = shutdown.wait_for(|down| *down).await;
}

/// Exponential backoff capped at [`BACKOFF_CAP`], with jitter so a fleet of
/// agents does not reconnect in lockstep after a broker restart.
fn backoff(attempt: u32) -> Duration {
    let ceiling = BACKOFF_BASE
        .saturating_mul(1u32 << attempt.min(16))
        .min(BACKOFF_CAP);
    let half = ceiling / 2;
    half + half.mul_f64(rand::thread_rng().gen_range(0.0..=1.0))
}

async fn close_link(link: &Link) {
    // Bounded: closing waits for the broker's close-ok, which a dead broker never sends.
    let _ = tokio::time::timeout(
        Duration::from_secs(5),
        link.conn.close(200, "closing".into()),
    )
    .await;
}

async fn open_link(core: &Core, generation: u64) -> Result<Arc<Link>, lapin::Error> {
    let cfg = &core.cfg;
    let props = ConnectionProperties::default()
        .with_connection_name(format!("ironrack-bus {}", cfg.prefix).into());
    let conn =
        match tokio::time::timeout(CONNECT_TIMEOUT, Connection::connect(&cfg.url, props)).await {
            Ok(conn) => conn?,
            Err(_) => {
                return Err(lapin::Error::from(lapin::ErrorKind::IOError(Arc::new(
                    std::io::Error::new(std::io::ErrorKind::TimedOut, "connecting timed out"),
                ))));
            }
        };
    let publisher = conn.create_channel().await?;
    declare_topology(cfg, &publisher).await?;
    let sites: Vec<String> = core
        .sites
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .cloned()
        .collect();
    for site in &sites {
        declare_site(cfg, &publisher, site).await?;
    }
    publisher
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    Ok(Arc::new(Link {
        generation,
        conn,
        publisher,
        declared: Mutex::new(sites.into_iter().collect()),
    }))
}

fn quorum_args(cfg: &AmqpConfig, dead_letter: bool) -> FieldTable {
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    if dead_letter {
        // RabbitMQ dead-letters once the count of *re*deliveries exceeds the
        // limit, so a limit of n-1 allows n deliveries in all.
        let limit = cfg.max_deliveries.saturating_sub(1);
        args.insert(
            "x-delivery-limit".into(),
            AMQPValue::LongLongInt(i64::from(limit)),
        );
        args.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString(cfg.dead_letter_exchange().into()),
        );
    }
    args
}

fn durable_queue() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    }
}

fn durable_exchange() -> ExchangeDeclareOptions {
    ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    }
}

async fn declare_topology(cfg: &AmqpConfig, ch: &Channel) -> Result<(), lapin::Error> {
    let dlx = cfg.dead_letter_exchange();
    ch.exchange_declare(
        dlx.clone().into(),
        ExchangeKind::Fanout,
        durable_exchange(),
        FieldTable::default(),
    )
    .await?;
    bind_queue(ch, &cfg.dead_queue(), &dlx, "", quorum_args(cfg, false)).await?;
    for exchange in [cfg.tasks_exchange(), cfg.events_exchange()] {
        ch.exchange_declare(
            exchange.into(),
            ExchangeKind::Topic,
            durable_exchange(),
            FieldTable::default(),
        )
        .await?;
    }
    bind_queue(
        ch,
        &cfg.events_queue(),
        &cfg.events_exchange(),
        "event.#",
        quorum_args(cfg, true),
    )
    .await
}

async fn declare_site(cfg: &AmqpConfig, ch: &Channel, site: &str) -> Result<(), lapin::Error> {
    bind_queue(
        ch,
        &cfg.task_queue(site),
        &cfg.tasks_exchange(),
        &format!("task.{site}.*"),
        quorum_args(cfg, true),
    )
    .await
}

async fn bind_queue(
    ch: &Channel,
    queue: &str,
    exchange: &str,
    key: &str,
    args: FieldTable,
) -> Result<(), lapin::Error> {
    ch.queue_declare(queue.into(), durable_queue(), args)
        .await?;
    ch.queue_bind(
        queue.into(),
        exchange.into(),
        key.into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
}

/// One attempt on one link: every message sent in order, then every
/// confirm awaited (the broker confirms a channel's messages in order, so
/// they arrive together).
async fn try_publish(
    cfg: &AmqpConfig,
    link: &Link,
    exchange: &str,
    sites: &[&str],
    messages: &[(String, Vec<u8>, BasicProperties)],
) -> Result<(), BusError> {
    let unreachable = |e: lapin::Error| BusError::Unreachable(e.to_string());
    for &site in sites {
        let known = link
            .declared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(site);
        // A task for a site whose agent never connected must wait in the
        // site's queue, not be dropped as unroutable.
        if !known {
            declare_site(cfg, &link.publisher, site)
                .await
                .map_err(unreachable)?;
            link.declared
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(site.to_owned());
        }
    }
    let mut confirms = Vec::with_capacity(messages.len());
    for (routing_key, payload, properties) in messages {
        let confirm = link
            .publisher
            .basic_publish(
                ShortString::from(exchange),
                ShortString::from(routing_key.as_str()),
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                payload,
                properties.clone(),
            )
            .await
            .map_err(unreachable)?;
        confirms.push(confirm);
    }
    for confirm in confirms {
        let confirmation = tokio::time::timeout(CONFIRM_TIMEOUT, confirm)
            .await
            .map_err(|_| BusError::NotConfirmed(format!("no confirm within {CONFIRM_TIMEOUT:?}")))?
            .map_err(|e| BusError::NotConfirmed(e.to_string()))?;
        if !confirmation.is_ack() {
            return Err(BusError::NotConfirmed(
                "the broker refused the message".into(),
            ));
        }
        if let Some(returned) = confirmation.take_message() {
            return Err(BusError::NotConfirmed(format!(
                "unroutable ({} {})",
                returned.reply_code, returned.reply_text
            )));
        }
    }
    Ok(())
}

/// What a consumer reads.
enum Source {
    Site(String),
    Events,
}

impl Source {
    /// Unacknowledged deliveries held at once.
    fn prefetch(&self, cfg: &AmqpConfig) -> u16 {
        match self {
            Source::Site(_) => cfg.prefetch.max(1),
            Source::Events => cfg.prefetch.max(EVENTS_PREFETCH),
        }
    }

    fn queue(&self, cfg: &AmqpConfig) -> String {
        match self {
            Source::Site(site) => cfg.task_queue(site),
            Source::Events => cfg.events_queue(),
        }
    }
}

/// A consumer on its own channel, so its prefetch window and its
/// unacknowledged deliveries end with it.
struct Consuming {
    channel: Channel,
    consumer: lapin::Consumer,
    generation: u64,
}

async fn open_consumer(
    cfg: &AmqpConfig,
    link: &Link,
    source: &Source,
) -> Result<Consuming, lapin::Error> {
    let channel = link.conn.create_channel().await?;
    // Declared again here so a consumer also recovers a deleted queue.
    match source {
        Source::Site(site) => declare_site(cfg, &channel, site).await?,
        Source::Events => declare_topology(cfg, &channel).await?,
    }
    channel
        .basic_qos(source.prefetch(cfg), BasicQosOptions::default())
        .await?;
    let consumer = channel
        .basic_consume(
            source.queue(cfg).into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    Ok(Consuming {
        channel,
        consumer,
        generation: link.generation,
    })
}

/// Feeds `tx` from the queue, re-opening the consumer on every new link,
/// until the receiver is dropped or the bus shuts down.
async fn run_consumer<T: FromBody + Send + 'static>(
    core: Arc<Core>,
    source: Source,
    tx: mpsc::Sender<Delivery<T>>,
    first: Consuming,
) {
    let queue = source.queue(&core.cfg);
    let mut shutdown = core.shutdown.subscribe();
    let mut current = Some(first);
    let mut attempt = 0u32;
    loop {
        let consuming = match current.take() {
            Some(c) => c,
            None => {
                let link = tokio::select! {
                    link = core.wait_link(Instant::now() + Duration::from_secs(3600)) => link,
                    _ = tx.closed() => return,
                };
                let Some(link) = link else {
                    if *shutdown.borrow() {
                        return;
                    }
                    continue;
                };
                match open_consumer(&core.cfg, &link, &source).await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(%queue, error = %e, "cannot consume yet");
                        let pause = backoff(attempt);
                        attempt = attempt.saturating_add(1);
                        tokio::select! {
                            _ = tokio::time::sleep(pause) => {}
                            _ = stopped(&mut shutdown) => return,
                        }
                        continue;
                    }
                }
            }
        };
        attempt = 0;
        let generation = consuming.generation;
        match pump(&queue, consuming, &tx, &mut shutdown).await {
            Ended::Stop => return,
            Ended::Lost(reason) => {
                tracing::warn!(%queue, link = generation, %reason, "consumer lost; resuming on the next connection");
            }
        }
    }
}

enum Ended {
    /// The receiver or the bus is gone.
    Stop,
    /// The channel or connection died; consume again.
    Lost(String),
}

async fn pump<T: FromBody + Send + 'static>(
    queue: &str,
    mut c: Consuming,
    tx: &mpsc::Sender<Delivery<T>>,
    shutdown: &mut watch::Receiver<bool>,
) -> Ended {
    let ended = loop {
        let next = tokio::select! {
            next = c.consumer.next() => next,
            _ = tx.closed() => break Ended::Stop,
            _ = stopped(shutdown) => break Ended::Stop,
        };
        let delivery = match next {
            None => break Ended::Lost("the broker cancelled the consumer".into()),
            Some(Err(e)) => break Ended::Lost(e.to_string()),
            Some(Ok(d)) => d,
        };
        match T::from_body(&delivery.data) {
            Ok(messages) => {
                let settlers = settlers_for(delivery.acker, messages.len()).await;
                for (message, settler) in messages.into_iter().zip(settlers) {
                    if tx.send(Delivery { message, settler }).await.is_err() {
                        break;
                    }
                }
                if tx.is_closed() {
                    break Ended::Stop;
                }
            }
            Err(e) => {
                // Only the position: serde's message can quote the payload,
                // which may hold a BMC password.
                tracing::warn!(
                    %queue,
                    bytes = delivery.data.len(),
                    error = ?e.classify(),
                    line = e.line(),
                    column = e.column(),
                    "dead-lettering a message that does not decode"
                );
                let rejected = delivery
                    .acker
                    .reject(BasicRejectOptions { requeue: false })
                    .await;
                if let Err(e) = rejected {
                    tracing::warn!(%queue, error = %e, "could not reject an undecodable message");
                }
            }
        }
    };
    // Hands this consumer's unacknowledged deliveries back to the queue
    // (when stopping) and frees the channel (when the consumer alone was
    // cancelled, e.g. its queue was deleted); a dead channel closes at once.
    let _ = tokio::time::timeout(
        Duration::from_secs(5),
        c.channel.close(200, "consumer done".into()),
    )
    .await;
    ended
}

/// How a queue's message body becomes what its consumer is handed.
trait FromBody: Sized {
    fn from_body(body: &[u8]) -> Result<Vec<Self>, serde_json::Error>;
}

impl FromBody for TaskRequest {
    /// One task, or read-only tasks sharing a message (a JSON array).
    fn from_body(body: &[u8]) -> Result<Vec<Self>, serde_json::Error> {
        one_or_many(body)
    }
}

impl FromBody for Event {
    /// A batch (a JSON array) as agents send them; a single event is read
    /// too, so that a message from an older agent is not dead-lettered.
    fn from_body(body: &[u8]) -> Result<Vec<Self>, serde_json::Error> {
        one_or_many(body)
    }
}

fn one_or_many<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<Vec<T>, serde_json::Error> {
    if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        serde_json::from_slice(body)
    } else {
        serde_json::from_slice(body).map(|one| vec![one])
    }
}

/// One settler per part of a delivery. A delivery of several parts (a
/// batch of events) is acknowledged once every part is settled as done,
/// and handed back whole if any part was not; an empty one is
/// acknowledged at once.
async fn settlers_for(acker: Acker, parts: usize) -> Vec<Settler> {
    match parts {
        0 => {
            if let Err(e) = AmqpSettle::settle(Box::new(AmqpSettle(acker)), true).await {
                tracing::warn!(error = %e, "could not acknowledge an empty batch");
            }
            Vec::new()
        }
        1 => vec![Settler::new(Box::new(AmqpSettle(acker)))],
        n => {
            let shared = Arc::new(SharedDelivery {
                acker: Mutex::new(Some(acker)),
                remaining: std::sync::atomic::AtomicUsize::new(n),
                failed: std::sync::atomic::AtomicBool::new(false),
            });
            (0..n)
                .map(|_| Settler::new(Box::new(PartSettle(shared.clone()))))
                .collect()
        }
    }
}

/// A delivery shared by the parts it carries.
struct SharedDelivery {
    acker: Mutex<Option<Acker>>,
    remaining: std::sync::atomic::AtomicUsize,
    failed: std::sync::atomic::AtomicBool,
}

struct PartSettle(Arc<SharedDelivery>);

impl Settle for PartSettle {
    fn settle(self: Box<Self>, done: bool) -> BoxFuture<Result<(), BusError>> {
        use std::sync::atomic::Ordering;
        Box::pin(async move {
            let shared = self.0;
            if !done {
                shared.failed.store(true, Ordering::SeqCst);
            }
            if shared.remaining.fetch_sub(1, Ordering::SeqCst) != 1 {
                return Ok(());
            }
            let acker = shared
                .acker
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take();
            match acker {
                Some(acker) => {
                    let all_done = !shared.failed.load(Ordering::SeqCst);
                    Box::new(AmqpSettle(acker)).settle(all_done).await
                }
                None => Ok(()),
            }
        })
    }
}

/// Settles one delivery on the channel it came from.
struct AmqpSettle(Acker);

impl Settle for AmqpSettle {
    fn settle(self: Box<Self>, done: bool) -> BoxFuture<Result<(), BusError>> {
        Box::pin(async move {
            let outcome = if done {
                self.0.ack(Default::default()).await
            } else {
                self.0
                    .nack(BasicNackOptions {
                        requeue: true,
                        ..BasicNackOptions::default()
                    })
                    .await
            };
            match outcome {
                Ok(true) => Ok(()),
                // The channel died: the broker will deliver the message again.
                Ok(false) => Err(BusError::Unreachable(
                    "the delivery's channel is closed; the message will be delivered again".into(),
                )),
                Err(e) => Err(BusError::Unreachable(format!(
                    "settling failed ({e}); the message will be delivered again"
                ))),
            }
        })
    }
}

/// Site and driver names become routing-key words: a `.`, `*` or `#` would
/// route a task to the wrong queue.
fn check_word(what: &str, word: &str) -> Result<(), BusError> {
    let ok = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(BusError::Codec(format!(
            "{what} `{word}` is not usable in a routing key (letters, digits, - and _ only)"
        )))
    }
}

/// The URL without its password, for messages and logs.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let user = rest[..at].split(':').next().unwrap_or("");
            format!("{scheme}://{user}:<redacted>@{}", &rest[at + 1..])
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_password() {
        assert_eq!(
            redact_url("amqp://guest:secret@host:5672/%2f"),
            "amqp://guest:<redacted>@host:5672/%2f"
        );
        assert_eq!(redact_url("amqp://host:5672"), "amqp://host:5672");
    }

    #[test]
    fn routing_words_are_checked() {
        assert!(check_word("site", "ams-1_a").is_ok());
        for bad in ["", "a.b", "*", "#", "a b"] {
            assert!(check_word("site", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn backoff_is_capped_and_jittered() {
        for attempt in 0..40 {
            let d = backoff(attempt);
            assert!(d <= BACKOFF_CAP, "{d:?}");
            assert!(d >= BACKOFF_BASE / 2, "{d:?}");
        }
    }
}
