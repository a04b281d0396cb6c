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

#[cfg(test)]
mod tests {
    use super::*;
    use ironrack_bus::{BmcTarget, InProcessBus};
    use ironrack_core::{SensorReading, SensorStatus};

    fn fake(kind: &str, params: serde_json::Value, options: serde_json::Value) -> TaskRequest {
        TaskRequest {
            task_id: 1,
            server_id: 9,
            site: "lab".into(),
            kind: kind.into(),
            params,
            bmc: BmcTarget {
                driver: "fake".into(),
                address: "127.0.0.1".into(),
                port: 623,
                username: "u".into(),
                password: None,
                options,
                secrets: Default::default(),
            },
        }
    }

    #[tokio::test]
    async fn fake_readings_come_from_options_and_sel_clears() {
        let bus = InProcessBus::new();
        let mut rx = bus.take_events().unwrap();
        let events = bus.event_sender();
        let drivers = Drivers::default();
        let scripted = SensorReading {
            name: "Inlet".into(),
            sensor_type: "Temperature".into(),
            reading: Some(38.5),
            unit: Some("degrees C".into()),
            status: SensorStatus::Warning,
        };
        let task = fake(
            "sensors",
            serde_json::json!({}),
            serde_json::json!({ "sensors": [scripted] }),
        );
        let result = sensors(&drivers, &events, &task).await.unwrap().unwrap();
        assert_eq!(result["sensors"], 1);
        let Some(Event::Sensors { readings, .. }) = rx.recv().await else {
            panic!("no sensors event")
        };
        assert_eq!(readings, [scripted]);

        let bad = fake(
            "sensors",
            serde_json::json!({}),
            serde_json::json!({ "sensors": 5 }),
        );
        let err = sensors(&drivers, &events, &bad).await.unwrap().unwrap_err();
        assert!(err.to_string().contains("option `sensors`"), "{err}");

        let clear = fake(
            "sel",
            serde_json::json!({ "clear": true }),
            serde_json::json!({}),
        );
        let first = sel(&drivers, &events, &clear).await.unwrap().unwrap();
        assert_eq!(first["entries"], 2);
        let again = sel(&drivers, &events, &clear).await.unwrap().unwrap();
        assert_eq!(again["entries"], 0, "cleared by the first read");
        let typo = fake(
            "sel",
            serde_json::json!({ "clean": true }),
            serde_json::json!({}),
        );
        let err = sel(&drivers, &events, &typo).await.unwrap().unwrap_err();
        assert!(err.to_string().contains("clean"), "{err}");
    }
}
