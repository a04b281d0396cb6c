use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;

use super::require_admin;
use crate::audit::AuditNote;
use crate::auth::Caller;
use crate::dto::{List, NameRequest, TenantOut};
use crate::problem::ApiJson;
use crate::{AppState, Problem};

/// Tenants: staff list them all; a customer sees its own.
#[utoipa::path(get, path = "/api/v1/tenants", tag = "tenants", responses((status = 200, body = List<TenantOut>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<List<TenantOut>>, Problem> {
    let tenants = state.store.list_tenants().await?;
    let items = tenants
        .iter()
        .filter(|t| caller.tenant_scope().is_none_or(|own| own == t.id))
        .map(TenantOut::from)
        .collect();
    Ok(Json(List { items }))
}

/// Creates a tenant (admin).
#[utoipa::path(post, path = "/api/v1/tenants", tag = "tenants", request_body = NameRequest,
    responses((status = 201, body = TenantOut), (status = 409, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<NameRequest>,
) -> Result<impl IntoResponse, Problem> {
    require_admin(&caller)?;
    let name = super::users::valid_name("name", &req.name)?;
    let tenant = state.store.create_tenant(name).await?;
    Ok((
        StatusCode::CREATED,
        AuditNote::new("tenant.create", "tenant", tenant.id).tenant(Some(tenant.id)),
        Json(TenantOut::from(&tenant)),
    ))
}

#[utoipa::path(get, path = "/api/v1/tenants/{id}", tag = "tenants", responses((status = 200, body = TenantOut), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<TenantOut>, Problem> {
    let tenant = state
        .store
        .tenant(id)
        .await?
        .filter(|t| caller.tenant_scope().is_none_or(|own| own == t.id));
    tenant
        .map(|t| Json(TenantOut::from(&t)))
        .ok_or_else(|| Problem::not_found("tenant"))
}

/// Deletes a tenant that has no users or servers left (admin).
#[utoipa::path(delete, path = "/api/v1/tenants/{id}", tag = "tenants", responses((status = 204), (status = 409, body = Problem)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse, Problem> {
    require_admin(&caller)?;
    state.store.delete_tenant(id).await?;
    Ok((
        StatusCode::NO_CONTENT,
        AuditNote::new("tenant.delete", "tenant", id).tenant(Some(id)),
    ))
}
