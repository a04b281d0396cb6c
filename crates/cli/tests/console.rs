//! Browser consoles through the real `ironrack serve`: VNC against QEMU's
//! own VNC server (password set through its monitor), serial-over-LAN
//! against ipmi_sim whose serial port is a socket this test holds, with
//! tokio-tungstenite as the browser. Skipped (with a notice) when QEMU or
//! ipmi_sim is missing.

#[path = "../../ipmi/tests/common/mod.rs"]
mod bmc;
mod common;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::Server;
use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const PIN: (&str, &str) = ("X-Ironrack-Pin", "2468");
const WAIT: Duration = Duration::from_secs(30);

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A WebSocket client that keeps what arrived: stream bytes, JSON control
/// messages, and the close frame.
struct Viewer {
    ws: Ws,
    protocol: Option<String>,
    bytes: Vec<u8>,
    texts: Vec<Value>,
    close: Option<(u16, String)>,
}

/// Connects; `Err(status)` if the gateway refused the upgrade.
async fn connect(ws_url: &str, protocol: Option<&str>) -> Result<Viewer, u16> {
    connect_with(ws_url, protocol, &[]).await
}

/// `connect` with more request headers.
async fn connect_with(
    ws_url: &str,
    protocol: Option<&str>,
    headers: &[(&'static str, &str)],
) -> Result<Viewer, u16> {
    let mut req = ws_url.into_client_request().expect("ws url");
    if let Some(p) = protocol {
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", p.parse().unwrap());
    }
    for (k, v) in headers {
        req.headers_mut().append(*k, v.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, resp)) => Ok(Viewer {
            ws,
            protocol: resp
                .headers()
                .get("sec-websocket-protocol")
                .map(|v| v.to_str().unwrap().to_owned()),
            bytes: Vec::new(),
            texts: Vec::new(),
            close: None,
        }),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
        Err(e) => panic!("websocket connect: {e}"),
    }
}

impl Viewer {
    /// Takes one message; false once the stream ended.
    async fn pump(&mut self) -> bool {
        let m = timeout(WAIT, self.ws.next()).await.unwrap_or_else(|_| {
            panic!(
                "nothing from the gateway in {WAIT:?}; have {} bytes, texts {:?}",
                self.bytes.len(),
                self.texts
            )
        });
        match m {
            Some(Ok(Message::Binary(b))) => self.bytes.extend_from_slice(&b),
            Some(Ok(Message::Text(t))) => self
                .texts
                .push(serde_json::from_str(t.as_str()).expect("control messages are JSON")),
            Some(Ok(Message::Close(c))) => {
                self.close = Some(
                    c.map(|c| (u16::from(c.code), c.reason.as_str().to_owned()))
                        .unwrap_or((1005, String::new())),
                );
                return false;
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return false,
        }
        true
    }

    async fn read_exact(&mut self, n: usize) -> Vec<u8> {
        // One deadline for the whole wait: pings alone must not keep it going.
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.bytes.len() < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no {n} bytes in {WAIT:?}"
            );
            assert!(self.pump().await, "stream ended; close {:?}", self.close);
        }
        let rest = self.bytes.split_off(n);
        std::mem::replace(&mut self.bytes, rest)
    }

    /// Reads until `needle` was received; returns everything up to it.
    async fn until_bytes(&mut self, needle: &[u8]) -> Vec<u8> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(i) = self.bytes.windows(needle.len()).position(|w| w == needle) {
                let rest = self.bytes.split_off(i + needle.len());
                return std::mem::replace(&mut self.bytes, rest);
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "never got {:?}",
                String::from_utf8_lossy(needle)
            );
            assert!(
                self.pump().await,
                "stream ended before {:?}; close {:?}",
                String::from_utf8_lossy(needle),
                self.close
            );
        }
    }

    async fn until_text(&mut self, kind: &str) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(i) = self.texts.iter().position(|t| t["type"] == kind) {
                return self.texts.remove(i);
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no {kind} message; texts {:?}",
                self.texts
            );
            assert!(
                self.pump().await,
                "stream ended before a {kind} message; close {:?}",
                self.close
            );
        }
    }

    async fn until_closed(&mut self) -> (u16, String) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.pump().await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "not closed in {WAIT:?}"
            );
        }
        self.close.clone().expect("a close frame")
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.ws
            .send(Message::Binary(bytes.to_vec().into()))
            .await
            .expect("send");
    }
}

/// An admin token, an operator with a PIN, and a customer of tenant `acme`.
async fn people(s: &Server) -> (String, String, String) {
    let admin = s.admin().await;
    s.post("/api/v1/tenants", &admin, json!({"name": "acme"}))
        .await
        .expect(201);
    s.post("/api/v1/tenants", &admin, json!({"name": "other"}))
        .await
        .expect(201);
    let op = s.user(&admin, "op", "operator", None).await;
    let cust = s.user(&admin, "cust", "customer", Some("acme")).await;
    (admin, op, cust)
}

async fn add_server(s: &Server, admin: &str, name: &str, tenant: Option<&str>, bmc: Value) -> i64 {
    s.post(
        "/api/v1/servers",
        admin,
        json!({"name": name, "site": "local", "tenant": tenant, "bmc": bmc}),
    )
    .await
    .expect(201)["id"]
        .as_i64()
        .unwrap()
}

async fn open_console(s: &Server, token: &str, server: i64, body: Value) -> common::Reply {
    s.call_with(
        Method::POST,
        &format!("/api/v1/servers/{server}/console"),
        Some(token),
        Some(body),
        &[PIN],
    )
    .await
}

async fn console_state(s: &Server, token: &str, id: &str) -> Value {
    s.get(&format!("/api/v1/consoles/{id}"), token)
        .await
        .expect(200)
}

/// Polls the session until it is closed.
async fn wait_closed(s: &Server, token: &str, id: &str) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let c = console_state(s, token, id).await;
        if c["state"] == "closed" {
            return c;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "session {id} stays open: {c}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn audit_actions(s: &Server, admin: &str) -> Vec<Value> {
    s.get("/api/v1/audit?limit=1000", admin).await.expect(200)["items"]
        .as_array()
        .unwrap()
        .clone()
}

// ---------------------------------------------------------------- QEMU

