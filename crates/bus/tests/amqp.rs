//! `AmqpBus` against a real RabbitMQ (`AMQP_URL`, default the local
//! guest account). Without a broker these tests fail: CI must start one.
//! Each test uses its own prefix and deletes its queues and exchanges.

use std::time::Duration;

use ironrack_bus::{AmqpBus, AmqpConfig, BmcTarget, Delivery, Event, TaskPublisher, TaskRequest};
use ironrack_core::{TaskEvent, TaskEventKind};
use lapin::options::{
    BasicGetOptions, BasicPublishOptions, ExchangeDeleteOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use tokio::sync::mpsc;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

fn url() -> String {
    std::env::var("AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

fn config(test: &str, max_deliveries: u32) -> AmqpConfig {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    AmqpConfig {
        url: url(),
        prefix: format!("ironrack-test.{test}.{}.{nanos}", std::process::id()),
        prefetch: 8,
        max_deliveries,
    }
}

async fn connect(cfg: &AmqpConfig) -> AmqpBus {
    match AmqpBus::connect(cfg.clone()).await {
        Ok(bus) => bus,
        Err(e) => panic!(
            "these tests need RabbitMQ at AMQP_URL (default amqp://127.0.0.1:5672); \
             start it (e.g. `rabbitmq-server -detached`): {e}"
        ),
    }
}

async fn raw_channel() -> (Connection, Channel) {
    let conn = Connection::connect(&url(), ConnectionProperties::default())
        .await
        .expect("raw connection to RabbitMQ");
    let channel = conn.create_channel().await.expect("raw channel");
    (conn, channel)
}

/// Deletes everything the bus declared for `sites`.
async fn cleanup(cfg: &AmqpConfig, sites: &[&str]) {
    let (conn, ch) = raw_channel().await;
    let mut queues: Vec<String> = sites.iter().map(|s| cfg.task_queue(s)).collect();
    queues.push(cfg.events_queue());
    queues.push(cfg.dead_queue());
    for q in queues {
        ch.queue_delete(q.as_str().into(), QueueDeleteOptions::default())
            .await
            .expect("queue_delete");
    }
    for x in cfg.exchanges() {
        ch.exchange_delete(x.as_str().into(), ExchangeDeleteOptions::default())
            .await
            .expect("exchange_delete");
    }
    let _ = conn.close(200, "done".into()).await;
}

/// The key of every test site's agent.
fn agent_key() -> &'static ironrack_seal::AgentKey {
    static KEY: std::sync::OnceLock<ironrack_seal::AgentKey> = std::sync::OnceLock::new();
    KEY.get_or_init(ironrack_seal::AgentKey::generate)
}

/// A task with its password sealed to [`agent_key`], as a controller sends it.
fn task(task_id: i64, site: &str) -> TaskRequest {
    let mut t = clear_task(task_id, site);
    t.seal_secrets(agent_key().public()).expect("seal");
    t
}

fn clear_task(task_id: i64, site: &str) -> TaskRequest {
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
            password: Some("bus-test-password".into()),
            options: serde_json::json!({}),
            secrets: Default::default(),
        },
    }
}

async fn next<T>(rx: &mut mpsc::Receiver<Delivery<T>>) -> Delivery<T> {
    timeout(WAIT, rx.recv())
        .await
        .expect("a delivery within 10s")
        .expect("the consumer is running")
}

async fn nothing_more<T>(rx: &mut mpsc::Receiver<Delivery<T>>) {
    assert!(
        timeout(Duration::from_millis(500), rx.recv())
            .await
            .is_err(),
        "no further delivery expected"
    );
}

