//! Sensors, the System Event Log, BMC resets and the power poller through
//! the real `ironrack serve`: on fake servers (both databases) and on
//! ipmi_sim BMCs, cross-checked with ipmitool.

mod common;
#[path = "../../ipmi/tests/common/mod.rs"]
mod sims;

use std::time::{Duration, Instant};

use common::{Db, Server};
use reqwest::Method;
use serde_json::{Value, json};

both_databases!(fake_sensors_sel_and_reset);

const PIN: &str = "2468";

/// POSTs with the PIN header (or none) and returns the reply.
async fn post_pin(
    s: &Server,
    path: &str,
    token: &str,
    body: Value,
    pin: Option<&str>,
) -> common::Reply {
    let headers: Vec<(&str, &str)> = pin.map(|p| ("x-ironrack-pin", p)).into_iter().collect();
    s.call_with(Method::POST, path, Some(token), Some(body), &headers)
        .await
}

/// Runs a task-queuing request to its end; returns the finished task.
async fn run(s: &Server, path: &str, token: &str, body: Value, pin: Option<&str>) -> Value {
    let task = post_pin(s, path, token, body, pin).await.expect(202);
    let done = s.wait_task(token, task["id"].as_i64().unwrap()).await;
    assert_eq!(done["state"], "succeeded", "{path}: {done}");
    done
}

fn sensor<'a>(body: &'a Value, name: &str) -> &'a Value {
    body["sensors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no sensor {name} in {body}"))
}

async fn fake_sensors_sel_and_reset(s: Server) {
    let admin = s.admin().await;
    for t in ["acme", "globex"] {
        s.post("/api/v1/tenants", &admin, json!({"name": t}))
            .await
            .expect(201);
    }
    let carl = s.user(&admin, "carl", "customer", Some("acme")).await;
    let gina = s.user(&admin, "gina", "customer", Some("globex")).await;
    let id = s.server(&admin, "acme-1", Some("acme"), "pw").await;
    let base = format!("/api/v1/servers/{id}");

    // Never read: an empty set without a time.
    let none = s.get(&format!("{base}/sensors"), &carl).await.expect(200);
    assert_eq!(
        none,
        json!({"server_id": id, "read_at": null, "sensors": []})
    );

    let done = run(
        &s,
        &format!("{base}/sensors/refresh"),
        &carl,
        json!({}),
        None,
    )
    .await;
    assert_eq!(done["kind"], "sensors");
    assert_eq!(done["result"]["sensors"], 4);
    let cold = s.get(&format!("{base}/sensors"), &carl).await.expect(200);
    assert!(cold["read_at"].is_string(), "{cold}");
    assert_eq!(
        sensor(&cold, "CPU Temp"),
        &json!({"name": "CPU Temp", "type": "Temperature", "reading": 25.0, "unit": "degrees C", "status": "ok"})
    );
    assert_eq!(sensor(&cold, "FAN1")["reading"], 0.0);
    assert_eq!(sensor(&cold, "PSU1 Status")["reading"], Value::Null);

    // The fake machine warms up once on; a refresh replaces the readings.
    run(
        &s,
        &format!("{base}/power"),
        &carl,
        json!({"action": "on"}),
        None,
    )
    .await;
    run(
        &s,
        &format!("{base}/sensors/refresh"),
        &carl,
        json!({}),
        None,
    )
    .await;
    let warm = s.get(&format!("{base}/sensors"), &carl).await.expect(200);
    assert_eq!(sensor(&warm, "CPU Temp")["reading"], 45.0);
    assert_eq!(sensor(&warm, "FAN1")["reading"], 4800.0);
    assert_eq!(warm["sensors"].as_array().unwrap().len(), 4);

    // SEL: read; clearing needs the PIN and keeps what was read before it.
    run(&s, &format!("{base}/sel/refresh"), &carl, json!({}), None).await;
    let sel = s.get(&format!("{base}/sel"), &carl).await.expect(200);
    let texts: Vec<&str> = sel["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        [
            "Power Supply #0x04 | Presence detected | Asserted",
            "Temperature #0x01 | Upper Critical going high | Asserted"
        ]
    );
    let refused = post_pin(
        &s,
        &format!("{base}/sel/refresh"),
        &carl,
        json!({"clear": true}),
        None,
    )
    .await
    .expect(403);
    assert_eq!(refused["field"], "pin");
    post_pin(
        &s,
        &format!("{base}/sel/refresh"),
        &carl,
        json!({"clear": true}),
        Some("0000"),
    )
    .await
    .expect(403);
    let cleared = run(
        &s,
        &format!("{base}/sel/refresh"),
        &carl,
        json!({"clear": true}),
        Some(PIN),
    )
    .await;
    assert_eq!(cleared["result"]["cleared"], true);
    assert_eq!(cleared["result"]["entries"], 2);
    run(&s, &format!("{base}/sel/refresh"), &carl, json!({}), None).await;
    let empty = s.get(&format!("{base}/sel"), &carl).await.expect(200);
    assert_eq!(empty["entries"], json!([]));
    assert!(empty["read_at"].is_string());
    post_pin(
        &s,
        &format!("{base}/sel/refresh"),
        &carl,
        json!({"clear": "yes"}),
        None,
    )
    .await
    .expect(422);

    // BMC reset: PIN first.
    post_pin(
        &s,
        &format!("{base}/bmc-reset"),
        &carl,
        json!({"kind": "cold"}),
        None,
    )
    .await
    .expect(403);
    let reset = run(
        &s,
        &format!("{base}/bmc-reset"),
        &carl,
        json!({"kind": "warm"}),
        Some(PIN),
    )
    .await;
    assert_eq!(reset["result"], json!({"kind": "warm", "answered": true}));
    post_pin(
        &s,
        &format!("{base}/bmc-reset"),
        &carl,
        json!({"kind": "lukewarm"}),
        Some(PIN),
    )
    .await
    .expect(422);

    // Another tenant's customer: every one of these is "not found", the
    // same answer as for a server that does not exist.
    for target in [id, 999_999] {
        let b = format!("/api/v1/servers/{target}");
        let mut answers = vec![
            s.get(&format!("{b}/sensors"), &gina).await,
            s.get(&format!("{b}/sel"), &gina).await,
            post_pin(&s, &format!("{b}/sensors/refresh"), &gina, json!({}), None).await,
            post_pin(
                &s,
                &format!("{b}/sel/refresh"),
                &gina,
                json!({"clear": true}),
                Some(PIN),
            )
            .await,
            post_pin(&s, &format!("{b}/bmc-reset"), &gina, json!({}), Some(PIN)).await,
        ];
        for a in answers.drain(..) {
            let body = a.expect(404);
            assert_eq!(body["detail"], "server not found", "{body}");
        }
    }

    // Writes were audited under the caller's name.
    let audit = s.get("/api/v1/audit?limit=100", &carl).await.expect(200);
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for a in [
        "server.sensors.refresh",
        "server.sel.clear",
        "server.bmc_reset.warm",
    ] {
        assert!(actions.contains(&a), "{a} not in {actions:?}");
    }
}

