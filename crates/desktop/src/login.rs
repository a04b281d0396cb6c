//! The BMC web login of a template, as nojava's `get_java_viewer` does it:
//! POST the user and password fields (form or JSON) to `login_endpoint`,
//! keep the session cookies (or, when the BMC sets none, a `…session…:
//! 'value'` found in the reply body), then GET the JNLP with them and the
//! login URL as Referer. Redirects are followed by hand, only on the BMC's
//! origin, so no cookie or credential goes elsewhere. With the template's
//! `logout_endpoint` (ironrack's addition), `Logout` ends that web session
//! when the desktop closes, so the BMC's few web session slots do not fill
//! up with sessions waiting for their timeout.
//!
//! The parsing and substitution helpers are pure; `login` is the reqwest
//! layer.

use std::time::Duration;

use reqwest::Url;
use reqwest::header::{COOKIE, LOCATION, REFERER, SET_COOKIE};
use sha2::{Digest, Sha256};

use crate::template::{Template, Viewer};

/// A cookie the BMC set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cookie {
    pub name: String,
    pub value: String,
    pub path: String,
    pub secure: bool,
    pub http_only: bool,
}

impl Cookie {
    /// One `Set-Cookie` header; `None` if it has no `name=value`.
    pub fn parse_set_cookie(header: &str) -> Option<Cookie> {
        let mut parts = header.split(';');
        let (name, value) = parts.next()?.split_once('=')?;
        let name = name.trim();
        if name.is_empty() {
            return None;
        }
        let mut c = Cookie {
            name: name.to_owned(),
            value: value.trim().trim_matches('"').to_owned(),
            path: "/".into(),
            secure: false,
            http_only: false,
        };
        for attr in parts {
            let (k, v) = attr.split_once('=').unwrap_or((attr, ""));
            match k.trim().to_ascii_lowercase().as_str() {
                "path" if v.trim().starts_with('/') => c.path = v.trim().to_owned(),
                "secure" => c.secure = true,
                "httponly" => c.http_only = true,
                _ => {}
            }
        }
        Some(c)
    }

    fn looks_like_session(&self) -> bool {
        self.name.contains("session") || self.name.contains("SESSION")
    }
}

/// nojava's fallback for BMCs that set the session in JavaScript: the
/// first `name = 'value'` (or `name: 'value'`) whose name contains
/// `session` or `SESSION` and whose value is word characters.
pub fn scan_body_for_session(body: &str) -> Option<(String, String)> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    for line in body.lines() {
        let b = line.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if !word(b[i] as char) {
                i += 1;
                continue;
            }
            let start = i;
            while i < b.len() && word(b[i] as char) {
                i += 1;
            }
            let name = &line[start..i];
            if !(name.contains("session") || name.contains("SESSION")) {
                continue;
            }
            let rest = line[i..].strip_prefix('\'').unwrap_or(&line[i..]);
            let rest = rest.trim_start();
            let Some(rest) = rest.strip_prefix([':', '=']) else {
                continue;
            };
            let Some(rest) = rest.trim_start().strip_prefix('\'') else {
                continue;
            };
            let end = rest.find(|c: char| !word(c)).unwrap_or(rest.len());
            if end > 0 && rest[end..].starts_with('\'') {
                return Some((name.to_owned(), rest[..end].to_owned()));
            }
        }
    }
    None
}

