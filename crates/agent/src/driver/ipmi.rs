//! The `ipmi` driver: native IPMI 2.0 (RMCP+) through ironrack-ipmi.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ironrack_bus::BmcTarget;
use ironrack_core::{BootDevice, BootRequest, PowerAction, PowerState};
use ironrack_ipmi::{ChassisControl, Privilege};

use super::DriverError;

/// A BMC as the session cache knows it: host, port, user.
type BmcKey = (String, u16, String);

/// How long an idle cached IPMI session is trusted. BMCs drop sessions
/// after 60 s of silence (spec 6.12.15, session inactivity timeout); half
/// that keeps us clear of the edge.
const IPMI_IDLE_REUSE: Duration = Duration::from_secs(30);
/// How long to wait, after a power action, for Get Chassis Status to show
/// the state it implies (default; `settle_ms` option overrides).
const IPMI_SETTLE: Duration = Duration::from_secs(10);

/// One BMC's cached session and the settings it was opened with.
#[derive(Default)]
struct IpmiSlot {
    session: Option<(ironrack_ipmi::Session, ironrack_ipmi::Config, Instant)>,
}

impl IpmiSlot {
    /// The cached session if it was opened with these settings and is fresh.
    fn take(&mut self, cfg: &ironrack_ipmi::Config) -> Option<ironrack_ipmi::Session> {
        let (s, old, used) = self.session.take()?;
        let same = old.password == cfg.password
            && old.kg == cfg.kg
            && old.privilege == cfg.privilege
            && old.cipher_suite == cfg.cipher_suite;
        (same && used.elapsed() < IPMI_IDLE_REUSE).then_some(s)
    }
}

/// The `ipmi` driver: native IPMI 2.0 / RMCP+ through ironrack-ipmi, with
/// one session kept open per BMC so back-to-back tasks skip the RAKP login.
/// Tasks for the same BMC run one at a time (BMCs have few session slots).
#[derive(Default)]
pub struct IpmiMachines {
    slots: Mutex<HashMap<BmcKey, Arc<tokio::sync::Mutex<IpmiSlot>>>>,
}

/// Map the ipmi crate's errors onto the driver's, keeping the text.
fn ipmi_error(e: ironrack_ipmi::Error) -> DriverError {
    use ironrack_ipmi::Error as E;
    match e {
        E::Unreachable { reason } => DriverError::Unreachable(reason),
        E::Timeout { .. } => DriverError::Unreachable(e.to_string()),
        E::AuthenticationFailed { reason } => DriverError::Auth(reason),
        E::InsecureRefused(_) | E::Config(_) => DriverError::BadRequest(e.to_string()),
        e => DriverError::Bmc(e.to_string()),
    }
}

/// Connection settings from a [`BmcTarget`]. Options: `cipher_suite`
/// (number), `privilege` (`administrator`, `operator`, `user`), `kg` (BMC
/// key text), `timeout_ms`, `tries`.
pub fn ipmi_config(bmc: &BmcTarget) -> Result<ironrack_ipmi::Config, DriverError> {
    let password = bmc
        .password
        .as_deref()
        .ok_or_else(|| DriverError::BadRequest("the ipmi driver needs a BMC password".into()))?;
    let opt = |k: &str| bmc.options.get(k).filter(|v| !v.is_null());
    let num = |k: &str| -> Result<Option<u64>, DriverError> {
        match opt(k) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                .map(Some)
                .ok_or_else(|| DriverError::BadRequest(format!("option `{k}` must be a number"))),
        }
    };
    let mut cfg = ironrack_ipmi::Config::new(&bmc.address, &bmc.username, password).port(bmc.port);
    if let Some(id) = num("cipher_suite")? {
        let id = u8::try_from(id)
            .map_err(|_| DriverError::BadRequest(format!("cipher suite {id} out of range")))?;
        cfg = cfg.cipher_suite(id);
    }
    if let Some(p) = opt("privilege") {
        let p = match p.as_str().map(str::to_ascii_lowercase).as_deref() {
            Some("administrator" | "admin") => Privilege::Administrator,
            Some("operator") => Privilege::Operator,
            Some("user") => Privilege::User,
            _ => {
                return Err(DriverError::BadRequest(format!(
                    "option `privilege` must be administrator, operator or user, not {p}"
                )));
            }
        };
        cfg = cfg.privilege(p);
    }
    if let Some(kg) = opt("kg") {
        let kg = kg
            .as_str()
            .ok_or_else(|| DriverError::BadRequest("option `kg` must be a string".into()))?;
        cfg = cfg.kg(kg);
    }
    if let Some(ms) = num("timeout_ms")? {
        cfg = cfg.timeout(Duration::from_millis(ms.clamp(50, 30_000)));
    }
    if let Some(n) = num("tries")? {
        cfg = cfg.tries(n.clamp(1, 10) as u32);
    }
    ironrack_ipmi::session::validate(&cfg).map_err(ipmi_error)?;
    Ok(cfg)
}

