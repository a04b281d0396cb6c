//! `Idempotency-Key` on POSTs: the first response to a key is stored and
//! replayed for retries of the same request by the same user, so a client
//! that lost a response can retry without queuing a second power cycle.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::Caller;
use crate::{AppState, Problem};

/// Stored responses larger than this are not kept (none of ours come close).
const MAX_STORED: usize = 1024 * 1024;

pub async fn replay_or_record(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let key = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let caller = req.extensions().get::<Caller>().cloned();
    let (Some(key), Some(caller), true) = (key, caller, req.method() == Method::POST) else {
        return next.run(req).await;
    };
    if key.is_empty() || key.len() > 200 {
        return Problem::bad_request("Idempotency-Key must be 1 to 200 characters")
            .field("Idempotency-Key")
            .into_response();
    }
    let request = format!("{} {}", req.method(), req.uri().path());
    let user = caller.user.id;
    match state
        .store
        .claim_idempotency_key(user, &key, &request)
        .await
    {
        Ok(None) => {}
        Ok(Some(prior)) if prior.request != request => {
            return Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!(
                    "this Idempotency-Key was used for another request ({})",
                    prior.request
                ),
            )
            .field("Idempotency-Key")
            .into_response();
        }
        Ok(Some(prior)) if prior.status == 0 => {
            return Problem::new(
                StatusCode::CONFLICT,
                "a request with this Idempotency-Key is still in progress",
            )
            .field("Idempotency-Key")
            .into_response();
        }
        Ok(Some(prior)) => {
            let status = u16::try_from(prior.status)
                .ok()
                .and_then(|s| StatusCode::from_u16(s).ok());
            let mut resp = (status.unwrap_or(StatusCode::OK), prior.body).into_response();
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            resp.headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            return resp;
        }
        Err(e) => return Problem::from(e).into_response(),
    }

    let resp = next.run(req).await;
    let status = resp.status();
    // Only successes are worth replaying; after an error the client may fix
    // the request and retry under the same key.
    if !status.is_success() {
        if let Err(e) = state.store.release_idempotency_key(user, &key).await {
            tracing::warn!(error = %e, "could not release an idempotency key");
        }
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let bytes = match to_bytes(body, MAX_STORED).await {
        Ok(b) => b,
        Err(_) => return Problem::internal().into_response(),
    };
    let text = String::from_utf8_lossy(&bytes);
    if let Err(e) = state
        .store
        .finish_idempotency_key(user, &key, status.as_u16(), &text)
        .await
    {
        tracing::warn!(error = %e, "could not store an idempotent response");
    }
    Response::from_parts(parts, Body::from(bytes))
}
