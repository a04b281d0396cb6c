//! A thin JSON client for the REST API that turns problem responses into errors.

use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::Deserialize;
use serde_json::Value;

pub struct ApiClient {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

/// An RFC 9457 problem document, as the API sends with `application/problem+json`.
#[derive(Debug, Default, Deserialize)]
pub struct Problem {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub detail: Option<String>,
    #[serde(default)]
    pub field: Option<String>,
}

/// An error answer of the API, with the message to show.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}

/// The message shown for a problem: `<detail> (field `f`, HTTP <status>)`, plus a
/// hint to log in on 401.
pub fn problem_message(problem: &Problem, status: StatusCode) -> String {
    let text = problem
        .detail
        .as_deref()
        .or(problem.title.as_deref())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("request failed"));
    let code = problem.status.unwrap_or(status.as_u16());
    let mut msg = match &problem.field {
        Some(field) => format!("{text} (field `{field}`, HTTP {code})"),
        None => format!("{text} (HTTP {code})"),
    };
    if code == 401 {
        msg.push_str("; run `ironrack login`");
    }
    msg
}

impl ApiClient {
    pub fn new(base: &str, token: Option<String>) -> anyhow::Result<ApiClient> {
        match reqwest::Url::parse(base) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {}
            _ => bail!("`{base}` is not an http:// or https:// URL"),
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("ironrack-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(ApiClient {
            base: base.trim_end_matches('/').to_string(),
            token,
            http,
        })
    }

    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// A request to `/api/v1{path}`, with the bearer token when there is one.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let rb = self
            .http
            .request(method, format!("{}/api/v1{path}", self.base));
        match &self.token {
            Some(token) => rb.bearer_auth(token),
            None => rb,
        }
    }

    /// Sends a request; a 2xx body is parsed as JSON (`Null` when empty), anything
    /// else becomes an error with the API's message.
    pub async fn send(&self, rb: RequestBuilder) -> anyhow::Result<Value> {
        let resp = rb.send().await.map_err(|e| self.transport_error(e))?;
        let status = resp.status();
        let is_problem = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/problem+json"));
        let body = resp.bytes().await.map_err(|e| self.transport_error(e))?;
        if status.is_success() {
            if body.is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_slice(&body).context("the API answered with invalid JSON");
        }
        let problem = if is_problem {
            serde_json::from_slice(&body).unwrap_or_default()
        } else {
            // Not a problem document (a proxy, an old server): show the start of the body.
            let text = String::from_utf8_lossy(&body);
            let text = text.trim();
            Problem {
                detail: (!text.is_empty()).then(|| text.chars().take(200).collect()),
                ..Problem::default()
            }
        };
        Err(ApiError {
            status,
            message: problem_message(&problem, status),
        }
        .into())
    }

    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<Value> {
        self.send(self.request(Method::GET, path).query(query))
            .await
    }

    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.send(self.request(Method::POST, path).json(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.send(self.request(Method::PUT, path).json(body)).await
    }

    pub async fn delete(&self, path: &str) -> anyhow::Result<()> {
        self.send(self.request(Method::DELETE, path))
            .await
            .map(drop)
    }

    fn transport_error(&self, e: reqwest::Error) -> anyhow::Error {
        // reqwest's own message is generic ("error sending request"): the root
        // cause ("Connection refused") is what helps.
        let mut cause: &dyn std::error::Error = &e;
        while let Some(next) = cause.source() {
            cause = next;
        }
        if e.is_connect() || e.is_timeout() {
            anyhow!("cannot reach ironrack at {}: {cause}", self.base)
        } else {
            anyhow!("request to {} failed: {cause}", self.base)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(detail: Option<&str>, field: Option<&str>, status: Option<u16>) -> Problem {
        Problem {
            title: Some("Conflict".into()),
            status,
            detail: detail.map(Into::into),
            field: field.map(Into::into),
        }
    }

    #[test]
    fn problem_messages() {
        let p = problem(Some("server name `web-1` is taken"), None, Some(409));
        assert_eq!(
            problem_message(&p, StatusCode::CONFLICT),
            "server name `web-1` is taken (HTTP 409)"
        );
        let p = problem(Some("not a MAC address"), Some("macs[0]"), Some(422));
        assert_eq!(
            problem_message(&p, StatusCode::UNPROCESSABLE_ENTITY),
            "not a MAC address (field `macs[0]`, HTTP 422)"
        );
        // No detail: the title; no status in the body: the HTTP one.
        let p = problem(None, None, None);
        assert_eq!(
            problem_message(&p, StatusCode::CONFLICT),
            "Conflict (HTTP 409)"
        );
        let p = Problem::default();
        assert_eq!(
            problem_message(&p, StatusCode::UNAUTHORIZED),
            "Unauthorized (HTTP 401); run `ironrack login`"
        );
    }

    #[test]
    fn problem_parses_from_api_json() {
        let body = r#"{"type":"about:blank","title":"Bad Request","status":400,"detail":"x","field":"name"}"#;
        let p: Problem = serde_json::from_str(body).unwrap();
        assert_eq!(
            problem_message(&p, StatusCode::BAD_REQUEST),
            "x (field `name`, HTTP 400)"
        );
    }
}
