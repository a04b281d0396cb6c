//! The API over real HTTP against a running `ironrack serve`, on SQLite and
//! on PostgreSQL: authentication, PINs, roles, tenant isolation, secrets and
//! bad input.

mod common;

use common::Server;
use reqwest::Method;
use serde_json::json;

both_databases!(
    health_and_openapi,
    authentication_failures_and_rate_limit,
    pin_guards_destructive_power_actions,
    roles_limit_what_staff_and_customers_do,
    customers_never_see_other_tenants,
    bmc_passwords_never_leave_in_clear,
    bad_input_is_named_and_writes_nothing,
    api_tokens_show_once_restrict_and_revoke,
    unfinished_tasks_resume_after_restart,
    idempotency_keys_replay_the_first_response,
    event_stream_shows_only_what_the_caller_may_see,
    boot_device_is_a_pin_guarded_task,
);

async fn health_and_openapi(s: Server) {
    let health = s
        .call(Method::GET, "/api/v1/health", None, None)
        .await
        .expect(200);
    assert_eq!(health["status"], "ok");
    let doc = s
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await
        .expect(200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/v1/servers",
        "/api/v1/servers/{id}/power",
        "/api/v1/auth/login",
        "/api/v1/audit",
        "/api/v1/tokens",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }
    s.call(Method::GET, "/api/v1/nope", None, None)
        .await
        .expect(404);
}