/// Waits until the server's stored power state is `want`.
async fn wait_power(s: &Server, token: &str, id: i64, want: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let server = s
            .get(&format!("/api/v1/servers/{id}"), token)
            .await
            .expect(200);
        if server["power_state"] == want {
            return server;
        }
        assert!(
            Instant::now() < deadline,
            "power state never became {want}: {server}\n{}",
            s.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// ipmi_sim's sensors and SEL through the ipmi driver, checked against
/// ipmitool; the poller follows power changes made with ipmitool.
async fn ipmi_sim_scenario(db: Db) {
    let Some(bmc) = sims::Bmc::start("ipmi_sim_scenario") else {
        return;
    };
    let s = Server::start_with(db, &["--power-poll-interval", "1s"]).await;
    let admin = s.admin().await;
    s.call(
        Method::PUT,
        "/api/v1/me/pin",
        Some(&admin),
        Some(json!({"pin": PIN, "password": common::ADMIN_PASSWORD})),
    )
    .await
    .expect(204);
    let server = s
        .post(
            "/api/v1/servers",
            &admin,
            json!({"name": "sim-1", "site": "local",
                   "bmc": {"driver": "ipmi", "address": "127.0.0.1", "port": bmc.port,
                           "username": sims::USER, "password": sims::PASSWORD,
                           "options": {"timeout_ms": 300}}}),
        )
        .await
        .expect(201);
    let id = server["id"].as_i64().unwrap();
    let base = format!("/api/v1/servers/{id}");

    // The poller finds the chassis off, then follows ipmitool behind our back.
    let seen = wait_power(&s, &admin, id, "off").await;
    assert!(seen["power_observed_at"].is_string());
    bmc.ipmitool(&["chassis", "power", "on"]);
    wait_power(&s, &admin, id, "on").await;
    bmc.ipmitool(&["chassis", "power", "off"]);
    wait_power(&s, &admin, id, "off").await;

    // Sensors: the same values and states as `ipmitool sensor list`.
    run(
        &s,
        &format!("{base}/sensors/refresh"),
        &admin,
        json!({}),
        None,
    )
    .await;
    let ours = s.get(&format!("{base}/sensors"), &admin).await.expect(200);
    let theirs = bmc.ipmitool(&["sensor", "list"]);
    let mut compared = 0;
    for line in theirs.lines() {
        let cols: Vec<&str> = line.split('|').map(str::trim).collect();
        let mine = sensor(&ours, cols[0]);
        if cols[2] == "discrete" {
            assert_eq!(mine["reading"], Value::Null, "{mine}");
            assert_eq!(mine["unit"], Value::Null, "{mine}");
        } else {
            let value: f64 = cols[1].parse().unwrap();
            assert_eq!(mine["reading"].as_f64(), Some(value), "{mine} vs {line}");
            assert_eq!(mine["unit"], cols[2], "{mine} vs {line}");
            assert_eq!(cols[3], "ok");
            assert_eq!(mine["status"], "ok");
        }
        compared += 1;
    }
    assert_eq!(compared, ours["sensors"].as_array().unwrap().len());
    assert_eq!(sensor(&ours, "CPU Temp")["type"], "Temperature");
    assert_eq!(sensor(&ours, "FAN1")["type"], "Fan");

    // SEL: the entries `ipmitool sel list` shows, in its words.
    run(&s, &format!("{base}/sel/refresh"), &admin, json!({}), None).await;
    let sel = s.get(&format!("{base}/sel"), &admin).await.expect(200);
    let theirs = bmc.ipmitool(&["sel", "list"]);
    let entries = sel["entries"].as_array().unwrap();
    assert_eq!(entries.len(), theirs.lines().count(), "{sel}\n{theirs}");
    for (e, line) in entries.iter().zip(theirs.lines()) {
        // ipmitool: "   1 |  Pre-Init  |0000000551| Power Supply #0x04 | Presence detected | Asserted"
        let words: Vec<&str> = line.split('|').map(str::trim).collect();
        assert_eq!(e["text"], words[3..].join(" | "), "{line}");
        assert_eq!(e["id"].as_i64(), i64::from_str_radix(words[0], 16).ok());
    }
    assert!(
        entries
            .iter()
            .any(|e| e["text"] == "Temperature #0x01 | Upper Critical going high | Asserted")
    );

    // Clearing empties the BMC's own log.
    run(
        &s,
        &format!("{base}/sel/refresh"),
        &admin,
        json!({"clear": true}),
        Some(PIN),
    )
    .await;
    let after = bmc.ipmitool(&["sel", "list"]);
    assert!(!after.contains("Upper Critical going high"), "{after}");

    // ipmi_sim implements no BMC reset (ipmitool's `mc reset cold` hides
    // that by ignoring the answer): the task fails with the BMC's refusal.
    let reset = post_pin(
        &s,
        &format!("{base}/bmc-reset"),
        &admin,
        json!({"kind": "cold"}),
        Some(PIN),
    )
    .await
    .expect(202);
    let reset = s.wait_task(&admin, reset["id"].as_i64().unwrap()).await;
    assert_eq!(reset["state"], "failed");
    assert!(
        reset["error"].as_str().unwrap().contains("Invalid command"),
        "{reset}"
    );
    // The driver logs in afresh after the attempt.
    run(
        &s,
        &format!("{base}/sensors/refresh"),
        &admin,
        json!({}),
        None,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipmi_sim_sqlite() {
    ipmi_sim_scenario(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipmi_sim_postgres() {
    ipmi_sim_scenario(Db::Postgres).await;
}

/// The poller across RabbitMQ: `ironrack controller` publishes polls for
/// the site whose `ironrack agent` is alive; that agent reads ipmi_sim and
/// the stored state follows ipmitool. Sensors travel back the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poller_and_sensors_through_rabbitmq() {
    let Some(bmc) = sims::Bmc::start("poller_and_sensors_through_rabbitmq") else {
        return;
    };
    let url = std::env::var("IRONRACK_TEST_AMQP")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned());
    let prefix = format!(
        "ironrack-test-poll-{}-{}",
        std::process::id(),
        ironrack_store::now_ms() % 1_000_000
    );
    let _broker = common::BrokerObjects::new(&url, &prefix);
    let s = Server::start_controller_with(&url, &prefix, &["--power-poll-interval", "1s"]).await;
    let admin = s.admin().await;
    s.post("/api/v1/sites", &admin, json!({"name": "ams"}))
        .await
        .expect(201);
    // The BMC password reaches the agent sealed to this key.
    s.register_agent_key(&admin, "ams").await;
    let server = s
        .post(
            "/api/v1/servers",
            &admin,
            json!({"name": "sim-ams", "site": "ams",
                   "bmc": {"driver": "ipmi", "address": "127.0.0.1", "port": bmc.port,
                           "username": sims::USER, "password": sims::PASSWORD,
                           "options": {"timeout_ms": 300}}}),
        )
        .await
        .expect(201);
    let id = server["id"].as_i64().unwrap();
    let _agent = common::AgentProcess::start("ams", &url, &prefix, &s.data_dir, "ams-1");
    wait_power(&s, &admin, id, "off").await;
    bmc.ipmitool(&["chassis", "power", "on"]);
    wait_power(&s, &admin, id, "on").await;

    run(
        &s,
        &format!("/api/v1/servers/{id}/sensors/refresh"),
        &admin,
        json!({}),
        None,
    )
    .await;
    let ours = s
        .get(&format!("/api/v1/servers/{id}/sensors"), &admin)
        .await
        .expect(200);
    assert_eq!(sensor(&ours, "CPU Temp")["reading"], 40.0);
}

/// Runs the CLI binary against `s` as the holder of `token`.
fn cli(s: &Server, token: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_ironrack"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &s.data_dir)
        .env("IRONRACK_CONFIG", s.data_dir.join("cli.toml"))
        .env("IRONRACK_URL", &s.url)
        .env("IRONRACK_TOKEN", token)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run ironrack")
}

fn cli_ok(s: &Server, token: &str, args: &[&str]) -> String {
    let out = cli(s, token, args);
    assert!(
        out.status.success(),
        "ironrack {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_server_sensors_sel_and_bmc_reset() {
    let s = Server::start(Db::Sqlite).await;
    let admin = s.admin().await;
    s.call(
        Method::PUT,
        "/api/v1/me/pin",
        Some(&admin),
        Some(json!({"pin": PIN, "password": common::ADMIN_PASSWORD})),
    )
    .await
    .expect(204);
    s.server(&admin, "cli-1", None, "pw").await;

    let never = cli_ok(&s, &admin, &["server", "sensors", "cli-1"]);
    assert_eq!(never, "Sensors never read; use --refresh\n");
    let text = cli_ok(&s, &admin, &["server", "sensors", "cli-1", "--refresh"]);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("Sensors read at "), "{text}");
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["NAME", "TYPE", "READING", "UNIT", "STATUS"]
    );
    assert!(
        lines
            .iter()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["CPU", "Temp", "Temperature", "25.0", "degrees", "C", "ok"]),
        "{text}"
    );
    let json: Value = serde_json::from_str(&cli_ok(
        &s,
        &admin,
        &["server", "sensors", "cli-1", "--json"],
    ))
    .unwrap();
    assert_eq!(json["sensors"].as_array().unwrap().len(), 4);

    // Clearing the SEL needs the PIN; without one (and no terminal to ask
    // on) the API's refusal is shown.
    let refused = cli(&s, &admin, &["server", "sel", "cli-1", "--clear"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("PIN"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let sel = cli_ok(
        &s,
        &admin,
        &["server", "sel", "cli-1", "--clear", "--pin", PIN],
    );
    assert!(
        sel.contains("Temperature #0x01 | Upper Critical going high | Asserted"),
        "{sel}"
    );
    assert!(sel.contains("cleared"), "{sel}");
    let after = cli_ok(&s, &admin, &["server", "sel", "cli-1", "--refresh"]);
    assert!(
        after.starts_with("Event log read at ") && after.lines().count() == 1,
        "{after}"
    );

    let reset = cli_ok(
        &s,
        &admin,
        &[
            "server",
            "bmc-reset",
            "cli-1",
            "--warm",
            "--pin",
            PIN,
            "--wait",
        ],
    );
    assert!(
        reset.contains("bmc_reset") && reset.contains("succeeded"),
        "{reset}"
    );
}
