//! The controller's public API: `/api/v1`, JSON in and out, problems for
//! errors, an OpenAPI document generated from the handlers.
//!
//! Invariants:
//! - This is the only crate that knows the public HTTP/JSON shapes (`dto`).
//! - It never talks to a BMC: hardware actions become tasks on the bus.
//! - Visibility is decided in one place (`auth::Caller`): a customer asking
//!   for another tenant's object gets the same 404 as for a missing one.
//! - Every state-changing request leaves an audit entry (`audit` layer),
//!   whatever its outcome.

mod audit;
mod auth;
mod dto;
mod events;
mod idempotency;
mod problem;
mod routes;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use ironrack_bus::{Delivery, Event, TaskPublisher};
use ironrack_store::Store;
use tokio::sync::mpsc;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

pub use auth::hash_password;
pub use problem::Problem;

/// Request bodies larger than this are refused with 413.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Settings of the API that come from configuration.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// How long a login session lasts.
    pub session_ttl: Duration,
    /// Failed logins allowed per user and source address in `login_window`.
    pub login_failures: usize,
    pub login_window: Duration,
    /// Wrong PINs allowed per user in `pin_window`.
    pub pin_failures: usize,
    pub pin_window: Duration,
    /// Mark the session cookie `Secure` (behind HTTPS).
    pub secure_cookie: bool,
    /// Limits given to every console session.
    pub console: ConsoleConfig,
}

/// Console session limits (sent with each session to the site's gateway).
#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    /// How long a console token may wait to be used.
    pub token_ttl: Duration,
    /// Close after this long without input.
    pub idle_timeout: Duration,
    /// Warn this long before the idle close.
    pub idle_warning: Duration,
    pub max_duration: Duration,
    /// How long a session without viewers waits for one to reconnect.
    pub reconnect_grace: Duration,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            token_ttl: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(15 * 60),
            idle_warning: Duration::from_secs(60),
            max_duration: Duration::from_secs(8 * 3600),
            reconnect_grace: Duration::from_secs(30),
        }
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            session_ttl: Duration::from_secs(12 * 3600),
            login_failures: 5,
            login_window: Duration::from_secs(300),
            pin_failures: 5,
            pin_window: Duration::from_secs(900),
            secure_cookie: false,
            console: ConsoleConfig::default(),
        }
    }
}

/// What every handler receives.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub tasks: Arc<dyn TaskPublisher>,
    pub config: Arc<ApiConfig>,
    limits: Arc<Limits>,
    /// Fan-out of applied events to `GET /api/v1/events` streams.
    notices: tokio::sync::broadcast::Sender<events::Notice>,
}

struct Limits {
    login_user: auth::FailureLimiter,
    login_source: auth::FailureLimiter,
    pin: auth::FailureLimiter,
}

