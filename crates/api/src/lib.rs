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
mod console_reaper;
mod desktop_templates;
mod dto;
mod events;
mod idempotency;
mod poller;
mod problem;
mod routes;
mod sealing;

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
pub use console_reaper::run_console_reaper;
pub use poller::{PowerPollConfig, run_power_poller};
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
    /// Site agents' public keys, for sealing secrets (broker only).
    site_keys: Arc<sealing::SiteKeys>,
    /// Which agent process holds each console session.
    console_holders: Arc<std::sync::Mutex<console_reaper::ConsoleHolders>>,
    /// Which desktop templates each site's agents know.
    desktop_templates: Arc<std::sync::Mutex<desktop_templates::AgentTemplates>>,
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
            site_keys: Arc::default(),
            console_holders: Arc::new(std::sync::Mutex::new(console_reaper::ConsoleHolders::new(
                std::time::Instant::now(),
            ))),
            desktop_templates: Arc::default(),
        }
    }

    /// `ironrack serve`: the desktop templates of the one local agent,
    /// which serves every site (when it runs desktop sessions).
    pub fn set_local_desktop_templates(&self, names: impl IntoIterator<Item = String>) {
        self.desktop_templates().set_local(names);
    }

    pub(crate) fn desktop_templates(
        &self,
    ) -> std::sync::MutexGuard<'_, desktop_templates::AgentTemplates> {
        self.desktop_templates
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn console_holders(
        &self,
    ) -> std::sync::MutexGuard<'_, console_reaper::ConsoleHolders> {
        self.console_holders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
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
    // INVAPI compatibility (outside /api/v1 and the OpenAPI document).
    .merge(routes::invapi_router())
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
    // Before the caller is resolved: INVAPI sends its token as a form field.
    .layer(axum::middleware::from_fn(routes::invapi_token_from_form))
    .layer(DefaultBodyLimit::max(BODY_LIMIT))
    .with_state(state)
}

/// Events taken off the bus at once, at most: a burst of task results and
/// power observations is stored with one commit instead of one per event.
const EVENT_BATCH: usize = 256;

/// Applies agents' events to the store until the bus closes, acknowledging
/// each once stored, and tells live event streams. Events are idempotent
/// (task id + sequence), so redeliveries are harmless.
pub async fn apply_events(state: AppState, mut events: mpsc::Receiver<Delivery<Event>>) {
    let mut batch = Vec::with_capacity(EVENT_BATCH);
    while let Some(first) = events.recv().await {
        batch.push(first);
        while batch.len() < EVENT_BATCH {
            match events.try_recv() {
                Ok(more) => batch.push(more),
                Err(_) => break,
            }
        }
        // In arrival order: a run of task results and power observations is
        // stored in one go; any other event (sensors read by a task) is
        // stored before the results that follow it, so a finished task's
        // readings are there when its result is.
        let mut run = Vec::new();
        for d in batch.drain(..) {
            if matches!(d.message, Event::Task(_) | Event::Power { .. }) {
                run.push(d);
                continue;
            }
            apply_run(&state, std::mem::take(&mut run)).await;
            let outcome = retrying(|| apply_event(&state, &d.message)).await;
            settle(d, &outcome).await;
        }
        apply_run(&state, run).await;
    }
}

/// Task results and power observations, stored together, then settled.
async fn apply_run(state: &AppState, run: Vec<Delivery<Event>>) {
    if run.is_empty() {
        return;
    }
    let events: Vec<&Event> = run.iter().map(|d| &d.message).collect();
    let outcome = retrying(|| apply_bulk(state, &events)).await;
    for d in run {
        settle(d, &outcome).await;
    }
}

/// A store write tried a few times before its events are handed back (a
/// database restarting, a lock held too long).
async fn retrying<F, Fut>(mut attempt: F) -> Result<(), ironrack_store::StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), ironrack_store::StoreError>>,
{
    let mut outcome = attempt().await;
    for pause_ms in [20, 80, 320, 1280] {
        if outcome.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(pause_ms)).await;
        outcome = attempt().await;
    }
    outcome
}

