//! The `fake` driver: in-memory machines for demos and tests.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use ironrack_bus::BmcTarget;
use ironrack_core::{PowerAction, PowerState};

use super::DriverError;

/// In-memory machines of the `fake` driver, keyed by server id: power state
/// survives between tasks, so demos and tests see consistent answers.
#[derive(Default)]
pub struct FakeMachines {
    power: Mutex<HashMap<i64, PowerState>>,
}

impl FakeMachines {
    pub(super) async fn power(
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
impl FakeMachines {
    pub(super) async fn boot_device(&self, bmc: &BmcTarget) -> Result<(), DriverError> {
        match bmc.options.get("fail").and_then(|v| v.as_str()) {
            Some(reason) => Err(DriverError::Bmc(reason.to_owned())),
            None => Ok(()),
        }
    }
}