impl AppState {
    pub fn new(store: Store, tasks: Arc<dyn TaskPublisher>, config: ApiConfig) -> AppState {
        let limits = Limits {
            login_user: auth::FailureLimiter::new(config.login_failures, config.login_window),
            // A source may mistype several accounts' passwords, but not spray.
            login_source: auth::FailureLimiter::new(config.login_failures * 4, config.login_window),
            pin: auth::FailureLimiter::new(config.pin_failures, config.pin_window),
        };
        AppState {
            store,
            tasks,
            config: Arc::new(config),
            limits: Arc::new(limits),
            notices: tokio::sync::broadcast::channel(1024).0,
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "ironrack API", description = "Run bare-metal servers: tenants, users, servers, power, tasks, audit."),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The whole API. Serve it with `into_make_service_with_connect_info::<SocketAddr>()`
/// so that audit entries and rate limits see the source address.
pub fn router(state: AppState) -> Router {
    let (api, openapi) =
        routes::all(OpenApiRouter::with_openapi(ApiDoc::openapi())).split_for_parts();
    let openapi = Arc::new(openapi);
    api.route(
        "/api/v1/openapi.json",
        axum::routing::get(move || {
            let doc = openapi.clone();
            async move { axum::Json(doc.as_ref().clone()) }
        }),
    )
    .fallback(|| async { Problem::not_found("route") })
    .layer(axum::middleware::from_fn_with_state(
        state.clone(),
        audit::record_writes,
    ))
    .layer(axum::middleware::from_fn_with_state(
        state.clone(),
        idempotency::replay_or_record,
    ))
    .layer(axum::middleware::from_fn_with_state(
        state.clone(),
        routes::resolve_caller,
    ))
    .layer(DefaultBodyLimit::max(BODY_LIMIT))
    .with_state(state)
}

/// Applies agents' events to the store until the bus closes, acknowledging
/// each once stored, and tells live event streams. Events are idempotent
/// (task id + sequence), so redeliveries are harmless.
pub async fn apply_events(state: AppState, mut events: mpsc::Receiver<Delivery<Event>>) {
    while let Some(Delivery {
        message: event,
        settler,
    }) = events.recv().await
    {
        // SQLite refuses a transaction that must turn from reader into
        // writer while another connection writes (SQLITE_BUSY, no wait):
        // try a few times before handing the event back.
        let mut outcome = apply_event(&state, &event).await;
        for pause_ms in [20, 80, 320, 1280] {
            if outcome.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(pause_ms)).await;
            outcome = apply_event(&state, &event).await;
        }
        let settled = match outcome {
            Ok(()) => settler.ack().await,
            Err(e) => {
                tracing::warn!(?event, error = %e, "could not apply an agent's event; it will come again");
                settler.nack().await
            }
        };
        if let Err(e) = settled {
            tracing::warn!(error = %e, "could not settle an event delivery");
        }
    }
}

async fn apply_event(state: &AppState, event: &Event) -> Result<(), ironrack_store::StoreError> {
    let store = &state.store;
    let notice = match event {
        Event::Task(ev) => match store.apply_task_event(ev).await {
            Ok((task, true)) => Some(events::Notice {
                tenant_id: task.tenant_id,
                server_id: task.server_id,
                kind: "task",
                data: serde_json::to_value(dto::TaskOut::new(&task, &[])).unwrap_or_default(),
            }),
            Ok((_, false)) => None,
            // An event for a task that no longer exists is done with.
            Err(ironrack_store::StoreError::NotFound(_)) => None,
            Err(e) => return Err(e),
        },
        Event::Power {
            server_id,
            state: power,
        } => {
            store.set_power_state(*server_id, *power).await?;
            store.server(*server_id).await?.map(|s| events::Notice {
                tenant_id: s.tenant_id,
                server_id: s.id,
                kind: "power",
                data: serde_json::json!({ "server_id": s.id, "server": s.name, "power_state": power }),
            })
        }
        Event::Console { session_id, change } => {
            routes::apply_console_change(state, *session_id, change).await?;
            None
        }
        Event::Heartbeat {
            site,
            agent,
            version,
        } => {
            store.agent_heartbeat(site, agent, version).await?;
            None
        }
    };
    if let Some(n) = notice {
        // No subscriber is not an error.
        let _ = state.notices.send(n);
    }
    Ok(())
}

/// Hands unfinished tasks to the agents again, e.g. after a restart.
pub async fn resume_unfinished(state: &AppState) -> Result<usize, ironrack_store::StoreError> {
    let tasks = state.store.unfinished_tasks(state.tasks.durable()).await?;
    let mut resumed = 0;
    for task in tasks {
        let Some(server) = state.store.server(task.server_id).await? else {
            continue;
        };
        if routes::publish(state, &task, &server).await.is_ok() {
            resumed += 1;
        }
    }
    Ok(resumed)
}

/// Where a request came from, for logs, limits and audit.
pub(crate) fn source_of(req: &axum::http::request::Parts) -> std::net::IpAddr {
    req.extensions
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]))
}
