//! Native HTML5 BMC consoles, OpenBMC style (bmcweb): the BMC serves RFB
//! over its own WebSocket (`/kvm/0`) to a logged-in web session. The gateway
//! logs in (`POST /login` with `{"data": [user, password]}`, answered with a
//! `SESSION` cookie and an `XSRF-TOKEN` cookie), opens the WebSocket with
//! the session cookie and the XSRF token as subprotocol (what bmcweb checks
//! for a cookie session's WebSocket), and logs out when the console session
//! ends (`POST /logout`), so BMC web sessions do not pile up.
//!
//! The cookie and handshake text are plain functions; the I/O is reqwest
//! for login/logout and `WsStream` over TCP or rustls for the WebSocket.
//! Certificates are trusted as for the Redfish driver (`ironrack-redfish`'s
//! `Tls`: Web PKI, a pinned SHA-256, or any).

use std::time::Duration;

use ironrack_redfish::Tls;
pub use reqwest::Url;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use zeroize::Zeroizing;

use crate::wsconn::WsStream;

const TIMEOUT: Duration = Duration::from_secs(15);
/// Largest handshake answer read from the BMC.
const MAX_HEAD: usize = 16 * 1024;

/// Where a BMC's KVM WebSocket is and how to log in to it.
pub struct Html5Target {
    /// `wss://host[:port]/kvm/0` (`ws://` for emulators).
    pub url: Url,
    pub username: String,
    pub password: Zeroizing<String>,
    pub tls: Tls,
}

impl std::fmt::Debug for Html5Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Html5Target")
            .field("url", &self.url.as_str())
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("tls", &self.tls)
            .finish()
    }
}

/// A BMC web session: the `SESSION` cookie and its XSRF token.
pub struct WebSession {
    session: Zeroizing<String>,
    xsrf: Zeroizing<String>,
}

/// The stream under a KVM WebSocket.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub type KvmSocket = WsStream<Box<dyn Io>>;

impl crate::wsconn::Stream for Box<dyn Io> {}

/// The web session in a login answer's `Set-Cookie` values.
pub fn session_cookies<'a>(
    set_cookie: impl IntoIterator<Item = &'a str>,
) -> Result<WebSession, String> {
    let (mut session, mut xsrf) = (None, None);
    for line in set_cookie {
        let pair = line.split(';').next().unwrap_or_default().trim();
        match pair.split_once('=') {
            Some(("SESSION", v)) if !v.is_empty() => session = Some(v.to_owned()),
            Some(("XSRF-TOKEN", v)) if !v.is_empty() => xsrf = Some(v.to_owned()),
            _ => {}
        }
    }
    match (session, xsrf) {
        (Some(s), Some(x)) => Ok(WebSession {
            session: Zeroizing::new(s),
            xsrf: Zeroizing::new(x),
        }),
        _ => Err(
            "the BMC's /login answer set no SESSION and XSRF-TOKEN cookies (not an OpenBMC-style web server?)"
                .into(),
        ),
    }
}

/// The client's upgrade request for `url` with the session's credentials.
pub fn upgrade_request(url: &Url, key: &str, web: &WebSession) -> String {
    let host = url.host_str().unwrap_or_default();
    let authority = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    };
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    let origin = if url.scheme() == "wss" {
        "https"
    } else {
        "http"
    };
    format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: {}\r\n\
         Cookie: SESSION={}\r\nOrigin: {origin}://{authority}\r\n\r\n",
        web.xsrf.as_str(),
        web.session.as_str(),
    )
}

/// Checks the BMC's answer to the upgrade (its head, up to the blank line).
pub fn check_upgrade(head: &str, key: &str) -> Result<(), String> {
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("101") {
        return Err(format!("the BMC refused the KVM WebSocket: {status}"));
    }
    let want = crate::ws::accept_key(key.as_bytes());
    let accept = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("sec-websocket-accept"))
        .map(|(_, v)| v.trim());
    if accept != Some(want.as_str()) {
        return Err("the BMC's WebSocket answer has a wrong Sec-WebSocket-Accept".into());
    }
    Ok(())
}

fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    if let Some(m) = ironrack_redfish::tls::find_pin_mismatch(e) {
        return m;
    }
    let mut parts: Vec<String> = Vec::new();
    let mut cur = Some(e);
    while let Some(err) = cur {
        let s = err.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = err.source();
    }
    parts.join(": ")
}

impl Html5Target {
    /// The BMC's web origin (`https://host:port`).
    fn origin(&self) -> Result<Url, String> {
        let mut u = self.url.clone();
        let scheme = if self.url.scheme() == "wss" {
            "https"
        } else {
            "http"
        };
        u.set_scheme(scheme)
            .map_err(|_| format!("cannot derive the BMC's origin from {}", self.url))?;
        u.set_path("/");
        u.set_query(None);
        Ok(u)
    }

    fn http(&self) -> Result<reqwest::Client, String> {
        let mut b = reqwest::Client::builder()
            .timeout(TIMEOUT)
            // The credentials go to the BMC only.
            .redirect(reqwest::redirect::Policy::none());
        if let Some(tls) =
            ironrack_redfish::tls::client_config(self.tls).map_err(|e| e.to_string())?
        {
            b = b.use_preconfigured_tls(tls);
        }
        b.build()
            .map_err(|e| format!("HTTP client setup: {}", chain(&e)))
    }

