//! Browser consoles. The controller never connects to a console itself: it
//! records the session, sends its spec to the site agent as a `console.*`
//! task, and waits for the agent's gateway to take it. The token goes to the
//! caller once; the agent gets only its digest. The agent reports opens and
//! closes as events, audited here with their duration.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use ironrack_bus::{ConsoleChange, Secret, TaskRequest, VNC_PASSWORD};
use ironrack_core::{BmcDriver, TaskState, validate_host};
use ironrack_store::{ConsoleSession, NewAudit, NewConsoleSession, NewTask, Server};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::servers::visible_server;
use super::{Source, require_staff};
use crate::audit::AuditNote;
use crate::auth::Caller;
use crate::dto::{ConsoleCreated, ConsoleIn, ConsoleOut, ConsoleRequest, List, ViewerCreated};
use crate::problem::ApiJson;
use crate::sealing::{Unsealed, no_key_text};
use crate::{AppState, Problem};

/// Sessions per BMC unless `bmc.options.console_max_sessions` says otherwise.
const DEFAULT_MAX_SESSIONS: u64 = 2;
/// How long the API waits for the site agent to take a console task.
const AGENT_WAIT: Duration = Duration::from_secs(15);

fn new_token() -> (String, String) {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    let token = format!(
        "irc_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    (token, hex)
}

/// Checks and normalises `bmc.console` input; returns the JSON to store
/// (without the password).
pub(crate) fn console_config(c: &ConsoleIn) -> Result<serde_json::Value, Problem> {
    let mut out = serde_json::Map::new();
    if let Some(vnc) = &c.vnc {
        let bad = || {
            Problem::invalid(
                "bmc.console.vnc",
                format!("`{vnc}` is not host:port (e.g. 10.0.0.5:5901)"),
            )
        };
        let (host, port) = vnc.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if port == 0 {
            return Err(bad());
        }
        validate_host(host).map_err(|e| Problem::invalid("bmc.console.vnc", e))?;
        out.insert("vnc".into(), vnc.clone().into());
    }
    if let Some(Some(pw)) = &c.vnc_password
        && pw.len() > 64
    {
        return Err(Problem::invalid(
            "bmc.console.vnc_password",
            "a VNC password is at most 64 bytes (VNC uses the first 8)",
        ));
    }
    if let Some(h) = &c.html5 {
        let bad = || {
            Problem::invalid(
                "bmc.console.html5",
                format!(
                    "{h} is not the BMC's KVM WebSocket: a path on the BMC such as \"/kvm/0\", or a wss:// (ws://, https://) URL"
                ),
            )
        };
        let text = h.as_str().ok_or_else(bad)?;
        let ok = text.starts_with('/')
            || ["wss://", "ws://", "https://", "http://"]
                .iter()
                .any(|s| text.starts_with(s) && text.len() > s.len());
        if !ok || text.len() > 2048 || text.chars().any(char::is_whitespace) {
            return Err(bad());
        }
        out.insert("html5".into(), h.clone());
    }
    if let Some(t) = &c.template {
        if t.is_empty() || t.len() > 128 || t.chars().any(char::is_control) {
            return Err(Problem::invalid(
                "bmc.console.template",
                "a template name is 1 to 128 characters, no control characters",
            ));
        }
        out.insert("template".into(), t.clone().into());
    }
    if let Some(w) = &c.web {
        let origin = ironrack_desktop::parse_origin(w)
            .map_err(|e| Problem::invalid("bmc.console.web", e))?;
        validate_host(
            origin
                .host_str()
                .unwrap_or_default()
                .trim_matches(['[', ']']),
        )
        .map_err(|e| Problem::invalid("bmc.console.web", e))?;
        out.insert("web".into(), w.clone().into());
    }
    Ok(serde_json::Value::Object(out))
}

/// Refuses a desktop template that the agents of `site` do not know, when
/// they said which they know (heartbeats; `serve`'s local agent).
pub(crate) fn check_template(state: &AppState, site: &str, template: &str) -> Result<(), Problem> {
    let Some(known) = state
        .desktop_templates()
        .known(site, std::time::Instant::now())
    else {
        return Ok(());
    };
    if known.contains(template) {
        return Ok(());
    }
    let list = if known.is_empty() {
        "none".to_owned()
    } else {
        known.into_iter().collect::<Vec<_>>().join(", ")
    };
    Err(Problem::invalid(
        "bmc.console.template",
        format!(
            "no desktop template `{template}` on the agent of site `{site}` (known: {list}); templates come from the agent's --desktop-templates directory"
        ),
    ))
}

/// Stores `bmc.console` for a server (after its create or update).
pub(crate) async fn store_console(
    state: &AppState,
    server_id: i64,
    console: Option<&ConsoleIn>,
) -> Result<(), Problem> {
    match console {
        None => state.store.delete_server_console(server_id).await?,
        Some(c) => {
            let config = console_config(c)?;
            let pw = c.vnc_password.as_ref().map(|p| p.as_deref());
            state
                .store
                .set_server_console(server_id, &config, pw)
                .await?
        }
    }
    Ok(())
}

/// The origin the caller used, for absolute WebSocket URLs.
fn origin(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let proto = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("http");
    format!("{proto}://{host}")
}

struct Urls {
    url: String,
    ws_url: String,
}

fn urls(base: &str, headers: &HeaderMap, id: i64, token: &str) -> Urls {
    let base = base.trim_end_matches('/');
    let absolute = if base.is_empty() {
        origin(headers)
    } else {
        base.to_owned()
    };
    let ws_base = if let Some(rest) = absolute.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = absolute.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        absolute
    };
    Urls {
        url: format!("{base}/console/?id={id}#token={token}"),
        ws_url: format!("{ws_base}/console/ws/{id}?token={token}"),
    }
}

