//! INVAPI (HOSTKEY's panel API) compatibility: `POST /eq.php` and
//! `eq_callback.php`, so hosters' existing scripts work unchanged.
//!
//! A translation layer only: each action calls the `/api/v1` handler that
//! does the same thing (power, console open/close) with the same caller,
//! PIN check and visibility rules, and re-shapes its answer. There is no
//! second permission model here.
//!
//! Actions → ironrack:
//! - `on` → power `on`; `off` → power `soft` (ACPI shutdown); `hard_off` →
//!   power `off`; `reboot` → power `reset` (hard reset); `status` → power
//!   `status`. These answer with a `callback` key for `eq_callback.php`.
//! - `novnc` → `POST /api/v1/servers/{id}/console` with kind `auto`,
//!   answered at once with the console URL; `stop_novnc` closes the
//!   caller's open console sessions on the server.
//!
//! Callback keys are 128 random bits (32 hex digits), stored only as their
//! SHA-256 with the task id: the check needs no token, so a key must be
//! unguessable, and a table (unlike a key derived from the task id) lets the
//! key be deleted after its first final answer.

use std::collections::HashMap;

use axum::Form;
use axum::body::Body;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ironrack_core::{PowerAction, TaskState};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::Source;
use crate::audit::AuditNote;
use crate::auth::Caller;
use crate::dto::{ConsoleRequest, PowerRequest};
use crate::problem::ApiJson;
use crate::{AppState, Problem};

pub const EQ_PATH: &str = "/eq.php";
pub const CALLBACK_PATH: &str = "/eq_callback.php";

const ACTIONS: &str = "on, off, hard_off, reboot, status, novnc, stop_novnc";

pub fn router() -> axum::Router<AppState> {
    axum::Router::new()
        .route(EQ_PATH, axum::routing::post(eq))
        .route(CALLBACK_PATH, axum::routing::get(check).post(check))
}

type Fields = HashMap<String, String>;

/// An INVAPI error: `{"code":-1,"message":...}` with an HTTP status.
struct Refusal {
    status: StatusCode,
    message: String,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (
            self.status,
            axum::Json(json!({ "code": -1, "message": self.message })),
        )
            .into_response()
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> Refusal {
    Refusal {
        status,
        message: message.into(),
    }
}

fn from_problem(p: Problem) -> Refusal {
    error(
        StatusCode::from_u16(p.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        p.detail,
    )
}

/// Lets the form's `token` field authenticate like a bearer token: runs
/// before the caller is resolved (so audit sees the caller too). An
/// `Authorization` header, when sent, wins.
pub async fn token_from_form(req: Request, next: Next) -> Response {
    let form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if req.method() != Method::POST
        || req.uri().path() != EQ_PATH
        || !form
        || req.headers().contains_key(header::AUTHORIZATION)
    {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, crate::BODY_LIMIT).await else {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the form is larger than {} bytes", crate::BODY_LIMIT),
        )
        .into_response();
    };
    let token = form_urlencoded_field(&bytes, "token").await;
    if let Some(value) = token.and_then(|t| HeaderValue::from_str(&format!("Bearer {t}")).ok()) {
        parts.headers.insert(header::AUTHORIZATION, value);
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

async fn form_urlencoded_field(bytes: &[u8], name: &str) -> Option<String> {
    let req = Request::builder()
        .method(Method::POST)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(bytes.to_vec()))
        .ok()?;
    // Parsed the same way the handler parses it.
    let Form(fields) = Form::<Fields>::from_request(req, &()).await.ok()?;
    fields.get(name).filter(|t| !t.is_empty()).cloned()
}

fn field<'a>(f: &'a Fields, name: &str) -> Result<&'a str, Refusal> {
    f.get(name)
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            error(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("missing field `{name}`"),
            )
        })
}

fn server_id(f: &Fields) -> Result<i64, Refusal> {
    let id = field(f, "id")?;
    id.parse().map_err(|_| {
        error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("field `id`: `{id}` is not a server id (a number)"),
        )
    })
}

/// The power action an INVAPI action stands for.
fn power_action(action: &str) -> Option<PowerAction> {
    Some(match action {
        "on" => PowerAction::On,
        "off" => PowerAction::Soft,
        "hard_off" => PowerAction::Off,
        "reboot" => PowerAction::Reset,
        "status" => PowerAction::Status,
        _ => return None,
    })
}

/// A handler's answer: its JSON body on success, else INVAPI's error.
async fn json_of(resp: Response) -> Result<Value, Refusal> {
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if status.is_success() {
        Ok(value)
    } else {
        let message = value["detail"]
            .as_str()
            .unwrap_or("the request failed")
            .to_owned();
        Err(error(status, message))
    }
}

