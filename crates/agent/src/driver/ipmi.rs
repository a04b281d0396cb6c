//! The `ipmi` driver: native IPMI 2.0 (RMCP+) through ironrack-ipmi.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ironrack_bus::BmcTarget;
use ironrack_core::{
    BmcResetKind, BootDevice, BootRequest, PowerAction, PowerState, SelEntry, SensorReading,
    SensorStatus,
};
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
        .plain_password()
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

/// One operation on a session, boxed so that the driver's futures stay `Send`.
type SessionFuture<'s, T> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<T, ironrack_ipmi::Error>> + Send + 's>,
>;

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

    /// Runs `op` on this BMC's cached session (logging in if there is none
    /// or it is stale) and keeps the session for the next caller. Calls to
    /// one BMC are serialised. A cached session may have died on the BMC
    /// (reset, timeout): then `op` runs once more on a fresh login, so `op`
    /// must be safe to repeat after a failure (every caller starts with a
    /// read).
    async fn with_session<T>(
        &self,
        cfg: ironrack_ipmi::Config,
        mut op: impl for<'s> FnMut(&'s mut ironrack_ipmi::Session) -> SessionFuture<'s, T> + Send,
    ) -> Result<T, DriverError> {
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
        let mut result = op(&mut session).await;
        if reused && matches!(&result, Err(e) if session_broken(e)) {
            tracing::debug!(bmc = %cfg.host, "cached IPMI session dead; logging in again");
            drop(session);
            session = ironrack_ipmi::Session::connect(cfg.clone())
                .await
                .map_err(ipmi_error)?;
            result = op(&mut session).await;
        }
        match &result {
            Err(e) if session_broken(e) => drop(session),
            _ => slot.session = Some((session, cfg, Instant::now())),
        }
        result.map_err(ipmi_error)
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
        // The first request is a status read, so a retry is safe.
        self.with_session(cfg, |s| Box::pin(ipmi_power(s, action, settle)))
            .await
    }

    /// Every sensor in the SDR repository with its reading (spec 33, 35.14).
    pub async fn sensors(&self, bmc: &BmcTarget) -> Result<Vec<SensorReading>, DriverError> {
        let values = self
            .with_session(ipmi_config(bmc)?, |s| Box::pin(s.sensor_readings()))
            .await?;
        Ok(values.into_iter().map(sensor_reading).collect())
    }

    /// The System Event Log, oldest first, then cleared if asked (spec 31).
    /// A failed clear fails the task: the caller asked for it.
    pub async fn sel(&self, bmc: &BmcTarget, clear: bool) -> Result<Vec<SelEntry>, DriverError> {
        let records = self
            .with_session(ipmi_config(bmc)?, |s| {
                Box::pin(async move {
                    let records = s.sel_list().await?;
                    if clear {
                        s.sel_clear().await?;
                    }
                    Ok(records)
                })
            })
            .await?;
        Ok(records.iter().map(sel_entry).collect())
    }

    /// BMC Cold or Warm Reset (spec 20.2, 20.3) on a fresh session; the
    /// cached one is dropped, since the reset ends every session. Returns
    /// whether the BMC answered: some reset before replying, and a reset
    /// that was sent but not answered is not a failure.
    pub async fn bmc_reset(
        &self,
        bmc: &BmcTarget,
        kind: BmcResetKind,
    ) -> Result<bool, DriverError> {
        let cfg = ipmi_config(bmc)?;
        let slot = self.slot(&cfg);
        let mut slot = slot.lock().await;
        slot.session = None;
        let mut session = ironrack_ipmi::Session::connect(cfg)
            .await
            .map_err(ipmi_error)?;
        let reset = match kind {
            BmcResetKind::Cold => ironrack_ipmi::BmcReset::Cold,
            BmcResetKind::Warm => ironrack_ipmi::BmcReset::Warm,
        };
        match session.bmc_reset(reset).await {
            Ok(()) => Ok(true),
            Err(ironrack_ipmi::Error::Timeout { .. }) => Ok(false),
            Err(e) => Err(ipmi_error(e)),
        }
    }
}

/// The driver-neutral shape of one IPMI sensor.
fn sensor_reading(v: ironrack_ipmi::SensorValue) -> SensorReading {
    use ironrack_ipmi::cmd::sdr::{ThresholdLevel, threshold_level};
    let status = match (v.raw, v.threshold) {
        (None, _) => SensorStatus::Unavailable,
        (Some(_), false) => SensorStatus::Ok,
        (Some(_), true) => match threshold_level(v.state) {
            ThresholdLevel::Ok => SensorStatus::Ok,
            ThresholdLevel::NonCritical => SensorStatus::Warning,
            ThresholdLevel::Critical => SensorStatus::Critical,
            ThresholdLevel::NonRecoverable => SensorStatus::NonRecoverable,
        },
    };
    let analog = v.value.is_some() || v.threshold;
    SensorReading {
        name: v.name,
        sensor_type: ironrack_ipmi::cmd::sdr::sensor_type_name(v.sensor_type).to_owned(),
        reading: v.value,
        unit: analog.then_some(v.unit),
        status,
    }
}

fn sel_entry(r: &ironrack_ipmi::SelRecord) -> SelEntry {
    SelEntry {
        id: i64::from(r.record_id),
        at: r.unix_time().map(|t| i64::from(t) * 1000),
        text: r.describe(),
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
