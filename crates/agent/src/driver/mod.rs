//! Drivers: how a power action becomes BMC traffic.

use ironrack_bus::BmcTarget;
use ironrack_core::{
    BmcDriver, BmcResetKind, BootRequest, PowerAction, PowerState, SelEntry, SensorReading,
};
use tokio::sync::OwnedSemaphorePermit;

mod fake;
mod fence;
mod ipmi;
mod limit;
mod redfish;

pub use fake::FakeMachines;
pub use ipmi::{IpmiMachines, ipmi_config};
pub use limit::BmcLimiter;
pub(crate) use redfish::tls_option;

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
    /// Requests in flight per BMC, across drivers.
    pub per_bmc: BmcLimiter,
}

/// Requests in flight per BMC when option `max_concurrent` does not say:
/// IPMI BMCs and fence devices take one at a time, Redfish services a few.
/// Fake machines have no BMC to protect and are limited only on request.
fn default_limit(driver: &BmcDriver) -> Option<usize> {
    match driver {
        BmcDriver::Ipmi => Some(1),
        BmcDriver::Fence(_) => Some(fence::DEFAULT_MAX_CONCURRENT),
        BmcDriver::Redfish => Some(redfish::DEFAULT_MAX_CONCURRENT),
        BmcDriver::Fake => None,
    }
}

impl Drivers {
    /// The driver of a target, and a slot of its BMC held for the request.
    async fn enter(
        &self,
        bmc: &BmcTarget,
    ) -> Result<(BmcDriver, Option<OwnedSemaphorePermit>), DriverError> {
        let driver =
            BmcDriver::parse(&bmc.driver).map_err(|e| DriverError::BadRequest(e.to_string()))?;
        let limit = match bmc.options.get("max_concurrent").filter(|v| !v.is_null()) {
            None => default_limit(&driver),
            Some(v) => Some(
                v.as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                    .filter(|n| (1..=64).contains(n))
                    .ok_or_else(|| {
                        DriverError::BadRequest("option `max_concurrent` must be 1 to 64".into())
                    })? as usize,
            ),
        };
        let permit = match limit {
            Some(n) => Some(self.per_bmc.acquire(&bmc.address, bmc.port, n).await),
            None => None,
        };
        Ok((driver, permit))
    }

    pub async fn power(
        &self,
        server_id: i64,
        bmc: &BmcTarget,
        action: PowerAction,
    ) -> Result<PowerState, DriverError> {
        let (driver, _slot) = self.enter(bmc).await?;
        match driver {
            BmcDriver::Fake => self.fake.power(server_id, bmc, action).await,
            BmcDriver::Ipmi => self.ipmi.power(bmc, action).await,
            BmcDriver::Redfish => redfish::power(bmc, action).await,
            BmcDriver::Fence(agent) => fence::power(&agent, bmc, action).await,
        }
    }

    pub async fn boot_device(&self, bmc: &BmcTarget, req: BootRequest) -> Result<(), DriverError> {
        let (driver, _slot) = self.enter(bmc).await?;
        match driver {
            BmcDriver::Fake => self.fake.boot_device(bmc).await,
            BmcDriver::Ipmi => self.ipmi.boot_device(bmc, req).await,
            BmcDriver::Redfish => redfish::boot_device(bmc, req).await,
            BmcDriver::Fence(agent) => Err(DriverError::Unsupported(format!(
                "fence agents only switch power; `fence:{agent}` cannot set a boot device (use the ipmi or redfish driver)"
            ))),
        }
    }

    /// Insert or eject virtual media (`{"action": "insert", "image": URL}`
    /// or `{"action": "eject"}`); Redfish only.
    pub async fn virtual_media(
        &self,
        bmc: &BmcTarget,
        params: &serde_json::Value,
    ) -> Result<serde_json::Value, DriverError> {
        let (driver, _slot) = self.enter(bmc).await?;
        match driver {
            BmcDriver::Redfish => redfish::virtual_media(bmc, params).await,
            other => Err(DriverError::Unsupported(format!(
                "virtual media needs the redfish driver, not `{other}`"
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
        let (driver, _slot) = self.enter(bmc).await?;
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
        let (driver, _slot) = self.enter(bmc).await?;
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
        let (driver, _slot) = self.enter(bmc).await?;
        match driver {
            BmcDriver::Fake => self.fake.bmc_reset(bmc).await.map(|()| true),
            BmcDriver::Ipmi => self.ipmi.bmc_reset(bmc, kind).await,
            other => Err(DriverError::Unsupported(format!(
                "resetting the BMC through driver `{other}`; use `fake` or `ipmi`"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn fake(options: serde_json::Value) -> BmcTarget {
        BmcTarget {
            driver: "fake".into(),
            address: "10.9.9.9".into(),
            port: 623,
            username: "u".into(),
            password: None,
            options,
            secrets: Default::default(),
        }
    }

    #[tokio::test]
    async fn requests_wait_for_a_slot_of_their_bmc() {
        let drivers = Arc::new(Drivers::default());
        // Another request holds this BMC's only slot.
        let held = drivers.per_bmc.try_acquire("10.9.9.9", 623, 1).unwrap();
        let task = tokio::spawn({
            let d = drivers.clone();
            async move {
                d.power(
                    1,
                    &fake(serde_json::json!({"max_concurrent": 1})),
                    PowerAction::On,
                )
                .await
            }
        });
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(!task.is_finished(), "waits for the slot");
        // Fake machines without the option are not limited.
        let unlimited = fake(serde_json::json!({}));
        let free = drivers.power(2, &unlimited, PowerAction::On).await;
        assert_eq!(free.unwrap(), PowerState::On);
        drop(held);
        assert_eq!(task.await.unwrap().unwrap(), PowerState::On);

        for bad in [
            serde_json::json!(0),
            serde_json::json!(65),
            serde_json::json!("x"),
        ] {
            let e = drivers
                .power(
                    3,
                    &fake(serde_json::json!({"max_concurrent": bad})),
                    PowerAction::On,
                )
                .await
                .unwrap_err();
            assert!(matches!(e, DriverError::BadRequest(m) if m.contains("1 to 64")));
        }
    }
}