async fn eq(
    State(state): State<AppState>,
    caller: Result<Caller, Problem>,
    source: Source,
    headers: HeaderMap,
    form: Result<Form<Fields>, axum::extract::rejection::FormRejection>,
) -> Result<Response, Refusal> {
    let Ok(Form(fields)) = form else {
        return Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the fields form-encoded (Content-Type: application/x-www-form-urlencoded); multipart is not accepted",
        ));
    };
    let caller = match caller {
        Ok(c) => c,
        Err(_) if !fields.contains_key("token") && !headers.contains_key(header::AUTHORIZATION) => {
            return Err(error(
                StatusCode::UNAUTHORIZED,
                "missing field `token` (an ironrack API or session token)",
            ));
        }
        Err(p) => return Err(from_problem(p)),
    };
    let action = match field(&fields, "action") {
        Ok(a) => a.to_owned(),
        Err(r) => return Err(r),
    };
    match action.as_str() {
        "novnc" => novnc(&state, caller, source, headers, &fields).await,
        "stop_novnc" => stop_novnc(&state, caller, source, &fields).await,
        a => match power_action(a) {
            Some(p) => power(&state, caller, source, headers, &fields, a, p).await,
            None => Err(error(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("unknown action `{a}`: supported are {ACTIONS}"),
            )),
        },
    }
}

fn pin(f: &Fields) -> Option<String> {
    f.get("pin").filter(|p| !p.is_empty()).cloned()
}

async fn power(
    state: &AppState,
    caller: Caller,
    source: Source,
    headers: HeaderMap,
    f: &Fields,
    action: &str,
    power: PowerAction,
) -> Result<Response, Refusal> {
    let id = server_id(f)?;
    let resp = super::servers::power(
        State(state.clone()),
        caller,
        source,
        Path(id),
        headers,
        ApiJson(PowerRequest {
            action: power,
            pin: pin(f),
        }),
    )
    .await
    .into_response();
    let task = json_of(resp).await?;
    let task_id = task["id"]
        .as_i64()
        .ok_or_else(|| from_problem(Problem::internal()))?;
    let (key, digest) = new_key();
    state
        .store
        .create_invapi_callback(&digest, task_id, action)
        .await
        .map_err(|e| from_problem(e.into()))?;
    // The power handler wrote the audit entry with the task.
    Ok((
        AuditNote::recorded(),
        axum::Json(json!({ "result": "OK", "action": action, "callback": key })),
    )
        .into_response())
}

async fn novnc(
    state: &AppState,
    caller: Caller,
    source: Source,
    headers: HeaderMap,
    f: &Fields,
) -> Result<Response, Refusal> {
    let id = server_id(f)?;
    let white_ip = match f
        .get("white_ip")
        .map(|w| w.trim())
        .filter(|w| !w.is_empty())
    {
        Some(w) => Some(w.parse::<std::net::IpAddr>().map_err(|_| {
            error(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("field `white_ip`: `{w}` is not an IP address"),
            )
        })?),
        None => None,
    };
    let resp = super::consoles::open(
        State(state.clone()),
        caller.clone(),
        source,
        Path(id),
        headers,
        ApiJson(ConsoleRequest {
            kind: "auto".into(),
            close_url: None,
            view_only: false,
            pin: pin(f),
            resolution: None,
            allowed_ip: white_ip.map(|ip| ip.to_string()),
        }),
    )
    .await
    .into_response();
    let c = json_of(resp).await?;
    if let Some(ip) = white_ip {
        // Enforced by the gateway (the session only admits this address);
        // recorded here in INVAPI's own terms.
        let entry = ironrack_store::NewAudit {
            user_id: Some(caller.user.id),
            username: &caller.user.username,
            tenant_id: caller.user.tenant_id,
            action: "console.white_ip",
            object_type: "console",
            object_id: c["id"].as_str().map(str::to_owned),
            source: &ip.to_string(),
            result: "ok",
            detail: Some(format!("server:{id} white_ip:{ip}")),
        };
        if let Err(e) = state.store.record_audit(&entry).await {
            tracing::warn!(error = %e, "could not record an INVAPI white_ip");
        }
    }
    Ok((
        AuditNote::recorded(),
        axum::Json(json!({
            "result": "OK",
            "action": "novnc",
            "url": c["url"],
            "ws_url": c["ws_url"],
            "kind": c["kind"],
            "session": c["id"],
            "expires_at": c["expires_at"],
        })),
    )
        .into_response())
}

