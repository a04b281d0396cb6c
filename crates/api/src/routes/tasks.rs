use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use ironrack_store::{Task, TaskFilter};

use super::{cursor_out, page_args};
use crate::audit::AuditNote;
use crate::auth::Caller;
use crate::dto::{Paged, TaskOut, TaskQuery};
use crate::{AppState, Problem};

async fn visible_task(state: &AppState, caller: &Caller, id: i64) -> Result<Task, Problem> {
    state
        .store
        .task(id)
        .await?
        .filter(|t| caller.can_see_tenant_object(t.tenant_id, Some(t.server_id)))
        .ok_or_else(|| Problem::not_found("task"))
}

/// Tasks the caller may see, newest first.
#[utoipa::path(get, path = "/api/v1/tasks", tag = "tasks", params(TaskQuery), responses((status = 200, body = Paged<TaskOut>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<TaskQuery>,
) -> Result<Json<Paged<TaskOut>>, Problem> {
    let (limit, after_id) = page_args(q.limit, q.cursor.as_deref())?;
    let filter = TaskFilter {
        tenant_id: caller.tenant_scope(),
        server_id: q.server,
        only_server_ids: caller.server_scope().map(<[i64]>::to_vec),
        state: q.state,
        after_id,
        limit,
    };
    let page = state.store.list_tasks(&filter).await?;
    Ok(Json(Paged {
        items: page.items.iter().map(|t| TaskOut::new(t, &[])).collect(),
        next_cursor: cursor_out(page.next_cursor),
    }))
}

/// One task with its progress messages.
#[utoipa::path(get, path = "/api/v1/tasks/{id}", tag = "tasks", responses((status = 200, body = TaskOut), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<TaskOut>, Problem> {
    let task = visible_task(&state, &caller, id).await?;
    let messages = state.store.task_messages(id).await?;
    let mut out = TaskOut::new(&task, &messages);
    if task.state == ironrack_core::TaskState::Queued {
        out.note = waiting_note(&state, task.site_id).await?;
    }
    Ok(Json(out))
}

/// Cancels a task that has not finished.
#[utoipa::path(post, path = "/api/v1/tasks/{id}/cancel", tag = "tasks", responses((status = 200, body = TaskOut), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse, Problem> {
    let task = visible_task(&state, &caller, id).await?;
    let task = state.store.cancel_task(task.id).await?;
    Ok((
        AuditNote::new("task.cancel", "task", id).tenant(task.tenant_id),
        Json(TaskOut::new(&task, &[])),
    ))
}

/// Says so when no live agent serves the task's site. In `serve` the local
/// agent serves every site and reports no heartbeats, so say nothing then.
async fn waiting_note(state: &AppState, site_id: i64) -> Result<Option<String>, Problem> {
    if !state.tasks.durable() {
        return Ok(None);
    }
    let Some(site) = state.store.site(site_id).await? else {
        return Ok(None);
    };
    let now = ironrack_store::now_ms();
    let agents = state.store.agents().await?;
    let live = agents
        .iter()
        .any(|a| a.site == site.name && now - a.last_seen < crate::dto::AGENT_LIVE_MS);
    Ok((!live).then(|| {
        format!(
            "no live agent at site `{}`; the task waits for one",
            site.name
        )
    }))
}
