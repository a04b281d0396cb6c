//! Handlers, one module per resource. Each is a plain async function that
//! takes `State`, the `Caller` and its input, and returns JSON or a problem.

mod audit_log;
mod consoles;
mod invapi;
mod sensors;
mod servers;
mod session;
mod sites;
mod tasks;
mod tenants;
mod tokens;
mod users;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use ironrack_bus::{BmcTarget, Secret, TaskRequest};
use ironrack_store::{Server, Task};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Caller, SESSION_COOKIE, token_digest};
use crate::dto::Health;
use crate::sealing::{Unsealed, no_key_text};
use crate::{AppState, Problem};

pub(crate) use consoles::apply_change as apply_console_change;
pub(crate) use consoles::audit_close as audit_console_close;
pub(crate) use invapi::{
    CALLBACK_PATH as INVAPI_CALLBACK_PATH, router as invapi_router,
    token_from_form as invapi_token_from_form,
};

pub fn all(router: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    router
        .routes(routes!(health))
        .routes(routes!(session::login))
        .routes(routes!(session::logout))
        .routes(routes!(session::me))
        .routes(routes!(session::set_pin))
        .routes(routes!(session::change_password))
        .routes(routes!(tokens::list, tokens::create))
        .routes(routes!(tokens::revoke))
        .routes(routes!(tenants::list, tenants::create))
        .routes(routes!(tenants::get, tenants::delete))
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::get, users::update, users::delete))
        .routes(routes!(sites::list, sites::create))
        .routes(routes!(sites::get, sites::delete))
        .routes(routes!(sites::set_agent_key, sites::delete_agent_key))
        .routes(routes!(servers::list, servers::create))
        .routes(routes!(servers::get, servers::update, servers::delete))
        .routes(routes!(servers::power))
        .routes(routes!(servers::boot_device))
        .routes(routes!(sensors::sensors))
        .routes(routes!(sensors::sel))
        .routes(routes!(sensors::refresh_sensors))
        .routes(routes!(sensors::refresh_sel))
        .routes(routes!(sensors::bmc_reset))
        .routes(routes!(consoles::open))
        .routes(routes!(consoles::list))
        .routes(routes!(consoles::get, consoles::kill))
        .routes(routes!(consoles::add_viewer))
        .routes(routes!(consoles::log))
        .routes(routes!(tasks::list))
        .routes(routes!(tasks::get))
        .routes(routes!(tasks::cancel))
        .routes(routes!(audit_log::list))
        .routes(routes!(audit_log::get))
        .routes(routes!(crate::events::stream))
}

/// Liveness and the database's reachability; needs no token.
#[utoipa::path(get, path = "/api/v1/health", tag = "system", security(()),
    responses((status = 200, body = Health), (status = 503, body = Problem)))]
async fn health(State(state): State<AppState>) -> Result<axum::Json<Health>, Problem> {
    state.store.ping().await.map_err(|e| {
        tracing::error!(error = %e, "health: database unreachable");
        Problem::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "the database is unreachable",
        )
    })?;
    Ok(axum::Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        database: state.store.backend(),
    }))
}

/// Marks a presented credential that did not authenticate, so the 401 can
/// say so rather than "no credentials".
#[derive(Clone)]
struct BadCredential;

/// Resolves the bearer token or session cookie, once per request.
pub async fn resolve_caller(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    if let Some(token) = presented_token(req.headers()) {
        let (mut parts, body) = req.into_parts();
        match state.store.token_by_hash(&token_digest(&token)).await {
            Ok(Some((token, user))) => {
                // Record use at most once a minute: a write per request
                // would cost more than the request itself.
                let stale = token
                    .last_used_at
                    .is_none_or(|t| ironrack_store::now_ms() - t > 60_000);
                if stale && let Err(e) = state.store.touch_token(token.id).await {
                    tracing::warn!(error = %e, "could not record token use");
                }
                parts.extensions.insert(Caller { user, token });
            }
            Ok(None) => {
                parts.extensions.insert(BadCredential);
            }
            Err(e) => {
                tracing::error!(error = %e, "token lookup failed");
                return axum::response::IntoResponse::into_response(Problem::internal());
            }
        }
        req = Request::from_parts(parts, body);
    }
    next.run(req).await
}

pub(crate) fn presented_token(headers: &axum::http::HeaderMap) -> Option<String> {
    if let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        return value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(|t| t.trim().to_owned());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.to_owned())
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        if parts.extensions.get::<BadCredential>().is_some() {
            return Err(Problem::unauthorized(
                "the token is invalid, expired or revoked; log in again",
            ));
        }
        Err(Problem::unauthorized(
            "authentication required: send `Authorization: Bearer <token>` (POST /api/v1/auth/login gives one)",
        ))
    }
}