/// The task ids in `queue`, taken off it.
async fn drain_ids(queue: &str, expect: usize) -> Vec<i64> {
    let (conn, ch) = raw_channel().await;
    let mut ids = Vec::new();
    let started = tokio::time::Instant::now();
    while ids.len() < expect && started.elapsed() < WAIT {
        match ch
            .basic_get(queue.into(), BasicGetOptions { no_ack: true })
            .await
            .expect("basic_get")
        {
            Some(m) => {
                let id = serde_json::from_slice::<TaskRequest>(&m.delivery.data)
                    .map(|t| t.task_id)
                    .unwrap_or(-1);
                ids.push(id);
            }
            None => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let _ = conn.close(200, "done".into()).await;
    ids
}

async fn ready_messages(queue: &str) -> u32 {
    let (conn, ch) = raw_channel().await;
    let q = ch
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("passive queue_declare");
    let _ = conn.close(200, "done".into()).await;
    q.message_count()
}

#[tokio::test]
async fn tasks_reach_only_their_site() {
    let cfg = config("sites", 5);
    let bus = connect(&cfg).await;
    let mut a = bus.consume_tasks("site-a").await.expect("consume a");
    let mut b = bus.consume_tasks("site-b").await.expect("consume b");
    for (id, site) in [(1, "site-a"), (2, "site-b"), (3, "site-a"), (4, "site-b")] {
        bus.publish(task(id, site)).await.expect("publish");
    }
    for (rx, want) in [(&mut a, [1, 3]), (&mut b, [2, 4])] {
        let mut got = Vec::new();
        for _ in 0..2 {
            let d = next(rx).await;
            got.push(d.message.task_id);
            d.settler.ack().await.expect("ack");
        }
        got.sort_unstable();
        assert_eq!(got, want);
        nothing_more(rx).await;
    }
    bus.close().await;
    cleanup(&cfg, &["site-a", "site-b"]).await;
}

/// The broker never holds a password in clear: a task whose secrets are
/// not sealed is refused before it is sent, and a sealed one travels as
/// ciphertext that the agent's key opens.
#[tokio::test]
async fn only_sealed_secrets_cross_the_broker() {
    let cfg = config("sealed", 5);
    let bus = connect(&cfg).await;
    let err = bus.publish(clear_task(1, "lab")).await.unwrap_err();
    assert!(
        err.to_string().contains("cannot leave the process"),
        "{err}"
    );
    bus.publish(task(2, "lab")).await.expect("publish sealed");
    assert_eq!(
        ready_messages(&cfg.task_queue("lab")).await,
        1,
        "only the sealed one"
    );
    let (conn, ch) = raw_channel().await;
    let raw = ch
        .basic_get(
            cfg.task_queue("lab").as_str().into(),
            BasicGetOptions { no_ack: true },
        )
        .await
        .expect("basic_get")
        .expect("the sealed task is queued");
    let _ = conn.close(200, "done".into()).await;
    let text = String::from_utf8_lossy(&raw.delivery.data);
    assert!(!text.contains("bus-test-password"), "{text}");
    assert!(text.contains(agent_key().public().fingerprint()), "{text}");
    let mut got: TaskRequest = serde_json::from_slice(&raw.delivery.data).unwrap();
    got.open_secrets(Some(agent_key()))
        .expect("the agent opens it");
    assert_eq!(got.bmc.plain_password(), Some("bus-test-password"));
    bus.close().await;
    cleanup(&cfg, &["lab"]).await;
}

#[tokio::test]
async fn a_task_of_a_dead_consumer_is_delivered_again() {
    let cfg = config("redeliver", 5);
    let publisher = connect(&cfg).await;
    // Published before any agent of the site exists: it must wait.
    publisher.publish(task(7, "lab")).await.expect("publish");

    let killed = connect(&cfg).await;
    let mut rx = killed.consume_tasks("lab").await.expect("consume");
    let taken = next(&mut rx).await;
    assert_eq!(taken.message.task_id, 7);
    // The agent dies mid-task: its connection goes away without an ack.
    killed.close().await;
    drop(rx);
    drop(killed);
    assert!(
        taken.settler.ack().await.is_err(),
        "an ack on a dead channel must be reported"
    );

    let fresh = connect(&cfg).await;
    let mut rx = fresh.consume_tasks("lab").await.expect("consume again");
    let again = next(&mut rx).await;
    assert_eq!(again.message.task_id, 7);
    again.settler.ack().await.expect("ack");
    nothing_more(&mut rx).await;

    fresh.close().await;
    publisher.close().await;
    cleanup(&cfg, &["lab"]).await;
}

#[tokio::test]
async fn read_only_tasks_share_messages_and_others_travel_alone() {
    let cfg = config("shared", 5);
    let controller = connect(&cfg).await;
    let status = |id| {
        let mut t = task(id, "lab");
        t.params = serde_json::json!({"action": "status"});
        t
    };
    // Every fifth task powers on; the others only read the power state.
    let changes = |id: i64| id % 5 == 0;
    let publishes: Vec<_> = (1..=50)
        .map(|id| {
            let bus = controller.clone();
            let t = if changes(id) {
                task(id, "lab")
            } else {
                status(id)
            };
            tokio::spawn(async move { bus.publish(t).await })
        })
        .collect();
    for p in publishes {
        p.await.unwrap().expect("confirmed");
    }
    let messages = ready_messages(&cfg.task_queue("lab")).await;
    assert!(
        (11..=30).contains(&messages),
        "10 power-on tasks alone and 40 status reads sharing took {messages} messages"
    );

    let agent = connect(&cfg).await;
    let mut rx = agent.consume_tasks("lab").await.expect("consume");
    let mut seen = std::collections::BTreeSet::new();
    let mut held = None;
    for _ in 0..50 {
        let d = next(&mut rx).await;
        assert!(
            seen.insert(d.message.task_id),
            "task {} twice",
            d.message.task_id
        );
        // Hold one status read back: its whole message must return.
        if held.is_none() && !changes(d.message.task_id) {
            held = Some(d);
        } else {
            d.settler.ack().await.expect("ack");
        }
    }
    assert_eq!(seen.len(), 50);
    nothing_more(&mut rx).await;
    let held = held.expect("a status read");
    let held_id = held.message.task_id;
    drop(held);
    agent.close().await;
    drop(rx);

    let agent = connect(&cfg).await;
    let mut rx = agent.consume_tasks("lab").await.expect("consume again");
    let mut again = Vec::new();
    while let Ok(Some(d)) = timeout(Duration::from_millis(500), rx.recv()).await {
        again.push(d.message.task_id);
        d.settler.ack().await.expect("ack");
    }
    assert!(
        again.contains(&held_id),
        "the held task came back: {again:?}"
    );
    assert!(
        again.iter().all(|&id| !changes(id)),
        "a power-on ran again because of another task: {again:?}"
    );

    agent.close().await;
    controller.close().await;
    cleanup(&cfg, &["lab"]).await;
}

#[tokio::test]
async fn a_task_that_keeps_failing_is_dead_lettered() {
    let cfg = config("deadletter", 3);
    let bus = connect(&cfg).await;
    let mut rx = bus.consume_tasks("lab").await.expect("consume");
    bus.publish(task(9, "lab")).await.expect("publish");
    for _ in 0..cfg.max_deliveries {
        let d = next(&mut rx).await;
        assert_eq!(d.message.task_id, 9);
        d.settler.nack().await.expect("nack");
    }
    nothing_more(&mut rx).await;
    assert_eq!(drain_ids(&cfg.dead_queue(), 1).await, vec![9]);
    bus.close().await;
    cleanup(&cfg, &["lab"]).await;
}

#[tokio::test]
async fn events_travel_between_buses() {
    let cfg = config("events", 5);
    let agent = connect(&cfg).await;
    let controller = connect(&cfg).await;
    let mut events = controller.consume_events().await.expect("consume events");
    let sent = [
        Event::Task(TaskEvent {
            task_id: 3,
            seq: 1,
            what: TaskEventKind::Started,
        }),
        Event::Heartbeat {
            site: "lab".into(),
            agent: "a1".into(),
            version: "0.1.0".into(),
            key: Some(agent_key().public().fingerprint().to_owned()),
            console_instance: Some("c0ffee".into()),
            desktop_templates: Some(vec!["supermicro-java".into()]),
        },
    ];
    let sender = agent.event_sender();
    for ev in &sent {
        sender.send(ev.clone()).await.expect("send event");
    }
    for ev in &sent {
        let d = next(&mut events).await;
        assert_eq!(&d.message, ev);
        d.settler.ack().await.expect("ack");
    }
    nothing_more(&mut events).await;
    // Acked, so nothing comes back once the consumer is gone.
    controller.close().await;
    assert_eq!(ready_messages(&cfg.events_queue()).await, 0);
    drop(sender);
    agent.close().await;
    cleanup(&cfg, &[]).await;
}

/// The events of concurrent senders (an agent's tasks ending together)
/// travel as a few batch messages; a batch is acknowledged only once every
/// event in it is settled, and comes back whole if one is not.
#[tokio::test]
async fn concurrent_events_share_messages_and_are_acked_as_one() {
    let cfg = config("batches", 5);
    let agent = connect(&cfg).await;
    let sender = agent.event_sender();
    let event = |task_id, seq| {
        Event::Task(TaskEvent {
            task_id,
            seq,
            what: TaskEventKind::Started,
        })
    };
    let senders: Vec<_> = (0..30)
        .map(|i| {
            let sender = sender.clone();
            tokio::spawn(async move { sender.send_all(vec![event(i, 1), event(i, 2)]).await })
        })
        .collect();
    for s in senders {
        s.await.unwrap().expect("events confirmed");
    }
    let messages = ready_messages(&cfg.events_queue()).await;
    assert!(
        (1..=10).contains(&messages),
        "60 events of 30 concurrent senders took {messages} messages"
    );

    let controller = connect(&cfg).await;
    let mut events = controller.consume_events().await.expect("consume events");
    let mut seen = std::collections::BTreeSet::new();
    let mut held = None;
    for n in 0..60 {
        let d = next(&mut events).await;
        let Event::Task(ev) = &d.message else {
            panic!("unexpected {:?}", d.message)
        };
        seen.insert((ev.task_id, ev.seq));
        if n == 59 {
            held = Some(d);
        } else {
            d.settler.ack().await.expect("ack");
        }
    }
    assert_eq!(seen.len(), 60, "every event arrived once");
    nothing_more(&mut events).await;
    // One event of a batch not settled: its whole message goes back.
    let Some(held) = held else { unreachable!() };
    let Event::Task(held_event) = held.message.clone() else {
        unreachable!()
    };
    drop(held);
    controller.close().await;
    assert_eq!(ready_messages(&cfg.events_queue()).await, 1);

    let controller = connect(&cfg).await;
    let mut events = controller.consume_events().await.expect("consume events");
    let mut again = Vec::new();
    while let Ok(Some(d)) = timeout(Duration::from_millis(500), events.recv()).await {
        again.push(d);
    }
    assert!(
        again
            .iter()
            .any(|d| matches!(&d.message, Event::Task(ev) if *ev == held_event)),
        "the held event came back"
    );
    // A part handed back (nack) returns the message too.
    let count = again.len();
    let mut parts = again.into_iter();
    parts
        .next()
        .expect("a part")
        .settler
        .nack()
        .await
        .expect("nack");
    for d in parts {
        d.settler.ack().await.expect("ack");
    }
    let mut third = 0;
    while let Ok(Some(d)) = timeout(Duration::from_millis(500), events.recv()).await {
        third += 1;
        d.settler.ack().await.expect("ack");
    }
    assert_eq!(third, count, "the nacked batch came back whole, once");
    controller.close().await;
    assert_eq!(ready_messages(&cfg.events_queue()).await, 0);
    drop(sender);
    agent.close().await;
    cleanup(&cfg, &[]).await;
}

#[tokio::test]
async fn garbage_is_dead_lettered_and_the_queue_goes_on() {
    let cfg = config("garbage", 5);
    let bus = connect(&cfg).await;
    let mut rx = bus.consume_tasks("lab").await.expect("consume");

    let (conn, ch) = raw_channel().await;
    ch.basic_publish(
        format!("{}.tasks", cfg.prefix).as_str().into(),
        "task.lab.fake".into(),
        BasicPublishOptions::default(),
        b"\x00not json {",
        BasicProperties::default(),
    )
    .await
    .expect("raw publish");
    let _ = conn.close(200, "done".into()).await;

    bus.publish(task(11, "lab")).await.expect("publish");
    let d = next(&mut rx).await;
    assert_eq!(d.message.task_id, 11);
    d.settler.ack().await.expect("ack");
    nothing_more(&mut rx).await;
    // The garbage does not decode as a task: `drain_ids` reports it as -1.
    assert_eq!(drain_ids(&cfg.dead_queue(), 1).await, vec![-1]);

    bus.close().await;
    cleanup(&cfg, &["lab"]).await;
}
