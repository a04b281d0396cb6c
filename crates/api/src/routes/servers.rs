use std::collections::HashSet;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use ironrack_core::{BmcDriver, MacAddress, validate_host};
use ironrack_store::{NewAudit, NewServer, NewTask, Server, ServerFilter, ServerUpdate, Task};

use super::users::valid_name;
use super::{Source, cursor_out, page_args, require_staff, site_named, tenant_named};
use crate::audit::AuditNote;
use crate::auth::Caller;
use crate::dto::{
    BmcIn, Paged, PowerRequest, ServerCreate, ServerOut, ServerPatch, ServerQuery, TaskOut,
};
use crate::problem::ApiJson;
use crate::{AppState, Problem};

/// The server if the caller may see it; otherwise "not found", exactly as
/// for an id that does not exist.
pub(crate) async fn visible_server(
    state: &AppState,
    caller: &Caller,
    id: i64,
) -> Result<Server, Problem> {
    seen_by(caller, state.store.server(id).await?)
}

/// [`visible_server`] for a handler that queues a task on it: the row may
/// come from the store's cache (`Store::server_for_task`), whose power
/// state is not to be shown.
pub(crate) async fn task_server(
    state: &AppState,
    caller: &Caller,
    id: i64,
) -> Result<Server, Problem> {
    seen_by(caller, state.store.server_for_task(id).await?)
}

fn seen_by(caller: &Caller, server: Option<Server>) -> Result<Server, Problem> {
    server
        .filter(|s| caller.can_see_server(s))
        .ok_or_else(|| Problem::not_found("server"))
}

/// Adds `bmc.console` to a staff view of a server.
async fn with_console(state: &AppState, mut out: ServerOut) -> Result<ServerOut, Problem> {
    if let Some(bmc) = &mut out.bmc
        && let Some(c) = state.store.server_console(out.id).await?
    {
        bmc.console = Some(crate::dto::ConsoleConfigOut::new(&c));
    }
    Ok(out)
}

fn normalize_macs(field: &str, macs: &[String]) -> Result<Vec<String>, Problem> {
    let mut seen = HashSet::new();
    macs.iter()
        .enumerate()
        .map(|(i, m)| {
            let mac: MacAddress = m.parse().map_err(|e: ironrack_core::MacError| {
                Problem::invalid(&format!("{field}[{i}]"), e.to_string())
            })?;
            if !seen.insert(mac) {
                return Err(Problem::invalid(
                    &format!("{field}[{i}]"),
                    format!("MAC {mac} is listed twice"),
                ));
            }
            Ok(mac.to_string())
        })
        .collect()
}

fn check_driver(driver: &str) -> Result<BmcDriver, Problem> {
    BmcDriver::parse(driver).map_err(|e| Problem::invalid("bmc.driver", e.to_string()))
}

fn check_bmc_fields(
    driver: &BmcDriver,
    address: &str,
    port: u16,
    username: &str,
    password: Option<&str>,
    options: &serde_json::Value,
) -> Result<(), Problem> {
    validate_host(address).map_err(|e| Problem::invalid("bmc.address", e))?;
    if port == 0 {
        return Err(Problem::invalid("bmc.port", "port 0 is not a port"));
    }
    if username.len() > 64 {
        return Err(Problem::invalid(
            "bmc.username",
            "a BMC user name is at most 64 bytes",
        ));
    }
    if let Some(pw) = password {
        // IPMI 2.0 keys are at most 20 bytes (spec 13.31); refuse rather than truncate.
        let max = if *driver == BmcDriver::Ipmi { 20 } else { 256 };
        if pw.len() > max {
            return Err(Problem::invalid(
                "bmc.password",
                format!("a {driver} password is at most {max} bytes"),
            ));
        }
    }
    if !options.is_object() {
        return Err(Problem::invalid(
            "bmc.options",
            "options must be a JSON object",
        ));
    }
    Ok(())
}

fn default_port(driver: &BmcDriver) -> u16 {
    match driver {
        BmcDriver::Redfish => 443,
        _ => 623,
    }
}

