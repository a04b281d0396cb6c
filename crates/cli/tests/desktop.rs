//! Desktop sessions through the real `ironrack serve`: a test "BMC web
//! server" (axum, loopback) that wants the template's login, a kiosk
//! Firefox showing its console page, and javaws running the JNLP it hands
//! out (a small Java program compiled here); pixels read through the
//! gateway with a minimal RFB client; after close no process of the
//! session's uid is left and the BMC saw the logout with the session's
//! cookie. The Java viewer runs on the JVM its template's java_version
//! picks (an older one than the system's, installed apart), and shows
//! which. Skipped (with a notice) when not root or when Xvfb, x11vnc,
//! openbox, firefox-esr, javaws, javac or that older JVM is missing.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::Server;
use futures_util::{SinkExt, StreamExt};
use ironrack_desktop::testing::{
    self, FrameReader, JAVA_RGB, OLD_JVM_DIR, OLD_JVM_MAJOR, PAGE_RGB, RFB_SETUP, TEMPLATES,
    TestBmc, covers, rfb_full_request, version_rgb,
};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const PIN: (&str, &str) = ("X-Ironrack-Pin", "2468");
const UID_BASE: u32 = 61_200;
const DISPLAY_BASE: u32 = 220;

/// A browser's end of the gateway: RFB over a WebSocket.
struct Rfb {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    buf: Vec<u8>,
    w: u16,
    h: u16,
}

