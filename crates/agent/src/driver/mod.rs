//! Drivers: how a power action becomes BMC traffic.

use ironrack_bus::BmcTarget;
use ironrack_core::{BmcDriver, BootRequest, PowerAction, PowerState};

mod fake;
mod ipmi;

pub use fake::FakeMachines;
pub use ipmi::{IpmiMachines, ipmi_config};

#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("not supported by this agent: {0}")]
    Unsupported(String),
    #[error("BMC error: {0}")]
    Bmc(String),
    /// No answer, ICMP unreachable, or the name does not resolve.
    #[error("BMC unreachable: {0}")]
    Unreachable(String),
    /// The BMC refused our credentials or privilege level.
    #[error("BMC login failed: {0}")]
    Auth(String),
}

/// Every driver this agent can use.
#[derive(Default)]
pub struct Drivers {
    pub fake: FakeMachines,
    pub ipmi: IpmiMachines,
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
            BmcDriver::Ipmi => self.ipmi.power(bmc, action).await,
            other => Err(DriverError::Unsupported(format!(
                "driver `{other}` is not built into this agent yet; use `fake` or `ipmi`"
            ))),
        }
    }
}

impl Drivers {
    pub async fn boot_device(&self, bmc: &BmcTarget, req: BootRequest) -> Result<(), DriverError> {
        let driver =
            BmcDriver::parse(&bmc.driver).map_err(|e| DriverError::BadRequest(e.to_string()))?;
        match driver {
            BmcDriver::Fake => self.fake.boot_device(bmc).await,
            BmcDriver::Ipmi => self.ipmi.boot_device(bmc, req).await,
            other => Err(DriverError::Unsupported(format!(
                "driver `{other}` is not built into this agent yet; use `fake` or `ipmi`"
            ))),
        }
    }
}