/// A console task: written (with its audit entry), published with the
/// secrets only on the bus copy, and waited for. The agent's result, or a
/// problem saying why not.
#[allow(clippy::too_many_arguments)]
async fn run_task(
    state: &AppState,
    caller: &Caller,
    source: &std::net::IpAddr,
    server: &Server,
    kind: &str,
    params: serde_json::Value,
    bus_params: serde_json::Value,
    vnc_password: Option<Secret>,
    visible_to_tenant: bool,
) -> Result<Result<serde_json::Value, String>, Problem> {
    let source = source.to_string();
    let tenant_id = if visible_to_tenant {
        server.tenant_id
    } else {
        None
    };
    let task = state
        .store
        .create_task(
            NewTask {
                server_id: server.id,
                server_name: &server.name,
                tenant_id,
                site_id: server.site_id,
                kind,
                params: &params,
                created_by: Some(caller.user.id),
            },
            NewAudit {
                user_id: Some(caller.user.id),
                username: &caller.user.username,
                tenant_id: server.tenant_id,
                action: if kind == "console.open" {
                    "server.console"
                } else {
                    kind
                },
                object_type: "task",
                object_id: None,
                source: &source,
                result: "accepted",
                detail: Some(format!("server:{}", server.id)),
            },
        )
        .await?;
    let mut bmc = super::bmc_target(state, server).await?;
    if let Some(pw) = vnc_password {
        bmc.secrets.insert(VNC_PASSWORD.into(), pw);
    }
    let mut request = TaskRequest {
        task_id: task.id,
        server_id: server.id,
        site: server.site_name.clone(),
        kind: kind.to_owned(),
        params: bus_params,
        bmc,
    };
    if let Err(e) = state.seal_secrets(&mut request).await {
        if let Unsealed::NoKey(site) = &e {
            crate::fail_task(state, task.id, &no_key_text(site)).await?;
        }
        return Err(e.into_problem());
    }
    state.tasks.publish(request).await.map_err(|e| {
        tracing::error!(task = task.id, error = %e, "could not publish a console task");
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the task bus is unavailable; try again",
        )
    })?;
    state.store.mark_task_published(task.id).await?;
    let deadline = tokio::time::Instant::now() + AGENT_WAIT;
    let mut pause = Duration::from_millis(5);
    loop {
        if let Some(t) = state.store.task(task.id).await? {
            match t.state {
                TaskState::Succeeded => return Ok(Ok(t.result.unwrap_or_default())),
                TaskState::Failed | TaskState::Cancelled => {
                    return Ok(Err(t.error.unwrap_or_else(|| "failed".into())));
                }
                _ => {}
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Problem::new(
                StatusCode::GATEWAY_TIMEOUT,
                format!(
                    "the agent of site `{}` did not take the console task in time (task {})",
                    server.site_name, task.id
                ),
            ));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

fn agent_refused(error: &str) -> Problem {
    if error.contains("console_max_sessions") {
        // The agent's own count disagreed with ours: same answer.
        let detail = error.strip_prefix("BMC error: ").unwrap_or(error);
        return Problem::new(StatusCode::CONFLICT, detail.to_owned());
    }
    Problem::new(
        StatusCode::BAD_GATEWAY,
        format!("the site agent could not open the console: {error}"),
    )
}

/// Opens a browser console on the server: VNC (the gateway authenticates to
/// the VNC server itself) or serial-over-LAN. Needs the caller's PIN. The
/// answer's `url` opens the console page; its token works once, within
/// `expires_at`.
#[utoipa::path(post, path = "/api/v1/servers/{id}/console", tag = "consoles", request_body = ConsoleRequest,
    params(("X-Ironrack-Pin" = Option<String>, Header, description = "the caller's PIN")),
    responses((status = 201, body = ConsoleCreated), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "the BMC's console session cap is reached, or the site has no agent key for the console's passwords"),
        (status = 422, body = Problem), (status = 502, body = Problem)))]
