//! Tasks that read the hardware's own records (sensors, event log) or reset
//! the BMC. What they read travels back as its own event, published before
//! the task's final event: once a task shows success, the data is stored.

use ironrack_bus::{BusError, Event, EventSender, TaskRequest};
use ironrack_core::BmcResetKind;
use serde::Deserialize;

use crate::driver::{DriverError, Drivers};

/// The outcome of a task, or a bus error if what it read could not be
/// published (then the task is not acknowledged and comes again).
type Outcome = Result<Result<serde_json::Value, DriverError>, BusError>;

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn params<'a, T: Deserialize<'a> + Default>(
    task: &'a TaskRequest,
    what: &str,
) -> Result<T, DriverError> {
    if task.params.is_null() {
        return Ok(T::default());
    }
    T::deserialize(&task.params).map_err(|e| DriverError::BadRequest(format!("{what} task: {e}")))
}

pub(crate) async fn sensors(
    drivers: &Drivers,
    events: &EventSender,
    task: &TaskRequest,
) -> Outcome {
    let readings = match drivers.sensors(task.server_id, &task.bmc).await {
        Ok(r) => r,
        Err(e) => return Ok(Err(e)),
    };
    let read_at = now_ms();
    let count = readings.len();
    events
        .send(Event::Sensors {
            server_id: task.server_id,
            read_at,
            readings,
        })
        .await?;
    Ok(Ok(
        serde_json::json!({ "sensors": count, "read_at": read_at }),
    ))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SelParams {
    #[serde(default)]
    clear: bool,
}

pub(crate) async fn sel(drivers: &Drivers, events: &EventSender, task: &TaskRequest) -> Outcome {
    let p: SelParams = match params(task, "sel") {
        Ok(p) => p,
        Err(e) => return Ok(Err(e)),
    };
    let entries = match drivers.sel(task.server_id, &task.bmc, p.clear).await {
        Ok(r) => r,
        Err(e) => return Ok(Err(e)),
    };
    let read_at = now_ms();
    let count = entries.len();
    events
        .send(Event::Sel {
            server_id: task.server_id,
            read_at,
            entries,
        })
        .await?;
    Ok(Ok(
        serde_json::json!({ "entries": count, "cleared": p.clear, "read_at": read_at }),
    ))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ResetParams {
    #[serde(default)]
    kind: BmcResetKind,
}

pub(crate) async fn bmc_reset(drivers: &Drivers, task: &TaskRequest) -> Outcome {
    let p: ResetParams = match params(task, "bmc_reset") {
        Ok(p) => p,
        Err(e) => return Ok(Err(e)),
    };
    Ok(drivers
        .bmc_reset(&task.bmc, p.kind)
        .await
        .map(|answered| serde_json::json!({ "kind": p.kind.as_str(), "answered": answered })))
}