/// Servers the caller may see, a page at a time, oldest first.
#[utoipa::path(get, path = "/api/v1/servers", tag = "servers", params(ServerQuery),
    responses((status = 200, body = Paged<ServerOut>), (status = 422, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ServerQuery>,
) -> Result<Json<Paged<ServerOut>>, Problem> {
    let (limit, after_id) = page_args(q.limit, q.cursor.as_deref())?;
    let site_id = match &q.site {
        Some(name) => Some(site_named(&state, name).await?),
        None => None,
    };
    let mut tenant = match &q.tenant {
        Some(name) => match tenant_named(&state, name).await {
            Ok(id) => Some(id),
            // A customer naming another tenant learns nothing: just no rows.
            Err(_) if !caller.is_staff() => Some(-1),
            Err(e) => return Err(e),
        },
        None => None,
    };
    if let Some(own) = caller.tenant_scope() {
        if tenant.is_some_and(|t| t != own) {
            tenant = Some(-1);
        } else {
            tenant = Some(own);
        }
    }
    let filter = ServerFilter {
        site_id,
        tenant_id: tenant,
        name_prefix: q.name_prefix.clone(),
        only_ids: caller.server_scope().map(<[i64]>::to_vec),
        after_id,
        limit,
    };
    let page = state.store.list_servers(&filter).await?;
    let staff = caller.is_staff();
    Ok(Json(Paged {
        items: page
            .items
            .into_iter()
            .map(|s| ServerOut::from_owned(s, staff))
            .collect(),
        next_cursor: cursor_out(page.next_cursor),
    }))
}

/// Adds a server (staff). The BMC password is stored encrypted and never returned.
#[utoipa::path(post, path = "/api/v1/servers", tag = "servers", request_body = ServerCreate,
    responses((status = 201, body = ServerOut), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<ServerCreate>,
) -> Result<impl IntoResponse, Problem> {
    require_staff(&caller)?;
    let name = valid_name("name", &req.name)?;
    let macs = normalize_macs("macs", &req.macs)?;
    let BmcIn {
        driver,
        address,
        port,
        username,
        password,
        options,
        console,
    } = &req.bmc;
    if let Some(c) = console {
        super::consoles::console_config(c)?;
    }
    let parsed = check_driver(driver)?;
    let port = port.unwrap_or_else(|| default_port(&parsed));
    check_bmc_fields(
        &parsed,
        address,
        port,
        username,
        password.as_deref(),
        options,
    )?;
    let site_id = site_named(&state, &req.site).await?;
    if let Some(t) = console.as_ref().and_then(|c| c.template.as_deref()) {
        super::consoles::check_template(&state, &req.site, t)?;
    }
    let tenant_id = match &req.tenant {
        Some(t) => Some(tenant_named(&state, t).await?),
        None => None,
    };
    let server = state
        .store
        .create_server(NewServer {
            name,
            site_id,
            tenant_id,
            macs: &macs,
            bmc_driver: &parsed.to_string(),
            bmc_address: address,
            bmc_port: port,
            bmc_username: username,
            bmc_password: password.as_deref(),
            bmc_options: options,
        })
        .await?;
    if console.is_some() {
        super::consoles::store_console(&state, server.id, console.as_ref()).await?;
    }
    let note = AuditNote::new("server.create", "server", server.id).tenant(server.tenant_id);
    Ok((
        StatusCode::CREATED,
        note,
        Json(with_console(&state, ServerOut::new(&server, true)).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/servers/{id}", tag = "servers", responses((status = 200, body = ServerOut), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<ServerOut>, Problem> {
    let server = visible_server(&state, &caller, id).await?;
    Ok(Json(
        with_console(&state, ServerOut::new(&server, caller.is_staff())).await?,
    ))
}

/// Changes a server (staff); only the fields given change.
#[utoipa::path(patch, path = "/api/v1/servers/{id}", tag = "servers", request_body = ServerPatch,
    responses((status = 200, body = ServerOut), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<ServerPatch>,
) -> Result<impl IntoResponse, Problem> {
    // Visibility first: another tenant's server is "not found", not "forbidden".
    let current = visible_server(&state, &caller, id).await?;
    require_staff(&caller)?;
    let mut up = ServerUpdate::default();
    if let Some(name) = &req.name {
        up.name = Some(valid_name("name", name)?.to_owned());
    }
    if let Some(site) = &req.site {
        up.site_id = Some(site_named(&state, site).await?);
    }
    up.tenant_id = match &req.tenant {
        Some(Some(t)) => Some(Some(tenant_named(&state, t).await?)),
        Some(None) => Some(None),
        None => None,
    };
    if let Some(macs) = &req.macs {
        up.macs = Some(normalize_macs("macs", macs)?);
    }
    if let Some(bmc) = &req.bmc {
        let driver = check_driver(bmc.driver.as_deref().unwrap_or(&current.bmc.driver))?;
        let password = match &bmc.password {
            Some(Some(p)) => Some(p.as_str()),
            _ => None,
        };
        check_bmc_fields(
            &driver,
            bmc.address.as_deref().unwrap_or(&current.bmc.address),
            bmc.port.unwrap_or(current.bmc.port),
            bmc.username.as_deref().unwrap_or(&current.bmc.username),
            password,
            bmc.options.as_ref().unwrap_or(&current.bmc.options),
        )?;
        up.bmc_driver = bmc.driver.as_ref().map(|_| driver.to_string());
        up.bmc_address = bmc.address.clone();
        up.bmc_port = bmc.port;
        up.bmc_username = bmc.username.clone();
        up.bmc_password = bmc.password.clone();
        up.bmc_options = bmc.options.clone();
        if let Some(Some(c)) = &bmc.console {
            super::consoles::console_config(c)?;
            if let Some(t) = &c.template {
                let site = req.site.as_deref().unwrap_or(&current.site_name);
                super::consoles::check_template(&state, site, t)?;
            }
        }
    }
    let server = state.store.update_server(id, up).await?;
    if let Some(console) = req.bmc.as_ref().and_then(|b| b.console.as_ref()) {
        super::consoles::store_console(&state, id, console.as_ref()).await?;
    }
    let note = AuditNote::new("server.update", "server", id).tenant(server.tenant_id);
    Ok((
        note,
        Json(with_console(&state, ServerOut::new(&server, true)).await?),
    ))
}

/// Removes a server and its tasks (staff).
#[utoipa::path(delete, path = "/api/v1/servers/{id}", tag = "servers", responses((status = 204), (status = 404, body = Problem)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse, Problem> {
    let server = visible_server(&state, &caller, id).await?;
    require_staff(&caller)?;
    state.store.delete_server(id).await?;
    Ok((
        StatusCode::NO_CONTENT,
        AuditNote::new("server.delete", "server", id).tenant(server.tenant_id),
    ))
}

/// Queues a power action for the server's site agent. `off`, `soft`,
/// `reset` and `cycle` need the caller's PIN.
#[utoipa::path(post, path = "/api/v1/servers/{id}/power", tag = "servers", request_body = PowerRequest,
    params(("X-Ironrack-Pin" = Option<String>, Header, description = "PIN for destructive actions")),
    responses((status = 202, body = TaskOut), (status = 409, body = Problem, description = "the site has no agent key for the BMC password"), (status = 403, body = Problem), (status = 404, body = Problem), (status = 429, body = Problem)))]
pub async fn power(
    State(state): State<AppState>,
    caller: Caller,
    Source(source): Source,
    Path(id): Path<i64>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<PowerRequest>,
) -> Result<impl IntoResponse, Problem> {
    let server = task_server(&state, &caller, id).await?;
    if req.action.is_destructive() {
        super::session::check_pin(&state, &caller, &headers, req.pin.as_deref())?;
    }
    let params = serde_json::json!({ "action": req.action.as_str() });
    let action = format!("server.power.{}", req.action.as_str());
    let task = queue_task(&state, &caller, &source, &server, "power", &params, &action).await?;
    Ok((
        StatusCode::ACCEPTED,
        AuditNote::recorded(),
        Json(TaskOut::new(&task, &[])),
    ))
}

/// Writes a queued task with its audit entry and hands it to the bus. If the
/// bus is down the task stays queued and is resumed later. Refused (409)
/// before anything is written when the BMC password could not be sealed to
/// the site's agent key.
pub(crate) async fn queue_task(
    state: &AppState,
    caller: &Caller,
    source: &std::net::IpAddr,
    server: &Server,
    kind: &str,
    params: &serde_json::Value,
    action: &str,
) -> Result<Task, Problem> {
    state
        .check_secrets_can_go(&server.site_name, server.bmc.has_password)
        .await?;
    let source = source.to_string();
    let task = state
        .store
        .create_task(
            NewTask {
                server_id: server.id,
                server_name: &server.name,
                tenant_id: server.tenant_id,
                site_id: server.site_id,
                kind,
                params,
                created_by: Some(caller.user.id),
            },
            NewAudit {
                user_id: Some(caller.user.id),
                username: &caller.user.username,
                tenant_id: server.tenant_id,
                action,
                object_type: "task",
                object_id: None,
                source: &source,
                result: "accepted",
                detail: Some(format!("server:{}", server.id)),
            },
        )
        .await?;
    if let Err(e) = super::publish(state, &task, server).await {
        tracing::warn!(task = task.id, detail = %e.detail, "task stays queued");
    }
    Ok(task)
}

/// Sets the device the server boots from next (or always, with
/// `persistent`). Needs the PIN: a wrong boot device can reinstall a server.
#[utoipa::path(post, path = "/api/v1/servers/{id}/boot-device", tag = "servers", request_body = ironrack_core::BootRequest,
    params(("X-Ironrack-Pin" = Option<String>, Header, description = "the caller's PIN")),
    responses((status = 202, body = TaskOut), (status = 409, body = Problem, description = "the site has no agent key for the BMC password"), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn boot_device(
    State(state): State<AppState>,
    caller: Caller,
    Source(source): Source,
    Path(id): Path<i64>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<ironrack_core::BootRequest>,
) -> Result<impl IntoResponse, Problem> {
    let server = task_server(&state, &caller, id).await?;
    super::session::check_pin(&state, &caller, &headers, None)?;
    let params = serde_json::to_value(req).map_err(|_| Problem::internal())?;
    let task = queue_task(
        &state,
        &caller,
        &source,
        &server,
        "boot_device",
        &params,
        "server.boot_device",
    )
    .await?;
    Ok((
        StatusCode::ACCEPTED,
        AuditNote::recorded(),
        Json(TaskOut::new(&task, &[])),
    ))
}
