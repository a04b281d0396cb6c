//! The audit layer: every state-changing request leaves one entry, whether
//! it succeeded or not. Handlers describe what they did with an `AuditNote`
//! on the response; requests that fail before that get a generic entry.

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponseParts, Response, ResponseParts};
use ironrack_store::NewAudit;

use crate::AppState;
use crate::auth::Caller;

/// What a handler did, for the audit entry.
#[derive(Clone, Debug, Default)]
pub struct AuditNote {
    pub action: String,
    pub object_type: &'static str,
    pub object_id: Option<String>,
    /// The tenant that owns the object (so its customers see the entry).
    pub tenant_id: Option<i64>,
    pub detail: Option<String>,
    /// The handler wrote the entry itself, in its own transaction.
    pub recorded: bool,
}

impl AuditNote {
    pub fn new(action: &str, object_type: &'static str, object_id: impl ToString) -> AuditNote {
        AuditNote {
            action: action.to_owned(),
            object_type,
            object_id: Some(object_id.to_string()),
            ..Default::default()
        }
    }

    pub fn tenant(mut self, tenant_id: Option<i64>) -> AuditNote {
        self.tenant_id = tenant_id;
        self
    }

    pub fn recorded() -> AuditNote {
        AuditNote {
            recorded: true,
            ..Default::default()
        }
    }
}

impl IntoResponseParts for AuditNote {
    type Error = std::convert::Infallible;

    fn into_response_parts(self, mut res: ResponseParts) -> Result<ResponseParts, Self::Error> {
        res.extensions_mut().insert(self);
        Ok(res)
    }
}

/// A note alone is an empty response (e.g. after `204 No Content`).
impl axum::response::IntoResponse for AuditNote {
    fn into_response(self) -> Response {
        (self, ()).into_response()
    }
}

pub async fn record_writes(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    // Login audits itself: it knows the username even when it fails. An
    // INVAPI callback check only reads (scripts poll it by POST too).
    if matches!(method, Method::GET | Method::HEAD | Method::OPTIONS)
        || req.uri().path() == "/api/v1/auth/login"
        || req.uri().path() == crate::routes::INVAPI_CALLBACK_PATH
    {
        return next.run(req).await;
    }
    let path = req.uri().path().to_owned();
    let caller = req.extensions().get::<Caller>().cloned();
    let (parts, body) = req.into_parts();
    let source = crate::source_of(&parts).to_string();
    let response = next.run(Request::from_parts(parts, body)).await;

    let note = response.extensions().get::<AuditNote>().cloned();
    if note.as_ref().is_some_and(|n| n.recorded) {
        return response;
    }
    let status = response.status();
    let result = if status.is_success() {
        "ok".to_owned()
    } else {
        format!("error {}", status.as_u16())
    };
    // Without a note the request failed early: attribute it to the caller's
    // own tenant, never to the object's, which the caller may not know of.
    let note = note.unwrap_or_else(|| AuditNote {
        action: format!("{method} {path}"),
        object_type: "request",
        tenant_id: caller.as_ref().and_then(|c| c.user.tenant_id),
        ..Default::default()
    });
    let entry = NewAudit {
        user_id: caller.as_ref().map(|c| c.user.id),
        username: caller.as_ref().map_or("-", |c| c.user.username.as_str()),
        tenant_id: note.tenant_id,
        action: &note.action,
        object_type: note.object_type,
        object_id: note.object_id.clone(),
        source: &source,
        result: &result,
        detail: note.detail.clone(),
    };
    if let Err(e) = state.store.record_audit(&entry).await {
        tracing::error!(error = %e, action = %note.action, "could not write an audit entry");
    }
    response
}
