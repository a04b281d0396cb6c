//! Console tasks: the controller opens, joins, kills and reads console
//! sessions through this site's gateway, the same way it reaches BMCs.
//! Secrets (the BMC and VNC passwords) arrive in the task's BMC target
//! (sealed to this agent's key across a broker, opened before this runs)
//! and stay in the gateway.

use std::sync::Arc;
use std::time::Duration;

use ironrack_bus::{ConsoleChange, Event, EventSender, TaskRequest, VNC_PASSWORD};
use ironrack_console::html5::{Html5Target, Url};
use ironrack_console::{
    DesktopHandle, Gateway, GatewayError, GatewayEvent, Html5, Kind, Limits, NewSession,
    OpenSession, Target,
};
use ironrack_desktop::{Desktop, Desktops, StartRequest};
use serde::Deserialize;
use tokio::sync::mpsc;
use zeroize::Zeroizing;

use crate::DriverError;
use crate::driver::{ipmi_config, tls_option};

/// Parameters of `console.open`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OpenParams {
    session_id: i64,
    kind: Kind,
    user_id: i64,
    #[serde(default)]
    view_only: bool,
    close_url: Option<String>,
    /// Hex SHA-256 of the one-time token.
    token_hash: String,
    limits: Limits,
    max_sessions: usize,
    /// `host:port` of the VNC endpoint (kind `vnc`).
    vnc: Option<String>,
    /// Kind `desktop`: the nojava template, the BMC web origin (default
    /// `https://<bmc address>`), and a RES-style resolution.
    template: Option<String>,
    web: Option<String>,
    resolution: Option<String>,
    /// The BMC's KVM WebSocket: a path on the BMC (`/kvm/0`) or a URL
    /// (kind `html5`).
    #[serde(default)]
    html5: Option<String>,
    /// Only a browser at this address may connect.
    #[serde(default)]
    allowed_ip: Option<std::net::IpAddr>,
}

/// What a site runs consoles with.
#[derive(Clone, Default)]
pub struct Consoles {
    pub gateway: Option<Gateway>,
    pub desktops: Option<Arc<Desktops>>,
}

/// A desktop as the gateway holds it.
struct GatewayDesktop(Desktop);

impl DesktopHandle for GatewayDesktop {
    fn vnc_socket(&self) -> &std::path::Path {
        self.0.vnc_socket()
    }

    fn stop(&self) {
        self.0.stop();
    }
}

#[derive(Deserialize)]
struct SessionParams {
    session_id: i64,
    token_hash: Option<String>,
    ttl_ms: Option<u64>,
    tail: Option<u64>,
}

fn hash_of(hex_text: &str) -> Result<[u8; 32], DriverError> {
    let bytes = hex::decode(hex_text)
        .map_err(|_| DriverError::BadRequest("token_hash is not hex".into()))?;
    bytes
        .try_into()
        .map_err(|_| DriverError::BadRequest("token_hash is not 32 bytes".into()))
}

fn gateway_error(e: GatewayError) -> DriverError {
    match e {
        GatewayError::NoSession(_) => DriverError::BadRequest(e.to_string()),
        GatewayError::Register(_) => DriverError::Bmc(e.to_string()),
        GatewayError::Log(_) => DriverError::Bmc(e.to_string()),
    }
}