    /// `POST /login`: a new BMC web session.
    pub async fn login(&self) -> Result<WebSession, String> {
        let url = self.origin()?.join("/login").map_err(|e| e.to_string())?;
        let body = serde_json::json!({ "data": [self.username, self.password.as_str()] });
        let r = self
            .http()?
            .post(url.clone())
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("cannot log in to the BMC at {url}: {}", chain(&e)))?;
        let status = r.status();
        if status.as_u16() == 401 || status.as_u16() == 403 {
            return Err(format!(
                "the BMC refused the credentials ({status} on /login)"
            ));
        }
        if !status.is_success() {
            return Err(format!("the BMC's /login answered {status}"));
        }
        session_cookies(
            r.headers()
                .get_all(reqwest::header::SET_COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok()),
        )
    }

    /// `POST /logout` of a web session (the XSRF token as header, as
    /// bmcweb requires of a cookie session's POST).
    pub async fn logout(&self, web: &WebSession) -> Result<(), String> {
        let url = self.origin()?.join("/logout").map_err(|e| e.to_string())?;
        let r = self
            .http()?
            .post(url)
            .header(
                reqwest::header::COOKIE,
                format!("SESSION={}", web.session.as_str()),
            )
            .header("X-XSRF-TOKEN", web.xsrf.as_str())
            .json(&serde_json::json!({ "data": [] }))
            .send()
            .await
            .map_err(|e| format!("BMC logout: {}", chain(&e)))?;
        if r.status().is_success() {
            Ok(())
        } else {
            Err(format!("BMC logout answered {}", r.status()))
        }
    }

    /// Opens the KVM WebSocket with the web session's credentials.
    pub async fn connect(&self, web: &WebSession, max_message: usize) -> Result<KvmSocket, String> {
        tokio::time::timeout(TIMEOUT, self.connect_now(web, max_message))
            .await
            .map_err(|_| format!("the BMC's KVM WebSocket at {} did not answer", self.url))?
    }

    async fn connect_now(&self, web: &WebSession, max_message: usize) -> Result<KvmSocket, String> {
        let host = self
            .url
            .host_str()
            .ok_or_else(|| format!("{}: no host", self.url))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let tls = match self.url.scheme() {
            "wss" => true,
            "ws" => false,
            other => return Err(format!("{}: scheme {other} is not ws or wss", self.url)),
        };
        let port = self.url.port().unwrap_or(if tls { 443 } else { 80 });
        let tcp = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| format!("cannot reach the BMC at {host}:{port}: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let mut io: Box<dyn Io> = if tls {
            let cfg = ironrack_redfish::tls::rustls_config(self.tls).map_err(|e| e.to_string())?;
            let name = rustls::pki_types::ServerName::try_from(host.clone())
                .map_err(|e| format!("{host}: {e}"))?;
            let s = tokio_rustls::TlsConnector::from(std::sync::Arc::new(cfg))
                .connect(name, tcp)
                .await
                .map_err(|e| {
                    let why = chain(&e);
                    if why.contains("fingerprint") {
                        format!("TLS to the BMC: {why}")
                    } else {
                        format!("TLS to the BMC: {why} (set option tls_fingerprint or insecure_tls for a self-signed certificate)")
                    }
                })?;
            Box::new(s)
        } else {
            Box::new(tcp)
        };
        let key = {
            use base64::Engine;
            let mut k = [0u8; 16];
            rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut k);
            base64::engine::general_purpose::STANDARD.encode(k)
        };
        let req = upgrade_request(&self.url, &key, web);
        io.write_all(req.as_bytes())
            .await
            .map_err(|e| format!("BMC KVM WebSocket: {e}"))?;
        let mut got = Vec::new();
        let mut buf = [0u8; 2048];
        let end = loop {
            if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if got.len() > MAX_HEAD {
                return Err("the BMC's WebSocket answer is too long".into());
            }
            let n = io
                .read(&mut buf)
                .await
                .map_err(|e| format!("BMC KVM WebSocket: {e}"))?;
            if n == 0 {
                return Err("the BMC closed the KVM WebSocket during its handshake".into());
            }
            got.extend_from_slice(&buf[..n]);
        };
        check_upgrade(&String::from_utf8_lossy(&got[..end]), &key)?;
        Ok(WsStream::client(io, &got[end..], max_message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web() -> WebSession {
        session_cookies([
            "XSRF-TOKEN=x5rf; SameSite=Strict; Secure",
            "SESSION=s3ss; SameSite=Strict; Secure; HttpOnly",
        ])
        .unwrap()
    }

    #[test]
    fn cookies_of_a_login() {
        let w = web();
        assert_eq!((w.session.as_str(), w.xsrf.as_str()), ("s3ss", "x5rf"));
        for bad in [
            vec!["SESSION=a"],
            vec!["XSRF-TOKEN=b"],
            vec!["SESSION=; x", "XSRF-TOKEN=b"],
            vec![],
        ] {
            assert!(session_cookies(bad.clone()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_upgrade_carries_the_cookie_and_the_token_as_subprotocol() {
        let url = Url::parse("wss://10.0.0.5:8443/kvm/0").unwrap();
        let r = upgrade_request(&url, "dGhlIHNhbXBsZSBub25jZQ==", &web());
        assert!(
            r.starts_with("GET /kvm/0 HTTP/1.1\r\nHost: 10.0.0.5:8443\r\n"),
            "{r}"
        );
        assert!(r.contains("\r\nSec-WebSocket-Protocol: x5rf\r\n"), "{r}");
        assert!(r.contains("\r\nCookie: SESSION=s3ss\r\n"), "{r}");
        assert!(r.contains("\r\nOrigin: https://10.0.0.5:8443\r\n"), "{r}");
        assert!(r.ends_with("\r\n\r\n"));
        let ok = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nsec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
        assert_eq!(check_upgrade(ok, "dGhlIHNhbXBsZSBub25jZQ=="), Ok(()));
        let e = check_upgrade("HTTP/1.1 401 Unauthorized\r\n\r\n", "k").unwrap_err();
        assert!(e.contains("401"), "{e}");
        assert!(check_upgrade(ok, "another-key").is_err());
    }

    #[test]
    fn the_password_is_not_in_debug_output() {
        let t = Html5Target {
            url: Url::parse("wss://bmc/kvm/0").unwrap(),
            username: "root".into(),
            password: Zeroizing::new("0penBmc".into()),
            tls: Tls::Verify,
        };
        assert!(!format!("{t:?}").contains("0penBmc"));
        assert_eq!(t.origin().unwrap().as_str(), "https://bmc/");
    }
}
