//! Drivers: how a power action becomes BMC traffic.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use ironrack_bus::BmcTarget;
use ironrack_core::{BmcDriver, PowerAction, PowerState};

#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("not supported by this agent: {0}")]
    Unsupported(String),
    #[error("BMC error: {0}")]
    Bmc(String),
}

/// In-memory machines of the `fake` driver, keyed by server id: power state
/// survives between tasks, so demos and tests see consistent answers.
#[derive(Default)]
pub struct FakeMachines {
    power: Mutex<HashMap<i64, PowerState>>,
}

impl FakeMachines {
    async fn power(
        &self,
        server_id: i64,
        bmc: &BmcTarget,
        action: PowerAction,
    ) -> Result<PowerState, DriverError> {
        // Options let tests and demos script a slow or broken BMC.
        if let Some(ms) = bmc.options.get("delay_ms").and_then(|v| v.as_u64()) {
            tokio::time::sleep(Duration::from_millis(ms.min(60_000))).await;
        }
        if let Some(reason) = bmc.options.get("fail").and_then(|v| v.as_str()) {
            return Err(DriverError::Bmc(reason.to_owned()));
        }
        let mut machines = self.power.lock().unwrap_or_else(|p| p.into_inner());
        let state = machines.entry(server_id).or_insert(PowerState::Off);
        *state = match action {
            PowerAction::Status => *state,
            PowerAction::Soft => PowerState::Off,
            other => other.resulting_state().unwrap_or(*state),
        };
        Ok(*state)
    }
}

/// Every driver this agent can use.
#[derive(Default)]
pub struct Drivers {
    pub fake: FakeMachines,
}

impl Drivers {
    pub async fn power(
        &self,
        server_id: i64,
        bmc: &BmcTarget,
        action: PowerAction,
    ) -> Result<PowerState, DriverError> {
        let driver =
            BmcDriver::parse(&bmc.driver).map_err(|e| DriverError::BadRequest(e.to_string()))?;
        match driver {
            BmcDriver::Fake => self.fake.power(server_id, bmc, action).await,
            other => Err(DriverError::Unsupported(format!(
                "driver `{other}` is not built into this agent yet; use `fake`"
            ))),
        }
    }
}