async fn settle(d: Delivery<Event>, outcome: &Result<(), ironrack_store::StoreError>) {
    let settled = match outcome {
        Ok(()) => d.settler.ack().await,
        Err(e) => {
            tracing::warn!(event = ?d.message, error = %e, "could not apply an agent's event; it will come again");
            d.settler.nack().await
        }
    };
    if let Err(e) = settled {
        tracing::warn!(error = %e, "could not settle an event delivery");
    }
}

/// Task events and power observations of a batch: one transaction each,
/// then one read each for the notices (only when someone listens).
async fn apply_bulk(state: &AppState, batch: &[&Event]) -> Result<(), ironrack_store::StoreError> {
    let store = &state.store;
    let task_events: Vec<_> = batch
        .iter()
        .filter_map(|e| match e {
            Event::Task(ev) => Some(ev.clone()),
            _ => None,
        })
        .collect();
    let powers: Vec<_> = batch
        .iter()
        .filter_map(|e| match e {
            Event::Power { server_id, state } => Some((*server_id, *state)),
            _ => None,
        })
        .collect();
    let mut changed_tasks = Vec::new();
    if !task_events.is_empty() {
        let changed = store.apply_task_events(&task_events).await?;
        changed_tasks = task_events
            .iter()
            .zip(changed)
            .filter_map(|(ev, changed)| changed.then_some(ev.task_id))
            .collect();
        changed_tasks.sort_unstable();
        changed_tasks.dedup();
    }
    if !powers.is_empty() {
        store.set_power_states(&powers).await?;
    }
    if state.notices.receiver_count() == 0 {
        return Ok(());
    }
    for task in store.tasks_by_ids(&changed_tasks).await? {
        let _ = state.notices.send(events::Notice {
            tenant_id: task.tenant_id,
            server_id: task.server_id,
            kind: "task",
            data: serde_json::to_value(dto::TaskOut::new(&task, &[])).unwrap_or_default(),
        });
    }
    if !powers.is_empty() {
        let mut ids: Vec<i64> = powers.iter().map(|(id, _)| *id).collect();
        ids.sort_unstable();
        ids.dedup();
        let servers = store
            .list_servers(&ironrack_store::ServerFilter {
                limit: ids.len() as i64,
                only_ids: Some(ids),
                ..Default::default()
            })
            .await?;
        for s in servers.items {
            let _ = state.notices.send(events::Notice {
                tenant_id: s.tenant_id,
                server_id: s.id,
                kind: "power",
                data: serde_json::json!({ "server_id": s.id, "server": s.name, "power_state": s.power_state }),
            });
        }
    }
    Ok(())
}

/// Ends a task that the controller cannot hand to an agent, the way an
/// agent's failure would (stored, and told to event streams).
pub(crate) async fn fail_task(
    state: &AppState,
    task_id: i64,
    error: &str,
) -> Result<(), ironrack_store::StoreError> {
    let failed = Event::Task(ironrack_core::TaskEvent {
        task_id,
        seq: 2,
        what: ironrack_core::TaskEventKind::Failed {
            error: error.to_owned(),
        },
    });
    apply_bulk(state, &[&failed]).await
}

async fn apply_event(state: &AppState, event: &Event) -> Result<(), ironrack_store::StoreError> {
    let store = &state.store;
    let notice = match event {
        Event::Task(_) | Event::Power { .. } => return apply_bulk(state, &[event]).await,
        Event::Sensors {
            server_id,
            read_at,
            readings,
        } => {
            store
                .replace_sensors(*server_id, *read_at, readings)
                .await?;
            None
        }
        Event::Sel {
            server_id,
            read_at,
            entries,
        } => {
            store.replace_sel(*server_id, *read_at, entries).await?;
            None
        }
        Event::Console { session_id, change } => {
            routes::apply_console_change(state, *session_id, change).await?;
            None
        }
        Event::Heartbeat {
            site,
            agent,
            version,
            key,
            console_instance,
            desktop_templates,
        } => {
            store
                .agent_heartbeat(site, agent, version, key.as_deref())
                .await?;
            state.desktop_templates().heartbeat(
                site,
                agent,
                desktop_templates.as_deref(),
                std::time::Instant::now(),
            );
            if let Some(i) = console_instance {
                state
                    .console_holders()
                    .heartbeat(site, agent, i, std::time::Instant::now());
            }
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
