//! Many sites: `ironrack controller` and `ironrack agent` processes with the
//! real RabbitMQ between them (127.0.0.1:5672, guest/guest, or
//! `IRONRACK_TEST_AMQP`).

mod common;

use std::time::{Duration, Instant};

use common::{AgentProcess, Server};
use serde_json::json;

fn amqp_url() -> String {
    std::env::var("IRONRACK_TEST_AMQP")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

fn prefix(test: &str) -> String {
    format!(
        "ironrack-test-{test}-{}-{}",
        std::process::id(),
        ironrack_store::now_ms() % 1_000_000
    )
}

async fn task_state(s: &Server, token: &str, id: i64) -> String {
    s.get(&format!("/api/v1/tasks/{id}"), token)
        .await
        .expect(200)["state"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn wait_state(s: &Server, token: &str, id: i64, want: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let state = task_state(s, token, id).await;
        if state == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "task {id} is {state}, not {want}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_take_only_their_sites_tasks_and_survive_kill_9() {
    let (url, prefix) = (amqp_url(), prefix("sites"));
    let s = Server::start_controller(&url, &prefix).await;
    let admin = s.admin().await;
    for site in ["ams", "fra"] {
        s.post("/api/v1/sites", &admin, json!({"name": site}))
            .await
            .expect(201);
    }
    let server = |name: &'static str, site: &'static str, delay: u64| {
        let body = json!({"name": name, "site": site, "bmc": {"driver": "fake", "address": "10.0.0.1", "options": {"delay_ms": delay}}});
        let s = &s;
        let admin = admin.clone();
        async move {
            s.post("/api/v1/servers", &admin, body).await.expect(201)["id"]
                .as_i64()
                .unwrap()
        }
    };
    let ams = server("ams-1", "ams", 0).await;
    let fra = server("fra-1", "fra", 0).await;
    let slow = server("ams-slow", "ams", 4000).await;
    let power = |id: i64| {
        let s = &s;
        let admin = admin.clone();
        async move {
            s.post(
                &format!("/api/v1/servers/{id}/power"),
                &admin,
                json!({"action": "on"}),
            )
            .await
            .expect(202)["id"]
                .as_i64()
                .unwrap()
        }
    };

    // Only Amsterdam has an agent: its task runs, Frankfurt's waits.
    let ams_agent = AgentProcess::start("ams", &url, &prefix, &s.data_dir, "ams-a");
    let t_ams = power(ams).await;
    let t_fra = power(fra).await;
    wait_state(&s, &admin, t_ams, "succeeded", Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        task_state(&s, &admin, t_fra).await,
        "queued",
        "Amsterdam's agent must not run Frankfurt's task"
    );

    let fra_agent = AgentProcess::start("fra", &url, &prefix, &s.data_dir, "fra-a");
    wait_state(&s, &admin, t_fra, "succeeded", Duration::from_secs(20)).await;
    assert!(fra_agent.log_text().contains("agent connected"));

    // kill -9 the Amsterdam agent in the middle of a slow task: a fresh
    // agent gets it again, and it ends once.
    let t_slow = power(slow).await;
    wait_state(&s, &admin, t_slow, "running", Duration::from_secs(20)).await;
    ams_agent.kill9();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(task_state(&s, &admin, t_slow).await, "running");
    let _ams_again = AgentProcess::start("ams", &url, &prefix, &s.data_dir, "ams-b");
    wait_state(&s, &admin, t_slow, "succeeded", Duration::from_secs(30)).await;
    let task = s
        .get(&format!("/api/v1/tasks/{t_slow}"), &admin)
        .await
        .expect(200);
    assert_eq!(task["result"]["power"], "on");

    // Heartbeats reached the controller.
    let sites = s.get("/api/v1/sites", &admin).await.expect(200);
    let names: Vec<String> = sites["items"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|site| site["agents"].as_array().cloned().unwrap_or_default())
        .map(|a| a["name"].as_str().unwrap_or("").to_owned())
        .collect();
    assert!(names.contains(&"fra-a".to_owned()), "{sites}");
    drop(fra_agent);
    cleanup(&prefix, &["ams", "fra"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_restart_loses_no_task() {
    let (url, prefix) = (amqp_url(), prefix("restart"));
    let mut s = Server::start_controller(&url, &prefix).await;
    let admin = s.admin().await;
    s.post("/api/v1/sites", &admin, json!({"name": "ber"}))
        .await
        .expect(201);
    let body =
        json!({"name": "ber-1", "site": "ber", "bmc": {"driver": "fake", "address": "10.0.0.1"}});
    let id = s.post("/api/v1/servers", &admin, body).await.expect(201)["id"]
        .as_i64()
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..5 {
        tasks.push(
            s.post(
                &format!("/api/v1/servers/{id}/power"),
                &admin,
                json!({"action": "status"}),
            )
            .await
            .expect(202)["id"]
                .as_i64()
                .unwrap(),
        );
    }
    // No agent yet; the controller goes away and comes back.
    s.kill();
    s.spawn().await;
    let admin = s.admin().await;
    let _agent = AgentProcess::start("ber", &url, &prefix, &s.data_dir, "ber-a");
    for t in tasks {
        wait_state(&s, &admin, t, "succeeded", Duration::from_secs(20)).await;
    }
    // The broker already held them: the restart did not publish them twice.
    assert!(s.log().contains("resumed=0"), "{}", s.log());
    cleanup(&prefix, &["ber"]).await;
}

/// Removes the test's queues and exchanges from the broker.
async fn cleanup(prefix: &str, sites: &[&str]) {
    let mut queues: Vec<String> = sites
        .iter()
        .map(|s| format!("{prefix}.tasks.{s}"))
        .collect();
    queues.extend([format!("{prefix}.events"), format!("{prefix}.dead")]);
    for q in queues {
        let _ = std::process::Command::new("rabbitmqctl")
            .args(["-q", "delete_queue", &q])
            .output();
    }
}
