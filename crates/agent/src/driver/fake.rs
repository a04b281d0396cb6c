//! The `fake` driver: in-memory machines for demos and tests.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use ironrack_bus::BmcTarget;
use ironrack_core::{PowerAction, PowerState, SelEntry, SensorReading, SensorStatus};

use super::DriverError;

/// In-memory machines of the `fake` driver, keyed by server id: power state
/// and event log survive between tasks, so demos and tests see consistent
/// answers.
#[derive(Default)]
pub struct FakeMachines {
    power: Mutex<HashMap<i64, PowerState>>,
    sel: Mutex<HashMap<i64, Vec<SelEntry>>>,
}

/// Options let tests and demos script a slow or broken BMC: `delay_ms`
/// waits before answering, `fail` fails with that text.
async fn scripted(bmc: &BmcTarget) -> Result<(), DriverError> {
    if let Some(ms) = bmc.options.get("delay_ms").and_then(|v| v.as_u64()) {
        tokio::time::sleep(Duration::from_millis(ms.min(60_000))).await;
    }
    match bmc.options.get("fail").and_then(|v| v.as_str()) {
        Some(reason) => Err(DriverError::Bmc(reason.to_owned())),
        None => Ok(()),
    }
}

fn reading(name: &str, sensor_type: &str, value: Option<f64>, unit: Option<&str>) -> SensorReading {
    SensorReading {
        name: name.into(),
        sensor_type: sensor_type.into(),
        reading: value,
        unit: unit.map(Into::into),
        status: SensorStatus::Ok,
    }
}

impl FakeMachines {
    pub(super) async fn power(
        &self,
        server_id: i64,
        bmc: &BmcTarget,
        action: PowerAction,
    ) -> Result<PowerState, DriverError> {
        scripted(bmc).await?;
        let mut machines = self.power.lock().unwrap_or_else(|p| p.into_inner());
        let state = machines.entry(server_id).or_insert(PowerState::Off);
        *state = match action {
            PowerAction::Status => *state,
            PowerAction::Soft => PowerState::Off,
            other => other.resulting_state().unwrap_or(*state),
        };
        Ok(*state)
    }

    pub(super) async fn boot_device(&self, bmc: &BmcTarget) -> Result<(), DriverError> {
        scripted(bmc).await
    }

    /// Sensors from the `sensors` option (a list of readings) if given;
    /// otherwise four plausible ones that follow the machine's power: a
    /// running machine is warmer and its fan turns.
    pub(super) async fn sensors(
        &self,
        server_id: i64,
        bmc: &BmcTarget,
    ) -> Result<Vec<SensorReading>, DriverError> {
        scripted(bmc).await?;
        if let Some(list) = bmc.options.get("sensors") {
            return serde_json::from_value(list.clone()).map_err(|e| {
                DriverError::BadRequest(format!("option `sensors` is not a list of readings: {e}"))
            });
        }
        let on = self.power_state(server_id) == PowerState::On;
        Ok(vec![
            reading(
                "CPU Temp",
                "Temperature",
                Some(if on { 45.0 } else { 25.0 }),
                Some("degrees C"),
            ),
            reading("Sys 12V", "Voltage", Some(12.0), Some("Volts")),
            reading(
                "FAN1",
                "Fan",
                Some(if on { 4800.0 } else { 0.0 }),
                Some("RPM"),
            ),
            reading("PSU1 Status", "Power Supply", None, None),
        ])
    }

    /// The machine's event log: the `sel` option's texts (or two entries)
    /// until cleared.
    pub(super) async fn sel(
        &self,
        server_id: i64,
        bmc: &BmcTarget,
        clear: bool,
    ) -> Result<Vec<SelEntry>, DriverError> {
        scripted(bmc).await?;
        let mut logs = self.sel.lock().unwrap_or_else(|p| p.into_inner());
        let log = logs.entry(server_id).or_insert_with(|| {
            let texts: Vec<String> = match bmc.options.get("sel").and_then(|v| v.as_array()) {
                Some(list) => list
                    .iter()
                    .filter_map(|t| t.as_str().map(str::to_owned))
                    .collect(),
                None => vec![
                    "Power Supply #0x04 | Presence detected | Asserted".into(),
                    "Temperature #0x01 | Upper Critical going high | Asserted".into(),
                ],
            };
            texts
                .into_iter()
                .zip(1..)
                .map(|(text, id)| SelEntry { id, at: None, text })
                .collect()
        });
        let entries = log.clone();
        if clear {
            log.clear();
        }
        Ok(entries)
    }

    pub(super) async fn bmc_reset(&self, bmc: &BmcTarget) -> Result<(), DriverError> {
        scripted(bmc).await
    }

    fn power_state(&self, server_id: i64) -> PowerState {
        let machines = self.power.lock().unwrap_or_else(|p| p.into_inner());
        machines.get(&server_id).copied().unwrap_or(PowerState::Off)
    }
}