/// Python's `str.format(base_url=…, session_key=…)` on a JNLP, as nojava's
/// `format_jnlp` does: `{{`/`}}` are literal braces, any other field is an
/// error.
pub fn format_jnlp(text: &str, base_url: &str, session_key: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(t) = tail.strip_prefix("{{") {
            out.push('{');
            rest = t;
        } else if let Some(t) = tail.strip_prefix("}}") {
            out.push('}');
            rest = t;
        } else if let Some(t) = tail.strip_prefix('{') {
            let end = t
                .find('}')
                .ok_or("the JNLP has a `{` without `}` (format_jnlp)")?;
            match &t[..end] {
                "base_url" => out.push_str(base_url),
                "session_key" => out.push_str(session_key),
                other => {
                    return Err(format!(
                        "the JNLP has the placeholder {{{other}}}; format_jnlp knows only {{base_url}} and {{session_key}}"
                    ));
                }
            }
            rest = &t[end + 1..];
        } else {
            return Err("the JNLP has a single `}` (format_jnlp)".into());
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// What the login produced: how to start the session's viewer.
#[derive(Debug, Clone)]
pub struct Login {
    /// The BMC's origin, e.g. `https://10.0.0.5`.
    pub origin: Url,
    pub cookies: Vec<Cookie>,
    /// SHA-256 of the BMC's TLS certificate when it was accepted without
    /// verification (`allow_insecure_ssl`), for the browser's override.
    pub insecure_cert_sha256: Option<[u8; 32]>,
    pub launch: Launch,
    /// How to end this web session, if the template says.
    pub logout: Option<Logout>,
}

/// The request that ends one BMC web session: the template's logout
/// endpoint with the login's cookies, on the login's client (same TLS
/// trust, no redirects followed).
#[derive(Clone)]
pub struct Logout {
    http: reqwest::Client,
    method: reqwest::Method,
    url: Url,
    cookies: String,
}

impl std::fmt::Debug for Logout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The cookies are the session: not for logs.
        write!(f, "Logout({} {})", self.method, self.url)
    }
}

impl Logout {
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Sends it; the BMC's status, or why it could not be sent.
    pub async fn send(&self) -> Result<u16, String> {
        let resp = self
            .http
            .request(self.method.clone(), self.url.clone())
            .header(COOKIE, &self.cookies)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map_err(|e| format!("logout at {}: {}", self.url, error_chain(&e)))?;
        let status = resp.status();
        if status.is_success() || status.is_redirection() {
            Ok(status.as_u16())
        } else {
            Err(format!("logout at {} answered HTTP {status}", self.url))
        }
    }
}

#[derive(Debug, Clone)]
pub enum Launch {
    Browser { url: Url },
    Jnlp { content: String },
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("the BMC web UI at {url} is unreachable: {detail}")]
    Unreachable { url: String, detail: String },
    #[error(
        "login to {url} was not successful: HTTP {status} (check the BMC user and password, and the template's login fields)"
    )]
    Refused { url: String, status: u16 },
    #[error(
        "login to {url} answered 200 but set no session cookie (the template may need session_cookie_key)"
    )]
    NoSession { url: String },
    #[error("downloading the JNLP from {url} failed: HTTP {status}")]
    Download { url: String, status: u16 },
    #[error("{0}")]
    Jnlp(String),
    #[error("{url} redirects away from the BMC (to {to}); refused")]
    Redirect { url: String, to: String },
}

/// The BMC web base: `http(s)://host[:port]`, nothing after.
pub fn parse_origin(s: &str) -> Result<Url, String> {
    let u = Url::parse(s).map_err(|e| format!("`{s}` is not a URL: {e}"))?;
    let ok = matches!(u.scheme(), "http" | "https")
        && u.host_str().is_some()
        && u.path() == "/"
        && u.query().is_none()
        && u.username().is_empty()
        && u.password().is_none();
    if !ok {
        return Err(format!(
            "`{s}` is not a BMC web origin: use http(s)://host[:port] with no path"
        ));
    }
    Ok(u)
}

