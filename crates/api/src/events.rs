//! Live events for the panel and scripts: `GET /api/v1/events` streams task
//! progress and power changes as Server-Sent Events, each caller seeing only
//! what it may see.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use serde::Serialize;
use tokio::sync::broadcast;

use crate::AppState;
use crate::auth::Caller;

/// Something that happened, with what decides who may see it.
#[derive(Debug, Clone)]
pub struct Notice {
    pub tenant_id: Option<i64>,
    pub server_id: i64,
    /// SSE event name: `task` or `power`.
    pub kind: &'static str,
    pub data: serde_json::Value,
}

#[derive(Serialize)]
struct Lagged {
    missed: u64,
}

/// Streams events as they happen (no history). Sends a `lagged` event if
/// the client reads too slowly and events were dropped.
#[utoipa::path(get, path = "/api/v1/events", tag = "tasks",
    responses((status = 200, description = "text/event-stream of `task` and `power` events", content_type = "text/event-stream")))]
pub async fn stream(
    State(state): State<AppState>,
    caller: Caller,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let mut rx = state.notices.subscribe();
    let stream = async_stream(move |tx| async move {
        loop {
            let event = match rx.recv().await {
                Ok(n) if caller.can_see_tenant_object(n.tenant_id, Some(n.server_id)) => {
                    SseEvent::default().event(n.kind).json_data(&n.data)
                }
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(missed)) => SseEvent::default()
                    .event("lagged")
                    .json_data(Lagged { missed }),
                Err(broadcast::error::RecvError::Closed) => break,
            };
            let Ok(event) = event else { continue };
            if tx.send(Ok(event)).await.is_err() {
                break;
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// A stream fed by a task through a small channel; the task stops when the
/// client goes away.
fn async_stream<F, Fut>(f: F) -> impl Stream<Item = Result<SseEvent, Infallible>>
where
    F: FnOnce(tokio::sync::mpsc::Sender<Result<SseEvent, Infallible>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(f(tx));
    futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
}