async fn authentication_failures_and_rate_limit(s: Server) {
    let r = s.call(Method::GET, "/api/v1/servers", None, None).await;
    assert!(r.headers.get("www-authenticate").is_some());
    assert!(r.expect(401)["detail"].as_str().unwrap().contains("Bearer"));
    let r = s
        .call(Method::GET, "/api/v1/servers", Some("irs_forged"), None)
        .await
        .expect(401);
    assert!(r["detail"].as_str().unwrap().contains("invalid"));

    let login = |user: &'static str, pw: &'static str| {
        s.call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": user, "password": pw})),
        )
    };
    login("admin", "wrong").await.expect(401);
    let unknown = login("nobody", "wrong").await.expect(401);
    let wrong = login("admin", "wrong").await.expect(401);
    assert_eq!(
        unknown["detail"], wrong["detail"],
        "unknown users and wrong passwords look alike"
    );
    for _ in 0..3 {
        login("admin", "wrong").await.expect(401);
    }
    // Five failures for this user from this address: even the right password waits.
    let locked = login("admin", common::ADMIN_PASSWORD).await;
    assert!(locked.headers.get("retry-after").is_some());
    assert!(
        locked.expect(429)["detail"]
            .as_str()
            .unwrap()
            .contains("too many")
    );

    // Cookie sessions work for the browser, and logout ends them.
    let resp = s
        .http
        .post(format!("{}/api/v1/auth/login", s.url))
        .json(&json!({"username": "nobody-else", "password": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

async fn pin_guards_destructive_power_actions(s: Server) {
    let admin = s.admin().await;
    let id = s.server(&admin, "pin-box", None, "bmcpw").await;
    let power = |token: String, action: &'static str, pin: Option<&'static str>| {
        let headers: Vec<(&str, &str)> =
            pin.map(|p| vec![("x-ironrack-pin", p)]).unwrap_or_default();
        let s = &s;
        async move {
            s.call_with(
                Method::POST,
                &format!("/api/v1/servers/{id}/power"),
                Some(&token),
                Some(json!({"action": action})),
                &headers,
            )
            .await
        }
    };
    // No PIN set yet: the answer says how to set one.
    let r = power(admin.clone(), "off", None).await.expect(403);
    assert!(r["detail"].as_str().unwrap().contains("/api/v1/me/pin"));
    // Status and power on need no PIN.
    let task = power(admin.clone(), "on", None).await.expect(202);
    assert_eq!(
        s.wait_task(&admin, task["id"].as_i64().unwrap()).await["result"]["power"],
        "on"
    );

    s.call(
        Method::PUT,
        "/api/v1/me/pin",
        Some(&admin),
        Some(json!({"pin": "1357", "password": "wrong"})),
    )
    .await
    .expect(403);
    s.call(
        Method::PUT,
        "/api/v1/me/pin",
        Some(&admin),
        Some(json!({"pin": "12a4", "password": common::ADMIN_PASSWORD})),
    )
    .await
    .expect(422);
    s.call(
        Method::PUT,
        "/api/v1/me/pin",
        Some(&admin),
        Some(json!({"pin": "1357", "password": common::ADMIN_PASSWORD})),
    )
    .await
    .expect(204);
    assert_eq!(
        s.get("/api/v1/me", &admin).await.expect(200)["pin_set"],
        true
    );

    assert_eq!(
        power(admin.clone(), "off", None).await.expect(403)["field"],
        "pin"
    );
    let good = power(admin.clone(), "cycle", Some("1357"))
        .await
        .expect(202);
    assert_eq!(
        s.wait_task(&admin, good["id"].as_i64().unwrap()).await["state"],
        "succeeded"
    );
    // The PIN may also come in the body.
    s.call(
        Method::POST,
        &format!("/api/v1/servers/{id}/power"),
        Some(&admin),
        Some(json!({"action": "off", "pin": "1357"})),
    )
    .await
    .expect(202);

    for _ in 0..5 {
        assert_eq!(
            power(admin.clone(), "reset", Some("0000"))
                .await
                .expect(403)["detail"],
            "wrong PIN"
        );
    }
    let locked = power(admin.clone(), "reset", Some("1357")).await;
    assert!(locked.headers.get("retry-after").is_some());
    locked.expect(429);

    // Wrong PINs were audited as refusals.
    let audit = s.get("/api/v1/audit?limit=100", &admin).await.expect(200);
    let refused = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["result"] == "error 403")
        .count();
    assert!(refused >= 5, "{audit}");
}

async fn roles_limit_what_staff_and_customers_do(s: Server) {
    let admin = s.admin().await;
    s.post("/api/v1/tenants", &admin, json!({"name": "acme"}))
        .await
        .expect(201);
    let operator = s.user(&admin, "olga", "operator", None).await;
    let customer = s.user(&admin, "carl", "customer", Some("acme")).await;

    // Operators run servers but not users or tenants.
    let id = s.server(&operator, "op-made", Some("acme"), "pw").await;
    s.post(
        "/api/v1/users",
        &operator,
        json!({"username": "x1", "password": "long-enough", "role": "admin"}),
    )
    .await
    .expect(403);
    s.post("/api/v1/tenants", &operator, json!({"name": "t2"}))
        .await
        .expect(403);
    s.get("/api/v1/users", &operator).await.expect(403);

    // Customers see their servers, without BMC details, and act on them.
    s.post(
        "/api/v1/servers",
        &customer,
        json!({"name": "mine", "site": "local", "bmc": {"driver": "fake", "address": "10.0.0.9"}}),
    )
    .await
    .expect(403);
    let list = s.get("/api/v1/servers", &customer).await.expect(200);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert!(
        list["items"][0].get("bmc").is_none(),
        "customers do not see BMC details"
    );
    let task = s
        .call_with(
            Method::POST,
            &format!("/api/v1/servers/{id}/power"),
            Some(&customer),
            Some(json!({"action": "cycle"})),
            &[("x-ironrack-pin", "2468")],
        )
        .await
        .expect(202);
    assert_eq!(
        s.wait_task(&customer, task["id"].as_i64().unwrap()).await["state"],
        "succeeded"
    );
    s.call(
        Method::DELETE,
        &format!("/api/v1/servers/{id}"),
        Some(&customer),
        None,
    )
    .await
    .expect(403);

    // Customers in a valid tenant need it; staff have none.
    let r = s
        .post(
            "/api/v1/users",
            &admin,
            json!({"username": "c2", "password": "long-enough", "role": "customer"}),
        )
        .await
        .expect(422);
    assert_eq!(r["field"], "tenant");
}

async fn customers_never_see_other_tenants(s: Server) {
    let admin = s.admin().await;
    for t in ["acme", "globex"] {
        s.post("/api/v1/tenants", &admin, json!({"name": t}))
            .await
            .expect(201);
    }
    let carl = s.user(&admin, "carl", "customer", Some("acme")).await;
    let gina = s.user(&admin, "gina", "customer", Some("globex")).await;
    let theirs = s.server(&admin, "globex-1", Some("globex"), "pw").await;
    let _mine = s.server(&admin, "acme-1", Some("acme"), "pw").await;
    let task = s
        .call_with(
            Method::POST,
            &format!("/api/v1/servers/{theirs}/power"),
            Some(&gina),
            Some(json!({"action": "off"})),
            &[("x-ironrack-pin", "2468")],
        )
        .await
        .expect(202);
    let task_id = task["id"].as_i64().unwrap();
    s.wait_task(&gina, task_id).await;
    let gina_audit = s.get("/api/v1/audit", &gina).await.expect(200);
    let audit_id = gina_audit["items"][0]["id"].as_i64().unwrap();
    let missing = 999_999;

    // Every endpoint that names another tenant's object answers exactly as
    // for an object that does not exist.
    let attempts =
        |server: i64, task: i64, audit: i64| -> Vec<(Method, String, Option<serde_json::Value>)> {
            vec![
                (Method::GET, format!("/api/v1/servers/{server}"), None),
                (
                    Method::PATCH,
                    format!("/api/v1/servers/{server}"),
                    Some(json!({"name": "stolen"})),
                ),
                (Method::DELETE, format!("/api/v1/servers/{server}"), None),
                (
                    Method::POST,
                    format!("/api/v1/servers/{server}/power"),
                    Some(json!({"action": "status"})),
                ),
                (
                    Method::POST,
                    format!("/api/v1/servers/{server}/power"),
                    Some(json!({"action": "off", "pin": "2468"})),
                ),
                (Method::GET, format!("/api/v1/tasks/{task}"), None),
                (Method::POST, format!("/api/v1/tasks/{task}/cancel"), None),
                (Method::GET, format!("/api/v1/audit/{audit}"), None),
            ]
        };
    let real = attempts(theirs, task_id, audit_id);
    let ghosts = attempts(missing, missing, missing);
    for ((method, path, body), (_, ghost_path, ghost_body)) in real.into_iter().zip(ghosts) {
        let other = s
            .call(method.clone(), &path, Some(&carl), body)
            .await
            .expect(404);
        let ghost = s
            .call(method.clone(), &ghost_path, Some(&carl), ghost_body)
            .await
            .expect(404);
        assert_eq!(
            other["detail"], ghost["detail"],
            "{method} {path} must not hint at existence"
        );
    }
    // Listings leave them out.
    let servers = s.get("/api/v1/servers?limit=1000", &carl).await.expect(200);
    assert!(
        servers["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["tenant"] == "acme")
    );
    assert!(
        s.get("/api/v1/servers?tenant=globex", &carl)
            .await
            .expect(200)["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let tasks = s.get("/api/v1/tasks", &carl).await.expect(200);
    assert!(
        tasks["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["id"] != task_id)
    );
    let audit = s.get("/api/v1/audit?limit=1000", &carl).await.expect(200);
    assert!(
        audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["id"] != audit_id && a["user"] != "gina")
    );
    let tenants = s.get("/api/v1/tenants", &carl).await.expect(200);
    assert_eq!(tenants["items"].as_array().unwrap().len(), 1);
    // And nothing happened to the server.
    assert_eq!(
        s.get(&format!("/api/v1/servers/{theirs}"), &gina)
            .await
            .expect(200)["name"],
        "globex-1"
    );
}

async fn bmc_passwords_never_leave_in_clear(s: Server) {
    let admin = s.admin().await;
    let secret = "Zq7-unique-bmc-secret";
    let id = s.server(&admin, "vault", None, secret).await;
    s.get(&format!("/api/v1/servers/{id}"), &admin)
        .await
        .expect(200);
    s.get("/api/v1/servers", &admin).await.expect(200);
    s.call(
        Method::PATCH,
        &format!("/api/v1/servers/{id}"),
        Some(&admin),
        Some(json!({"bmc": {"password": format!("{secret}-2")}})),
    )
    .await
    .expect(200);
    let task = s
        .post(
            &format!("/api/v1/servers/{id}/power"),
            &admin,
            json!({"action": "status"}),
        )
        .await
        .expect(202);
    s.wait_task(&admin, task["id"].as_i64().unwrap()).await;
    s.get("/api/v1/audit?limit=1000", &admin).await.expect(200);
    s.get("/api/v1/tasks", &admin).await.expect(200);
    for body in s.bodies.lock().unwrap().iter() {
        assert!(
            !body.contains(secret),
            "a response carried the BMC password: {body}"
        );
    }
    assert!(
        !s.log().contains(secret),
        "the log carried the BMC password"
    );

    // At rest: not in the SQLite files (database and write-ahead log), not in
    // any PostgreSQL column.
    if s.database_url.starts_with("sqlite:") {
        for name in ["ironrack.db", "ironrack.db-wal"] {
            if let Ok(bytes) = std::fs::read(s.data_dir.join(name)) {
                assert!(
                    !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                    "{name} holds the password in clear"
                );
            }
        }
    } else {
        let out = std::process::Command::new("pg_dump")
            .args(["--data-only", &s.database_url])
            .output()
            .expect("pg_dump");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let dump = String::from_utf8_lossy(&out.stdout);
        assert!(dump.contains("vault"), "the dump has the server");
        assert!(
            !dump.contains(secret),
            "PostgreSQL holds the password in clear"
        );
    }
}

async fn bad_input_is_named_and_writes_nothing(s: Server) {
    let admin = s.admin().await;
    s.post("/api/v1/tenants", &admin, json!({"name": "acme"}))
        .await
        .expect(201);
    s.server(&admin, "taken", None, "pw").await;
    let base = json!({"name": "new1", "site": "local", "macs": ["52:54:00:00:00:02"],
                      "bmc": {"driver": "ipmi", "address": "10.0.0.2", "port": 623}});
    let with = |path: &[&str], value: serde_json::Value| {
        let mut b = base.clone();
        let mut cur = &mut b;
        for p in &path[..path.len() - 1] {
            cur = &mut cur[*p];
        }
        cur[path[path.len() - 1]] = value;
        b
    };
    let cases = [
        (
            with(&["macs"], json!(["52:54:00:zz:00:02"])),
            422,
            "macs[0]",
        ),
        (
            with(&["macs"], json!(["52:54:00:00:00:02", "52-54-00-00-00-02"])),
            422,
            "macs[1]",
        ),
        (
            with(&["bmc", "address"], json!("300.1.1.1")),
            422,
            "bmc.address",
        ),
        (with(&["bmc", "port"], json!(70000)), 422, "bmc.port"),
        (with(&["bmc", "port"], json!(0)), 422, "bmc.port"),
        (with(&["bmc", "driver"], json!("ilo")), 422, "bmc.driver"),
        (
            with(&["bmc", "driver"], json!("fence:../../bin/sh")),
            422,
            "bmc.driver",
        ),
        (
            with(&["bmc", "password"], json!("123456789012345678901")),
            422,
            "bmc.password",
        ),
        (with(&["site"], json!("atlantis")), 422, "site"),
        (with(&["tenant"], json!("initech")), 422, "tenant"),
        (with(&["name"], json!("taken")), 409, "name"),
        (with(&["name"], json!("bad name!")), 422, "name"),
        (with(&["colour"], json!("red")), 422, "colour"),
        (with(&["bmc", "colour"], json!("red")), 422, "bmc.colour"),
    ];
    for (body, status, field) in cases {
        let r = s
            .post("/api/v1/servers", &admin, body.clone())
            .await
            .expect(status);
        assert_eq!(r["field"], field, "{body} → {r}");
    }
    let missing = s
        .post(
            "/api/v1/servers",
            &admin,
            json!({"site": "local", "bmc": {"driver": "fake", "address": "h"}}),
        )
        .await
        .expect(422);
    assert_eq!(missing["field"], "name");

    // Wrong content type, broken JSON, an oversized body.
    let raw = |ct: &'static str, body: Vec<u8>| {
        s.http
            .post(format!("{}/api/v1/servers", s.url))
            .bearer_auth(&admin)
            .header("content-type", ct)
            .body(body)
            .send()
    };
    s.reply(raw("text/plain", b"{}".to_vec()).await.unwrap())
        .await
        .expect(415);
    s.reply(
        raw("application/json", b"{\"name\": ".to_vec())
            .await
            .unwrap(),
    )
    .await
    .expect(400);
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(100 * 1024));
    s.reply(raw("application/json", big.into_bytes()).await.unwrap())
        .await
        .expect(413);
    s.get("/api/v1/servers?limit=0", &admin).await.expect(422);
    s.get("/api/v1/servers?cursor=abc", &admin)
        .await
        .expect(422);
    s.get("/api/v1/servers?site=atlantis", &admin)
        .await
        .expect(422);

    // Nothing was half-written.
    let list = s.get("/api/v1/servers", &admin).await.expect(200);
    let names: Vec<_> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["taken"]);
    // The attempts were audited as errors.
    let audit = s.get("/api/v1/audit?limit=200", &admin).await.expect(200);
    assert!(
        audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["result"] == "error 422")
            .count()
            >= 12
    );
}

async fn api_tokens_show_once_restrict_and_revoke(s: Server) {
    let admin = s.admin().await;
    let a = s.server(&admin, "a1", None, "pw").await;
    let _b = s.server(&admin, "b1", None, "pw").await;
    let created = s
        .post(
            "/api/v1/tokens",
            &admin,
            json!({"name": "ci", "server_ids": [a], "expires_in_days": 30}),
        )
        .await
        .expect(201);
    let secret = created["token"].as_str().unwrap().to_owned();
    assert!(created["expires_at"].is_string());
    let listed = s.get("/api/v1/tokens", &admin).await.expect(200);
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert!(
        !listed.to_string().contains(&secret),
        "the secret is shown once only"
    );

    let visible = s.get("/api/v1/servers", &secret).await.expect(200);
    let ids: Vec<_> = visible["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [a]);
    s.get(&format!("/api/v1/servers/{}", a + 1), &secret)
        .await
        .expect(404);
    // A token cannot reach beyond what its owner sees.
    s.post(
        "/api/v1/tokens",
        &admin,
        json!({"name": "x", "server_ids": [12345]}),
    )
    .await
    .expect(422);

    if s.database_url.starts_with("sqlite:") {
        let db = std::fs::read(s.data_dir.join("ironrack.db")).unwrap_or_default();
        let wal = std::fs::read(s.data_dir.join("ironrack.db-wal")).unwrap_or_default();
        for bytes in [db, wal] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "token stored in clear"
            );
        }
    }
    let id = created["id"].as_i64().unwrap();
    s.call(
        Method::DELETE,
        &format!("/api/v1/tokens/{id}"),
        Some(&admin),
        None,
    )
    .await
    .expect(204);
    s.get("/api/v1/servers", &secret).await.expect(401);
    s.call(
        Method::DELETE,
        &format!("/api/v1/tokens/{id}"),
        Some(&admin),
        None,
    )
    .await
    .expect(404);

    // Logout ends a session.
    let session = s.admin().await;
    s.call(Method::POST, "/api/v1/auth/logout", Some(&session), None)
        .await
        .expect(204);
    s.get("/api/v1/me", &session).await.expect(401);
}