/// Runs a `console.*` task.
pub(crate) async fn run(
    consoles: &Consoles,
    task: &TaskRequest,
) -> Result<serde_json::Value, DriverError> {
    let gw = consoles.gateway.as_ref().ok_or_else(|| {
        DriverError::Unsupported(
            "consoles: this site's agent runs no console gateway (start it with --console-listen)"
                .into(),
        )
    })?;
    match task.kind.as_str() {
        "console.open" => open(gw, consoles.desktops.as_ref(), task).await,
        other => {
            let p: SessionParams = serde_json::from_value(task.params.clone())
                .map_err(|e| DriverError::BadRequest(format!("{other} task: {e}")))?;
            match other {
                "console.kill" => {
                    gw.kill(p.session_id).map_err(gateway_error)?;
                    Ok(serde_json::json!({ "session_id": p.session_id }))
                }
                "console.viewer" => {
                    let hash = hash_of(p.token_hash.as_deref().unwrap_or_default())?;
                    let ttl = Duration::from_millis(p.ttl_ms.unwrap_or(60_000));
                    gw.add_viewer(p.session_id, hash, ttl)
                        .map_err(gateway_error)?;
                    Ok(serde_json::json!({ "session_id": p.session_id, "base": gw.public_base() }))
                }
                "console.log" => {
                    use base64::Engine;
                    let tail = p.tail.unwrap_or(64 * 1024);
                    let log = gw
                        .read_log(p.session_id, tail)
                        .await
                        .map_err(gateway_error)?;
                    Ok(serde_json::json!({
                        "session_id": p.session_id,
                        "log_b64": base64::engine::general_purpose::STANDARD.encode(log),
                    }))
                }
                _ => Err(DriverError::Unsupported(format!("task kind `{other}`"))),
            }
        }
    }
}

/// Where a BMC's KVM WebSocket is: a path is on the BMC's own address
/// (HTTPS, the Redfish port for the redfish driver, else 443), a URL is
/// taken as it is (`https` means `wss`).
fn html5_url(bmc: &ironrack_bus::BmcTarget, v: &str) -> Result<Url, DriverError> {
    let bad = |why: String| DriverError::BadRequest(format!("bmc.console.html5 `{v}`: {why}"));
    let text = if v.starts_with('/') {
        let host = if bmc.address.contains(':') {
            format!("[{}]", bmc.address)
        } else {
            bmc.address.clone()
        };
        let port = if bmc.driver == "redfish" {
            bmc.port
        } else {
            443
        };
        format!("wss://{host}:{port}{v}")
    } else {
        v.to_owned()
    };
    let mut url = Url::parse(&text).map_err(|e| bad(e.to_string()))?;
    let scheme = match url.scheme() {
        "https" | "wss" => "wss",
        "http" | "ws" => "ws",
        other => return Err(bad(format!("scheme {other}: use wss:// (or ws://)"))),
    };
    url.set_scheme(scheme)
        .map_err(|_| bad("cannot use it as a WebSocket URL".into()))?;
    Ok(url)
}

async fn open(
    gw: &Gateway,
    desktops: Option<&Arc<Desktops>>,
    task: &TaskRequest,
) -> Result<serde_json::Value, DriverError> {
    let p: OpenParams = serde_json::from_value(task.params.clone())
        .map_err(|e| DriverError::BadRequest(format!("console.open task: {e}")))?;
    // A secret of the target (sealed across a broker), never an option.
    let vnc_password = || {
        task.bmc
            .plain_secret(VNC_PASSWORD)
            .map(|s| Zeroizing::new(s.to_owned()))
    };
    let target = match p.kind {
        Kind::Vnc => {
            let addr = p.vnc.clone().ok_or_else(|| {
                DriverError::BadRequest("console.open: kind vnc without a vnc endpoint".into())
            })?;
            // A secret of the target (sealed across a broker), never an option.
            let password = task
                .bmc
                .plain_secret(VNC_PASSWORD)
                .map(|s| Zeroizing::new(s.to_owned()));
            Target::Vnc { addr, password }
        }
        Kind::Sol => Target::Sol(ipmi_config(&task.bmc)?),
        Kind::Desktop => start_desktop(desktops, task, &p).await?,
        Kind::Html5 => {
            let at = p.html5.as_deref().ok_or_else(|| {
                DriverError::BadRequest("console.open: kind html5 without bmc.console.html5".into())
            })?;
            let target = Html5Target {
                url: html5_url(&task.bmc, at)?,
                username: task.bmc.username.clone(),
                password: Zeroizing::new(
                    task.bmc
                        .plain_password()
                        .ok_or_else(|| {
                            DriverError::BadRequest(
                                "an HTML5 console logs in to the BMC: it needs the BMC password"
                                    .into(),
                            )
                        })?
                        .to_owned(),
                ),
                tls: tls_option(&task.bmc)?,
            };
            // Logged in now: a refusal is the API's answer, not the viewer's.
            let web = target.login().await.map_err(DriverError::Bmc)?;
            Target::Html5(Box::new(Html5 {
                target,
                web,
                password: vnc_password(),
            }))
        }
    };
    let session = NewSession {
        id: p.session_id,
        server_id: task.server_id,
        user_id: p.user_id,
        kind: p.kind,
        view_only: p.view_only,
        bmc_key: format!("{}:{}", task.bmc.address, task.bmc.port),
        max_sessions: p.max_sessions,
        limits: p.limits,
        token_hash: hash_of(&p.token_hash)?,
    };
    gw.open(OpenSession {
        session,
        close_url: p.close_url,
        target,
        allowed_ip: p.allowed_ip,
    })
    .map_err(gateway_error)?;
    Ok(serde_json::json!({
        "session_id": p.session_id,
        "base": gw.public_base(),
        "instance": gw.instance(),
    }))
}

