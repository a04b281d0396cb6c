//! Restarts the local RabbitMQ in the middle of a burst of tasks. A test
//! binary of its own, so no other test sees the broker go away. Needs a
//! broker at `AMQP_URL` and a `rabbitmqctl` allowed to control it (root).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use ironrack_bus::{AmqpBus, AmqpConfig, BmcTarget, TaskPublisher, TaskRequest};
use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use lapin::{Connection, ConnectionProperties};
use tokio::time::Instant;

const TASKS: i64 = 1000;
const SITE: &str = "restart";
/// The broker is restarted once this many publishes are confirmed...
const RESTART_AFTER: usize = 200;
/// ...and this task waits for `stop_app` to finish, so the rest of the
/// burst is published into the outage however slow the machine is.
const HELD_TASK: i64 = 300;

fn url() -> String {
    std::env::var("AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

fn task(task_id: i64) -> TaskRequest {
    TaskRequest {
        task_id,
        server_id: task_id,
        site: SITE.into(),
        kind: "power".into(),
        params: serde_json::json!({"action": "status"}),
        bmc: BmcTarget {
            driver: "fake".into(),
            address: "127.0.0.1".into(),
            port: 623,
            username: "u".into(),
            // Sealing is tested in amqp.rs; here only reconnection matters.
            password: None,
            options: serde_json::json!({}),
            secrets: Default::default(),
        },
    }
}

async fn connect(cfg: &AmqpConfig) -> AmqpBus {
    match AmqpBus::connect(cfg.clone()).await {
        Ok(bus) => bus,
        Err(e) => panic!(
            "this test needs RabbitMQ at AMQP_URL (default amqp://127.0.0.1:5672); \
             start it (e.g. `rabbitmq-server -detached`): {e}"
        ),
    }
}

async fn rabbitmqctl(arg: &str) {
    let out = tokio::process::Command::new("rabbitmqctl")
        .arg(arg)
        .output()
        .await
        .unwrap_or_else(|e| panic!("this test restarts RabbitMQ with rabbitmqctl: {e}"));
    assert!(
        out.status.success(),
        "rabbitmqctl {arg} failed (run as root?): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_task_is_lost_across_a_broker_restart() {
    let cfg = AmqpConfig {
        url: url(),
        prefix: format!("ironrack-test.restart.{}", std::process::id()),
        prefetch: 32,
        // Every restart hands the unacked window back and counts as a
        // delivery; keep dead-lettering out of this test.
        max_deliveries: 100,
    };
    let started = Instant::now();
    let consumer = connect(&cfg).await;
    let publisher = connect(&cfg).await;
    let mut rx = consumer.consume_tasks(SITE).await.expect("consume");

    let confirmed = Arc::new(AtomicUsize::new(0));
    let stopped = Arc::new(AtomicBool::new(false));
    // One task publishes the burst: 16 in flight, paced so the restart
    // falls in its middle.
    let publishing = {
        let confirmed = confirmed.clone();
        let stopped = stopped.clone();
        let publisher = publisher.clone();
        tokio::spawn(async move {
            let failures: Vec<(i64, String)> = futures_util::stream::iter(1..=TASKS)
                .then(|id| {
                    let stopped = stopped.clone();
                    async move {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        while id == HELD_TASK && !stopped.load(Ordering::Relaxed) {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                        id
                    }
                })
                .map(|id| {
                    let publisher = publisher.clone();
                    let confirmed = confirmed.clone();
                    async move {
                        let outcome = publisher.publish(task(id)).await;
                        confirmed.fetch_add(1, Ordering::Relaxed);
                        outcome.err().map(|e| (id, e.to_string()))
                    }
                })
                .buffer_unordered(16)
                .filter_map(std::future::ready)
                .collect()
                .await;
            (failures, started.elapsed())
        })
    };

    let restart = {
        let confirmed = confirmed.clone();
        tokio::spawn(async move {
            while confirmed.load(Ordering::Relaxed) < RESTART_AFTER {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let at = started.elapsed();
            let t = Instant::now();
            rabbitmqctl("stop_app").await;
            let stop_took = t.elapsed();
            stopped.store(true, Ordering::Relaxed);
            rabbitmqctl("start_app").await;
            (at, stop_took, t.elapsed())
        })
    };

    let mut received: BTreeMap<i64, u32> = BTreeMap::new();
    let mut acked: HashSet<i64> = HashSet::new();
    let mut failed_acks = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while acked.len() < TASKS as usize {
        let Ok(Some(d)) = tokio::time::timeout_at(deadline, rx.recv()).await else {
            break;
        };
        *received.entry(d.message.task_id).or_default() += 1;
        let id = d.message.task_id;
        match d.settler.ack().await {
            Ok(()) => {
                acked.insert(id);
            }
            // Comes again: the broker never saw this ack.
            Err(_) => failed_acks += 1,
        }
    }

    let (restart_at, stop_took, restart_took) = restart.await.expect("restart task");
    let (failures, published_after) = publishing.await.expect("publishing task");
    let missing: Vec<i64> = (1..=TASKS).filter(|id| !acked.contains(id)).collect();
    let duplicates: Vec<(i64, u32)> = received
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, n)| (*id, *n))
        .collect();
    println!(
        "restart began at {restart_at:?} (stop_app {stop_took:?}, stop+start {restart_took:?}); \
         all published after {published_after:?}, all acked after {:?}; {} deliveries for {TASKS} tasks, {} duplicated, {failed_acks} acks failed",
        started.elapsed(),
        received.values().sum::<u32>(),
        duplicates.len(),
    );
    if !duplicates.is_empty() {
        println!("duplicates (task id, deliveries): {duplicates:?}");
    }
    assert!(failures.is_empty(), "publishes failed: {failures:?}");
    assert!(
        missing.is_empty(),
        "{} tasks never acked: {missing:?}",
        missing.len()
    );

    consumer.close().await;
    publisher.close().await;
    let conn = Connection::connect(&url(), ConnectionProperties::default())
        .await
        .expect("cleanup connection");
    let ch = conn.create_channel().await.expect("cleanup channel");
    for q in [cfg.task_queue(SITE), cfg.events_queue(), cfg.dead_queue()] {
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