async fn unfinished_tasks_resume_after_restart(mut s: Server) {
    let admin = s.admin().await;
    let body = json!({"name": "slow", "site": "local", "bmc": {"driver": "fake", "address": "10.0.0.5", "options": {"delay_ms": 1500}}});
    let id = s.post("/api/v1/servers", &admin, body).await.expect(201)["id"]
        .as_i64()
        .unwrap();
    let task = s
        .post(
            &format!("/api/v1/servers/{id}/power"),
            &admin,
            json!({"action": "on"}),
        )
        .await
        .expect(202);
    let task_id = task["id"].as_i64().unwrap();
    // Kill the controller while the agent is still working on the task.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    s.kill();
    s.spawn().await;
    let admin = s.admin().await;
    let done = s.wait_task(&admin, task_id).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert!(s.log().contains("resumed=1"), "{}", s.log());
}

async fn idempotency_keys_replay_the_first_response(s: Server) {
    let admin = s.admin().await;
    let id = s.server(&admin, "idem", None, "pw").await;
    let post = |key: &'static str, path: String| {
        let s = &s;
        let admin = admin.clone();
        async move {
            s.call_with(
                Method::POST,
                &path,
                Some(&admin),
                Some(json!({"action": "status"})),
                &[("idempotency-key", key)],
            )
            .await
        }
    };
    let first = post("k-1", format!("/api/v1/servers/{id}/power")).await;
    assert!(first.headers.get("idempotent-replayed").is_none());
    let first = first.expect(202);
    let again = post("k-1", format!("/api/v1/servers/{id}/power")).await;
    assert_eq!(again.headers.get("idempotent-replayed").unwrap(), "true");
    assert_eq!(
        again.expect(202)["id"],
        first["id"],
        "a retry does not queue a second task"
    );
    let tasks = s
        .get(&format!("/api/v1/tasks?server={id}"), &admin)
        .await
        .expect(200);
    assert_eq!(tasks["items"].as_array().unwrap().len(), 1);
    // The same key for another request is refused; a new key is a new task.
    let other = post("k-1", format!("/api/v1/servers/{id}/boot-device"))
        .await
        .expect(422);
    assert_eq!(other["field"], "Idempotency-Key");
    let second = post("k-2", format!("/api/v1/servers/{id}/power"))
        .await
        .expect(202);
    assert_ne!(second["id"], first["id"]);
    // A failed request does not bind its key: fixed and retried, it runs.
    let missing = post("k-3", "/api/v1/servers/999999/power".to_owned())
        .await
        .expect(404);
    assert_eq!(missing["detail"], "server not found");
    post("k-3", format!("/api/v1/servers/{id}/power"))
        .await
        .expect(202);
}

