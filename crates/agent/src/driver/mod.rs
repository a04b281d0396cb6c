//! Drivers: how a power action becomes BMC traffic.

use ironrack_bus::BmcTarget;
use ironrack_core::{
    BmcDriver, BmcResetKind, BootRequest, PowerAction, PowerState, SelEntry, SensorReading,
};

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

impl Drivers {
    pub async fn sensors(
        &self,
        server_id: i64,
        bmc: &BmcTarget,
    ) -> Result<Vec<SensorReading>, DriverError> {
        let driver =
            BmcDriver::parse(&bmc.driver).map_err(|e| DriverError::BadRequest(e.to_string()))?;
        match driver {
            BmcDriver::Fake => self.fake.sensors(server_id, bmc).await,
            BmcDriver::Ipmi => self.ipmi.sensors(bmc).await,
            other => Err(DriverError::Unsupported(format!(
                "reading sensors through driver `{other}`; use `fake` or `ipmi`"
            ))),
        }
    }

    /// The System Event Log, oldest first; emptied afterwards if `clear`.
    pub async fn sel(
        &self,
        server_id: i64,
        bmc: &BmcTarget,
        clear: bool,
    ) -> Result<Vec<SelEntry>, DriverError> {
        let driver =
            BmcDriver::parse(&bmc.driver).map_err(|e| DriverError::BadRequest(e.to_string()))?;
        match driver {
            BmcDriver::Fake => self.fake.sel(server_id, bmc, clear).await,
            BmcDriver::Ipmi => self.ipmi.sel(bmc, clear).await,
            other => Err(DriverError::Unsupported(format!(
                "reading the event log through driver `{other}`; use `fake` or `ipmi`"
            ))),
        }
    }

    /// Resets the BMC itself (not the server). `Ok(false)`: the reset was
    /// sent but the BMC went down before it answered.
    pub async fn bmc_reset(
        &self,
        bmc: &BmcTarget,
        kind: BmcResetKind,
    ) -> Result<bool, DriverError> {
        let driver =
            BmcDriver::parse(&bmc.driver).map_err(|e| DriverError::BadRequest(e.to_string()))?;
        match driver {
            BmcDriver::Fake => self.fake.bmc_reset(bmc).await.map(|()| true),
            BmcDriver::Ipmi => self.ipmi.bmc_reset(bmc, kind).await,
            other => Err(DriverError::Unsupported(format!(
                "resetting the BMC through driver `{other}`; use `fake` or `ipmi`"
            ))),
        }
    }
}
