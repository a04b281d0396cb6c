use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use ironrack_core::Role;
use ironrack_store::{NewUser, UserUpdate};

use super::session::check_password_strength;
use super::{require_admin, tenant_named};
use crate::audit::AuditNote;
use crate::auth::{Caller, hash_password};
use crate::dto::{List, UserCreate, UserOut, UserPatch, UserQuery};
use crate::problem::ApiJson;
use crate::{AppState, Problem};

/// Names of users, tenants, sites and servers: 1–63 characters of letters,
/// digits, `-`, `_` and `.`, starting with a letter or digit, so they work
/// in URLs, shells and host names.
pub(crate) fn valid_name<'a>(field: &str, name: &'a str) -> Result<&'a str, Problem> {
    let ok = (1..=63).contains(&name.len())
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(name)
    } else {
        Err(Problem::invalid(
            field,
            format!(
                "`{name}` is not a valid {field}: use 1 to 63 letters, digits, `-`, `_` or `.`, starting with a letter or digit"
            ),
        ))
    }
}

/// A customer belongs to exactly one tenant; staff to none.
fn check_role_tenant(role: Role, tenant: Option<i64>) -> Result<(), Problem> {
    match (role, tenant) {
        (Role::Customer, None) => Err(Problem::invalid("tenant", "a customer needs a tenant")),
        (Role::Admin | Role::Operator, Some(_)) => Err(Problem::invalid(
            "tenant",
            "staff users belong to no tenant",
        )),
        _ => Ok(()),
    }
}

/// All users, or one tenant's (admin).
#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(UserQuery), responses((status = 200, body = List<UserOut>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<UserQuery>,
) -> Result<Json<List<UserOut>>, Problem> {
    require_admin(&caller)?;
    let tenant = match &q.tenant {
        Some(name) => Some(tenant_named(&state, name).await?),
        None => None,
    };
    let users = state.store.list_users(tenant).await?;
    Ok(Json(List {
        items: users.iter().map(UserOut::from).collect(),
    }))
}

/// Creates a user (admin).
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = UserCreate,
    responses((status = 201, body = UserOut), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<UserCreate>,
) -> Result<impl IntoResponse, Problem> {
    require_admin(&caller)?;
    let username = valid_name("username", &req.username)?;
    check_password_strength("password", &req.password)?;
    let tenant = match &req.tenant {
        Some(name) => Some(tenant_named(&state, name).await?),
        None => None,
    };
    check_role_tenant(req.role, tenant)?;
    let hash = hash_password(&req.password);
    let user = state
        .store
        .create_user(NewUser {
            username,
            password_hash: &hash,
            role: req.role,
            tenant_id: tenant,
        })
        .await
        .map_err(|e| Problem::from(e).field("username"))?;
    Ok((
        StatusCode::CREATED,
        AuditNote::new("user.create", "user", user.id).tenant(user.tenant_id),
        Json(UserOut::from(&user)),
    ))
}

#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", responses((status = 200, body = UserOut), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<UserOut>, Problem> {
    require_admin(&caller)?;
    let user = state
        .store
        .user(id)
        .await?
        .ok_or_else(|| Problem::not_found("user"))?;
    Ok(Json(UserOut::from(&user)))
}

/// Changes a user's password, role, tenant or disabled flag (admin). A new
/// password or disabling ends the user's sessions and tokens.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", request_body = UserPatch,
    responses((status = 200, body = UserOut), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<UserPatch>,
) -> Result<impl IntoResponse, Problem> {
    require_admin(&caller)?;
    let current = state
        .store
        .user(id)
        .await?
        .ok_or_else(|| Problem::not_found("user"))?;
    if let Some(pw) = &req.password {
        check_password_strength("password", pw)?;
    }
    let tenant = match &req.tenant {
        Some(Some(name)) => Some(Some(tenant_named(&state, name).await?)),
        Some(None) => Some(None),
        None => None,
    };
    let role = req.role.unwrap_or(current.role);
    check_role_tenant(role, tenant.unwrap_or(current.tenant_id))?;
    if id == caller.user.id
        && (req.disabled == Some(true) || req.role.is_some_and(|r| r != Role::Admin))
    {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "you cannot disable or demote yourself",
        ));
    }
    let ends_sessions = req.password.is_some() || req.disabled == Some(true);
    let update = UserUpdate {
        password_hash: req.password.as_deref().map(hash_password),
        role: req.role,
        tenant_id: tenant,
        disabled: req.disabled,
    };
    let user = state.store.update_user(id, update).await?;
    if ends_sessions {
        state.store.revoke_all_tokens(id).await?;
    }
    Ok((
        AuditNote::new("user.update", "user", id).tenant(user.tenant_id),
        Json(UserOut::from(&user)),
    ))
}

/// Deletes a user and their tokens (admin).
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "users", responses((status = 204), (status = 404, body = Problem)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse, Problem> {
    require_admin(&caller)?;
    if id == caller.user.id {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "you cannot delete yourself",
        ));
    }
    let user = state
        .store
        .user(id)
        .await?
        .ok_or_else(|| Problem::not_found("user"))?;
    state.store.delete_user(id).await?;
    Ok((
        StatusCode::NO_CONTENT,
        AuditNote::new("user.delete", "user", id).tenant(user.tenant_id),
    ))
}