fn endpoint(origin: &Url, e: &str) -> Result<Url, LoginError> {
    origin
        .join(e.trim_start_matches('/'))
        .map_err(|err| LoginError::Jnlp(format!("endpoint `{e}`: {err}")))
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// The cookie jar of one login, by name.
#[derive(Default)]
struct Jar(Vec<Cookie>);

impl Jar {
    fn take(&mut self, resp: &reqwest::Response) {
        for h in resp.headers().get_all(SET_COOKIE) {
            if let Some(c) = h.to_str().ok().and_then(Cookie::parse_set_cookie) {
                self.0.retain(|o| o.name != c.name);
                if !c.value.is_empty() {
                    self.0.push(c);
                }
            }
        }
    }

    fn header(&self) -> String {
        self.0
            .iter()
            .map(|c| format!("{}={}", c.name, c.value))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

const MAX_REDIRECTS: usize = 5;

/// Logs in with `template` at `origin` and fetches what the viewer needs.
pub async fn login(
    template: &Template,
    origin: &Url,
    user: &str,
    password: &str,
) -> Result<Login, LoginError> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .danger_accept_invalid_certs(template.allow_insecure_ssl)
        .tls_info(true)
        .timeout(Duration::from_secs(20))
        .build()
        .map_err(|e| LoginError::Unreachable {
            url: origin.to_string(),
            detail: e.to_string(),
        })?;
    let unreachable = |url: &Url, e: reqwest::Error| LoginError::Unreachable {
        url: url.to_string(),
        detail: error_chain(&e),
    };
    let mut jar = Jar::default();
    let mut cert = None;
    let mut referer = None;
    if !template.skip_login {
        let url = endpoint(origin, &template.login_endpoint)?;
        let user = if user.is_empty() {
            template.login_user.as_str()
        } else {
            user
        };
        let mut fields = vec![
            (template.user_field.clone(), user.to_owned()),
            (template.password_field.clone(), password.to_owned()),
        ];
        fields.extend(template.extra_login_fields.iter().cloned());
        let req = http.post(url.clone());
        let req = if template.send_post_data_as_json {
            let map: serde_json::Map<String, serde_json::Value> = fields
                .into_iter()
                .map(|(k, v)| (k, serde_json::Value::String(v)))
                .collect();
            req.json(&map)
        } else {
            req.form(&fields)
        };
        let mut resp = req.send().await.map_err(|e| unreachable(&url, e))?;
        cert = peer_cert(&resp);
        jar.take(&resp);
        let mut at = url.clone();
        for _ in 0..MAX_REDIRECTS {
            if !resp.status().is_redirection() {
                break;
            }
            let Some(next) = resp
                .headers()
                .get(LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| at.join(l).ok())
            else {
                break;
            };
            if !same_origin(&next, origin) {
                return Err(LoginError::Redirect {
                    url: at.to_string(),
                    to: next.to_string(),
                });
            }
            resp = http
                .get(next.clone())
                .header(COOKIE, jar.header())
                .send()
                .await
                .map_err(|e| unreachable(&next, e))?;
            jar.take(&resp);
            at = next;
        }
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        if status == 200
            && !jar.0.iter().any(Cookie::looks_like_session)
            && let Some((name, value)) = scan_body_for_session(&body)
        {
            let name = template.session_cookie_key.clone().unwrap_or(name);
            jar.0.retain(|c| c.name != name);
            jar.0.push(Cookie {
                name,
                value,
                path: "/".into(),
                secure: origin.scheme() == "https",
                http_only: false,
            });
        }
        if status != 200 {
            return Err(LoginError::Refused {
                url: url.to_string(),
                status,
            });
        }
        if jar.0.is_empty() {
            return Err(LoginError::NoSession {
                url: url.to_string(),
            });
        }
        referer = Some(url);
    }
    let logout = match &template.logout {
        Some(spec) if !jar.0.is_empty() => Some(Logout {
            http: http.clone(),
            method: reqwest::Method::from_bytes(spec.method.as_bytes())
                .map_err(|e| LoginError::Jnlp(format!("logout_method: {e}")))?,
            url: endpoint(origin, &spec.endpoint)?,
            cookies: jar.header(),
        }),
        _ => None,
    };
    let launch = viewer(template, origin, &http, &jar, referer.as_ref(), &mut cert).await;
    let launch = match launch {
        Ok(l) => l,
        Err(e) => {
            // Logged in for nothing: end that session now.
            if let Some(l) = &logout
                && let Err(le) = l.send().await
            {
                tracing::warn!(error = %le, "BMC web logout failed");
            }
            return Err(e);
        }
    };
    Ok(Login {
        origin: origin.clone(),
        cookies: jar.0,
        logout,
        insecure_cert_sha256: if template.allow_insecure_ssl {
            cert
        } else {
            None
        },
        launch,
    })
}

/// What the viewer needs once logged in: the console page's URL, or the
/// JNLP fetched with the session.
async fn viewer(
    template: &Template,
    origin: &Url,
    http: &reqwest::Client,
    jar: &Jar,
    referer: Option<&Url>,
    cert: &mut Option<[u8; 32]>,
) -> Result<Launch, LoginError> {
    let unreachable = |url: &Url, e: reqwest::Error| LoginError::Unreachable {
        url: url.to_string(),
        detail: error_chain(&e),
    };
    Ok(match &template.viewer {
        Viewer::Html5 { endpoint: e } => Launch::Browser {
            url: endpoint(origin, e)?,
        },
        Viewer::Java {
            download_endpoint,
            format_jnlp: format,
            ..
        } => {
            let url = endpoint(origin, download_endpoint)?;
            let mut req = http.get(url.clone()).header(COOKIE, jar.header());
            if let Some(r) = referer {
                req = req.header(REFERER, r.as_str());
            }
            let resp = req.send().await.map_err(|e| unreachable(&url, e))?;
            if cert.is_none() {
                *cert = peer_cert(&resp);
            }
            let status = resp.status().as_u16();
            if status != 200 {
                return Err(LoginError::Download {
                    url: url.to_string(),
                    status,
                });
            }
            let mut content = resp.text().await.map_err(|e| unreachable(&url, e))?;
            if *format {
                let key = template
                    .session_cookie_key
                    .as_deref()
                    .and_then(|k| jar.0.iter().find(|c| c.name == k))
                    .map(|c| c.value.clone())
                    .unwrap_or_default();
                let base = origin.as_str().trim_end_matches('/');
                content = format_jnlp(&content, base, &key).map_err(LoginError::Jnlp)?;
            }
            Launch::Jnlp { content }
        }
    })
}

/// An error and its causes (reqwest's own text hides a certificate
/// refusal).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    if text.contains("certificate") {
        text.push_str(
            " (if the BMC's certificate cannot be verified, the template needs allow_insecure_ssl: True)",
        );
    }
    text
}

