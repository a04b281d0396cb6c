use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;

use super::require_staff;
use crate::audit::AuditNote;
use crate::auth::Caller;
use crate::dto::{List, SiteCreate, SiteOut};
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
        items: sites.iter().map(|s| SiteOut::new(s, &agents)).collect(),
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
        Json(SiteOut::new(&site, &[])),
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
    Ok(Json(SiteOut::new(&site, &[])))
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
