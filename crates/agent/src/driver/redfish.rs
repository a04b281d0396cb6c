//! The `redfish` driver: power, boot override and virtual media through
//! ironrack-redfish.

use std::time::Duration;

use ironrack_bus::BmcTarget;
use ironrack_core::{BootDevice, BootRequest, PowerAction, PowerState};
use ironrack_redfish as rf;
use serde_json::{Value, json};

use super::DriverError;

/// Requests in flight per BMC unless option `max_concurrent` says otherwise:
/// Redfish services handle a few parallel requests.
pub const DEFAULT_MAX_CONCURRENT: usize = 4;

/// Map the redfish crate's errors onto the driver's, keeping the text.
fn redfish_error(e: rf::Error) -> DriverError {
    use rf::Error as E;
    match e {
        E::Unreachable { .. } => DriverError::Unreachable(e.to_string()),
        // A certificate that is not the pinned one: the BMC failed to
        // authenticate itself.
        E::Auth { .. } | E::Tls(_) => DriverError::Auth(e.to_string()),
        E::Invalid(_) | E::NotOffered { .. } | E::Http { status: 400, .. } => {
            DriverError::BadRequest(e.to_string())
        }
        E::Http { .. } | E::Protocol(_) | E::NoVirtualMedia(_) | E::NotSettled(_) => {
            DriverError::Bmc(e.to_string())
        }
    }
}

/// Client settings from a [`BmcTarget`]. Options: `scheme` (`https`, or
/// `http` for emulators), `system_id`, `insecure_tls` (accept any
/// certificate), `tls_fingerprint` (pin the certificate's SHA-256),
/// `timeout_s` (per request, default 30), `settle_s` (wait for a power
/// change to show, default 30).
pub fn redfish_config(bmc: &BmcTarget) -> Result<rf::Config, DriverError> {
    let password = bmc
        .plain_password()
        .ok_or_else(|| DriverError::BadRequest("the redfish driver needs a BMC password".into()))?;
    let opt = |k: &str| bmc.options.get(k).filter(|v| !v.is_null());
    let text = |k: &str| -> Result<Option<&str>, DriverError> {
        opt(k)
            .map(|v| {
                v.as_str().ok_or_else(|| {
                    DriverError::BadRequest(format!("option `{k}` must be a string"))
                })
            })
            .transpose()
    };
    let secs = |k: &str, max: u64| -> Result<Option<Duration>, DriverError> {
        opt(k)
            .map(|v| {
                v.as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                    .filter(|n| *n <= max)
                    .map(Duration::from_secs)
                    .ok_or_else(|| {
                        DriverError::BadRequest(format!(
                            "option `{k}` must be a number of seconds up to {max}"
                        ))
                    })
            })
            .transpose()
    };
    let mut cfg = rf::Config::new(&bmc.address, bmc.port, &bmc.username, password);
    if let Some(s) = text("scheme")? {
        cfg.scheme = s.to_owned();
    }
    cfg.system_id = text("system_id")?.map(str::to_owned);
    cfg.tls = tls_option(bmc)?;
    if let Some(t) = secs("timeout_s", 300)? {
        cfg.timeout = t.max(Duration::from_secs(1));
    }
    if let Some(t) = secs("settle_s", 600)? {
        cfg.settle = t;
    }
    Ok(cfg)
}

/// How the BMC's certificate is trusted: options `insecure_tls` (any) or
/// `tls_fingerprint` (a pinned SHA-256), else Web PKI. Also for its KVM
/// WebSocket (console kind html5).
pub fn tls_option(bmc: &BmcTarget) -> Result<rf::Tls, DriverError> {
    let opt = |k: &str| bmc.options.get(k).filter(|v| !v.is_null());
    let insecure = match opt("insecure_tls") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(DriverError::BadRequest(
                "option `insecure_tls` must be true or false".into(),
            ));
        }
    };
    let fingerprint = match opt("tls_fingerprint") {
        None => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => {
            return Err(DriverError::BadRequest(
                "option `tls_fingerprint` must be a string".into(),
            ));
        }
    };
    Ok(match (insecure, fingerprint) {
        (true, Some(_)) => {
            return Err(DriverError::BadRequest(
                "options `insecure_tls` and `tls_fingerprint` exclude each other".into(),
            ));
        }
        (true, None) => rf::Tls::Insecure,
        (false, Some(fp)) => rf::Tls::Pin(rf::tls::parse_fingerprint(fp).map_err(redfish_error)?),
        (false, None) => rf::Tls::Verify,
    })
}

fn client(bmc: &BmcTarget) -> Result<rf::Client, DriverError> {
    rf::Client::new(redfish_config(bmc)?).map_err(redfish_error)
}

fn power_state(s: Option<rf::PowerState>) -> PowerState {
    match s {
        Some(rf::PowerState::On) => PowerState::On,
        Some(rf::PowerState::Off) => PowerState::Off,
        _ => PowerState::Unknown,
    }
}

