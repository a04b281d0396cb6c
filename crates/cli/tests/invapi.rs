//! INVAPI compatibility through the real `ironrack serve`: the calls sent
//! as INVAPI documents them (form-encoded `POST eq.php`, then
//! `eq_callback.php?action=check&key=...`), against fake-driver servers.
//! The console part opens a real console session on the gateway (its VNC
//! target is a TCP listener that holds connections) and upgrades a
//! WebSocket with the URL's token.

mod common;

use std::time::Duration;

use common::Server;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::TcpListener;

const PIN: &str = "2468";

/// A form-encoded `POST /eq.php`, as curl `-d` sends it.
async fn eq(s: &Server, fields: &[(&str, &str)]) -> (StatusCode, Value) {
    let resp = s
        .http
        .post(format!("{}/eq.php", s.url))
        .form(fields)
        .send()
        .await
        .expect("eq.php");
    let reply = s.reply(resp).await;
    (reply.status, reply.body)
}

async fn check(s: &Server, key: &str) -> (StatusCode, Value) {
    let resp = s
        .http
        .get(format!("{}/eq_callback.php", s.url))
        .query(&[("action", "check"), ("key", key)])
        .send()
        .await
        .expect("eq_callback.php");
    let reply = s.reply(resp).await;
    (reply.status, reply.body)
}

/// An INVAPI error: `{"code":-1,"message":...}` with this status.
#[track_caller]
fn refused(reply: (StatusCode, Value), status: u16) -> String {
    let (st, body) = reply;
    assert_eq!(st.as_u16(), status, "{body}");
    assert_eq!(body["code"], -1, "{body}");
    let message = body["message"].as_str().expect("message").to_owned();
    assert!(!message.is_empty());
    message
}

/// Queues `action` and returns its callback key.
async fn queue(s: &Server, token: &str, action: &str, id: i64, pin: Option<&str>) -> String {
    let id = id.to_string();
    let mut fields = vec![("action", action), ("token", token), ("id", id.as_str())];
    if let Some(p) = pin {
        fields.push(("pin", p));
    }
    let (st, body) = eq(s, &fields).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["result"], "OK", "{body}");
    assert_eq!(body["action"], action, "{body}");
    let key = body["callback"].as_str().expect("callback").to_owned();
    assert_eq!(key.len(), 32, "{key}");
    assert!(key.bytes().all(|b| b.is_ascii_hexdigit()), "{key}");
    key
}

