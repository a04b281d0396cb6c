use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;

use super::{require_admin, require_staff};
use crate::audit::AuditNote;
use crate::auth::Caller;
use crate::dto::{AgentKeyIn, List, SiteCreate, SiteOut};
use crate::problem::ApiJson;
use crate::{AppState, Problem};

/// Sites (locations with their own agent).
#[utoipa::path(get, path = "/api/v1/sites", tag = "sites", responses((status = 200, body = List<SiteOut>)))]
pub async fn list(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Json<List<SiteOut>>, Problem> {
    let sites = state.store.list_sites().await?;
    let agents = state.store.agents().await?;
    Ok(Json(List {
        items: sites
            .iter()
            .map(|s| SiteOut::new(s, &agents, state.seals_secrets()))
            .collect(),
    }))
}

/// Creates a site (staff).
#[utoipa::path(post, path = "/api/v1/sites", tag = "sites", request_body = SiteCreate,
    responses((status = 201, body = SiteOut), (status = 409, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<SiteCreate>,
) -> Result<impl IntoResponse, Problem> {
    require_staff(&caller)?;
    let name = super::users::valid_name("name", &req.name)?;
    if req.location.len() > 200 {
        return Err(Problem::invalid(
            "location",
            "a location label is at most 200 bytes",
        ));
    }
    let site = state.store.create_site(name, req.location.trim()).await?;
    Ok((
        StatusCode::CREATED,
        AuditNote::new("site.create", "site", site.id),
        Json(SiteOut::new(&site, &[], state.seals_secrets())),
    ))
}

#[utoipa::path(get, path = "/api/v1/sites/{id}", tag = "sites", responses((status = 200, body = SiteOut), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<SiteOut>, Problem> {
    let site = state
        .store
        .site(id)
        .await?
        .ok_or_else(|| Problem::not_found("site"))?;
    let agents = state.store.agents().await?;
    Ok(Json(SiteOut::new(&site, &agents, state.seals_secrets())))
}

/// Registers (or replaces) the public key of the site's agent (admin): the
/// controller seals BMC secrets to it before they cross the broker.
#[utoipa::path(put, path = "/api/v1/sites/{id}/agent-key", tag = "sites", request_body = AgentKeyIn,
    responses((status = 200, body = SiteOut), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem, description = "not an X25519 public key")))]
pub async fn set_agent_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<AgentKeyIn>,
) -> Result<impl IntoResponse, Problem> {
    require_admin(&caller)?;
    let key = ironrack_seal::PublicKey::parse(&req.public_key).map_err(|e| {
        Problem::invalid("public_key", format!("public_key is not an agent key: {e}"))
    })?;
    let site = state.store.set_site_agent_key(id, &key.to_base64()).await?;
    state.site_keys.forget(&site.name);
    let agents = state.store.agents().await?;
    let mut note = AuditNote::new("site.agent_key", "site", site.id);
    note.detail = Some(format!("key {}", key.fingerprint()));
    Ok((
        note,
        Json(SiteOut::new(&site, &agents, state.seals_secrets())),
    ))
}

/// Removes the site's agent key (admin), e.g. when the agent's host was
/// compromised: from then on nothing that needs a secret goes to the site
/// (409, naming the commands that register a new key) until a new key is
/// registered. Tasks already queued stay sealed to the old key.
#[utoipa::path(delete, path = "/api/v1/sites/{id}/agent-key", tag = "sites",
    responses((status = 200, body = SiteOut), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn delete_agent_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse, Problem> {
    require_admin(&caller)?;
    let before = state
        .store
        .site(id)
        .await?
        .ok_or_else(|| Problem::not_found("site"))?;
    let site = state.store.clear_site_agent_key(id).await?;
    state.site_keys.forget(&site.name);
    let agents = state.store.agents().await?;
    let mut note = AuditNote::new("site.agent_key.delete", "site", site.id);
    note.detail = before
        .agent_key
        .as_deref()
        .and_then(ironrack_seal::PublicKey::fingerprint_of)
        .map(|fp| format!("key {fp}"));
    Ok((
        note,
        Json(SiteOut::new(&site, &agents, state.seals_secrets())),
    ))
}

/// Deletes a site without servers (staff).
#[utoipa::path(delete, path = "/api/v1/sites/{id}", tag = "sites", responses((status = 204), (status = 409, body = Problem)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse, Problem> {
    require_staff(&caller)?;
    state.store.delete_site(id).await?;
    Ok((
        StatusCode::NO_CONTENT,
        AuditNote::new("site.delete", "site", id),
    ))
}