async fn stop_novnc(
    state: &AppState,
    caller: Caller,
    source: Source,
    f: &Fields,
) -> Result<Response, Refusal> {
    let id = server_id(f)?;
    // Same answer as the other actions for a server the caller cannot see.
    super::servers::visible_server(state, &caller, id)
        .await
        .map_err(from_problem)?;
    let open = state
        .store
        .list_console_sessions(caller.tenant_scope(), false, 1000)
        .await
        .map_err(|e| from_problem(e.into()))?;
    let mine: Vec<i64> = open
        .iter()
        .filter(|c| c.server_id == id && c.user_id == Some(caller.user.id) && c.state != "closed")
        .map(|c| c.id)
        .collect();
    let mut closed = 0;
    for session in &mine {
        let resp = super::consoles::kill(
            State(state.clone()),
            caller.clone(),
            Source(source.0),
            Path(session.to_string()),
        )
        .await
        .into_response();
        // A session that closed meanwhile (409) is as good as closed.
        if resp.status().is_success() || resp.status() == StatusCode::CONFLICT {
            closed += 1;
        } else {
            return Err(json_of(resp).await.err().unwrap_or_else(|| {
                error(StatusCode::BAD_GATEWAY, "could not close a console session")
            }));
        }
    }
    Ok((
        AuditNote::recorded(),
        axum::Json(json!({ "result": "OK", "action": "stop_novnc", "closed": closed })),
    )
        .into_response())
}

/// 128 random bits as 32 hex digits, and the digest stored for them.
fn new_key() -> (String, Vec<u8>) {
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    let key: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let digest = Sha256::digest(key.as_bytes()).to_vec();
    (key, digest)
}

/// `eq_callback.php` (GET query or POST form): `action=check&key=...`.
/// Needs no token, like INVAPI's; the key is the secret.
async fn check(
    State(state): State<AppState>,
    form: Result<Form<Fields>, axum::extract::rejection::FormRejection>,
) -> Result<Response, Refusal> {
    let Ok(Form(fields)) = form else {
        return Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send `action` and `key` as query parameters or form-encoded",
        ));
    };
    match field(&fields, "action") {
        Ok("check") => {}
        Ok(other) => {
            return Err(error(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("unknown action `{other}`: eq_callback.php supports `check`"),
            ));
        }
        Err(r) => return Err(r),
    }
    let key = match field(&fields, "key") {
        Ok(k) => k.to_ascii_lowercase(),
        Err(r) => return Err(r),
    };
    match answer(&state, &key).await {
        Ok(r) => Ok(r),
        Err(e) => Err(from_problem(e.into())),
    }
}

fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "AsyncKey not found").into_response()
}

async fn answer(state: &AppState, key: &str) -> Result<Response, ironrack_store::StoreError> {
    let digest = Sha256::digest(key.as_bytes()).to_vec();
    let Some(cb) = state.store.invapi_callback(&digest).await? else {
        return Ok(not_found());
    };
    let Some(task) = state.store.task(cb.task_id).await? else {
        state.store.take_invapi_callback(&digest).await?;
        return Ok(not_found());
    };
    if !matches!(
        task.state,
        TaskState::Succeeded | TaskState::Failed | TaskState::Cancelled
    ) {
        return Ok(axum::Json(json!({ "result": "Not ready" })).into_response());
    }
    // Only the check that deletes the key gets the final answer.
    if !state.store.take_invapi_callback(&digest).await? {
        return Ok(not_found());
    }
    let location = state
        .store
        .site(task.site_id)
        .await?
        .map(|s| s.name)
        .unwrap_or_default();
    let context = json!({
        "action": cb.action,
        "id": task.server_id.to_string(),
        "location": location,
    });
    let name = &task.server_name;
    let body = if task.state == TaskState::Succeeded {
        let power = task
            .result
            .as_ref()
            .and_then(|r| r.get("power"))
            .and_then(|p| p.as_str())
            .unwrap_or("unknown");
        let scope = match cb.action.as_str() {
            "on" => format!("Server {name} is powered on"),
            "off" => format!("Server {name} was asked to shut down"),
            "hard_off" => format!("Server {name} is powered off"),
            "reboot" => format!("Server {name} was reset"),
            _ => format!("Server {name} power is {power}"),
        };
        json!({
            "result": "OK",
            "scope": scope,
            "context": context,
            "debug": format!("Chassis Power is {power}"),
            "key": key,
        })
    } else {
        let why = task.error.clone().unwrap_or_else(|| match task.state {
            TaskState::Cancelled => "cancelled".into(),
            _ => "failed".into(),
        });
        json!({
            "result": format!("Error: {why}"),
            "scope": format!("{} on server {name} failed", cb.action),
            "context": context,
            "debug": why,
            "key": key,
        })
    };
    Ok(axum::Json(body).into_response())
}