/// Checks until the answer is final (every answer before is "Not ready").
async fn final_answer(s: &Server, key: &str) -> Value {
    for _ in 0..400 {
        let (st, body) = check(s, key).await;
        assert_eq!(st, StatusCode::OK, "{body}");
        if body["result"] != "Not ready" {
            return body;
        }
        assert_eq!(body, json!({"result": "Not ready"}));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("callback {key} never became final");
}

async fn invapi_calls(s: Server) {
    // Any TCP listener will do as the VNC target: the gateway connects to
    // it when the browser's WebSocket comes.
    let target = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let vnc = target.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((c, _)) = target.accept().await {
            held.push(c);
        }
    });
    let admin = s.admin().await;
    for t in ["acme", "other"] {
        s.post("/api/v1/tenants", &admin, json!({"name": t}))
            .await
            .expect(201);
    }
    let cust = s.user(&admin, "cust", "customer", Some("acme")).await;
    let other = s
        .user(&admin, "other-cust", "customer", Some("other"))
        .await;
    let srv = s
        .post(
            "/api/v1/servers",
            &admin,
            json!({"name": "box1", "site": "local", "tenant": "acme",
                   "bmc": {"driver": "fake", "address": "10.0.0.7", "username": "x",
                           "console": {"vnc": vnc}}}),
        )
        .await
        .expect(201)["id"]
        .as_i64()
        .unwrap();

    // on → callback → Not ready / OK with the site and the power state.
    let key = queue(&s, &cust, "on", srv, None).await;
    let done = final_answer(&s, &key).await;
    assert_eq!(done["result"], "OK", "{done}");
    assert_eq!(
        done["context"],
        json!({"action": "on", "id": srv.to_string(), "location": "local"})
    );
    assert_eq!(done["debug"], "Chassis Power is on");
    assert_eq!(done["key"], key.as_str());
    assert!(done["scope"].as_str().unwrap().contains("box1"), "{done}");
    // The key is gone after its final answer (the check also comes as a
    // form POST).
    let resp = s
        .http
        .post(format!("{}/eq_callback.php", s.url))
        .form(&[("action", "check"), ("key", key.as_str())])
        .send()
        .await
        .unwrap();
    let r = s.reply(resp).await;
    let gone = refused((r.status, r.body), 404);
    assert_eq!(gone, "AsyncKey not found");
    assert_eq!(
        refused(check(&s, "00112233445566778899aabbccddeeff").await, 404),
        "AsyncKey not found"
    );

    // A slow BMC: the first check comes while the task runs. A broken one:
    // the final answer carries the error in the same shape.
    let slow = s
        .post(
            "/api/v1/servers",
            &admin,
            json!({"name": "slow1", "site": "local", "tenant": "acme",
                   "bmc": {"driver": "fake", "address": "10.0.0.8", "username": "x",
                           "options": {"delay_ms": 5000}}}),
        )
        .await
        .expect(201)["id"]
        .as_i64()
        .unwrap();
    let key = queue(&s, &cust, "on", slow, None).await;
    assert_eq!(check(&s, &key).await.1, json!({"result": "Not ready"}));
    assert_eq!(final_answer(&s, &key).await["result"], "OK");
    let broken = s
        .post(
            "/api/v1/servers",
            &admin,
            json!({"name": "broken1", "site": "local", "tenant": "acme",
                   "bmc": {"driver": "fake", "address": "10.0.0.9", "username": "x",
                           "options": {"fail": "BMC did not answer"}}}),
        )
        .await
        .expect(201)["id"]
        .as_i64()
        .unwrap();
    let key = queue(&s, &cust, "on", broken, None).await;
    let failed = final_answer(&s, &key).await;
    assert!(
        failed["result"]
            .as_str()
            .unwrap()
            .contains("BMC did not answer"),
        "{failed}"
    );
    assert_eq!(failed["context"]["location"], "local");
    assert_eq!(failed["key"], key.as_str());
    refused(check(&s, &key).await, 404);

    // status reads the state; the token may come as a bearer header too.
    let resp = s
        .http
        .post(format!("{}/eq.php", s.url))
        .bearer_auth(&cust)
        .form(&[("action", "status"), ("id", &srv.to_string())])
        .send()
        .await
        .unwrap();
    let body = s.reply(resp).await.body;
    let status = final_answer(&s, body["callback"].as_str().expect("callback")).await;
    assert_eq!(status["debug"], "Chassis Power is on", "{status}");
    assert_eq!(status["context"]["action"], "status");

    // Destructive actions need the PIN: none, or a wrong one, is refused.
    let id = srv.to_string();
    for fields in [
        vec![("action", "hard_off"), ("token", &cust), ("id", &id)],
        vec![("action", "off"), ("token", &cust), ("id", &id)],
        vec![
            ("action", "reboot"),
            ("token", &cust),
            ("id", &id),
            ("pin", "1111"),
        ],
    ] {
        let m = refused(eq(&s, &fields).await, 403);
        assert!(m.to_lowercase().contains("pin"), "{m}");
    }
    let key = queue(&s, &cust, "hard_off", srv, Some(PIN)).await;
    let off = final_answer(&s, &key).await;
    assert_eq!(off["debug"], "Chassis Power is off", "{off}");
    assert_eq!(off["context"]["action"], "hard_off");
    let key = queue(&s, &cust, "reboot", srv, Some(PIN)).await;
    assert_eq!(final_answer(&s, &key).await["debug"], "Chassis Power is on");
    let key = queue(&s, &cust, "off", srv, Some(PIN)).await;
    assert_eq!(final_answer(&s, &key).await["result"], "OK");

    // Another tenant's server looks exactly like one that does not exist.
    for action in ["status", "on", "novnc", "stop_novnc"] {
        let theirs = eq(
            &s,
            &[
                ("action", action),
                ("token", &other),
                ("id", &id),
                ("pin", PIN),
            ],
        )
        .await;
        let missing = eq(
            &s,
            &[
                ("action", action),
                ("token", &other),
                ("id", "999999"),
                ("pin", PIN),
            ],
        )
        .await;
        assert_eq!(theirs.0, StatusCode::NOT_FOUND, "{}", theirs.1);
        assert_eq!(theirs, missing, "{action}");
        assert_eq!(theirs.1["code"], -1);
    }

    // Bad input: each error says what was wrong.
    let m = refused(
        eq(&s, &[("action", "on"), ("token", "irk_nope"), ("id", &id)]).await,
        401,
    );
    assert!(m.contains("token"), "{m}");
    let m = refused(eq(&s, &[("action", "on"), ("id", &id)]).await, 401);
    assert!(m.contains("token"), "{m}");
    let m = refused(
        eq(&s, &[("action", "explode"), ("token", &cust), ("id", &id)]).await,
        422,
    );
    assert!(m.contains("explode"), "{m}");
    let m = refused(eq(&s, &[("action", "on"), ("token", &cust)]).await, 422);
    assert!(m.contains("`id`"), "{m}");
    let m = refused(eq(&s, &[("token", &cust), ("id", &id)]).await, 422);
    assert!(m.contains("`action`"), "{m}");
    let m = refused(
        eq(&s, &[("action", "on"), ("token", &cust), ("id", "box1")]).await,
        422,
    );
    assert!(m.contains("box1"), "{m}");
    // Only form encoding: multipart is refused in the same shape.
    let resp = s
        .http
        .post(format!("{}/eq.php", s.url))
        .header("content-type", "multipart/form-data; boundary=x")
        .body("--x\r\nContent-Disposition: form-data; name=\"action\"\r\n\r\non\r\n--x--\r\n")
        .send()
        .await
        .unwrap();
    let r = s.reply(resp).await;
    let m = refused((r.status, r.body), 415);
    assert!(m.contains("form-encoded"), "{m}");

    // novnc: a console URL whose token opens the WebSocket; stop_novnc
    // closes the session.
    let m = refused(
        eq(&s, &[("action", "novnc"), ("token", &cust), ("id", &id)]).await,
        403,
    );
    assert!(m.to_lowercase().contains("pin"), "{m}");
    let (st, c) = eq(
        &s,
        &[
            ("action", "novnc"),
            ("token", &cust),
            ("id", &id),
            ("pin", PIN),
            ("white_ip", "127.0.0.1"),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{c}");
    assert_eq!(c["result"], "OK");
    assert_eq!(c["kind"], "vnc");
    let url = c["url"].as_str().unwrap();
    let session = c["session"].as_str().unwrap().to_owned();
    assert!(
        url.contains(&format!("/console/?id={session}#token=irc_")),
        "{url}"
    );
    let token = url.split("#token=").nth(1).unwrap();
    let ws_url = c["ws_url"].as_str().unwrap();
    assert!(ws_url.ends_with(&format!("?token={token}")), "{ws_url}");
    let (_ws, _) = tokio_tungstenite::connect_async(ws_url)
        .await
        .expect("the console token opens the WebSocket");
    let live = wait_console(&s, &cust, &session, "live").await;
    assert_eq!(live["kind"], "vnc", "{live}");
    let (st, stopped) = eq(
        &s,
        &[("action", "stop_novnc"), ("token", &cust), ("id", &id)],
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{stopped}");
    assert_eq!(
        stopped,
        json!({"result": "OK", "action": "stop_novnc", "closed": 1})
    );
    wait_console(&s, &cust, &session, "closed").await;
    // INVAPI's console-server route on the gateway: the novnc key, the
    // target's IP and a close URL redirect to the console page; the close
    // URL is called when the session ends. Any mismatch is the same 404.
    let (close_url, mut close_calls) = close_url_listener().await;
    let (st, c) = eq(
        &s,
        &[
            ("action", "novnc"),
            ("token", &cust),
            ("id", &id),
            ("pin", PIN),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{c}");
    let session = c["session"].as_str().unwrap().to_owned();
    let key = c["url"]
        .as_str()
        .unwrap()
        .split("#token=")
        .nth(1)
        .unwrap()
        .to_owned();
    let host = vnc.rsplit_once(':').unwrap().0;
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let route = |ip: &str, key: &str, session: &str| {
        format!(
            "{}/api/v1/server/{ip}/skey/{key}/{session}/closeurl/{}",
            s.url,
            percent_encode(&close_url)
        )
    };
    for url in [
        route("10.9.9.9", &key, &session),
        route(host, "irc_not-the-key", &session),
        route(host, &key, "999999"),
    ] {
        let r = no_redirect.get(&url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{url}");
    }
    let r = no_redirect
        .get(route(host, &key, &session))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let location = r.headers()["location"].to_str().unwrap();
    assert!(
        location.ends_with(&format!("/console/?id={session}#token={key}")),
        "{location}"
    );
    // The route did not use the token: the page's WebSocket still can.
    let (_ws, _) = tokio_tungstenite::connect_async(c["ws_url"].as_str().unwrap())
        .await
        .expect("the token is still unused");
    wait_console(&s, &cust, &session, "live").await;
    let (_, stopped) = eq(
        &s,
        &[("action", "stop_novnc"), ("token", &cust), ("id", &id)],
    )
    .await;
    assert_eq!(stopped["closed"], 1, "{stopped}");
    let call = tokio::time::timeout(Duration::from_secs(30), close_calls.recv())
        .await
        .expect("the close URL is called")
        .unwrap();
    assert!(call.starts_with("GET /closed?session=abc "), "{call}");

    // white_ip binds the session to that browser address: this test's
    // 127.0.0.1 is refused (403, the token stays unused).
    let (st, c) = eq(
        &s,
        &[
            ("action", "novnc"),
            ("token", &cust),
            ("id", &id),
            ("pin", PIN),
            ("white_ip", "192.0.2.10"),
        ],
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{c}");
    match tokio_tungstenite::connect_async(c["ws_url"].as_str().unwrap()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 403),
        other => panic!("a browser at another address got {other:?}"),
    }
    let session = c["session"].as_str().unwrap().to_owned();
    assert_eq!(
        wait_console(&s, &cust, &session, "pending").await["kind"],
        "vnc"
    );
    // Both white_ips were recorded.
    let audit = s.get("/api/v1/audit?limit=200", &admin).await.expect(200);
    for ip in ["127.0.0.1", "192.0.2.10"] {
        assert!(
            audit.to_string().contains(&format!("white_ip:{ip}")),
            "{audit}"
        );
    }
    // Power actions are audited as the API's are, with the caller; polling
    // checks leave nothing.
    let entries = audit["items"].as_array().unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "server.power.reset" && e["user"] == "cust"),
        "{audit}"
    );
    assert!(!audit.to_string().contains("eq_callback"), "{audit}");
}

/// Everything but RFC 3986 unreserved characters as %XX.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A local HTTP listener that records the request line of each call.
async fn close_url_listener() -> (String, tokio::sync::mpsc::UnboundedReceiver<String>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/closed?session=abc", l.local_addr().unwrap());
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut c, _)) = l.accept().await {
            let mut buf = vec![0u8; 4096];
            let n = c.read(&mut buf).await.unwrap_or(0);
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            let _ = tx.send(text.lines().next().unwrap_or("").to_owned());
            let _ = c
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .await;
        }
    });
    (url, rx)
}

async fn wait_console(s: &Server, token: &str, id: &str, state: &str) -> Value {
    for _ in 0..400 {
        let c = s
            .get(&format!("/api/v1/consoles/{id}"), token)
            .await
            .expect(200);
        if c["state"] == state {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("console {id} never became {state}");
}

both_databases!(invapi_calls);