pub async fn open(
    State(state): State<AppState>,
    caller: Caller,
    Source(source): Source,
    Path(id): Path<i64>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<ConsoleRequest>,
) -> Result<impl IntoResponse, Problem> {
    let server = visible_server(&state, &caller, id).await?;
    super::session::check_pin(&state, &caller, &headers, req.pin.as_deref())?;
    let console = state.store.server_console(server.id).await?;
    let vnc = console
        .as_ref()
        .and_then(|c| c.config.get("vnc"))
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    let html5 = console
        .as_ref()
        .and_then(|c| c.config.get("html5"))
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    let ipmi = BmcDriver::parse(&server.bmc.driver).is_ok_and(|d| d == BmcDriver::Ipmi);
    let config_str = |key: &str| {
        console
            .as_ref()
            .and_then(|c| c.config.get(key))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    let template = config_str("template");
    let kind = match req.kind.as_str() {
        "vnc" if vnc.is_some() => "vnc",
        "vnc" => {
            return Err(Problem::invalid(
                "kind",
                format!(
                    "server `{}` has no VNC console (set bmc.console.vnc)",
                    server.name
                ),
            ));
        }
        "html5" if html5.is_some() => "html5",
        "html5" => {
            return Err(Problem::invalid(
                "kind",
                format!(
                    "server `{}` has no HTML5 console (set bmc.console.html5, e.g. \"/kvm/0\")",
                    server.name
                ),
            ));
        }
        "sol" if ipmi => "sol",
        "sol" => {
            return Err(Problem::invalid(
                "kind",
                format!(
                    "serial-over-LAN needs the ipmi driver; server `{}` uses `{}`",
                    server.name, server.bmc.driver
                ),
            ));
        }
        "desktop" if template.is_some() => "desktop",
        "desktop" => {
            return Err(Problem::invalid(
                "kind",
                format!(
                    "server `{}` has no desktop console (set bmc.console.template)",
                    server.name
                ),
            ));
        }
        // Graphical before text: a desktop shows what SOL cannot (BIOS
        // screens, installers) but costs a browser or a JVM per session.
        "auto" if vnc.is_some() => "vnc",
        "auto" if html5.is_some() => "html5",
        "auto" if template.is_some() => "desktop",
        "auto" if ipmi => "sol",
        "auto" => {
            return Err(Problem::invalid(
                "kind",
                format!(
                    "server `{}` has no console: no bmc.console.vnc, html5 or template, and not the ipmi driver",
                    server.name
                ),
            ));
        }
        other => {
            return Err(Problem::invalid(
                "kind",
                format!("unknown console kind `{other}`: use vnc, html5, desktop, sol or auto"),
            ));
        }
    };
    if kind == "desktop"
        && let Some(t) = &template
    {
        check_template(&state, &server.site_name, t)?;
    }
    let resolution = match (&req.resolution, kind) {
        (None, _) => None,
        (Some(r), "desktop") => Some(
            r.parse::<ironrack_desktop::Resolution>()
                .map_err(|e| Problem::invalid("resolution", e))?
                .to_string(),
        ),
        (Some(_), other) => {
            return Err(Problem::invalid(
                "resolution",
                format!("resolution applies to desktop consoles, not {other}"),
            ));
        }
    };
    if let Some(url) = &req.close_url {
        let ok = (url.starts_with("http://") || url.starts_with("https://"))
            && url.len() <= 2048
            && url.parse::<axum::http::Uri>().is_ok();
        if !ok {
            return Err(Problem::invalid(
                "close_url",
                "close_url must be an http:// or https:// URL of at most 2048 bytes",
            ));
        }
    }
    // Before a session is written: its secrets must be able to reach the site.
    let vnc_secret =
        (kind == "vnc" || kind == "html5") && console.as_ref().is_some_and(|c| c.vnc_password_set);
    state
        .check_secrets_can_go(&server.site_name, server.bmc.has_password || vnc_secret)
        .await?;
    let allowed_ip =
        match req.allowed_ip.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(ip) => Some(ip.parse::<std::net::IpAddr>().map_err(|_| {
                Problem::invalid("allowed_ip", format!("`{ip}` is not an IP address"))
            })?),
        };
    let max = server
        .bmc
        .options
        .get("console_max_sessions")
        .and_then(|v| v.as_u64())
        .unwrap_or(DEFAULT_MAX_SESSIONS)
        .clamp(1, 64);
    let cfg = &state.config.console;
    let (token, token_hash) = new_token();
    let bmc_key = format!("{}:{}", server.bmc.address, server.bmc.port);
    let ttl_ms = i64::try_from(cfg.token_ttl.as_millis()).unwrap_or(i64::MAX);
    let session = state
        .store
        .create_console_session(
            NewConsoleSession {
                server_id: server.id,
                tenant_id: server.tenant_id,
                user_id: caller.user.id,
                username: &caller.user.username,
                kind,
                view_only: req.view_only,
                bmc_key: &bmc_key,
                expires_at: ironrack_store::now_ms().saturating_add(ttl_ms),
            },
            max as i64,
        )
        .await?;
    let session = session.map_err(|open| {
        Problem::new(
            StatusCode::CONFLICT,
            format!(
                "the BMC of server `{}` already has {open} console session(s) open, its limit (bmc.options.console_max_sessions = {max}); close one first",
                server.name
            ),
        )
    })?;
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let bus_params = serde_json::json!({
        "session_id": session.id,
        "kind": kind,
        "user_id": caller.user.id,
        "view_only": req.view_only,
        "close_url": req.close_url,
        "token_hash": token_hash,
        "limits": {
            "token_ttl": ms(cfg.token_ttl),
            "idle_timeout": ms(cfg.idle_timeout),
            "idle_warning": ms(cfg.idle_warning),
            "max_duration": ms(cfg.max_duration),
            "reconnect_grace": ms(cfg.reconnect_grace),
        },
        "max_sessions": max,
        "vnc": vnc,
        "template": if kind == "desktop" { template } else { None },
        "web": if kind == "desktop" { config_str("web") } else { None },
        "resolution": resolution,
        "html5": html5,
        "allowed_ip": allowed_ip,
    });
    let params = serde_json::json!({
        "session_id": session.id,
        "kind": kind,
        "view_only": req.view_only,
        "allowed_ip": allowed_ip,
    });
    // A BMC's KVM may ask for VNC authentication too.
    let vnc_password = if kind == "vnc" || kind == "html5" {
        state
            .store
            .console_vnc_password(server.id)
            .await?
            .map(Secret::from)
    } else {
        None
    };
    let outcome = run_task(
        &state,
        &caller,
        &source,
        &server,
        "console.open",
        params,
        bus_params,
        vnc_password,
        true,
    )
    .await;
    let result = match outcome {
        Ok(Ok(r)) => r,
        Ok(Err(error)) => {
            state
                .store
                .console_closed(session.id, ironrack_store::now_ms(), "error", Some(&error))
                .await?;
            return Err(agent_refused(&error));
        }
        Err(p) => return Err(p),
    };
    if let Some(instance) = result.get("instance").and_then(|i| i.as_str()) {
        state.console_holders().opened(session.id, instance);
    }
    let base = result.get("base").and_then(|b| b.as_str()).unwrap_or("");
    let u = urls(base, &headers, session.id, &token);
    Ok((
        StatusCode::CREATED,
        AuditNote::recorded(),
        Json(ConsoleCreated {
            id: session.id.to_string(),
            kind: kind.to_owned(),
            url: u.url,
            ws_url: u.ws_url,
            expires_at: crate::dto::time(session.expires_at),
            token,
        }),
    ))
}

