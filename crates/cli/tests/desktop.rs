//! Desktop sessions through the real `ironrack serve`: a test "BMC web
//! server" (axum, loopback) that wants the template's login, a kiosk
//! Firefox showing its console page, and javaws running the JNLP it hands
//! out (a small Java program compiled here); pixels read through the
//! gateway with a minimal RFB client; after close no process of the
//! session's uid is left. Skipped (with a notice) when not root or when
//! Xvfb, x11vnc, openbox, firefox-esr, javaws or javac is missing.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use axum::extract::{Form, Json, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use common::Server;
use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const PIN: (&str, &str) = ("X-Ironrack-Pin", "2468");
const UID_BASE: u32 = 61_200;
const DISPLAY_BASE: u32 = 220;
/// The page's colour, and the Java window's (from its session key).
const PAGE_RGB: [u8; 3] = [0x00, 0xc8, 0x53];
const JAVA_KEY: &str = "1e88e5a7b3";
const JAVA_RGB: [u8; 3] = [0x1e, 0x88, 0xe5];
const SID: &str = "bmcsid4711";

fn missing_tools() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if !status
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
    {
        return Some("root".into());
    }
    let missing: Vec<&str> = ["Xvfb", "x11vnc", "openbox", "firefox-esr", "javaws", "javac", "jar"]
        .into_iter()
        .filter(|p| !Path::new("/usr/bin").join(p).exists())
        .collect();
    (!missing.is_empty()).then(|| missing.join(", "))
}

// ------------------------------------------------------- the test BMC

#[derive(Clone)]
struct Bmc {
    jar: std::sync::Arc<Vec<u8>>,
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// Supermicro-style form login: a session cookie on success.
async fn form_login(Form(f): Form<std::collections::HashMap<String, String>>) -> Response {
    if f.get("user").map(String::as_str) == Some("admin")
        && f.get("pass").map(String::as_str) == Some("bmc-pass")
    {
        (
            [(header::SET_COOKIE, format!("SID={SID}; Path=/; HttpOnly"))],
            "<html>ok</html>",
        )
            .into_response()
    } else {
        (StatusCode::UNAUTHORIZED, "bad login").into_response()
    }
}

/// AMI-style JSON login: no cookie, the session in the reply's script.
async fn json_login(Json(v): Json<Value>) -> Response {
    if v["WEBVAR_USERNAME"] == "admin" && v["WEBVAR_PASSWORD"] == "bmc-pass" && v["method"] == "login"
    {
        format!("<script>\n  var s = {{ 'SESSION_COOKIE' : '{JAVA_KEY}' }};\n</script>").into_response()
    } else {
        (StatusCode::UNAUTHORIZED, "bad login").into_response()
    }
}

async fn console_page(headers: HeaderMap) -> Response {
    let [r, g, b] = if cookie(&headers, "SID").as_deref() == Some(SID) {
        PAGE_RGB
    } else {
        [0xff, 0, 0]
    };
    (
        [(header::CONTENT_TYPE, "text/html")],
        format!(
            "<!doctype html><html><body style=\"margin:0;height:100vh;background:#{r:02x}{g:02x}{b:02x}\"></body></html>"
        ),
    )
        .into_response()
}

async fn jnlp(headers: HeaderMap) -> Response {
    let logged_in = cookie(&headers, "SessionCookie").as_deref() == Some(JAVA_KEY)
        && headers.get(header::REFERER).is_some();
    if !logged_in {
        return (StatusCode::FORBIDDEN, "log in first").into_response();
    }
    (
        [(header::CONTENT_TYPE, "application/x-java-jnlp-file")],
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<jnlp spec=\"1.0+\" codebase=\"{base_url}/Java\">\n  <information><title>ironrack test viewer</title><vendor>ironrack</vendor></information>\n  <resources><j2se version=\"1.6+\"/><jar href=\"paint.jar\" main=\"true\"/></resources>\n  <application-desc main-class=\"Paint\"><argument>{session_key}</argument></application-desc>\n</jnlp>\n",
    )
        .into_response()
}

async fn paint_jar(State(b): State<Bmc>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/java-archive")],
        b.jar.as_ref().clone(),
    )
        .into_response()
}

/// A Java program that fills its window with the colour its first
/// argument starts with (the session key the JNLP carries).
fn build_jar(dir: &Path) -> Vec<u8> {
    std::fs::write(
        dir.join("Paint.java"),
        r#"import java.awt.*;
public class Paint {
    public static void main(String[] a) {
        final Color c = new Color(Integer.parseInt(a[0].substring(0, 6), 16));
        Frame f = new Frame("ironrack test viewer");
        f.add(new Canvas() {
            public void paint(Graphics g) { g.setColor(c); g.fillRect(0, 0, getWidth(), getHeight()); }
        });
        f.setBounds(0, 0, 800, 600);
        f.setVisible(true);
    }
}
"#,
    )
    .unwrap();
    let ok = Command::new("javac")
        .args(["--release", "8", "-nowarn", "Paint.java"])
        .current_dir(dir)
        .status()
        .unwrap()
        .success();
    assert!(ok, "javac");
    let ok = Command::new("jar")
        .args(["cf", "paint.jar"])
        .arg("Paint.class")
        .arg("Paint$1.class")
        .current_dir(dir)
        .status()
        .unwrap()
        .success();
    assert!(ok, "jar");
    std::fs::read(dir.join("paint.jar")).unwrap()
}