/// Puts the gateway's reports on the bus until the gateway is gone.
pub async fn forward_events(mut rx: mpsc::UnboundedReceiver<GatewayEvent>, events: EventSender) {
    while let Some(ev) = rx.recv().await {
        let (session_id, change) = match ev {
            GatewayEvent::Opened { session, at_ms } => (session, ConsoleChange::Opened { at_ms }),
            GatewayEvent::Status {
                session,
                viewers,
                last_input_ms,
                closes_at_ms,
            } => (
                session,
                ConsoleChange::Status {
                    viewers: u32::try_from(viewers).unwrap_or(u32::MAX),
                    last_input_ms,
                    closes_at_ms,
                },
            ),
            GatewayEvent::Closed {
                session,
                reason,
                detail,
                at_ms,
            } => (
                session,
                ConsoleChange::Closed {
                    reason: reason.as_str().to_owned(),
                    detail,
                    at_ms,
                },
            ),
        };
        if let Err(e) = events.send(Event::Console { session_id, change }).await {
            tracing::warn!(session = session_id, error = %e, "console event not sent");
        }
    }
}

/// Logs in to the BMC's web UI with the BMC's own credentials and starts
/// the session's desktop; the gateway stops it when the session closes.
async fn start_desktop(
    desktops: Option<&Arc<Desktops>>,
    task: &TaskRequest,
    p: &OpenParams,
) -> Result<Target, DriverError> {
    let desktops = desktops.ok_or_else(|| {
        DriverError::Unsupported(
            "desktop consoles: this site's agent runs no desktop sessions (start it with --desktop-templates)"
                .into(),
        )
    })?;
    let template = p.template.as_deref().ok_or_else(|| {
        DriverError::BadRequest("console.open: kind desktop without a template".into())
    })?;
    let host = task.bmc.address.as_str();
    let web = match &p.web {
        Some(w) => w.clone(),
        None if host.contains(':') => format!("https://[{host}]"),
        None => format!("https://{host}"),
    };
    let origin = ironrack_desktop::parse_origin(&web).map_err(DriverError::BadRequest)?;
    let resolution = p
        .resolution
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(DriverError::BadRequest)?;
    // Opened by the agent before any task runs: in clear here, or absent.
    let password = Zeroizing::new(task.bmc.plain_password().unwrap_or_default().to_owned());
    let desktop = desktops
        .start(StartRequest {
            template,
            origin,
            user: &task.bmc.username,
            password: &password,
            resolution,
        })
        .await
        .map_err(|e| {
            use ironrack_desktop::{DesktopError as D, LoginError as L};
            let text = e.to_string();
            match e {
                D::NoTemplate { .. } => DriverError::BadRequest(text),
                D::NoJvm(_) => DriverError::Unsupported(text),
                D::Login(L::Refused { .. } | L::NoSession { .. }) => DriverError::Auth(text),
                D::Login(L::Unreachable { .. }) => DriverError::Unreachable(text),
                _ => DriverError::Bmc(text),
            }
        })?;
    Ok(Target::Desktop {
        bmc_host: host.to_owned(),
        desktop: Box::new(GatewayDesktop(desktop)),
    })
}