/// The request's source address.
pub(crate) struct Source(pub std::net::IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for Source {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Source(crate::source_of(parts)))
    }
}

/// Staff only; customers are told so plainly (the endpoint itself is public knowledge).
pub(crate) fn require_staff(caller: &Caller) -> Result<(), Problem> {
    if caller.is_staff() {
        Ok(())
    } else {
        Err(Problem::forbidden(
            "this needs an admin or operator account",
        ))
    }
}

pub(crate) fn require_admin(caller: &Caller) -> Result<(), Problem> {
    if caller.role() == ironrack_core::Role::Admin {
        Ok(())
    } else {
        Err(Problem::forbidden("this needs an admin account"))
    }
}

/// The id of the site called `name`; an unknown one is the `site` field's fault.
pub(crate) async fn site_named(state: &AppState, name: &str) -> Result<i64, Problem> {
    let site = state.store.site_by_name(name).await?;
    site.map(|s| s.id)
        .ok_or_else(|| Problem::invalid("site", format!("unknown site `{name}`")))
}

/// The id of the tenant called `name`; an unknown one is the `tenant` field's fault.
pub(crate) async fn tenant_named(state: &AppState, name: &str) -> Result<i64, Problem> {
    let tenant = state.store.tenant_by_name(name).await?;
    tenant
        .map(|t| t.id)
        .ok_or_else(|| Problem::invalid("tenant", format!("unknown tenant `{name}`")))
}

/// Page size and cursor from query parameters.
pub(crate) fn page_args(
    limit: Option<i64>,
    cursor: Option<&str>,
) -> Result<(i64, Option<i64>), Problem> {
    let limit = limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(Problem::invalid(
            "limit",
            "limit must be between 1 and 1000",
        ));
    }
    let cursor = match cursor {
        None | Some("") => None,
        Some(c) => Some(
            c.parse::<i64>()
                .map_err(|_| Problem::invalid("cursor", "cursor is not one this API gave out"))?,
        ),
    };
    Ok((limit, cursor))
}

pub(crate) fn cursor_out(next: Option<i64>) -> Option<String> {
    next.map(|n| n.to_string())
}

/// How the agent reaches the server's BMC, password included (sealed to
/// the site's agent key before it leaves the process).
pub(crate) async fn bmc_target(
    state: &AppState,
    server: &Server,
) -> Result<BmcTarget, ironrack_store::StoreError> {
    // Read with the server row: no second query per task.
    let password = state.store.open_bmc_password(server)?;
    Ok(BmcTarget {
        driver: server.bmc.driver.clone(),
        address: server.bmc.address.clone(),
        port: server.bmc.port,
        username: server.bmc.username.clone(),
        password: password.map(Secret::from),
        options: server.bmc.options.clone(),
        secrets: Default::default(),
    })
}

/// Sends a task to the agent of its server's site. A task whose secrets
/// cannot be sealed (the site has no agent key) fails at once, saying why:
/// left queued, it would run whenever a key appears, long after anyone
/// expects it to.
pub(crate) async fn publish(state: &AppState, task: &Task, server: &Server) -> Result<(), Problem> {
    let mut request = TaskRequest {
        task_id: task.id,
        server_id: server.id,
        site: server.site_name.clone(),
        kind: task.kind.clone(),
        params: task.params.clone(),
        bmc: bmc_target(state, server).await?,
    };
    if let Err(e) = state.seal_secrets(&mut request).await {
        if let Unsealed::NoKey(site) = &e {
            crate::fail_task(state, task.id, &no_key_text(site)).await?;
        }
        return Err(e.into_problem());
    }
    let read_only = request.is_read_only();
    state.tasks.publish(request).await.map_err(|e| {
        tracing::error!(task = task.id, error = %e, "could not publish a task");
        Problem::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "the task bus is unavailable; the task stays queued",
        )
    })?;
    // Only a durable bus's record matters at restart (an in-process queue
    // is gone then, and every unfinished task is handed out again). A task
    // that changes the machine is answered only once the mark is stored: a
    // controller that dies after answering must not publish it again, or
    // the agent would run it twice. A read-only task run twice costs only a
    // read, so its caller does not wait for the commit.
    if state.tasks.durable() {
        if read_only {
            let store = state.store.clone();
            let id = task.id;
            tokio::spawn(async move {
                if let Err(e) = store.mark_task_published(id).await {
                    tracing::warn!(task = id, error = %e, "could not record that the bus took a task; it will be published again at restart");
                }
            });
        } else {
            state.store.mark_task_published(task.id).await?;
        }
    }
    Ok(())
}
