use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use ironrack_store::{NewToken, TokenKind, now_ms};

use crate::audit::AuditNote;
use crate::auth::{Caller, new_token, token_digest};
use crate::dto::{List, TokenCreated, TokenOut, TokenRequest, time};
use crate::problem::ApiJson;
use crate::{AppState, Problem};

/// The caller's API tokens (never their secrets).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens", responses((status = 200, body = List<TokenOut>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<List<TokenOut>>, Problem> {
    let tokens = state
        .store
        .list_tokens(caller.user.id, TokenKind::Api)
        .await?;
    Ok(Json(List {
        items: tokens.iter().map(TokenOut::from).collect(),
    }))
}

/// Creates an API token; its secret is in this response only.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = TokenRequest,
    responses((status = 201, body = TokenCreated), (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<TokenRequest>,
) -> Result<impl IntoResponse, Problem> {
    let name = req.name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(Problem::invalid(
            "name",
            "a token name is 1 to 100 characters",
        ));
    }
    if req.expires_in_days == Some(0) {
        return Err(Problem::invalid(
            "expires_in_days",
            "expires_in_days must be at least 1",
        ));
    }
    // A token can only narrow its owner's rights: every listed server must
    // be one the caller sees. An invisible one is reported like a missing one.
    if let Some(ids) = &req.server_ids {
        for (i, id) in ids.iter().enumerate() {
            let visible = state
                .store
                .server(*id)
                .await?
                .is_some_and(|s| caller.can_see_server(&s));
            if !visible {
                return Err(Problem::invalid(
                    &format!("server_ids[{i}]"),
                    format!("server {id} not found"),
                ));
            }
        }
    }
    let expires_at = req
        .expires_in_days
        .map(|d| now_ms() + i64::from(d) * 86_400_000);
    let secret = new_token("irk_");
    let row = state
        .store
        .create_token(NewToken {
            user_id: caller.user.id,
            kind: TokenKind::Api,
            name,
            hash: &token_digest(&secret),
            server_ids: req.server_ids.as_deref(),
            expires_at,
        })
        .await?;
    let note = AuditNote::new("token.create", "token", row.id).tenant(caller.user.tenant_id);
    Ok((
        StatusCode::CREATED,
        note,
        Json(TokenCreated {
            id: row.id,
            name: row.name,
            token: secret,
            expires_at: row.expires_at.map(time),
            server_ids: row.server_ids,
            created_at: time(row.created_at),
        }),
    ))
}

/// Revokes one of the caller's tokens.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens", responses((status = 204), (status = 404, body = Problem)))]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse, Problem> {
    state.store.revoke_token(caller.user.id, id).await?;
    Ok((
        StatusCode::NO_CONTENT,
        AuditNote::new("token.revoke", "token", id).tenant(caller.user.tenant_id),
    ))
}