async fn event_stream_shows_only_what_the_caller_may_see(s: Server) {
    let admin = s.admin().await;
    for t in ["acme", "globex"] {
        s.post("/api/v1/tenants", &admin, json!({"name": t}))
            .await
            .expect(201);
    }
    let carl = s.user(&admin, "carl", "customer", Some("acme")).await;
    let mine = s.server(&admin, "acme-box", Some("acme"), "pw").await;
    let theirs = s.server(&admin, "globex-box", Some("globex"), "pw").await;

    let mut stream = s
        .http
        .get(format!("{}/api/v1/events", s.url))
        .bearer_auth(&carl)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert!(
        stream.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    // Another tenant's server changes first, then ours.
    s.post(
        &format!("/api/v1/servers/{theirs}/power"),
        &admin,
        json!({"action": "on"}),
    )
    .await
    .expect(202);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    s.post(
        &format!("/api/v1/servers/{mine}/power"),
        &admin,
        json!({"action": "on"}),
    )
    .await
    .expect(202);

    let mut text = String::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    // Our task's result and our power change, in either order.
    while !(text.contains("\"power_state\":\"on\"") && text.contains("event: task")) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let chunk = tokio::time::timeout(left, stream.chunk())
            .await
            .expect("no power event in time")
            .unwrap()
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(text.contains("event: task"), "{text}");
    assert!(text.contains("event: power"), "{text}");
    assert!(text.contains("acme-box"), "{text}");
    assert!(
        !text.contains("globex-box"),
        "another tenant's events leaked: {text}"
    );
    assert!(!text.contains(&format!("\"server_id\":{theirs}")), "{text}");
}

async fn boot_device_is_a_pin_guarded_task(s: Server) {
    let admin = s.admin().await;
    let id = s.server(&admin, "bootme", None, "pw").await;
    let path = format!("/api/v1/servers/{id}/boot-device");
    s.post(&path, &admin, json!({"device": "pxe", "efi": true}))
        .await
        .expect(403);
    s.call(
        Method::PUT,
        "/api/v1/me/pin",
        Some(&admin),
        Some(json!({"pin": "1357", "password": common::ADMIN_PASSWORD})),
    )
    .await
    .expect(204);
    let bad = s
        .call_with(
            Method::POST,
            &path,
            Some(&admin),
            Some(json!({"device": "floppy"})),
            &[("x-ironrack-pin", "1357")],
        )
        .await
        .expect(422);
    assert_eq!(bad["field"], "device");
    let task = s
        .call_with(
            Method::POST,
            &path,
            Some(&admin),
            Some(json!({"device": "pxe", "efi": true})),
            &[("x-ironrack-pin", "1357")],
        )
        .await
        .expect(202);
    let done = s.wait_task(&admin, task["id"].as_i64().unwrap()).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["result"]["device"], "pxe");
    assert_eq!(done["result"]["efi"], true);
}