async fn start_bmc(jar: Vec<u8>) -> String {
    let app = axum::Router::new()
        .route("/cgi/login.cgi", axum::routing::post(form_login))
        .route("/rpc/WEBSES/create.asp", axum::routing::post(json_login))
        .route("/kvm/console.html", axum::routing::get(console_page))
        .route("/Java/jviewer.jnlp", axum::routing::get(jnlp))
        .route("/Java/paint.jar", axum::routing::get(paint_jar))
        .with_state(Bmc {
            jar: std::sync::Arc::new(jar),
        });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    url
}

const TEMPLATES: &str = r#"
templates:
  test-html5:
    login_endpoint: cgi/login.cgi
    user_login_attribute_name: user
    password_login_attribute_name: pass
    html5_endpoint: kvm/console.html
  test-java:
    login_endpoint: rpc/WEBSES/create.asp
    user_login_attribute_name: WEBVAR_USERNAME
    password_login_attribute_name: WEBVAR_PASSWORD
    send_post_data_as_json: True
    extra_login_form_fields: "method:login"
    session_cookie_key: SessionCookie
    download_endpoint: Java/jviewer.jnlp
    java_version: 8u242
    format_jnlp: True
general:
  x_resolution: 800x600
"#;

// ------------------------------------------------------- an RFB viewer

struct Rfb {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    buf: Vec<u8>,
}

impl Rfb {
    async fn read(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            match timeout(Duration::from_secs(30), self.ws.next()).await {
                Ok(Some(Ok(Message::Binary(b)))) => self.buf.extend_from_slice(&b),
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Text(_)))) => {}
                other => panic!("the gateway's stream ended: {other:?}"),
            }
        }
        self.buf.drain(..n).collect()
    }

    async fn send(&mut self, b: &[u8]) {
        self.ws.send(Message::Binary(b.to_vec().into())).await.unwrap();
    }

    /// RFB 3.8 with security None, shared, 32 bpp little-endian xRGB, raw.
    async fn connect(ws_url: &str) -> (Rfb, u16, u16) {
        let mut req = ws_url.into_client_request().unwrap();
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", "binary".parse().unwrap());
        let (ws, _) = tokio_tungstenite::connect_async(req).await.expect("upgrade");
        let mut v = Rfb { ws, buf: Vec::new() };
        assert_eq!(v.read(12).await, b"RFB 003.008\n");
        v.send(b"RFB 003.008\n").await;
        assert_eq!(v.read(2).await, vec![1, 1]);
        v.send(&[1]).await;
        assert_eq!(v.read(4).await, vec![0; 4]);
        v.send(&[1]).await;
        let init = v.read(24).await;
        let w = u16::from_be_bytes([init[0], init[1]]);
        let h = u16::from_be_bytes([init[2], init[3]]);
        let name = u32::from_be_bytes([init[20], init[21], init[22], init[23]]) as usize;
        v.read(name).await;
        v.send(&[0, 0, 0, 0, 32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0])
            .await;
        v.send(&[2, 0, 0, 1, 0, 0, 0, 0]).await;
        (v, w, h)
    }

    /// The whole screen, as `w * h` [r, g, b].
    async fn frame(&mut self, w: u16, h: u16) -> Vec<[u8; 3]> {
        let [wh, wl] = w.to_be_bytes();
        let [hh, hl] = h.to_be_bytes();
        self.send(&[3, 0, 0, 0, 0, 0, wh, wl, hh, hl]).await;
        let mut screen = vec![[0u8; 3]; usize::from(w) * usize::from(h)];
        loop {
            let head = self.read(4).await;
            match head[0] {
                0 => {}
                // Bell or clipboard text from the desktop: skip.
                2 => continue,
                3 => {
                    let rest = self.read(4).await;
                    let n = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
                    self.read(n).await;
                    continue;
                }
                t => panic!("unexpected RFB message {t}"),
            }
            let rects = u16::from_be_bytes([head[2], head[3]]);
            for _ in 0..rects {
                let r = self.read(12).await;
                let f = |i: usize| usize::from(u16::from_be_bytes([r[i], r[i + 1]]));
                let (x, y, rw, rh) = (f(0), f(2), f(4), f(6));
                let enc = i32::from_be_bytes([r[8], r[9], r[10], r[11]]);
                assert_eq!(enc, 0, "raw encoding only");
                let px = self.read(rw * rh * 4).await;
                for row in 0..rh {
                    for col in 0..rw {
                        let p = &px[(row * rw + col) * 4..];
                        screen[(y + row) * usize::from(w) + x + col] = [p[2], p[1], p[0]];
                    }
                }
            }
            return screen;
        }
    }
}

fn near(a: [u8; 3], b: [u8; 3]) -> bool {
    a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 8)
}