/// The session if the caller may see it; "not found" otherwise.
async fn visible_console(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<ConsoleSession, Problem> {
    let id: i64 = id
        .parse()
        .map_err(|_| Problem::not_found("console session"))?;
    state
        .store
        .console_session(id)
        .await?
        .filter(|c| caller.can_see_tenant_object(c.tenant_id, Some(c.server_id)))
        .ok_or_else(|| Problem::not_found("console session"))
}

fn owner_or_staff(caller: &Caller, c: &ConsoleSession) -> Result<(), Problem> {
    if caller.is_staff() || c.user_id == Some(caller.user.id) {
        Ok(())
    } else {
        Err(Problem::forbidden(
            "only staff or the user who opened this console may do this",
        ))
    }
}

/// A session that is not closed, that the caller opened (or staff), and its
/// server: what killing it or joining it needs.
async fn live_console_of_owner(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<(ConsoleSession, ironrack_store::Server), Problem> {
    let c = visible_console(state, caller, id).await?;
    owner_or_staff(caller, &c)?;
    if c.state == "closed" {
        return Err(Problem::conflict(
            "id",
            format!("console session {} is already closed", c.id),
        ));
    }
    let server = state
        .store
        .server(c.server_id)
        .await?
        .ok_or_else(|| Problem::not_found("console session"))?;
    Ok((c, server))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct ConsoleQuery {
    /// Include closed sessions (newest first).
    #[serde(default)]
    pub all: bool,
    pub limit: Option<i64>,
}

/// Console sessions not yet closed: every one for staff, the tenant's own
/// for customers.
#[utoipa::path(get, path = "/api/v1/consoles", tag = "consoles", params(ConsoleQuery),
    responses((status = 200, body = List<ConsoleOut>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ConsoleQuery>,
) -> Result<Json<List<ConsoleOut>>, Problem> {
    let rows = state
        .store
        .list_console_sessions(caller.tenant_scope(), q.all, q.limit.unwrap_or(200))
        .await?;
    Ok(Json(List {
        items: rows
            .iter()
            .filter(|c| caller.can_see_tenant_object(c.tenant_id, Some(c.server_id)))
            .map(ConsoleOut::new)
            .collect(),
    }))
}

#[utoipa::path(get, path = "/api/v1/consoles/{id}", tag = "consoles",
    responses((status = 200, body = ConsoleOut), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ConsoleOut>, Problem> {
    let c = visible_console(&state, &caller, &id).await?;
    Ok(Json(ConsoleOut::new(&c)))
}

/// Closes a session (staff, or the user who opened it); its viewers are
/// disconnected with close code 4010.
#[utoipa::path(delete, path = "/api/v1/consoles/{id}", tag = "consoles",
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn kill(
    State(state): State<AppState>,
    caller: Caller,
    Source(source): Source,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, Problem> {
    let (c, server) = live_console_of_owner(&state, &caller, &id).await?;
    let params = serde_json::json!({ "session_id": c.id });
    let outcome = run_task(
        &state,
        &caller,
        &source,
        &server,
        "console.kill",
        params.clone(),
        params,
        None,
        true,
    )
    .await?;
    if let Err(e) = outcome {
        // The gateway no longer has it (agent restarted): it is closed.
        tracing::info!(session = c.id, error = %e, "console kill: the gateway did not know the session");
        if let Some(closed) = state
            .store
            .console_closed(c.id, ironrack_store::now_ms(), "killed", Some(&e))
            .await?
        {
            audit_close(&state, &closed, "killed").await?;
        }
        state.console_holders().closed(c.id);
    }
    Ok((StatusCode::NO_CONTENT, AuditNote::recorded()))
}

/// A view-only join token for a session that is not closed (staff, or the
/// user who opened it).
#[utoipa::path(post, path = "/api/v1/consoles/{id}/viewers", tag = "consoles",
    responses((status = 201, body = ViewerCreated), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn add_viewer(
    State(state): State<AppState>,
    caller: Caller,
    Source(source): Source,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, Problem> {
    let (c, server) = live_console_of_owner(&state, &caller, &id).await?;
    let (token, token_hash) = new_token();
    let ttl = state.config.console.token_ttl;
    let params = serde_json::json!({ "session_id": c.id });
    let bus_params = serde_json::json!({
        "session_id": c.id,
        "token_hash": token_hash,
        "ttl_ms": u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX),
    });
    let result = run_task(
        &state,
        &caller,
        &source,
        &server,
        "console.viewer",
        params,
        bus_params,
        None,
        true,
    )
    .await?
    .map_err(|e| {
        Problem::conflict(
            "id",
            format!("the gateway has no live session {}: {e}", c.id),
        )
    })?;
    let base = result.get("base").and_then(|b| b.as_str()).unwrap_or("");
    let u = urls(base, &headers, c.id, &token);
    let expires = ironrack_store::now_ms() + i64::try_from(ttl.as_millis()).unwrap_or(0);
    Ok((
        StatusCode::CREATED,
        AuditNote::recorded(),
        Json(ViewerCreated {
            url: u.url,
            ws_url: u.ws_url,
            token,
            expires_at: crate::dto::time(expires),
        }),
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct LogQuery {
    /// Bytes from the end (default 64 KiB, at most 1 MiB).
    pub tail: Option<u64>,
}

/// The serial output a SOL session produced, as text (staff only).
#[utoipa::path(get, path = "/api/v1/consoles/{id}/log", tag = "consoles", params(LogQuery),
    responses((status = 200, body = String, content_type = "text/plain"), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn log(
    State(state): State<AppState>,
    caller: Caller,
    Source(source): Source,
    Path(id): Path<String>,
    Query(q): Query<LogQuery>,
) -> Result<impl IntoResponse, Problem> {
    let c = visible_console(&state, &caller, &id).await?;
    require_staff(&caller)?;
    if c.kind != "sol" {
        return Err(Problem::invalid(
            "id",
            format!(
                "console session {} is {}; only SOL sessions keep a log",
                c.id, c.kind
            ),
        ));
    }
    let server = state
        .store
        .server(c.server_id)
        .await?
        .ok_or_else(|| Problem::not_found("console session"))?;
    let params =
        serde_json::json!({ "session_id": c.id, "tail": q.tail.unwrap_or(64 * 1024).min(1 << 20) });
    // Not visible to the tenant: the log stays with staff.
    let result = run_task(
        &state,
        &caller,
        &source,
        &server,
        "console.log",
        serde_json::json!({ "session_id": c.id }),
        params,
        None,
        false,
    )
    .await?;
    let bytes = match result {
        Ok(r) => {
            use base64::Engine;
            let b64 = r.get("log_b64").and_then(|v| v.as_str()).unwrap_or("");
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| Problem::internal())?
        }
        // Nothing logged yet.
        Err(_) => Vec::new(),
    };
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        String::from_utf8_lossy(&bytes).into_owned(),
    ))
}

pub(crate) async fn audit_close(
    state: &AppState,
    c: &ConsoleSession,
    reason: &str,
) -> Result<(), ironrack_store::StoreError> {
    let closed = c.closed_at.unwrap_or_else(ironrack_store::now_ms);
    let duration_s = c.opened_at.map_or(0, |o| (closed - o).max(0) / 1000);
    state
        .store
        .record_audit(&NewAudit {
            user_id: c.user_id,
            username: &c.username,
            tenant_id: c.tenant_id,
            action: "console.close",
            object_type: "console",
            object_id: Some(c.id.to_string()),
            source: "agent",
            result: reason,
            detail: Some(format!(
                "server:{} kind:{} duration_s:{duration_s}{}",
                c.server_id,
                c.kind,
                c.close_detail
                    .as_deref()
                    .map(|d| format!(" detail:{d}"))
                    .unwrap_or_default()
            )),
        })
        .await
}

/// Applies a gateway's report on a session; open and close are audited
/// once each (reports may come twice).
pub(crate) async fn apply_change(
    state: &AppState,
    session_id: i64,
    change: &ConsoleChange,
) -> Result<(), ironrack_store::StoreError> {
    match change {
        ConsoleChange::Opened { at_ms } => {
            if let Some(c) = state.store.console_opened(session_id, *at_ms).await? {
                state
                    .store
                    .record_audit(&NewAudit {
                        user_id: c.user_id,
                        username: &c.username,
                        tenant_id: c.tenant_id,
                        action: "console.open",
                        object_type: "console",
                        object_id: Some(c.id.to_string()),
                        source: "agent",
                        result: "ok",
                        detail: Some(format!("server:{} kind:{}", c.server_id, c.kind)),
                    })
                    .await?;
            }
        }
        ConsoleChange::Status {
            viewers,
            last_input_ms,
            closes_at_ms,
        } => {
            state
                .store
                .console_status(
                    session_id,
                    i64::from(*viewers),
                    *last_input_ms,
                    *closes_at_ms,
                )
                .await?;
        }
        ConsoleChange::Closed {
            reason,
            detail,
            at_ms,
        } => {
            if let Some(c) = state
                .store
                .console_closed(session_id, *at_ms, reason, detail.as_deref())
                .await?
            {
                audit_close(state, &c, reason).await?;
            }
            state.console_holders().closed(session_id);
        }
    }
    Ok(())
}
