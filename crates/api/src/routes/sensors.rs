//! What the BMC says about the hardware: sensors and the System Event Log
//! (stored from the last refresh), refreshes, and BMC resets. Reading and
//! resetting are tasks for the site agent, like power actions.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;

use super::Source;
use super::servers::{queue_task, task_server, visible_server};
use crate::audit::AuditNote;
use crate::auth::Caller;
use crate::dto::{BmcResetRequest, SelOut, SelRefresh, SensorsOut, TaskOut};
use crate::problem::ApiJson;
use crate::{AppState, Problem};

/// The server's sensors as last read (see `POST .../sensors/refresh`).
#[utoipa::path(get, path = "/api/v1/servers/{id}/sensors", tag = "servers",
    responses((status = 200, body = SensorsOut), (status = 404, body = Problem)))]
pub async fn sensors(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<SensorsOut>, Problem> {
    let server = visible_server(&state, &caller, id).await?;
    let observed = state.store.sensors(server.id).await?;
    Ok(Json(SensorsOut::new(server.id, &observed)))
}

/// The server's System Event Log as last read (see `POST .../sel/refresh`).
#[utoipa::path(get, path = "/api/v1/servers/{id}/sel", tag = "servers",
    responses((status = 200, body = SelOut), (status = 404, body = Problem)))]
pub async fn sel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<SelOut>, Problem> {
    let server = visible_server(&state, &caller, id).await?;
    let observed = state.store.sel(server.id).await?;
    Ok(Json(SelOut::new(server.id, &observed)))
}

fn accepted(task: &ironrack_store::Task) -> impl IntoResponse + use<> {
    (
        StatusCode::ACCEPTED,
        AuditNote::recorded(),
        Json(TaskOut::new(task, &[])),
    )
}

/// Queues a task that reads every sensor; the readings replace the stored
/// ones when it succeeds.
#[utoipa::path(post, path = "/api/v1/servers/{id}/sensors/refresh", tag = "servers",
    responses((status = 202, body = TaskOut), (status = 409, body = Problem, description = "the site has no agent key for the BMC password"), (status = 404, body = Problem)))]
pub async fn refresh_sensors(
    State(state): State<AppState>,
    caller: Caller,
    Source(source): Source,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse, Problem> {
    let server = task_server(&state, &caller, id).await?;
    let params = serde_json::json!({});
    let task = queue_task(
        &state,
        &caller,
        &source,
        &server,
        "sensors",
        &params,
        "server.sensors.refresh",
    )
    .await?;
    Ok(accepted(&task))
}

/// Queues a task that reads the System Event Log, and clears it with
/// `clear` (which needs the PIN: the log is evidence).
#[utoipa::path(post, path = "/api/v1/servers/{id}/sel/refresh", tag = "servers", request_body = SelRefresh,
    params(("X-Ironrack-Pin" = Option<String>, Header, description = "the caller's PIN, for `clear`")),
    responses((status = 202, body = TaskOut), (status = 409, body = Problem, description = "the site has no agent key for the BMC password"), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn refresh_sel(
    State(state): State<AppState>,
    caller: Caller,
    Source(source): Source,
    Path(id): Path<i64>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<SelRefresh>,
) -> Result<impl IntoResponse, Problem> {
    let server = task_server(&state, &caller, id).await?;
    if req.clear {
        super::session::check_pin(&state, &caller, &headers, req.pin.as_deref())?;
    }
    let params = serde_json::json!({ "clear": req.clear });
    let action = if req.clear {
        "server.sel.clear"
    } else {
        "server.sel.refresh"
    };
    let task = queue_task(&state, &caller, &source, &server, "sel", &params, action).await?;
    Ok(accepted(&task))
}

/// Queues a reset of the server's BMC (not of the server): the BMC is
/// unreachable for a minute or two. Needs the PIN.
#[utoipa::path(post, path = "/api/v1/servers/{id}/bmc-reset", tag = "servers", request_body = BmcResetRequest,
    params(("X-Ironrack-Pin" = Option<String>, Header, description = "the caller's PIN")),
    responses((status = 202, body = TaskOut), (status = 409, body = Problem, description = "the site has no agent key for the BMC password"), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn bmc_reset(
    State(state): State<AppState>,
    caller: Caller,
    Source(source): Source,
    Path(id): Path<i64>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<BmcResetRequest>,
) -> Result<impl IntoResponse, Problem> {
    let server = task_server(&state, &caller, id).await?;
    super::session::check_pin(&state, &caller, &headers, req.pin.as_deref())?;
    let params = serde_json::json!({ "kind": req.kind });
    let action = format!("server.bmc_reset.{}", req.kind.as_str());
    let task = queue_task(
        &state,
        &caller,
        &source,
        &server,
        "bmc_reset",
        &params,
        &action,
    )
    .await?;
    Ok(accepted(&task))
}