/// One QEMU with a VNC display on loopback, killed by its PID on drop.
struct Qemu {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Qemu {
    fn start(test: &str, password: &str) -> Option<Qemu> {
        if Command::new("sh")
            .args(["-c", "command -v qemu-system-x86_64"])
            .output()
            .map(|o| !o.status.success())
            .unwrap_or(true)
        {
            bmc::skip(test, "qemu-system-x86_64 not installed");
            return None;
        }
        let dir = std::env::temp_dir().join(format!("ironrack-qemu-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // A display number whose port (5900 + N) is free.
        let start = 5901 + (std::process::id() % 500) as u16;
        let port = (start..6900)
            .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
            .expect("a free VNC port");
        let monitor = dir.join("monitor.sock");
        let child = Command::new("qemu-system-x86_64")
            .args(["-display", "none", "-m", "64", "-accel", "tcg"])
            .args(["-vnc", &format!("127.0.0.1:{},password=on", port - 5900)])
            .args(["-serial", "none", "-parallel", "none", "-net", "none"])
            .arg("-monitor")
            .arg(format!("unix:{},server=on,wait=off", monitor.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("qemu.log")).unwrap())
            .spawn()
            .expect("start qemu");
        let q = Qemu { child, dir, port };
        // The password goes through the monitor, never the command line.
        let mut mon = None;
        for _ in 0..200 {
            if let Ok(s) = std::os::unix::net::UnixStream::connect(&monitor) {
                mon = Some(s);
                break;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let mut mon = mon.expect("QEMU monitor socket");
        mon.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let prompt = |mon: &mut std::os::unix::net::UnixStream| {
            let mut got = Vec::new();
            let mut buf = [0u8; 512];
            while !got.ends_with(b"(qemu) ") {
                let n = mon.read(&mut buf).expect("monitor read");
                assert!(n > 0, "monitor closed");
                got.extend_from_slice(&buf[..n]);
            }
            String::from_utf8_lossy(&got).into_owned()
        };
        prompt(&mut mon);
        writeln!(mon, "change vnc password {password}").unwrap();
        let out = prompt(&mut mon);
        assert!(!out.contains("rror"), "monitor: {out}");
        Some(q)
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The RFB client side a browser (noVNC) speaks to the gateway.
async fn rfb_client_init(v: &mut Viewer) -> (u16, u16, Vec<u8>) {
    assert_eq!(v.read_exact(12).await, b"RFB 003.008\n");
    v.send(b"RFB 003.008\n").await;
    assert_eq!(v.read_exact(2).await, vec![1, 1], "security None only");
    v.send(&[1]).await;
    assert_eq!(v.read_exact(4).await, vec![0, 0, 0, 0], "SecurityResult OK");
    v.send(&[1]).await; // ClientInit, shared
    let init = v.read_exact(24).await;
    let w = u16::from_be_bytes([init[0], init[1]]);
    let h = u16::from_be_bytes([init[2], init[3]]);
    let name_len = u32::from_be_bytes([init[20], init[21], init[22], init[23]]) as usize;
    let name = v.read_exact(name_len).await;
    (w, h, init[4..20].iter().copied().chain(name).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vnc_through_the_gateway_against_qemu() {
    let Some(qemu) = Qemu::start("vnc_qemu", "s3cret-v") else {
        return;
    };
    let s = Server::start(common::Db::Sqlite).await;
    let (admin, op, _) = people(&s).await;
    let vm = add_server(
        &s,
        &admin,
        "vm1",
        None,
        json!({"driver": "fake", "address": "10.9.9.1", "username": "x",
               "console": {"vnc": format!("127.0.0.1:{}", qemu.port), "vnc_password": "s3cret-v"}}),
    )
    .await;
    // The VNC password is sealed and never shown.
    let shown = s
        .get(&format!("/api/v1/servers/{vm}"), &admin)
        .await
        .expect(200);
    assert_eq!(shown["bmc"]["console"]["vnc_password_set"], true, "{shown}");
    assert_eq!(
        shown["bmc"]["console"]["vnc"],
        format!("127.0.0.1:{}", qemu.port)
    );

    let c = open_console(&s, &op, vm, json!({"kind": "auto"}))
        .await
        .expect(201);
    assert_eq!(c["kind"], "vnc");
    let id = c["id"].as_str().unwrap().to_owned();
    let token = c["token"].as_str().unwrap();
    assert!(
        c["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/console/?id={id}#token={token}")),
        "{c}"
    );
    assert_eq!(console_state(&s, &op, &id).await["state"], "pending");

    // A stock RFB client with the `binary` subprotocol.
    let mut v = connect(c["ws_url"].as_str().unwrap(), Some("binary"))
        .await
        .expect("upgrade");
    assert_eq!(v.protocol.as_deref(), Some("binary"));
    let (w, h, _format_and_name) = rfb_client_init(&mut v).await;
    assert!(w >= 320 && h >= 200, "QEMU's framebuffer is {w}x{h}");
    // 32 bpp true colour (QEMU's default) and raw encoding: ask for the whole screen
    // until SeaBIOS has drawn something.
    let mut lit = false;
    for _ in 0..120 {
        let [wh, wl] = w.to_be_bytes();
        let [hh, hl] = h.to_be_bytes();
        v.send(&[3, 0, 0, 0, 0, 0, wh, wl, hh, hl]).await;
        let head = v.read_exact(4).await;
        assert_eq!(head[0], 0, "FramebufferUpdate");
        let rects = u16::from_be_bytes([head[2], head[3]]);
        for _ in 0..rects {
            let r = v.read_exact(12).await;
            let rw = u16::from_be_bytes([r[4], r[5]]) as usize;
            let rh = u16::from_be_bytes([r[6], r[7]]) as usize;
            let enc = i32::from_be_bytes([r[8], r[9], r[10], r[11]]);
            assert_eq!(enc, 0, "raw encoding (no SetEncodings sent)");
            let pixels = v.read_exact(rw * rh * 4).await;
            lit |= pixels.iter().any(|&b| b != 0);
        }
        if lit {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(lit, "the VM's screen stayed black");
    let live = console_state(&s, &op, &id).await;
    assert_eq!(live["state"], "live", "{live}");
    assert!(live["opened_at"].is_string());

    // The same token again: refused.
    let again = connect(c["ws_url"].as_str().unwrap(), Some("binary")).await;
    assert_eq!(again.err(), Some(401));

    // Wrong stored password: the session closes and says why.
    let bad = add_server(
        &s,
        &admin,
        "vm1-badpw",
        None,
        json!({"driver": "fake", "address": "10.9.9.2", "username": "x",
               "console": {"vnc": format!("127.0.0.1:{}", qemu.port), "vnc_password": "wrong"}}),
    )
    .await;
    let c2 = open_console(&s, &op, bad, json!({"kind": "vnc"}))
        .await
        .expect(201);
    let mut v2 = connect(c2["ws_url"].as_str().unwrap(), Some("ironrack.console.v1"))
        .await
        .expect("upgrade");
    let hello = v2.until_text("hello").await;
    assert_eq!(hello["kind"], "vnc");
    let closed = v2.until_text("closed").await;
    assert_eq!(closed["reason"], "error", "{closed}");
    assert!(
        closed["detail"]
            .as_str()
            .unwrap()
            .contains("VNC authentication failed"),
        "{closed}"
    );
    let (code, _) = v2.until_closed().await;
    assert_eq!(code, 1011);
    let c2_id = c2["id"].as_str().unwrap();
    let gone = wait_closed(&s, &op, c2_id).await;
    assert_eq!(gone["close_reason"], "error");
    assert!(
        gone["close_detail"]
            .as_str()
            .unwrap()
            .contains("authentication"),
        "{gone}"
    );

    // Fixing the stored password (PATCH keeps the endpoint) makes it work.
    let fixed = s
        .call(
            Method::PATCH,
            &format!("/api/v1/servers/{bad}"),
            Some(&admin),
            Some(json!({"bmc": {"console": {"vnc": format!("127.0.0.1:{}", qemu.port), "vnc_password": "s3cret-v"}}})),
        )
        .await
        .expect(200);
    assert_eq!(fixed["bmc"]["console"]["vnc_password_set"], true);
    let c3 = open_console(&s, &op, bad, json!({"kind": "vnc"}))
        .await
        .expect(201);
    let mut v3 = connect(c3["ws_url"].as_str().unwrap(), None)
        .await
        .expect("upgrade");
    assert_eq!(rfb_client_init(&mut v3).await.0, w);
    drop(v3);
    // Removing the console: that server has none any more.
    s.call(
        Method::PATCH,
        &format!("/api/v1/servers/{bad}"),
        Some(&admin),
        Some(json!({"bmc": {"console": null}})),
    )
    .await
    .expect(200);
    open_console(&s, &op, bad, json!({"kind": "vnc"}))
        .await
        .expect(422);

    // Staff kill the good one: its viewer gets 4010.
    s.call(
        Method::DELETE,
        &format!("/api/v1/consoles/{id}"),
        Some(&op),
        None,
    )
    .await
    .expect(204);
    let (code, _) = v.until_closed().await;
    assert_eq!(code, 4010);
    let killed = wait_closed(&s, &op, &id).await;
    assert_eq!(killed["close_reason"], "killed");

    // Neither password ever left the server.
    for body in s.bodies.lock().unwrap().iter() {
        assert!(
            !body.contains("s3cret-v") && !body.contains("\"wrong\""),
            "{body}"
        );
    }
    assert!(
        !s.log().contains("s3cret-v"),
        "the VNC password reached the log"
    );
    drop(qemu);
}

// ---------------------------------------------------------------- SOL

/// ipmi_sim whose serial port is `serial` (accepted here) and a server
/// record for it.
async fn sol_bmc(test: &str) -> Option<(bmc::Bmc, TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let b = bmc::Bmc::start_with(test, &["--sol-port", &port])?;
    let (serial, _) = timeout(Duration::from_secs(10), listener.accept())
        .await
        .expect("ipmi_sim connects to its serial port")
        .unwrap();
    Some((b, serial))
}

async fn read_serial_until(serial: &mut TcpStream, needle: &[u8]) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    timeout(WAIT, async {
        while !got.windows(needle.len()).any(|w| w == needle) {
            let n = serial.read(&mut buf).await.unwrap();
            assert!(n > 0, "serial side closed");
            got.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "serial side never got {:?}; got {:?}",
            String::from_utf8_lossy(needle),
            String::from_utf8_lossy(&got)
        )
    });
    got
}

fn ipmi_bmc(b: &bmc::Bmc, extra: Value) -> Value {
    let mut v = json!({"driver": "ipmi", "address": "127.0.0.1", "port": b.port,
                       "username": bmc::USER, "password": bmc::PASSWORD,
                       "options": {"timeout_ms": 300, "tries": 4}});
    if let (Some(o), Some(e)) = (v["options"].as_object_mut(), extra.as_object()) {
        o.extend(e.clone());
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sol_both_ways_view_only_log_and_kill() {
    let Some((b, mut serial)) = sol_bmc("sol_console_gateway").await else {
        return;
    };
    let s = Server::start(common::Db::Sqlite).await;
    let (admin, op, cust) = people(&s).await;
    let host = add_server(&s, &admin, "host1", Some("acme"), ipmi_bmc(&b, json!({}))).await;

    // The customer opens it (auto → sol for an ipmi server without VNC).
    let c = open_console(&s, &cust, host, json!({"kind": "auto"}))
        .await
        .expect(201);
    assert_eq!(c["kind"], "sol");
    let id = c["id"].as_str().unwrap().to_owned();
    let mut owner = connect(c["ws_url"].as_str().unwrap(), Some("ironrack.console.v1"))
        .await
        .expect("upgrade");
    assert_eq!(owner.protocol.as_deref(), Some("ironrack.console.v1"));
    let hello = owner.until_text("hello").await;
    assert_eq!(hello["kind"], "sol");
    assert_eq!(hello["view_only"], false);
    assert!(
        hello["reconnect_token"]
            .as_str()
            .is_some_and(|t| t.len() > 20)
    );

    // Host → browser. SOL starts with the first viewer; write until it shows.
    let mut seen = false;
    for _ in 0..50 {
        serial.write_all(b"hello-from-host\r\n").await.unwrap();
        let got = timeout(Duration::from_millis(200), owner.ws.next()).await;
        if let Ok(Some(Ok(Message::Binary(bytes)))) = got {
            owner.bytes.extend_from_slice(&bytes);
            if owner.bytes.windows(15).any(|w| w == b"hello-from-host") {
                seen = true;
                break;
            }
        }
    }
    assert!(seen, "host output never reached the WebSocket");
    // Browser → host.
    owner.send(b"typed-by-owner\r").await;
    read_serial_until(&mut serial, b"typed-by-owner\r").await;

    // A network blip: the page reconnects with the hello's reconnect token
    // (once), and gets a fresh one.
    let reconnect = hello["reconnect_token"].as_str().unwrap().to_owned();
    owner.ws.close(None).await.unwrap();
    let ws_base = c["ws_url"]
        .as_str()
        .unwrap()
        .split("?token=")
        .next()
        .unwrap()
        .to_owned();
    let again_url = format!("{ws_base}?token={reconnect}");
    let mut owner = connect(&again_url, Some("ironrack.console.v1"))
        .await
        .expect("reconnect");
    let hello2 = owner.until_text("hello").await;
    assert_ne!(hello2["reconnect_token"], hello["reconnect_token"]);
    assert_eq!(
        connect(&again_url, None).await.err(),
        Some(401),
        "reconnect tokens work once"
    );
    owner.send(b"after-reconnect\r").await;
    read_serial_until(&mut serial, b"after-reconnect\r").await;

    // A serial break: ipmi_sim passes it to its telnet serial side as
    // IAC BREAK.
    owner
        .ws
        .send(Message::Text(r#"{"type":"break"}"#.into()))
        .await
        .unwrap();
    owner.send(b"after-break\r").await;
    let got = read_serial_until(&mut serial, b"after-break\r").await;
    assert!(
        got.windows(2).any(|w| w == [0xff, 0xf3]),
        "no telnet BREAK: {got:?}"
    );

    // A view-only viewer sees output, but its keys do not reach the host.
    let j = s
        .call(
            Method::POST,
            &format!("/api/v1/consoles/{id}/viewers"),
            Some(&cust),
            None,
        )
        .await
        .expect(201);
    let mut viewer = connect(j["ws_url"].as_str().unwrap(), Some("ironrack.console.v1"))
        .await
        .expect("viewer upgrade");
    // After the hello the viewer is joined: nothing written later is missed.
    assert_eq!(viewer.until_text("hello").await["view_only"], true);
    serial.write_all(b"<for-everyone>\r\n").await.unwrap();
    viewer.until_bytes(b"<for-everyone>").await;
    owner.until_bytes(b"<for-everyone>").await;
    viewer.send(b"viewer-keys-must-not-pass\r").await;
    owner.send(b"owner-after\r").await;
    let got = read_serial_until(&mut serial, b"owner-after\r").await;
    assert!(
        !got.windows(11).any(|w| w == b"viewer-keys"),
        "a view-only viewer's keys reached the host: {:?}",
        String::from_utf8_lossy(&got)
    );

    let listed = s.get("/api/v1/consoles", &cust).await.expect(200);
    assert!(
        listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["id"] == id.as_str())
    );
    let live = console_state(&s, &op, &id).await;
    assert_eq!(live["state"], "live");

    // Staff read the output log; the customer may not.
    let log = s
        .http
        .get(format!("{}/api/v1/consoles/{id}/log", s.url))
        .bearer_auth(&op)
        .send()
        .await
        .unwrap();
    assert_eq!(log.status(), 200);
    let text = log.text().await.unwrap();
    assert!(
        text.contains("hello-from-host") && text.contains("<for-everyone>"),
        "{text}"
    );
    s.get(&format!("/api/v1/consoles/{id}/log"), &cust)
        .await
        .expect(403);

    // Killed by staff: both viewers are told with 4010, and the
    // session is audited open and closed.
    s.call(
        Method::DELETE,
        &format!("/api/v1/consoles/{id}"),
        Some(&op),
        None,
    )
    .await
    .expect(204);
    let closed = owner.until_text("closed").await;
    assert_eq!(closed["reason"], "killed");
    assert_eq!(owner.until_closed().await.0, 4010);
    assert_eq!(viewer.until_closed().await.0, 4010);
    let done = wait_closed(&s, &op, &id).await;
    assert_eq!(done["close_reason"], "killed");
    let audit = audit_actions(&s, &admin).await;
    let close = audit
        .iter()
        .find(|a| a["action"] == "console.close" && a["object"] == format!("console:{id}"))
        .unwrap_or_else(|| panic!("no console.close audit: {audit:?}"));
    assert!(
        close["detail"].as_str().unwrap().contains("duration_s:"),
        "{close}"
    );
    assert!(
        audit
            .iter()
            .any(|a| a["action"] == "console.open" && a["object"] == format!("console:{id}"))
    );

    // The SOL payload was released: a new session gets the console again.
    let c = open_console(&s, &cust, host, json!({"kind": "sol"}))
        .await
        .expect(201);
    let mut again = connect(c["ws_url"].as_str().unwrap(), None)
        .await
        .expect("upgrade");
    again.send(b"second-session\r").await;
    read_serial_until(&mut serial, b"second-session\r").await;
}

/// Many sites: the console gateway runs in `ironrack agent --console-listen`,
/// the controller reaches it through RabbitMQ, and the URL names the agent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sol_through_a_site_agents_gateway() {
    let Some((b, mut serial)) = sol_bmc("sol_agent_gateway").await else {
        return;
    };
    let amqp = std::env::var("IRONRACK_TEST_AMQP")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned());
    let prefix = format!("ironrack-test-console-{}", std::process::id());
    let _broker = common::BrokerObjects::new(&amqp, &prefix);
    let s = Server::start_controller(&amqp, &prefix).await;
    let admin = s.admin().await;
    s.post("/api/v1/sites", &admin, json!({"name": "ams"}))
        .await
        .expect(201);
    // The BMC password reaches the agent sealed to this key.
    s.register_agent_key(&admin, "ams").await;
    let op = s.user(&admin, "op", "operator", None).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let public = format!("http://{listen}");
    let logs = s.data_dir.join("agent-console-logs");
    let agent = common::AgentProcess::start_with(
        "ams",
        &amqp,
        &prefix,
        &s.data_dir,
        "ams-1",
        &[
            "--console-listen",
            &listen,
            "--console-url",
            &public,
            "--console-log-dir",
            logs.to_str().unwrap(),
        ],
    );
    let id = s
        .post(
            "/api/v1/servers",
            &admin,
            json!({"name": "ams-host", "site": "ams", "bmc": ipmi_bmc(&b, json!({}))}),
        )
        .await
        .expect(201)["id"]
        .as_i64()
        .unwrap();
    let c = open_console(&s, &op, id, json!({"kind": "sol"})).await;
    let c = if c.status == 504 {
        panic!("agent did not answer; its log: {}", agent.log_text());
    } else {
        c.expect(201)
    };
    assert!(
        c["url"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{public}/console/?id=")),
        "{c}"
    );
    assert!(
        c["ws_url"]
            .as_str()
            .unwrap()
            .starts_with(&format!("ws://{listen}/console/ws/")),
        "{c}"
    );
    let mut v = connect(c["ws_url"].as_str().unwrap(), None)
        .await
        .expect("upgrade at the agent");
    v.send(b"via-agent\r").await;
    read_serial_until(&mut serial, b"via-agent\r").await;
    serial.write_all(b"<from-host-via-agent>").await.unwrap();
    v.until_bytes(b"<from-host-via-agent>").await;
    let cid = c["id"].as_str().unwrap();
    // Opened came back as an event through the broker.
    let deadline = tokio::time::Instant::now() + WAIT;
    while console_state(&s, &op, cid).await["state"] != "live" {
        assert!(tokio::time::Instant::now() < deadline, "never live");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    s.call(
        Method::DELETE,
        &format!("/api/v1/consoles/{cid}"),
        Some(&op),
        None,
    )
    .await
    .expect(204);
    assert_eq!(v.until_closed().await.0, 4010);
    assert_eq!(wait_closed(&s, &op, cid).await["close_reason"], "killed");
    drop(agent);
}

/// Records the request lines of HTTP requests it receives.
async fn close_url_listener() -> (String, tokio::sync::mpsc::UnboundedReceiver<String>) {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sessions_are_warned_then_closed_and_the_close_url_is_called() {
    let Some((b, _serial)) = sol_bmc("sol_idle_close").await else {
        return;
    };
    let s = Server::start_with_config(
        common::Db::Sqlite,
        "console_idle_timeout = \"3s\"\nconsole_idle_warning = \"2s\"\n",
    )
    .await;
    let (admin, op, _) = people(&s).await;
    let host = add_server(&s, &admin, "idle1", None, ipmi_bmc(&b, json!({}))).await;
    let (close_url, mut calls) = close_url_listener().await;
    let c = open_console(
        &s,
        &op,
        host,
        json!({"kind": "sol", "close_url": close_url}),
    )
    .await
    .expect(201);
    let id = c["id"].as_str().unwrap().to_owned();
    let mut v = connect(c["ws_url"].as_str().unwrap(), Some("ironrack.console.v1"))
        .await
        .expect("upgrade");
    assert_eq!(v.until_text("hello").await["idle_timeout_s"], 3);
    let warning = v.until_text("idle_warning").await;
    assert!(
        warning["closes_in_s"]
            .as_u64()
            .is_some_and(|s| (1..=2).contains(&s)),
        "{warning}"
    );
    assert!(
        !v.texts.iter().any(|t| t["type"] == "closed"),
        "the warning comes before the close"
    );
    let closed = v.until_text("closed").await;
    assert_eq!(closed["reason"], "idle");
    assert_eq!(v.until_closed().await.0, 4008);
    let line = timeout(WAIT, calls.recv())
        .await
        .expect("close URL called")
        .unwrap();
    assert_eq!(line, "GET /closed?session=abc HTTP/1.1");
    assert_eq!(wait_closed(&s, &op, &id).await["close_reason"], "idle");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_tenants_kinds_and_caps_sqlite() {
    tokens_tenants_kinds_and_caps(common::Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_tenants_kinds_and_caps_postgres() {
    tokens_tenants_kinds_and_caps(common::Db::Postgres).await;
}

async fn tokens_tenants_kinds_and_caps(db: common::Db) {
    // Any TCP listener will do as the VNC target here: what is checked
    // happens before the target matters.
    let target = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let vnc = target.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((c, _)) = target.accept().await {
            held.push(c);
        }
    });
    let s = Server::start_with_config(db, "console_token_ttl = \"1s\"\n").await;
    let (admin, op, cust) = people(&s).await;
    let other = s
        .user(&admin, "other-cust", "customer", Some("other"))
        .await;
    let srv = add_server(
        &s,
        &admin,
        "box1",
        Some("acme"),
        json!({"driver": "fake", "address": "10.0.0.7", "username": "x",
               "options": {"console_max_sessions": 1}, "console": {"vnc": vnc}}),
    )
    .await;

    // Another tenant's customer: 404, the same as a missing server.
    let e = open_console(&s, &other, srv, json!({"kind": "vnc"}))
        .await
        .expect(404);
    let missing = open_console(&s, &other, 999_999, json!({"kind": "vnc"}))
        .await
        .expect(404);
    assert_eq!(e["detail"], missing["detail"]);
    // Unknown kinds and consoles the server lacks: 422 naming the field.
    let e = open_console(&s, &cust, srv, json!({"kind": "rdp"}))
        .await
        .expect(422);
    assert!(e["detail"].as_str().unwrap().contains("rdp"), "{e}");
    let e = open_console(&s, &cust, srv, json!({"kind": "sol"}))
        .await
        .expect(422);
    assert!(e.to_string().contains("kind"), "{e}");
    // No PIN: refused.
    s.post(
        &format!("/api/v1/servers/{srv}/console"),
        &cust,
        json!({"kind": "vnc"}),
    )
    .await
    .expect(403);

    // An unused token expires, and its session closes as expired.
    let c = open_console(&s, &cust, srv, json!({"kind": "vnc"}))
        .await
        .expect(201);
    let id = c["id"].as_str().unwrap();
    assert_eq!(wait_closed(&s, &cust, id).await["close_reason"], "expired");
    let refused = connect(c["ws_url"].as_str().unwrap(), Some("binary")).await;
    assert!(
        matches!(refused.err(), Some(401 | 410)),
        "expired token refused"
    );
    // The other tenant cannot see it either, nor act on it.
    s.get(&format!("/api/v1/consoles/{id}"), &other)
        .await
        .expect(404);
    for (m, path) in [
        (Method::DELETE, format!("/api/v1/consoles/{id}")),
        (Method::POST, format!("/api/v1/consoles/{id}/viewers")),
        (Method::GET, format!("/api/v1/consoles/{id}/log")),
    ] {
        s.call(m, &path, Some(&other), None).await.expect(404);
    }
    let listed = s.get("/api/v1/consoles?all=true", &other).await.expect(200);
    assert_eq!(listed["items"], json!([]));

    // Cap of one session on this BMC: the second is refused with 409.
    let c = open_console(&s, &cust, srv, json!({"kind": "vnc"}))
        .await
        .expect(201);
    let _v = connect(c["ws_url"].as_str().unwrap(), None)
        .await
        .expect("first use");
    assert_eq!(
        connect(c["ws_url"].as_str().unwrap(), None).await.err(),
        Some(401),
        "a token works once"
    );
    // The console page's protocol gets the reason in a close frame instead
    // (browsers hide an HTTP refusal behind code 1006).
    let mut refused = connect(c["ws_url"].as_str().unwrap(), Some("ironrack.console.v1"))
        .await
        .expect("v1 clients are told why in a close frame");
    let (code, reason) = refused.until_closed().await;
    assert_eq!(code, 4001, "{reason}");
    assert!(reason.contains("token"), "{reason}");
    let full = open_console(&s, &op, srv, json!({"kind": "vnc"}))
        .await
        .expect(409);
    assert!(
        full["detail"]
            .as_str()
            .unwrap()
            .contains("console_max_sessions = 1"),
        "{full}"
    );
    // A restart ends the process's sessions: marked closed, the cap is free.
    let first = c["id"].as_str().unwrap().to_owned();
    let mut s = s;
    s.kill();
    s.spawn().await;
    let restarted = s
        .get(&format!("/api/v1/consoles/{first}"), &cust)
        .await
        .expect(200);
    assert_eq!(restarted["close_reason"], "restart", "{restarted}");
    let c = open_console(&s, &cust, srv, json!({"kind": "vnc"}))
        .await
        .expect(201);
    // A token for another session does not open this one.
    let id = c["id"].as_str().unwrap();
    let wrong = c["ws_url"]
        .as_str()
        .unwrap()
        .replace(&format!("/ws/{id}?"), "/ws/424242?");
    assert_eq!(connect(&wrong, None).await.err(), Some(401));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_bound_to_an_address_admits_only_that_browser() {
    // What is checked happens at the upgrade: any listener is the target.
    let target = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let vnc = target.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((c, _)) = target.accept().await {
            held.push(c);
        }
    });
    // The test plays the reverse proxy at 127.0.0.1.
    let s = Server::start_with_config(
        common::Db::Sqlite,
        "console_trusted_proxies = [\"127.0.0.1\"]\n",
    )
    .await;
    let (admin, op, _) = people(&s).await;
    let srv = add_server(
        &s,
        &admin,
        "bound1",
        None,
        json!({"driver": "fake", "address": "10.0.0.8", "console": {"vnc": vnc}}),
    )
    .await;
    let e = open_console(&s, &op, srv, json!({"kind": "vnc", "allowed_ip": "10.0.0"}))
        .await
        .expect(422);
    assert!(e.to_string().contains("allowed_ip"), "{e}");
    let c = open_console(
        &s,
        &op,
        srv,
        json!({"kind": "vnc", "allowed_ip": "192.0.2.10"}),
    )
    .await
    .expect(201);
    let id = c["id"].as_str().unwrap().to_owned();
    let url = c["ws_url"].as_str().unwrap();
    // The proxy's own address, another browser's, and an entry the browser
    // wrote itself in front of what the proxy saw: all refused.
    for xff in [None, Some("198.51.100.1"), Some("192.0.2.10, 198.51.100.1")] {
        let headers: Vec<(&str, &str)> = xff.map(|x| ("X-Forwarded-For", x)).into_iter().collect();
        assert_eq!(
            connect_with(url, Some("binary"), &headers).await.err(),
            Some(403),
            "X-Forwarded-For {xff:?}"
        );
    }
    let mut refused = connect_with(url, Some("ironrack.console.v1"), &[])
        .await
        .expect("v1 clients are told why in a close frame");
    let (code, reason) = refused.until_closed().await;
    assert_eq!(code, 4001);
    assert!(reason.contains("address"), "{reason}");
    assert_eq!(console_state(&s, &op, &id).await["state"], "pending");
    // The proxy saw 192.0.2.10: admitted, with the token the refusals left
    // unused.
    let _v = connect_with(url, Some("binary"), &[("X-Forwarded-For", "192.0.2.10")])
        .await
        .expect("the bound address is admitted");
    let deadline = tokio::time::Instant::now() + WAIT;
    while console_state(&s, &op, &id).await["state"] != "live" {
        assert!(tokio::time::Instant::now() < deadline, "never live");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sol_output_before_the_first_viewer_is_replayed_to_it() {
    let Some((b, mut serial)) = sol_bmc("sol_history_replay").await else {
        return;
    };
    let s = Server::start(common::Db::Sqlite).await;
    let (admin, op, _) = people(&s).await;
    let host = add_server(&s, &admin, "hist1", None, ipmi_bmc(&b, json!({}))).await;
    let c = open_console(&s, &op, host, json!({"kind": "sol"}))
        .await
        .expect(201);
    let id = c["id"].as_str().unwrap().to_owned();
    // Nobody has connected yet, and the machine writes (its boot).
    for i in 0..30 {
        serial
            .write_all(format!("boot-line-{i:02}\r\n").as_bytes())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut first = connect(c["ws_url"].as_str().unwrap(), Some("ironrack.console.v1"))
        .await
        .expect("upgrade");
    first.until_text("hello").await;
    let replay =
        String::from_utf8_lossy(&first.until_bytes(b"boot-line-29\r\n").await).into_owned();
    // In order, and no line twice.
    // (The first may be cut: SOL came up in the middle of it.)
    let lines: Vec<&str> = replay
        .split("\r\n")
        .filter(|l| l.starts_with("boot-line-"))
        .collect();
    let mut sorted = lines.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(lines, sorted, "{replay}");
    // Then live output.
    serial.write_all(b"after-join\r\n").await.unwrap();
    first.until_bytes(b"after-join\r\n").await;
    // Only the first viewer gets the replay: a later one starts at the
    // live output.
    let j = s
        .call(
            Method::POST,
            &format!("/api/v1/consoles/{id}/viewers"),
            Some(&op),
            None,
        )
        .await
        .expect(201);
    let mut second = connect(j["ws_url"].as_str().unwrap(), Some("ironrack.console.v1"))
        .await
        .expect("viewer upgrade");
    second.until_text("hello").await;
    serial.write_all(b"for-both\r\n").await.unwrap();
    let seen = second.until_bytes(b"for-both\r\n").await;
    assert_eq!(
        seen,
        b"for-both\r\n",
        "{:?}",
        String::from_utf8_lossy(&seen)
    );
    // The staff log has the boot too.
    let log = s
        .http
        .get(format!("{}/api/v1/consoles/{id}/log", s.url))
        .bearer_auth(&op)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        log.contains("boot-line-29") && log.contains("for-both"),
        "{log}"
    );
}

/// An agent killed with its sessions: when it comes back (a new gateway
/// instance under the same name) the controller marks them closed and
/// audits the close; a session of the new instance is left alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_of_an_agent_that_died_are_closed_when_it_returns() {
    let target = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let vnc = target.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((c, _)) = target.accept().await {
            held.push(c);
        }
    });
    let amqp = std::env::var("IRONRACK_TEST_AMQP")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned());
    let prefix = format!("ironrack-test-console-reap-{}", std::process::id());
    let _broker = common::BrokerObjects::new(&amqp, &prefix);
    let s = Server::start_controller(&amqp, &prefix).await;
    let admin = s.admin().await;
    s.post("/api/v1/sites", &admin, json!({"name": "fra"}))
        .await
        .expect(201);
    let op = s.user(&admin, "op", "operator", None).await;
    let listen = format!(
        "127.0.0.1:{}",
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    );
    let start_agent = || {
        common::AgentProcess::start_with(
            "fra",
            &amqp,
            &prefix,
            &s.data_dir,
            "fra-1",
            &["--console-listen", &listen],
        )
    };
    let agent = start_agent();
    let id = s
        .post(
            "/api/v1/servers",
            &admin,
            json!({"name": "fra-host", "site": "fra",
                   "bmc": {"driver": "fake", "address": "10.0.0.9", "console": {"vnc": vnc}}}),
        )
        .await
        .expect(201)["id"]
        .as_i64()
        .unwrap();
    let c = open_console(&s, &op, id, json!({"kind": "vnc"})).await;
    if c.status == 504 {
        panic!("agent did not answer; its log: {}", agent.log_text());
    }
    let c = c.expect(201);
    let cid = c["id"].as_str().unwrap().to_owned();
    let _v = connect(c["ws_url"].as_str().unwrap(), Some("binary"))
        .await
        .expect("upgrade at the agent");
    let deadline = tokio::time::Instant::now() + WAIT;
    while console_state(&s, &op, &cid).await["state"] != "live" {
        assert!(tokio::time::Instant::now() < deadline, "never live");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // kill -9: no close event ever comes from it.
    agent.kill9();
    let agent = start_agent();
    let closed = wait_closed(&s, &op, &cid).await;
    assert_eq!(closed["close_reason"], "agent_lost", "{closed}");
    assert!(
        closed["close_detail"]
            .as_str()
            .is_some_and(|d| d.contains("`fra-1` of site `fra` restarted")),
        "{closed}"
    );
    let audit = audit_actions(&s, &admin).await;
    assert!(
        audit.iter().any(|e| e["action"] == "console.close"
            && e["object"] == format!("console:{cid}")
            && e["result"] == "agent_lost"),
        "{audit:?}"
    );
    // The new instance's session lives on through the next sweeps.
    let c = open_console(&s, &op, id, json!({"kind": "vnc"}))
        .await
        .expect(201);
    let fresh = c["id"].as_str().unwrap().to_owned();
    let _v2 = connect(c["ws_url"].as_str().unwrap(), Some("binary"))
        .await
        .expect("upgrade at the new agent");
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert_eq!(console_state(&s, &op, &fresh).await["state"], "live");
    drop(agent);
}

// ---------------------------------------------------------------- HTML5 KVM

/// Debian's websockify in front of QEMU's VNC port: the BMC's KVM
/// WebSocket stand-in (a peer not written here). Killed by PID on drop.
struct Websockify {
    child: Child,
    port: u16,
}

impl Websockify {
    fn start(test: &str, target: u16) -> Option<Websockify> {
        if Command::new("sh")
            .args(["-c", "command -v websockify"])
            .output()
            .map(|o| !o.status.success())
            .unwrap_or(true)
        {
            bmc::skip(test, "websockify not installed");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("websockify")
            .args([format!("127.0.0.1:{port}"), format!("127.0.0.1:{target}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start websockify");
        // Killed (and waited for) on drop from here on.
        let w = Websockify { child, port };
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(w);
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("websockify does not listen on {port}");
    }
}

impl Drop for Websockify {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the test BMC saw.
#[derive(Debug, PartialEq)]
enum BmcSaw {
    Login { user: String, session: String },
    BadLogin,
    Kvm { session: String },
    KvmRefused(String),
    Logout { session: String },
}

struct BmcSession {
    xsrf: String,
    live: bool,
}

/// A minimal OpenBMC-style web server over TLS (self-signed): `POST
/// /login` with `{"data": [user, password]}` sets the SESSION and
/// XSRF-TOKEN cookies as bmcweb does; `GET /kvm/0` is admitted only with a
/// live session's cookie and its XSRF token as the subprotocol, then handed
/// to websockify; `POST /logout` needs the cookie and the X-XSRF-TOKEN
/// header. Returns its port and certificate fingerprint.
async fn openbmc_front(
    websockify: u16,
) -> (u16, String, tokio::sync::mpsc::UnboundedReceiver<BmcSaw>) {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    let ck = rcgen::generate_simple_self_signed(vec!["bmc.test".into()]).unwrap();
    let der = ck.cert.der().clone();
    let fp = ironrack_redfish::tls::fingerprint(&der);
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![der], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let sessions: Arc<Mutex<HashMap<String, BmcSession>>> = Arc::default();
    tokio::spawn(async move {
        let mut n = 0u32;
        while let Ok((tcp, _)) = listener.accept().await {
            n += 1;
            let (acceptor, tx, sessions) = (acceptor.clone(), tx.clone(), sessions.clone());
            tokio::spawn(async move {
                let Ok(mut s) = acceptor.accept(tcp).await else {
                    return; // a refused certificate is some tests' point
                };
                let mut got = Vec::new();
                let mut buf = [0u8; 4096];
                let end = loop {
                    if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => got.extend_from_slice(&buf[..k]),
                    }
                };
                let head = String::from_utf8_lossy(&got[..end]).into_owned();
                let mut lines = head.split("\r\n");
                let request = lines.next().unwrap_or_default().to_owned();
                let headers: Vec<(String, String)> = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                    .collect();
                let header = |k: &str| {
                    headers
                        .iter()
                        .find(|(h, _)| h == k)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default()
                };
                let len: usize = header("content-length").parse().unwrap_or(0);
                while got.len() < end + len {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => got.extend_from_slice(&buf[..k]),
                    }
                }
                let body = got[end..end + len].to_vec();
                let cookie = header("cookie")
                    .split(';')
                    .find_map(|c| c.trim().strip_prefix("SESSION=").map(str::to_owned))
                    .unwrap_or_default();
                let reply = |status: &str, extra: &str, body: &str| {
                    format!(
                        "HTTP/1.1 {status}\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                };
                if request.starts_with("POST /login ") {
                    let v: Value = serde_json::from_slice(&body).unwrap_or_default();
                    if v["data"] == json!(["root", "0penBmc"]) {
                        let (session, xsrf) = (format!("sess{n}x9"), format!("xsrf{n}q7"));
                        sessions.lock().unwrap().insert(
                            session.clone(),
                            BmcSession {
                                xsrf: xsrf.clone(),
                                live: true,
                            },
                        );
                        let _ = tx.send(BmcSaw::Login {
                            user: "root".into(),
                            session: session.clone(),
                        });
                        let cookies = format!(
                            "Set-Cookie: XSRF-TOKEN={xsrf}; SameSite=Strict; Secure\r\nSet-Cookie: SESSION={session}; SameSite=Strict; Secure; HttpOnly\r\n"
                        );
                        let _ = s
                            .write_all(reply("200 OK", &cookies, r#"{"status":"ok"}"#).as_bytes())
                            .await;
                    } else {
                        let _ = tx.send(BmcSaw::BadLogin);
                        let _ = s
                            .write_all(reply("401 Unauthorized", "", "{}").as_bytes())
                            .await;
                    }
                    return;
                }
                let known = sessions
                    .lock()
                    .unwrap()
                    .get(&cookie)
                    .filter(|b| b.live)
                    .map(|b| b.xsrf.clone());
                if request.starts_with("POST /logout ") {
                    if known.is_some_and(|x| x == header("x-xsrf-token")) {
                        sessions.lock().unwrap().get_mut(&cookie).unwrap().live = false;
                        let _ = tx.send(BmcSaw::Logout { session: cookie });
                        let _ = s
                            .write_all(reply("200 OK", "", r#"{"status":"ok"}"#).as_bytes())
                            .await;
                    } else {
                        let _ = s
                            .write_all(reply("401 Unauthorized", "", "{}").as_bytes())
                            .await;
                    }
                    return;
                }
                if request.starts_with("GET /kvm/0 ") {
                    let protocol = header("sec-websocket-protocol");
                    if known.as_deref() != Some(protocol.as_str()) || protocol.is_empty() {
                        let _ = tx.send(BmcSaw::KvmRefused(format!(
                            "cookie {cookie:?} protocol {protocol:?}"
                        )));
                        let _ = s
                            .write_all(reply("401 Unauthorized", "", "{}").as_bytes())
                            .await;
                        return;
                    }
                    // websockify gets the upgrade without our credentials;
                    // the answer echoes the token as bmcweb's does.
                    let fwd: String = head
                        .split("\r\n")
                        .filter(|l| {
                            let l = l.to_ascii_lowercase();
                            !l.starts_with("cookie:") && !l.starts_with("sec-websocket-protocol:")
                        })
                        .map(|l| format!("{l}\r\n"))
                        .collect::<String>();
                    let fwd = fwd.trim_end_matches("\r\n").to_owned() + "\r\n\r\n";
                    let mut up = TcpStream::connect(("127.0.0.1", websockify)).await.unwrap();
                    up.write_all(fwd.as_bytes()).await.unwrap();
                    let mut answer = Vec::new();
                    let aend = loop {
                        if let Some(i) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        let k = up.read(&mut buf).await.unwrap();
                        assert!(k > 0, "websockify closed");
                        answer.extend_from_slice(&buf[..k]);
                    };
                    let ahead = String::from_utf8_lossy(&answer[..aend - 2]).into_owned();
                    let ahead = format!("{ahead}Sec-WebSocket-Protocol: {protocol}\r\n\r\n");
                    s.write_all(ahead.as_bytes()).await.unwrap();
                    s.write_all(&answer[aend..]).await.unwrap();
                    let _ = tx.send(BmcSaw::Kvm { session: cookie });
                    let _ = tokio::io::copy_bidirectional(&mut s, &mut up).await;
                    return;
                }
                let _ = s
                    .write_all(reply("404 Not Found", "", "{}").as_bytes())
                    .await;
            });
        }
    });
    (port, fp, rx)
}

async fn next_saw(rx: &mut tokio::sync::mpsc::UnboundedReceiver<BmcSaw>) -> BmcSaw {
    timeout(WAIT, rx.recv())
        .await
        .expect("the test BMC saw nothing")
        .expect("the test BMC stopped")
}

/// OpenBMC-style native HTML5 KVM: the agent logs in to the BMC over TLS
/// (pinned self-signed certificate), the viewer's RFB reaches QEMU through
/// the BMC's /kvm/0 WebSocket (websockify), and the close logs out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html5_kvm_behind_an_openbmc_style_login() {
    let Some(qemu) = Qemu::start("html5_kvm", "kvm-pw") else {
        return;
    };
    let Some(wsify) = Websockify::start("html5_kvm", qemu.port) else {
        return;
    };
    let (bmc_port, fp, mut saw) = openbmc_front(wsify.port).await;
    let s = Server::start(common::Db::Sqlite).await;
    let (admin, op, _) = people(&s).await;
    let e = add_server_reply(
        &s,
        &admin,
        json!({"name": "obmc0", "site": "local", "bmc": {"driver": "fake", "address": "127.0.0.1",
               "console": {"html5": "kvm/0"}}}),
    )
    .await
    .expect(422);
    assert!(e.to_string().contains("bmc.console.html5"), "{e}");
    let srv = add_server(
        &s,
        &admin,
        "obmc1",
        None,
        json!({"driver": "fake", "address": "127.0.0.1", "username": "root", "password": "0penBmc",
               "options": {"tls_fingerprint": fp},
               "console": {"html5": format!("wss://127.0.0.1:{bmc_port}/kvm/0"), "vnc_password": "kvm-pw"}}),
    )
    .await;
    // auto picks the BMC's KVM for a server without a VNC endpoint.
    let c = open_console(&s, &op, srv, json!({"kind": "auto"}))
        .await
        .expect(201);
    assert_eq!(c["kind"], "html5");
    let BmcSaw::Login { user, session } = next_saw(&mut saw).await else {
        panic!("expected a login");
    };
    assert_eq!(user, "root");
    let id = c["id"].as_str().unwrap().to_owned();
    let mut v = connect(c["ws_url"].as_str().unwrap(), Some("ironrack.console.v1"))
        .await
        .expect("upgrade");
    assert_eq!(
        v.until_text("hello").await["kind"],
        "vnc",
        "the page shows RFB"
    );
    let (w, h, rest) = rfb_client_init(&mut v).await;
    assert_eq!(
        next_saw(&mut saw).await,
        BmcSaw::Kvm {
            session: session.clone()
        },
        "the KVM WebSocket came with the session cookie and its XSRF token"
    );
    assert!(w >= 320 && h >= 200, "{w}x{h}");
    assert!(
        String::from_utf8_lossy(&rest[16..]).contains("QEMU"),
        "{:?}",
        String::from_utf8_lossy(&rest[16..])
    );
    // Pixels flow: a full update request gets a FramebufferUpdate.
    let mut req = vec![3u8, 0, 0, 0, 0, 0];
    req.extend_from_slice(&w.to_be_bytes());
    req.extend_from_slice(&h.to_be_bytes());
    v.send(&req).await;
    assert_eq!(v.read_exact(1).await, [0], "a FramebufferUpdate");
    // Closing the console logs out of the BMC.
    s.call(
        Method::DELETE,
        &format!("/api/v1/consoles/{id}"),
        Some(&op),
        None,
    )
    .await
    .expect(204);
    assert_eq!(v.until_closed().await.0, 4010);
    assert_eq!(next_saw(&mut saw).await, BmcSaw::Logout { session });

    // Another certificate than the pinned one: refused at open, and why.
    let mut wrong = fp.clone();
    wrong.replace_range(0..2, if fp.starts_with("00") { "11" } else { "00" });
    s.call(
        Method::PATCH,
        &format!("/api/v1/servers/{srv}"),
        Some(&admin),
        Some(json!({"bmc": {"options": {"tls_fingerprint": wrong}}})),
    )
    .await
    .expect(200);
    let e = open_console(&s, &op, srv, json!({"kind": "html5"}))
        .await
        .expect(502);
    assert!(e["detail"].as_str().unwrap().contains("fingerprint"), "{e}");
    // Wrong BMC credentials: the BMC's refusal.
    s.call(
        Method::PATCH,
        &format!("/api/v1/servers/{srv}"),
        Some(&admin),
        Some(json!({"bmc": {"password": "wrong", "options": {"tls_fingerprint": fp}}})),
    )
    .await
    .expect(200);
    let e = open_console(&s, &op, srv, json!({"kind": "html5"}))
        .await
        .expect(502);
    assert!(
        e["detail"]
            .as_str()
            .unwrap()
            .contains("refused the credentials"),
        "{e}"
    );
    assert_eq!(next_saw(&mut saw).await, BmcSaw::BadLogin);
    // The BMC password never left the server.
    for body in s.bodies.lock().unwrap().iter() {
        assert!(!body.contains("0penBmc"), "{body}");
    }
    drop((wsify, qemu));
}

async fn add_server_reply(s: &Server, admin: &str, body: Value) -> common::Reply {
    s.post("/api/v1/servers", admin, body).await
}
