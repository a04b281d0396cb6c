//! Many sites: `ironrack controller` and `ironrack agent` processes with the
//! real RabbitMQ between them (127.0.0.1:5672, guest/guest, or
//! `IRONRACK_TEST_AMQP`).

mod common;
#[path = "../../ipmi/tests/common/mod.rs"]
mod sims;

use std::time::{Duration, Instant};

use common::{AgentProcess, Server};
use reqwest::Method;
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
    let _broker = common::BrokerObjects::new(&url, &prefix);
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_restart_loses_no_task() {
    let (url, prefix) = (amqp_url(), prefix("restart"));
    let _broker = common::BrokerObjects::new(&url, &prefix);
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
    // Tasks that change the machine: these must never run twice, so the
    // controller answers only once their publication is recorded.
    let mut tasks = Vec::new();
    for _ in 0..5 {
        tasks.push(
            s.post(
                &format!("/api/v1/servers/{id}/power"),
                &admin,
                json!({"action": "on"}),
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
}

/// A queue of the test's own bound to the installation's task and event
/// exchanges: a copy of every message that crosses the broker. Exclusive,
/// so it goes away with the connection.
struct Capture {
    conn: lapin::Connection,
    channel: lapin::Channel,
    queue: String,
}

impl Capture {
    async fn bind(url: &str, prefix: &str) -> Capture {
        use lapin::options::{QueueBindOptions, QueueDeclareOptions};
        use lapin::types::FieldTable;
        let conn = lapin::Connection::connect(url, lapin::ConnectionProperties::default())
            .await
            .expect("connect to RabbitMQ");
        let channel = conn.create_channel().await.expect("channel");
        let queue = channel
            .queue_declare(
                "".into(),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("capture queue")
            .name()
            .to_string();
        for exchange in ["tasks", "events"] {
            channel
                .queue_bind(
                    queue.as_str().into(),
                    format!("{prefix}.{exchange}").as_str().into(),
                    "#".into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .expect("bind the capture queue");
        }
        Capture {
            conn,
            channel,
            queue,
        }
    }

    /// Every message captured so far.
    async fn take(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(m) = self
            .channel
            .basic_get(
                self.queue.as_str().into(),
                lapin::options::BasicGetOptions { no_ack: true },
            )
            .await
            .expect("basic_get")
        {
            out.push(m.delivery.data.clone());
        }
        out
    }

    async fn close(self) {
        let _ = self.conn.close(200, "done".into()).await;
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// BMC and console passwords cross RabbitMQ only sealed to the site
/// agent's key: a copy of every message on the broker holds neither, while
/// the agent still powers ipmi_sim and opens a VNC console with them. A
/// site without a key refuses such tasks up front and says what to run; an
/// agent holding another key than the registered one fails them, naming
/// both keys; registering its key fixes that without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bmc_secrets_cross_the_broker_only_sealed() {
    let Some(bmc) = sims::Bmc::start("bmc_secrets_cross_the_broker_only_sealed") else {
        return;
    };
    // Passwords no message would hold by chance (ipmi_sim's own is the
    // word `password`): its operator user gets one of its own.
    const IPMI_PASSWORD: &str = "ipmi-Secret-55";
    const VNC_PASSWORD: &str = "vnc-Secret-77";
    const FRA_PASSWORD: &str = "fra-Secret-99";
    let (url, prefix) = (amqp_url(), prefix("sealed"));
    let _broker = common::BrokerObjects::new(&url, &prefix);
    bmc.ipmitool(&["user", "set", "password", "3", IPMI_PASSWORD]);
    let s = Server::start_controller(&url, &prefix).await;
    let capture = Capture::bind(&url, &prefix).await;
    let admin = s.admin().await;
    for site in ["ams", "fra"] {
        s.post("/api/v1/sites", &admin, json!({"name": site}))
            .await
            .expect(201);
    }
    let sim = s
        .post(
            "/api/v1/servers",
            &admin,
            json!({"name": "sim-ams", "site": "ams",
                   "bmc": {"driver": "ipmi", "address": "127.0.0.1", "port": bmc.port,
                           "username": "operator", "password": IPMI_PASSWORD,
                           "options": {"timeout_ms": 300, "privilege": "operator"},
                           "console": {"vnc": "127.0.0.1:5999", "vnc_password": VNC_PASSWORD}}}),
        )
        .await
        .expect(201)["id"]
        .as_i64()
        .unwrap();
    let power_on = |id: i64| {
        let (s, admin) = (&s, admin.clone());
        async move {
            s.post(
                &format!("/api/v1/servers/{id}/power"),
                &admin,
                json!({"action": "on"}),
            )
            .await
        }
    };

    // No key yet: refused before any task exists, with what to run.
    let refused = power_on(sim).await.expect(409);
    let detail = refused["detail"].as_str().unwrap();
    assert!(
        detail.contains("ironrack agent keygen") && detail.contains("ironrack site agent-key ams"),
        "{detail}"
    );
    let site_named = |name: &'static str| {
        let (s, admin) = (&s, admin.clone());
        async move {
            let sites = s.get("/api/v1/sites", &admin).await.expect(200);
            sites["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|site| site["name"] == name)
                .cloned()
                .unwrap()
        }
    };
    let ams = site_named("ams").await;
    assert!(ams["agent_key"].is_null(), "{ams}");
    assert!(
        ams["agent_key_problem"]
            .as_str()
            .is_some_and(|p| p.contains("no agent key")),
        "{ams}"
    );

    // Registering: admin only, and only a real key.
    let op = s.user(&admin, "op", "operator", None).await;
    let key_text = common::agent_keygen(&common::agent_key_file(&s.data_dir, "ams"));
    let sites = s.get("/api/v1/sites", &admin).await.expect(200);
    let ams_id = sites["items"][0]["id"].as_i64().unwrap();
    let put = |token: String, key: &str| {
        let s = &s;
        let body = json!({ "public_key": key });
        async move {
            s.call(
                Method::PUT,
                &format!("/api/v1/sites/{ams_id}/agent-key"),
                Some(&token),
                Some(body),
            )
            .await
        }
    };
    put(op.clone(), &key_text).await.expect(403);
    let bad = put(admin.clone(), "bm90IGEga2V5").await.expect(422);
    assert_eq!(bad["field"], "public_key", "{bad}");
    let registered = put(admin.clone(), &key_text).await.expect(200);
    let fingerprint = registered["agent_key"]["fingerprint"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(registered["agent_key_problem"].is_null(), "{registered}");

    // The agent powers ipmi_sim and opens a VNC console with secrets that
    // reached it sealed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let ams_agent = AgentProcess::start_with(
        "ams",
        &url,
        &prefix,
        &s.data_dir,
        "ams-1",
        &["--console-listen", &listen],
    );
    let task = power_on(sim).await.expect(202)["id"].as_i64().unwrap();
    wait_state(&s, &admin, task, "succeeded", Duration::from_secs(20)).await;
    assert!(
        bmc.ipmitool(&["chassis", "power", "status"]).contains("on"),
        "ipmi_sim is on"
    );
    let console = s
        .call_with(
            Method::POST,
            &format!("/api/v1/servers/{sim}/console"),
            Some(&op),
            Some(json!({"kind": "vnc"})),
            &[("X-Ironrack-Pin", "2468")],
        )
        .await;
    assert_eq!(
        console.status.as_u16(),
        201,
        "{}; agent log: {}",
        console.body,
        ams_agent.log_text()
    );

    // A fra agent with another key than the registered one.
    s.register_agent_key(&admin, "fra").await;
    let registered_fra = site_named("fra").await["agent_key"]["fingerprint"]
        .as_str()
        .unwrap()
        .to_owned();
    let other_key = s.data_dir.join("other-fra.key");
    let other_text = common::agent_keygen(&other_key);
    let fra_agent = AgentProcess::start_with(
        "fra",
        &url,
        &prefix,
        &s.data_dir,
        "fra-1",
        &["--key-file", other_key.to_str().unwrap()],
    );
    let fra = s
        .post(
            "/api/v1/servers",
            &admin,
            json!({"name": "fra-1", "site": "fra",
                   "bmc": {"driver": "fake", "address": "10.0.0.9", "username": "u", "password": FRA_PASSWORD}}),
        )
        .await
        .expect(201)["id"]
        .as_i64()
        .unwrap();
    let task = power_on(fra).await.expect(202)["id"].as_i64().unwrap();
    wait_state(&s, &admin, task, "failed", Duration::from_secs(20)).await;
    let failed = s
        .get(&format!("/api/v1/tasks/{task}"), &admin)
        .await
        .expect(200);
    let other_fp =
        s.set_agent_key(&admin, "fra", &other_text).await.body["agent_key"]["fingerprint"]
            .as_str()
            .map(str::to_owned);
    let error = failed["error"].as_str().unwrap_or_default();
    let other_fp = other_fp.unwrap();
    assert!(
        error.contains(&format!(
            "sealed to key {registered_fra}, this agent has key {other_fp}"
        )) && error.contains("register this agent's key on site `fra`"),
        "{failed}"
    );
    // Its key is registered now: the same agent, not restarted, runs it.
    let task = power_on(fra).await.expect(202)["id"].as_i64().unwrap();
    wait_state(&s, &admin, task, "succeeded", Duration::from_secs(20)).await;
    assert!(site_named("fra").await["agent_key_problem"].is_null());

    // Rotation: a task queued (sealed to the old key) while the agent is
    // down, the new key registered, the agent restarted with both: the
    // queued task opens with the previous key, a new one with the new key.
    drop(fra_agent);
    let queued = power_on(fra).await.expect(202)["id"].as_i64().unwrap();
    let new_key = s.data_dir.join("new-fra.key");
    let new_text = common::agent_keygen(&new_key);
    s.set_agent_key(&admin, "fra", &new_text).await;
    let fra_agent = AgentProcess::start_with(
        "fra",
        &url,
        &prefix,
        &s.data_dir,
        "fra-2",
        &[
            "--key-file",
            new_key.to_str().unwrap(),
            "--previous-key-file",
            other_key.to_str().unwrap(),
        ],
    );
    wait_state(&s, &admin, queued, "succeeded", Duration::from_secs(20)).await;
    let task = power_on(fra).await.expect(202)["id"].as_i64().unwrap();
    wait_state(&s, &admin, task, "succeeded", Duration::from_secs(20)).await;

    // Removing a key (a compromised agent host): admin only; afterwards
    // nothing secret goes to the site, and the admin is told what to run.
    let fra_id = site_named("fra").await["id"].as_i64().unwrap();
    let remove = |token: String| {
        let s = &s;
        async move {
            s.call(
                Method::DELETE,
                &format!("/api/v1/sites/{fra_id}/agent-key"),
                Some(&token),
                None,
            )
            .await
        }
    };
    remove(op.clone()).await.expect(403);
    let removed = remove(admin.clone()).await.expect(200);
    assert!(removed["agent_key"].is_null(), "{removed}");
    assert!(
        removed["agent_key_problem"]
            .as_str()
            .is_some_and(|p| p.contains("no agent key")),
        "{removed}"
    );
    let refused = power_on(fra).await.expect(409);
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("ironrack site agent-key fra"),
        "{refused}"
    );
    let audit = s.get("/api/v1/audit", &admin).await.expect(200);
    assert!(
        audit.to_string().contains("site.agent_key.delete"),
        "{audit}"
    );

    // Nothing on the broker held a password in clear, and secrets did travel.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let messages = capture.take().await;
    capture.close().await;
    assert!(
        messages.iter().any(|m| contains(m, fingerprint.as_bytes())),
        "no sealed secret was seen on the broker"
    );
    for m in &messages {
        for secret in [IPMI_PASSWORD, VNC_PASSWORD, FRA_PASSWORD] {
            assert!(
                !contains(m, secret.as_bytes()),
                "{secret} on the broker: {}",
                String::from_utf8_lossy(m)
            );
        }
    }
    drop((ams_agent, fra_agent));
}

/// An agent's heartbeat says which desktop templates it knows: the
/// controller then refuses an unknown one itself (422, naming it and the
/// known ones), for a console and for a server's settings; before any
/// agent of the site was heard from, it cannot know and lets it pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_controller_refuses_desktop_templates_its_agent_does_not_know() {
    if let Some(m) = ironrack_desktop::testing::missing_tools() {
        eprintln!("skipped: an agent with desktop sessions needs {m}");
        return;
    }
    let (url, prefix) = (amqp_url(), prefix("templates"));
    let _broker = common::BrokerObjects::new(&url, &prefix);
    let s = Server::start_controller(&url, &prefix).await;
    let admin = s.admin().await;
    s.post("/api/v1/sites", &admin, json!({"name": "ams"}))
        .await
        .expect(201);
    let server = |name: &str, template: &str| {
        json!({"name": name, "site": "ams", "bmc": {"driver": "fake", "address": "10.0.0.1",
            "console": {"template": template, "web": "http://127.0.0.1:9"}}})
    };
    // No agent heard from yet: nothing to check against.
    let early = s
        .post("/api/v1/servers", &admin, server("early", "test-htlm5"))
        .await
        .expect(201)["id"]
        .as_i64()
        .unwrap();

    let templates = s.data_dir.join("templates.yaml");
    std::fs::write(&templates, ironrack_desktop::testing::TEMPLATES).unwrap();
    let runtime = s.data_dir.join("desktop");
    let agent = AgentProcess::start_with(
        "ams",
        &url,
        &prefix,
        &s.data_dir,
        "ams-desk",
        &[
            "--desktop-templates",
            templates.to_str().unwrap(),
            "--desktop-dir",
            runtime.to_str().unwrap(),
            "--desktop-uid-base",
            "61400",
            "--desktop-slots",
            "1",
            "--desktop-display-base",
            "240",
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let sites = s.get("/api/v1/sites", &admin).await.expect(200);
        if sites.to_string().contains("ams-desk") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no heartbeat from the agent: {}",
            agent.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Now it knows: the console is refused before any session or task.
    let op = s.user(&admin, "op", "operator", None).await;
    let e = s
        .call_with(
            Method::POST,
            &format!("/api/v1/servers/{early}/console"),
            Some(&op),
            Some(json!({"kind": "desktop"})),
            &[("X-Ironrack-Pin", "2468")],
        )
        .await
        .expect(422);
    let detail = e["detail"].as_str().unwrap();
    assert!(
        detail.contains("`test-htlm5`") && detail.contains("site `ams`"),
        "{e}"
    );
    assert!(
        detail.contains("test-html5, test-html5-tls, test-java"),
        "the agent's templates: {e}"
    );
    let consoles = s.get("/api/v1/consoles", &admin).await.expect(200);
    assert_eq!(consoles["items"], json!([]), "{consoles}");
    let tasks = s.get("/api/v1/tasks", &admin).await.expect(200);
    assert!(!tasks.to_string().contains("console.open"), "{tasks}");
    // And so is a server set up with it; a known one is fine.
    let e = s
        .post("/api/v1/servers", &admin, server("late", "nope"))
        .await
        .expect(422);
    assert!(e["detail"].as_str().unwrap().contains("`nope`"), "{e}");
    s.post("/api/v1/servers", &admin, server("late", "test-java"))
        .await
        .expect(201);
    drop(agent);
}