fn power_state(on: bool) -> PowerState {
    if on { PowerState::On } else { PowerState::Off }
}

/// Run one power action on an open session (chassis control, 28.3) and
/// read back the state (Get Chassis Status, 28.2).
async fn ipmi_power(
    s: &mut ironrack_ipmi::Session,
    action: PowerAction,
    settle: Duration,
) -> Result<PowerState, ironrack_ipmi::Error> {
    let on = s.chassis_status().await?.power_on;
    let control = match action {
        PowerAction::Status => return Ok(power_state(on)),
        PowerAction::On => ChassisControl::PowerOn,
        PowerAction::Off => ChassisControl::PowerOff,
        PowerAction::Soft => ChassisControl::SoftOff,
        PowerAction::Reset => ChassisControl::HardReset,
        // Power cycle has no effect on a chassis that is off (28.3), and
        // "off, then on" should leave it on: power it on instead.
        PowerAction::Cycle if !on => ChassisControl::PowerOn,
        PowerAction::Cycle => ChassisControl::PowerCycle,
    };
    s.chassis_control(control).await?;
    // BMCs report the new state after a moment: poll until it shows, then
    // report what we see (never fail a request the BMC accepted).
    let want = action.resulting_state();
    let deadline = Instant::now() + settle;
    loop {
        let state = power_state(s.chassis_status().await?.power_on);
        if want.is_none_or(|w| w == state) || Instant::now() >= deadline {
            return Ok(state);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Errors after which a cached session is not worth keeping.
fn session_broken(e: &ironrack_ipmi::Error) -> bool {
    !matches!(e, ironrack_ipmi::Error::CompletionCode { .. })
}

impl IpmiMachines {
    fn slot(&self, cfg: &ironrack_ipmi::Config) -> Arc<tokio::sync::Mutex<IpmiSlot>> {
        let key = (cfg.host.clone(), cfg.port, cfg.username.clone());
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.entry(key).or_default().clone()
    }

    pub async fn power(
        &self,
        bmc: &BmcTarget,
        action: PowerAction,
    ) -> Result<PowerState, DriverError> {
        let cfg = ipmi_config(bmc)?;
        let settle = bmc
            .options
            .get("settle_ms")
            .and_then(|v| v.as_u64())
            .map_or(IPMI_SETTLE, |ms| Duration::from_millis(ms.min(120_000)));
        let slot = self.slot(&cfg);
        let mut slot = slot.lock().await;
        let cached = slot.take(&cfg);
        let reused = cached.is_some();
        let mut session = match cached {
            Some(s) => s,
            None => ironrack_ipmi::Session::connect(cfg.clone())
                .await
                .map_err(ipmi_error)?,
        };
        let mut result = ipmi_power(&mut session, action, settle).await;
        // A cached session may have died on the BMC (reset, timeout): the
        // first request (a status read) fails, so retrying is safe.
        if reused && matches!(&result, Err(e) if session_broken(e)) {
            tracing::debug!(bmc = %cfg.host, "cached IPMI session dead; logging in again");
            drop(session);
            session = ironrack_ipmi::Session::connect(cfg.clone())
                .await
                .map_err(ipmi_error)?;
            result = ipmi_power(&mut session, action, settle).await;
        }
        match &result {
            Err(e) if session_broken(e) => drop(session),
            _ => slot.session = Some((session, cfg, Instant::now())),
        }
        result.map_err(ipmi_error)
    }
}

impl IpmiMachines {
    /// Set System Boot Options, parameter 5 (spec 28.13), on a session of
    /// its own: boot changes are rare, so they need no cached session.
    pub async fn boot_device(&self, bmc: &BmcTarget, req: BootRequest) -> Result<(), DriverError> {
        let device = match req.device {
            BootDevice::Pxe => ironrack_ipmi::BootDevice::Pxe,
            BootDevice::Disk => ironrack_ipmi::BootDevice::Disk,
            BootDevice::Cdrom => ironrack_ipmi::BootDevice::Cdrom,
            BootDevice::Bios => ironrack_ipmi::BootDevice::Bios,
        };
        let mut session = ironrack_ipmi::Session::connect(ipmi_config(bmc)?)
            .await
            .map_err(ipmi_error)?;
        let flags = ironrack_ipmi::BootFlags::new(device, req.efi, req.persistent);
        let outcome = session.set_boot_device(flags).await.map_err(ipmi_error);
        session.close().await.ok();
        outcome
    }
}