impl Rfb {
    async fn more(&mut self) {
        match timeout(Duration::from_secs(30), self.ws.next()).await {
            Ok(Some(Ok(Message::Binary(b)))) => self.buf.extend_from_slice(&b),
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Text(_)))) => {}
            other => panic!("the gateway's stream ended: {other:?}"),
        }
    }

    async fn read(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            self.more().await;
        }
        self.buf.drain(..n).collect()
    }

    async fn send(&mut self, b: &[u8]) {
        self.ws
            .send(Message::Binary(b.to_vec().into()))
            .await
            .unwrap();
    }

    /// RFB 3.8 as the gateway offers it: security None, shared.
    async fn connect(ws_url: &str) -> Rfb {
        let mut req = ws_url.into_client_request().unwrap();
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", "binary".parse().unwrap());
        let (ws, _) = tokio_tungstenite::connect_async(req)
            .await
            .expect("upgrade");
        let mut v = Rfb {
            ws,
            buf: Vec::new(),
            w: 0,
            h: 0,
        };
        assert_eq!(v.read(12).await, b"RFB 003.008\n");
        v.send(b"RFB 003.008\n").await;
        assert_eq!(v.read(2).await, vec![1, 1]);
        v.send(&[1]).await;
        assert_eq!(v.read(4).await, vec![0; 4]);
        v.send(&[1]).await;
        let init = v.read(24).await;
        v.w = u16::from_be_bytes([init[0], init[1]]);
        v.h = u16::from_be_bytes([init[2], init[3]]);
        let name = u32::from_be_bytes([init[20], init[21], init[22], init[23]]) as usize;
        v.read(name).await;
        v.send(&RFB_SETUP).await;
        v
    }

    /// The whole screen, as `w * h` [r, g, b].
    async fn frame(&mut self) -> Vec<[u8; 3]> {
        self.send(&rfb_full_request(self.w, self.h)).await;
        let mut r = FrameReader::new(self.w, self.h);
        loop {
            let bytes = std::mem::take(&mut self.buf);
            if r.feed(&bytes).expect("RFB stream") {
                return r.screen().to_vec();
            }
            self.more().await;
        }
    }

    /// Reads frames until `done` says yes.
    async fn until(&mut self, what: &str, log: &Path, done: impl Fn(&[[u8; 3]]) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(45);
        loop {
            let screen = self.frame().await;
            if done(&screen) {
                return;
            }
            let centre =
                screen[usize::from(self.h / 2) * usize::from(self.w) + usize::from(self.w / 2)];
            assert!(
                Instant::now() < deadline,
                "{what} did not show; the centre is {centre:?}; viewer log: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

/// Waits until the test BMC has seen `logout` (method, path, cookies).
async fn logged_out(bmc: &TestBmc, logout: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !bmc.logouts().iter().any(|l| l == logout) {
        assert!(
            Instant::now() < deadline,
            "no `{logout}` at the BMC; it saw {:?}",
            bmc.logouts()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Adds a server (as admin); its id.
async fn add_server(s: &Server, admin: &str, body: Value) -> i64 {
    s.post("/api/v1/servers", admin, body).await.expect(201)["id"]
        .as_i64()
        .unwrap()
}

async fn open_desktop(s: &Server, token: &str, server: i64, body: Value) -> common::Reply {
    s.call_with(
        Method::POST,
        &format!("/api/v1/servers/{server}/console"),
        Some(token),
        Some(body),
        &[PIN],
    )
    .await
}

/// Kills the console and waits until the session's uid runs nothing and
/// its home, X lock and socket are gone.
async fn close_and_check_nothing_left(s: &Server, token: &str, id: &str, runtime: &Path) {
    s.call(
        Method::DELETE,
        &format!("/api/v1/consoles/{id}"),
        Some(token),
        None,
    )
    .await
    .expect(204);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = ironrack_desktop::processes_of(UID_BASE);
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "processes of the closed session are still running: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while runtime.join("0").exists() || Path::new(&format!("/tmp/.X{DISPLAY_BASE}-lock")).exists() {
        assert!(Instant::now() < deadline, "the session's files stay behind");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn desktop_sessions_show_the_bmc_page_and_its_java_viewer_and_leave_nothing() {
    if let Some(m) = testing::missing_tools() {
        eprintln!("skipped: desktop sessions need {m}");
        return;
    }
    let old_jvm = match testing::old_jvm() {
        Ok(j) => j,
        Err(m) => {
            eprintln!("skipped: the Java viewer's test needs {m}");
            return;
        }
    };
    let work: PathBuf =
        std::env::temp_dir().join(format!("ironrack-desktop-it-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let bmc = testing::start_bmc(&work).await.unwrap();
    let tls_bmc = testing::start_tls_bmc(&work).await.unwrap();
    let templates = work.join("templates");
    std::fs::create_dir_all(&templates).unwrap();
    std::fs::write(templates.join("test.yaml"), TEMPLATES).unwrap();
    let runtime = work.join("desktop");
    let iso = work.join("iso");
    std::fs::create_dir_all(&iso).unwrap();
    std::fs::write(iso.join("rescue.iso"), b"not really an ISO").unwrap();

    // What a crashed agent left in slot 1: reaped when the agent starts.
    let mut orphan = Command::new("sleep");
    std::os::unix::process::CommandExt::uid(&mut orphan, UID_BASE + 1);
    std::os::unix::process::CommandExt::gid(&mut orphan, UID_BASE + 1);
    let mut orphan = orphan.arg("600").spawn().unwrap();
    assert!(!ironrack_desktop::processes_of(UID_BASE + 1).is_empty());

    let s = Server::start_with(
        common::Db::Sqlite,
        &[
            "--desktop-templates",
            templates.to_str().unwrap(),
            "--desktop-dir",
            runtime.to_str().unwrap(),
            "--desktop-uid-base",
            &UID_BASE.to_string(),
            "--desktop-slots",
            "2",
            "--desktop-display-base",
            &DISPLAY_BASE.to_string(),
            "--desktop-iso-dir",
            iso.to_str().unwrap(),
            "--desktop-jvm-dirs",
            &format!("{OLD_JVM_DIR},/usr/lib/jvm"),
        ],
    )
    .await;
    let _ = orphan.wait();
    assert!(
        ironrack_desktop::processes_of(UID_BASE + 1).is_empty(),
        "the orphan of uid {} was not reaped at start",
        UID_BASE + 1
    );

    let admin = s.admin().await;
    let op = s.user(&admin, "op", "operator", None).await;
    let add_at = |name: &str, template: &str, password: &str, web: &str| {
        json!({"name": name, "site": "local", "bmc": {
            "driver": "fake", "address": "127.0.0.1", "username": testing::USER, "password": password,
            "console": {"template": template, "web": web}}})
    };
    let add =
        |name: &str, template: &str, password: &str| add_at(name, template, password, &bmc.url);
    let html5 = add_server(&s, &admin, add("web-bmc", "test-html5", testing::PASSWORD)).await;
    let java = add_server(&s, &admin, add("java-bmc", "test-java", testing::PASSWORD)).await;
    let wrong = add_server(&s, &admin, add("wrong-pw", "test-html5", "nope")).await;

    // The BMC refuses the login: a clear error, and nothing started.
    let e = open_desktop(&s, &op, wrong, json!({"kind": "desktop"}))
        .await
        .expect(502);
    assert!(e["detail"].as_str().unwrap().contains("HTTP 401"), "{e}");
    assert!(ironrack_desktop::processes_of(UID_BASE).is_empty());
    let e = open_desktop(
        &s,
        &op,
        html5,
        json!({"kind": "desktop", "resolution": "10x10"}),
    )
    .await
    .expect(422);
    assert!(e["detail"].as_str().unwrap().contains("resolution"), "{e}");

    // A template the agent does not know: 422 from the controller, naming
    // it and the known ones, on create and on change.
    let e = s
        .post(
            "/api/v1/servers",
            &admin,
            add("typo", "test-htlm5", testing::PASSWORD),
        )
        .await
        .expect(422);
    let detail = e["detail"].as_str().unwrap();
    assert!(
        detail.contains("`test-htlm5`") && detail.contains("test-html5, test-html5-tls"),
        "{e}"
    );
    assert!(detail.contains("supermicro-java"), "built-ins count: {e}");
    let e = s
        .call(
            Method::PATCH,
            &format!("/api/v1/servers/{html5}"),
            Some(&admin),
            Some(json!({"bmc": {"console": {"template": "nope", "web": bmc.url}}})),
        )
        .await
        .expect(422);
    assert!(e["detail"].as_str().unwrap().contains("`nope`"), "{e}");
    assert_eq!(e["field"], "bmc.console.template", "{e}");

    // A Java version no installed JVM can serve: a clear error naming it and
    // the JVMs there are, before any login or process.
    let none = add_server(
        &s,
        &admin,
        add("java-26", "test-java-none", testing::PASSWORD),
    )
    .await;
    let e = open_desktop(&s, &op, none, json!({"kind": "desktop"}))
        .await
        .expect(502);
    let detail = e["detail"].as_str().unwrap();
    assert!(detail.contains("java_version `26`"), "{e}");
    assert!(
        detail.contains(&format!("{}", old_jvm.display())) && detail.contains("Java 17"),
        "the installed JVMs: {e}"
    );
    assert!(ironrack_desktop::processes_of(UID_BASE).is_empty());
    assert!(bmc.logouts().is_empty(), "{:?}", bmc.logouts());

    // The web console: auto picks the desktop; Firefox shows the page the
    // BMC serves only with the session cookie of the template's login.
    let started = Instant::now();
    let c = open_desktop(&s, &op, html5, json!({"kind": "auto"}))
        .await
        .expect(201);
    assert_eq!(c["kind"], "desktop", "{c}");
    let mut v = Rfb::connect(c["ws_url"].as_str().unwrap()).await;
    assert_eq!((v.w, v.h), (800, 600), "the template file's x_resolution");
    let log = runtime.join("0/viewer.log");
    v.until("the BMC page in Firefox", &log, |s| covers(s, PAGE_RGB, 90))
        .await;
    eprintln!("web desktop: first page in {:?}", started.elapsed());
    let home = runtime.join("0");
    let meta = std::fs::metadata(&home).unwrap();
    assert_eq!(
        (
            std::os::unix::fs::MetadataExt::uid(&meta),
            meta.permissions().mode() & 0o777
        ),
        (UID_BASE, 0o700)
    );
    // The ISO folder is offered in the home, readable by the session's uid.
    let mut cat = Command::new("cat");
    std::os::unix::process::CommandExt::uid(&mut cat, UID_BASE);
    std::os::unix::process::CommandExt::gid(&mut cat, UID_BASE);
    let out = cat.arg(home.join("iso/rescue.iso")).output().unwrap();
    assert_eq!(out.stdout, b"not really an ISO", "{out:?}");
    // Its home is its own: another session's uid cannot look in.
    let mut ls = Command::new("ls");
    std::os::unix::process::CommandExt::uid(&mut ls, UID_BASE + 1);
    assert!(!ls.arg(&home).output().unwrap().status.success());
    let procs = ironrack_desktop::processes_of(UID_BASE);
    assert!(
        procs.len() >= 4,
        "Xvfb, openbox, x11vnc, firefox: {procs:?}"
    );
    close_and_check_nothing_left(&s, &op, c["id"].as_str().unwrap(), &runtime).await;
    // The BMC's web session ended with it.
    logged_out(&bmc, &format!("GET /cgi/logout.cgi SID={}", testing::SID)).await;

    // A BMC with a self-signed certificate: refused unless the template
    // says allow_insecure_ssl; then Firefox accepts exactly that
    // certificate (cert_override.txt) and shows the page.
    let strict = add_server(
        &s,
        &admin,
        add_at("tls-strict", "test-html5", testing::PASSWORD, &tls_bmc.url),
    )
    .await;
    let e = open_desktop(&s, &op, strict, json!({"kind": "desktop"}))
        .await
        .expect(502);
    assert!(
        e["detail"].as_str().unwrap().contains("allow_insecure_ssl"),
        "{e}"
    );
    let tls = add_server(
        &s,
        &admin,
        add_at("tls-bmc", "test-html5-tls", testing::PASSWORD, &tls_bmc.url),
    )
    .await;
    let c = open_desktop(&s, &op, tls, json!({"kind": "desktop"}))
        .await
        .expect(201);
    let mut v = Rfb::connect(c["ws_url"].as_str().unwrap()).await;
    v.until("the HTTPS BMC page in Firefox", &log, |s| {
        covers(s, PAGE_RGB, 90)
    })
    .await;
    close_and_check_nothing_left(&s, &op, c["id"].as_str().unwrap(), &runtime).await;

    // The Java console: JSON login, the session from the reply's body, the
    // JNLP formatted with it; javaws runs the BMC's program. Its template
    // asks for Java 8u242: none is installed, so the nearest newer one,
    // the older JVM (not the system's 17), with legacy TLS re-enabled.
    let started = Instant::now();
    let c = open_desktop(
        &s,
        &op,
        java,
        json!({"kind": "desktop", "resolution": "1024x768x24"}),
    )
    .await
    .expect(201);
    let mut v = Rfb::connect(c["ws_url"].as_str().unwrap()).await;
    assert_eq!((v.w, v.h), (1024, 768), "the request's resolution");
    // An 800x600 window on a 1024x768 screen.
    v.until("the Java viewer's window", &log, |s| {
        covers(s, JAVA_RGB, 40)
    })
    .await;
    eprintln!("java desktop: first window in {:?}", started.elapsed());
    // The program draws which Java runs it, and says so in the log, after
    // ironrack's line on the choice.
    v.until("the strip of the older JVM", &log, |s| {
        covers(s, version_rgb(OLD_JVM_MAJOR), 5)
    })
    .await;
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains(&format!("java.version={OLD_JVM_MAJOR}.")),
        "{text}"
    );
    assert!(
        text.starts_with("ironrack: the template asks for Java 8u242; Java 11")
            && text.contains(&format!("at {}", old_jvm.display()))
            && text.contains("no Java 8 is installed")
            && text.contains("legacy TLS"),
        "{text}"
    );
    // The relaxed security settings are this session's own file.
    let override_arg = format!(
        "-Djava.security.properties={}",
        runtime.join("0/java.security").display()
    );
    // (javaws execs the JVM as `javaws`: its binary says which it is.)
    let jvms: Vec<PathBuf> = ironrack_desktop::processes_of(UID_BASE)
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&override_arg))
        })
        .filter_map(|pid| std::fs::read_link(format!("/proc/{pid}/exe")).ok())
        .collect();
    assert_eq!(
        jvms,
        vec![old_jvm.join("bin/java")],
        "one JVM, with the override"
    );
    let sec = std::fs::read_to_string(runtime.join("0/java.security")).unwrap();
    assert!(sec.contains("jdk.tls.disabledAlgorithms=SSLv3"), "{sec}");
    close_and_check_nothing_left(&s, &op, c["id"].as_str().unwrap(), &runtime).await;
    logged_out(
        &bmc,
        &format!(
            "GET /rpc/WEBSES/logout.asp SessionCookie={}",
            testing::JAVA_KEY
        ),
    )
    .await;

    let audit = s.get("/api/v1/audit?limit=100", &admin).await.expect(200);
    assert!(audit.to_string().contains("kind:desktop"), "{audit}");
    // The BMC password never comes back.
    assert!(
        !s.bodies
            .lock()
            .unwrap()
            .iter()
            .any(|b| b.contains(testing::PASSWORD))
    );

    // A graceful shutdown ends live desktops too.
    let c = open_desktop(&s, &op, html5, json!({"kind": "desktop"}))
        .await
        .expect(201);
    assert_eq!(c["kind"], "desktop");
    assert!(!ironrack_desktop::processes_of(UID_BASE).is_empty());
    let before = bmc.logouts().len();
    let mut s = s;
    s.terminate();
    assert!(
        ironrack_desktop::processes_of(UID_BASE).is_empty(),
        "a desktop outlived the agent's shutdown"
    );
    assert_eq!(
        bmc.logouts().len(),
        before + 1,
        "logged out at shutdown: {:?}",
        bmc.logouts()
    );
    assert!(!runtime.join("0").exists());
    drop(s);
    let _ = std::fs::remove_dir_all(&work);
}