/// Reads frames until most of the screen is `rgb`.
async fn wait_for_colour(v: &mut Rfb, w: u16, h: u16, rgb: [u8; 3], what: &str) {
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let screen = v.frame(w, h).await;
        let hits = screen.iter().filter(|p| near(**p, rgb)).count();
        if hits * 2 > screen.len() {
            return;
        }
        let centre = screen[usize::from(h / 2) * usize::from(w) + usize::from(w / 2)];
        assert!(
            Instant::now() < deadline,
            "{what}: {hits} of {} pixels are {rgb:?}; the centre is {centre:?}",
            screen.len()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
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
    s.call(Method::DELETE, &format!("/api/v1/consoles/{id}"), Some(token), None)
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
    if let Some(m) = missing_tools() {
        eprintln!("skipped: desktop sessions need {m}");
        return;
    }
    let work: PathBuf = std::env::temp_dir().join(format!("ironrack-desktop-it-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let bmc = start_bmc(build_jar(&work)).await;
    let templates = work.join("templates");
    std::fs::create_dir_all(&templates).unwrap();
    std::fs::write(templates.join("test.yaml"), TEMPLATES).unwrap();
    let runtime = work.join("desktop");

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
    let add = |name: &str, template: &str, password: &str| {
        json!({"name": name, "site": "local", "bmc": {
            "driver": "fake", "address": "127.0.0.1", "username": "admin", "password": password,
            "console": {"template": template, "web": bmc}}})
    };
    let html5 = s
        .post("/api/v1/servers", &admin, add("web-bmc", "test-html5", "bmc-pass"))
        .await
        .expect(201)["id"]
        .as_i64()
        .unwrap();
    let java = s
        .post("/api/v1/servers", &admin, add("java-bmc", "test-java", "bmc-pass"))
        .await
        .expect(201)["id"]
        .as_i64()
        .unwrap();
    let wrong = s
        .post("/api/v1/servers", &admin, add("wrong-pw", "test-html5", "nope"))
        .await
        .expect(201)["id"]
        .as_i64()
        .unwrap();

    // The BMC refuses the login: a clear error, and nothing started.
    let e = open_desktop(&s, &op, wrong, json!({"kind": "desktop"}))
        .await
        .expect(502);
    assert!(
        e["detail"].as_str().unwrap().contains("HTTP 401"),
        "{e}"
    );
    assert!(ironrack_desktop::processes_of(UID_BASE).is_empty());
    let e = open_desktop(&s, &op, html5, json!({"kind": "desktop", "resolution": "10x10"}))
        .await
        .expect(422);
    assert!(e["detail"].as_str().unwrap().contains("resolution"), "{e}");

    // The web console: auto picks the desktop; Firefox shows the page the
    // BMC serves only with the session cookie of the template's login.
    let started = Instant::now();
    let c = open_desktop(&s, &op, html5, json!({"kind": "auto"}))
        .await
        .expect(201);
    assert_eq!(c["kind"], "desktop", "{c}");
    let (mut v, w, h) = Rfb::connect(c["ws_url"].as_str().unwrap()).await;
    assert_eq!((w, h), (800, 600), "the template file's x_resolution");
    wait_for_colour(&mut v, w, h, PAGE_RGB, "the BMC page in Firefox").await;
    eprintln!("web desktop: first page in {:?}", started.elapsed());
    let home = runtime.join("0");
    let meta = std::fs::metadata(&home).unwrap();
    assert_eq!(
        (std::os::unix::fs::MetadataExt::uid(&meta), meta.permissions().mode() & 0o777),
        (UID_BASE, 0o700)
    );
    let procs = ironrack_desktop::processes_of(UID_BASE);
    assert!(procs.len() >= 4, "Xvfb, openbox, x11vnc, firefox: {procs:?}");
    close_and_check_nothing_left(&s, &op, c["id"].as_str().unwrap(), &runtime).await;

    // The Java console: JSON login, the session from the reply's body, the
    // JNLP formatted with it; javaws runs the BMC's program.
    let started = Instant::now();
    let c = open_desktop(&s, &op, java, json!({"kind": "desktop", "resolution": "1024x768x24"}))
        .await
        .expect(201);
    let (mut v, w, h) = Rfb::connect(c["ws_url"].as_str().unwrap()).await;
    assert_eq!((w, h), (1024, 768), "the request's resolution");
    // The window covers 800x600 of the screen: wait on its centre.
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let screen = v.frame(w, h).await;
        let centre = screen[300 * usize::from(w) + 400];
        if near(centre, JAVA_RGB) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the Java viewer's window did not show; centre {centre:?}; log: {}",
            std::fs::read_to_string(runtime.join("0/viewer.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    eprintln!("java desktop: first window in {:?}", started.elapsed());
    close_and_check_nothing_left(&s, &op, c["id"].as_str().unwrap(), &runtime).await;

    let audit = s.get("/api/v1/audit?limit=100", &admin).await.expect(200);
    assert!(audit.to_string().contains("kind:desktop"), "{audit}");
    // The BMC password never comes back.
    assert!(!s.bodies.lock().unwrap().iter().any(|b| b.contains("bmc-pass")));
    drop(s);
    let _ = std::fs::remove_dir_all(&work);
}

