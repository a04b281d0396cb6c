use axum::Json;
use axum::extract::{Path, Query, State};

use super::{cursor_out, page_args};
use crate::auth::Caller;
use crate::dto::{AuditOut, PageQuery, Paged};
use crate::{AppState, Problem};

/// The audit log, newest first: staff see all, a customer its tenant's.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(PageQuery), responses((status = 200, body = Paged<AuditOut>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<PageQuery>,
) -> Result<Json<Paged<AuditOut>>, Problem> {
    let (limit, after_id) = page_args(q.limit, q.cursor.as_deref())?;
    // A token restricted to some servers does not read the tenant's log.
    if caller.server_scope().is_some() {
        return Ok(Json(Paged {
            items: vec![],
            next_cursor: None,
        }));
    }
    let page = state
        .store
        .list_audit(caller.tenant_scope(), after_id, limit)
        .await?;
    Ok(Json(Paged {
        items: page.items.iter().map(AuditOut::from).collect(),
        next_cursor: cursor_out(page.next_cursor),
    }))
}

#[utoipa::path(get, path = "/api/v1/audit/{id}", tag = "audit", responses((status = 200, body = AuditOut), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<AuditOut>, Problem> {
    let entry = state
        .store
        .audit_entry(id)
        .await?
        .filter(|a| {
            caller.server_scope().is_none()
                && caller.tenant_scope().is_none_or(|t| a.tenant_id == Some(t))
        })
        .ok_or_else(|| Problem::not_found("audit entry"))?;
    Ok(Json(AuditOut::from(&entry)))
}
