use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse};
use ironrack_store::{NewAudit, NewToken, TokenKind, UserUpdate, now_ms};

use crate::audit::AuditNote;
use crate::auth::{
    Caller, SESSION_COOKIE, dummy_hash, hash_password, new_token, token_digest, verify_password,
};
use crate::dto::{LoginRequest, LoginResponse, PasswordChange, PinRequest, UserOut, time};
use crate::problem::ApiJson;
use crate::{AppState, Problem};

/// Exchanges a username and password for a session token (also set as an
/// HttpOnly, SameSite=Strict cookie for the browser).
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", security(()), request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = Problem), (status = 429, body = Problem)))]
pub async fn login(
    State(state): State<AppState>,
    super::Source(source): super::Source,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<impl IntoResponse, Problem> {
    let user_key = format!("{}|{source}", req.username);
    let source_key = source.to_string();
    let limits = &state.limits;
    if let Err(wait) = limits
        .login_user
        .check(&user_key)
        .and(limits.login_source.check(&source_key))
    {
        return Err(Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many failed logins; try again in {wait} s"),
        )
        .retry_after(wait));
    }
    let user = state.store.user_by_name(&req.username).await?;
    // Verify against a dummy hash for unknown users: same time, same answer.
    let hash = user
        .as_ref()
        .map_or(dummy_hash(), |u| u.password_hash.as_str());
    let password_ok = verify_password(&req.password, hash);
    let tenant_id = user.as_ref().and_then(|u| u.tenant_id);
    let audit = |result: &'static str, user_id: Option<i64>| NewAudit {
        user_id,
        username: &req.username,
        tenant_id,
        action: "auth.login",
        object_type: "user",
        object_id: user_id.map(|id| id.to_string()),
        source: &source_key,
        result,
        detail: None,
    };
    let user = match user {
        Some(u) if password_ok && !u.disabled => u,
        other => {
            limits.login_user.fail(&user_key);
            limits.login_source.fail(&source_key);
            state
                .store
                .record_audit(&audit("denied", other.as_ref().map(|u| u.id)))
                .await?;
            return Err(Problem::unauthorized(
                "wrong username or password, or the account is disabled",
            ));
        }
    };
    limits.login_user.clear(&user_key);
    let token = new_token("irs_");
    let expires_at = now_ms() + state.config.session_ttl.as_millis() as i64;
    state
        .store
        .create_token(NewToken {
            user_id: user.id,
            kind: TokenKind::Session,
            name: "login",
            hash: &token_digest(&token),
            server_ids: None,
            expires_at: Some(expires_at),
        })
        .await?;
    state
        .store
        .record_audit(&audit("ok", Some(user.id)))
        .await?;
    let secure = if state.config.secure_cookie {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        state.config.session_ttl.as_secs()
    );
    let cookie = HeaderValue::from_str(&cookie).map_err(|_| Problem::internal())?;
    Ok((
        AuditNote::recorded(),
        AppendHeaders([(header::SET_COOKIE, cookie)]),
        Json(LoginResponse {
            token,
            expires_at: time(expires_at),
            user: UserOut::from(&user),
        }),
    ))
}

/// Ends the session whose token made this request.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", responses((status = 204)))]
pub async fn logout(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<impl IntoResponse, Problem> {
    if let Some(token) = super::presented_token(&headers) {
        state
            .store
            .revoke_token_by_hash(&token_digest(&token))
            .await?;
    }
    let clear = HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
    ))
    .map_err(|_| Problem::internal())?;
    Ok((
        StatusCode::NO_CONTENT,
        AuditNote::new("auth.logout", "user", caller.user.id).tenant(caller.user.tenant_id),
        AppendHeaders([(header::SET_COOKIE, clear)]),
    ))
}

/// The calling user.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", responses((status = 200, body = UserOut)))]
pub async fn me(caller: Caller) -> Json<UserOut> {
    Json(UserOut::from(&caller.user))
}

/// Sets the PIN that destructive actions ask for. Needs the current password.
#[utoipa::path(put, path = "/api/v1/me/pin", tag = "auth", request_body = PinRequest,
    responses((status = 204), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn set_pin(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<PinRequest>,
) -> Result<impl IntoResponse, Problem> {
    let pin_ok = (4..=12).contains(&req.pin.len()) && req.pin.bytes().all(|b| b.is_ascii_digit());
    if !pin_ok {
        return Err(Problem::invalid("pin", "a PIN is 4 to 12 digits"));
    }
    if !verify_password(&req.password, &caller.user.password_hash) {
        return Err(Problem::forbidden("the password is wrong").field("password"));
    }
    state
        .store
        .set_pin_hash(caller.user.id, &hash_password(&req.pin))
        .await?;
    state.limits.pin.clear(&caller.user.id.to_string());
    Ok((
        StatusCode::NO_CONTENT,
        AuditNote::new("user.set_pin", "user", caller.user.id).tenant(caller.user.tenant_id),
    ))
}

/// Changes the caller's password and ends every other session and token.
#[utoipa::path(put, path = "/api/v1/me/password", tag = "auth", request_body = PasswordChange,
    responses((status = 204), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<PasswordChange>,
) -> Result<impl IntoResponse, Problem> {
    if !verify_password(&req.current_password, &caller.user.password_hash) {
        return Err(Problem::forbidden("the current password is wrong").field("current_password"));
    }
    check_password_strength("new_password", &req.new_password)?;
    let update = UserUpdate {
        password_hash: Some(hash_password(&req.new_password)),
        ..Default::default()
    };
    state.store.update_user(caller.user.id, update).await?;
    state.store.revoke_all_tokens(caller.user.id).await?;
    Ok((
        StatusCode::NO_CONTENT,
        AuditNote::new("user.change_password", "user", caller.user.id)
            .tenant(caller.user.tenant_id),
    ))
}

pub(crate) fn check_password_strength(field: &str, password: &str) -> Result<(), Problem> {
    if password.chars().count() < 8 {
        return Err(Problem::invalid(
            field,
            "a password needs at least 8 characters",
        ));
    }
    if password.len() > 1024 {
        return Err(Problem::invalid(
            field,
            "a password may not exceed 1024 bytes",
        ));
    }
    Ok(())
}

/// Checks the PIN of a destructive action: from `X-Ironrack-Pin` or the body.
/// Wrong PINs are counted; too many lock the user's PIN for a while.
pub(crate) fn check_pin(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    body_pin: Option<&str>,
) -> Result<(), Problem> {
    let Some(hash) = caller.user.pin_hash.as_deref() else {
        return Err(Problem::forbidden(
            "this action needs a PIN, and you have none: set one with PUT /api/v1/me/pin",
        ));
    };
    let presented = headers
        .get("x-ironrack-pin")
        .and_then(|v| v.to_str().ok())
        .or(body_pin);
    let Some(pin) = presented else {
        return Err(Problem::forbidden(
            "this action needs your PIN in the `X-Ironrack-Pin` header or a `pin` field",
        )
        .field("pin"));
    };
    let key = caller.user.id.to_string();
    if let Err(wait) = state.limits.pin.check(&key) {
        return Err(Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many wrong PINs; try again in {wait} s"),
        )
        .retry_after(wait));
    }
    if verify_password(pin, hash) {
        state.limits.pin.clear(&key);
        Ok(())
    } else {
        state.limits.pin.fail(&key);
        Err(Problem::forbidden("wrong PIN").field("pin"))
    }
}