fn peer_cert(resp: &reqwest::Response) -> Option<[u8; 32]> {
    resp.extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|t| t.peer_certificate())
        .map(|der| Sha256::digest(der).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_cookie_headers() {
        let c = Cookie::parse_set_cookie("SID=abc123; Path=/cgi; Secure; HttpOnly; SameSite=Lax")
            .unwrap();
        assert_eq!(
            c,
            Cookie {
                name: "SID".into(),
                value: "abc123".into(),
                path: "/cgi".into(),
                secure: true,
                http_only: true
            }
        );
        assert_eq!(Cookie::parse_set_cookie("x=\"q\"").unwrap().value, "q");
        assert!(Cookie::parse_set_cookie("novalue").is_none());
        assert!(Cookie::parse_set_cookie("=v").is_none());
    }

    #[test]
    fn session_in_the_body_as_nojava_finds_it() {
        let body = "<script>\nvar x = 1;\n  'SESSION_COOKIE' : 'a1B2_c3' ,\n</script>";
        assert_eq!(
            scan_body_for_session(body),
            Some(("SESSION_COOKIE".into(), "a1B2_c3".into()))
        );
        assert_eq!(
            scan_body_for_session("document.cookie; mysession='zz9';"),
            Some(("mysession".into(), "zz9".into()))
        );
        assert_eq!(
            scan_body_for_session("session = \"double\"; other='x'"),
            None
        );
        assert_eq!(scan_body_for_session(""), None);
    }

    #[test]
    fn jnlp_formatting_is_pythons_str_format() {
        let j = "<jnlp codebase=\"{base_url}\"><argument>{session_key}</argument>{{x}}</jnlp>";
        assert_eq!(
            format_jnlp(j, "https://bmc", "K1").unwrap(),
            "<jnlp codebase=\"https://bmc\"><argument>K1</argument>{x}</jnlp>"
        );
        assert!(
            format_jnlp("{other}", "b", "k")
                .unwrap_err()
                .contains("{other}")
        );
        assert!(format_jnlp("a { b", "b", "k").is_err());
        assert!(format_jnlp("a } b", "b", "k").is_err());
    }

    #[test]
    fn origins_and_endpoints_stay_on_the_bmc() {
        let o = parse_origin("https://10.0.0.5").unwrap();
        assert_eq!(
            endpoint(&o, "cgi/url_redirect.cgi?url_name=ikvm")
                .unwrap()
                .as_str(),
            "https://10.0.0.5/cgi/url_redirect.cgi?url_name=ikvm"
        );
        assert_eq!(
            endpoint(&parse_origin("http://127.0.0.1:8080/").unwrap(), "/a/b")
                .unwrap()
                .as_str(),
            "http://127.0.0.1:8080/a/b"
        );
        for bad in [
            "ftp://x",
            "https://h/path",
            "https://u:p@h",
            "h:80",
            "https://h/?q=1",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad}");
        }
        assert!(same_origin(
            &o,
            &Url::parse("https://10.0.0.5:443/x").unwrap()
        ));
        assert!(!same_origin(&o, &Url::parse("http://10.0.0.5/x").unwrap()));
    }
}