/// on → On, off → ForceOff, soft → GracefulShutdown, reset → ForceRestart,
/// cycle → PowerCycle if offered, else ForceOff then On.
pub async fn power(bmc: &BmcTarget, action: PowerAction) -> Result<PowerState, DriverError> {
    let c = client(bmc)?;
    let req = match action {
        PowerAction::Status => {
            return c
                .power_state()
                .await
                .map(power_state)
                .map_err(redfish_error);
        }
        PowerAction::On => rf::PowerRequest::On,
        PowerAction::Off => rf::PowerRequest::Off,
        PowerAction::Soft => rf::PowerRequest::GracefulShutdown,
        PowerAction::Reset => rf::PowerRequest::Restart,
        PowerAction::Cycle => rf::PowerRequest::Cycle,
    };
    c.power(req).await.map(power_state).map_err(redfish_error)
}

pub async fn boot_device(bmc: &BmcTarget, req: BootRequest) -> Result<(), DriverError> {
    let target = match req.device {
        BootDevice::Pxe => rf::BootTarget::Pxe,
        BootDevice::Disk => rf::BootTarget::Hdd,
        BootDevice::Cdrom => rf::BootTarget::Cd,
        BootDevice::Bios => rf::BootTarget::BiosSetup,
    };
    let o = rf::BootOverride {
        target,
        persistent: req.persistent,
        mode: if req.efi {
            rf::BootMode::Uefi
        } else {
            rf::BootMode::Legacy
        },
    };
    let seen = client(bmc)?.set_boot(o).await.map_err(redfish_error)?;
    // Some BMCs accept a PATCH and ignore it: say so rather than succeed.
    if seen.target.as_deref() != Some(target.as_str()) {
        return Err(DriverError::Bmc(format!(
            "the BMC accepted boot target {} but reports {}",
            target.as_str(),
            seen.target.as_deref().unwrap_or("none")
        )));
    }
    Ok(())
}

/// Virtual media: params `{"action": "insert", "image": URL}` or
/// `{"action": "eject"}`. Returns the device as read back.
pub async fn virtual_media(bmc: &BmcTarget, params: &Value) -> Result<Value, DriverError> {
    let c = client(bmc)?;
    let dev = match params.get("action").and_then(Value::as_str) {
        Some("insert") => {
            let image = params.get("image").and_then(Value::as_str).ok_or_else(|| {
                DriverError::BadRequest("virtual media insert needs an `image` URL".into())
            })?;
            c.insert_media(image).await
        }
        Some("eject") => c.eject_media().await,
        _ => {
            return Err(DriverError::BadRequest(
                "virtual media `action` must be insert or eject".into(),
            ));
        }
    }
    .map_err(redfish_error)?;
    Ok(json!({ "device": dev.odata_id, "image": dev.image, "inserted": dev.inserted }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(options: Value) -> BmcTarget {
        BmcTarget {
            driver: "redfish".into(),
            address: "10.0.0.1".into(),
            port: 443,
            username: "root".into(),
            password: Some("hunter2".into()),
            options,
            secrets: Default::default(),
        }
    }

    #[test]
    fn options_become_settings() {
        let cfg = redfish_config(&target(json!({}))).unwrap();
        assert_eq!((cfg.scheme.as_str(), cfg.tls), ("https", rf::Tls::Verify));
        let fp = "ab".repeat(32);
        let cfg = redfish_config(&target(json!({
            "scheme": "http", "system_id": "node1", "tls_fingerprint": fp,
            "timeout_s": "5", "settle_s": 0
        })))
        .unwrap();
        assert_eq!(cfg.scheme, "http");
        assert_eq!(cfg.system_id.as_deref(), Some("node1"));
        assert_eq!(cfg.tls, rf::Tls::Pin([0xab; 32]));
        assert_eq!(cfg.timeout, Duration::from_secs(5));
        assert_eq!(cfg.settle, Duration::ZERO);
        assert!(!format!("{cfg:?}").contains("hunter2"));
        let cfg = redfish_config(&target(json!({"insecure_tls": true}))).unwrap();
        assert_eq!(cfg.tls, rf::Tls::Insecure);

        for (opts, want) in [
            (
                json!({"insecure_tls": true, "tls_fingerprint": fp}),
                "exclude each other",
            ),
            (json!({"insecure_tls": "yes"}), "true or false"),
            (json!({"tls_fingerprint": "abc"}), "64 hex digits"),
            (json!({"timeout_s": 100000}), "up to 300"),
            (json!({"system_id": 3}), "must be a string"),
        ] {
            let e = redfish_config(&target(opts)).unwrap_err();
            assert!(
                matches!(&e, DriverError::BadRequest(m) if m.contains(want)),
                "{e:?} lacks {want}"
            );
        }
        let mut no_pw = target(json!({}));
        no_pw.password = None;
        assert!(redfish_config(&no_pw).is_err());
        let e = client(&target(json!({"scheme": "ftp"}))).unwrap_err();
        assert!(matches!(e, DriverError::BadRequest(m) if m.contains("`ftp`")));
    }
}
