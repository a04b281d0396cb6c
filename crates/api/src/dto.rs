//! The public JSON shapes. Only this crate knows them; the store's records
//! are mapped here, and secrets have no field to travel in.

use ironrack_core::{PowerState, Role, TaskState};
use ironrack_store::{AuditEntry, Server, Site, Task, TaskMessage, Tenant, TokenRow, User};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// RFC 3339 with milliseconds, UTC.
pub fn time(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(t).to_string()
}

fn opt_time(ms: Option<i64>) -> Option<String> {
    ms.map(time)
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
    pub version: &'static str,
    pub database: &'static str,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    /// Use as `Authorization: Bearer <token>`; also set as an HttpOnly cookie.
    pub token: String,
    pub expires_at: String,
    pub user: UserOut,
}

#[derive(Serialize, ToSchema)]
pub struct UserOut {
    pub id: i64,
    pub username: String,
    pub role: Role,
    pub tenant: Option<String>,
    pub pin_set: bool,
    pub disabled: bool,
    pub created_at: String,
}

impl From<&User> for UserOut {
    fn from(u: &User) -> UserOut {
        UserOut {
            id: u.id,
            username: u.username.clone(),
            role: u.role,
            tenant: u.tenant_name.clone(),
            pin_set: u.pin_hash.is_some(),
            disabled: u.disabled,
            created_at: time(u.created_at),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PinRequest {
    /// 4 to 12 digits.
    pub pin: String,
    /// The caller's current password: a stolen session cannot set a PIN.
    pub password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub name: String,
    /// Days until the token stops working; no expiry when absent.
    pub expires_in_days: Option<u32>,
    /// Restrict the token to these servers.
    pub server_ids: Option<Vec<i64>>,
}

#[derive(Serialize, ToSchema)]
pub struct TokenOut {
    pub id: i64,
    pub name: String,
    pub expires_at: Option<String>,
    pub server_ids: Option<Vec<i64>>,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

impl From<&TokenRow> for TokenOut {
    fn from(t: &TokenRow) -> TokenOut {
        TokenOut {
            id: t.id,
            name: t.name.clone(),
            expires_at: opt_time(t.expires_at),
            server_ids: t.server_ids.clone(),
            created_at: time(t.created_at),
            last_used_at: opt_time(t.last_used_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TokenCreated {
    pub id: i64,
    pub name: String,
    /// The secret, shown this once: only its hash is stored.
    pub token: String,
    pub expires_at: Option<String>,
    pub server_ids: Option<Vec<i64>>,
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct List<T> {
    pub items: Vec<T>,
}

#[derive(Serialize, ToSchema)]
pub struct Paged<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NameRequest {
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct TenantOut {
    pub id: i64,
    pub name: String,
    pub created_at: String,
}

impl From<&Tenant> for TenantOut {
    fn from(t: &Tenant) -> TenantOut {
        TenantOut {
            id: t.id,
            name: t.name.clone(),
            created_at: time(t.created_at),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserCreate {
    pub username: String,
    pub password: String,
    pub role: Role,
    /// Tenant name; required for customers.
    pub tenant: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    pub password: Option<String>,
    pub role: Option<Role>,
    /// Tenant name, or null to remove.
    #[serde(default, deserialize_with = "double_option")]
    pub tenant: Option<Option<String>>,
    pub disabled: Option<bool>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UserQuery {
    /// Only this tenant's users.
    pub tenant: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SiteCreate {
    pub name: String,
    #[serde(default)]
    pub location: String,
}

#[derive(Serialize, ToSchema)]
pub struct SiteOut {
    pub id: i64,
    pub name: String,
    pub location: String,
    pub created_at: String,
    /// The public key of the site's agent, to which BMC secrets are sealed
    /// before they cross the broker; `null` until an admin registers one.
    pub agent_key: Option<AgentKeyOut>,
    /// Why BMC secrets cannot reach this site's agent, and what to run
    /// (multi-site setups only; `null` when all is well).
    pub agent_key_problem: Option<String>,
    /// Agents heard from at this site.
    pub agents: Vec<AgentOut>,
}

#[derive(Serialize, ToSchema)]
pub struct AgentKeyOut {
    /// X25519 public key, base64 (not a secret).
    pub public_key: String,
    /// Short name of the key, as agents and errors show it.
    pub fingerprint: String,
    pub registered_at: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentKeyIn {
    /// The agent's public key as `ironrack agent keygen` prints it (base64).
    pub public_key: String,
}

#[derive(Serialize, ToSchema)]
pub struct AgentOut {
    pub name: String,
    pub version: String,
    pub last_seen: String,
    /// Heard from within the last `AGENT_LIVE_MS`.
    pub live: bool,
    /// Fingerprint of the key this agent holds (from its heartbeat).
    pub key_fingerprint: Option<String>,
}

/// An agent that sent no heartbeat for this long counts as gone.
pub const AGENT_LIVE_MS: i64 = 30_000;

impl SiteOut {
    /// `sealing`: tasks cross a broker, so the site needs its agent's key.
    pub fn new(s: &Site, agents: &[ironrack_store::AgentSeen], sealing: bool) -> SiteOut {
        let now = ironrack_store::now_ms();
        let agents: Vec<AgentOut> = agents
            .iter()
            .filter(|a| a.site == s.name)
            .map(|a| AgentOut {
                name: a.name.clone(),
                version: a.version.clone(),
                last_seen: time(a.last_seen),
                live: now - a.last_seen < AGENT_LIVE_MS,
                key_fingerprint: a.key_fingerprint.clone(),
            })
            .collect();
        let agent_key = s.agent_key.as_ref().map(|k| AgentKeyOut {
            public_key: k.clone(),
            fingerprint: ironrack_seal::PublicKey::fingerprint_of(k).unwrap_or_default(),
            registered_at: s.agent_key_set_at.map(time),
        });
        let agent_key_problem = if sealing {
            key_problem(&s.name, agent_key.as_ref(), &agents)
        } else {
            None
        };
        SiteOut {
            id: s.id,
            name: s.name.clone(),
            location: s.location.clone(),
            created_at: time(s.created_at),
            agent_key,
            agent_key_problem,
            agents,
        }
    }
}

/// No registered key, or a live agent holding another one.
fn key_problem(site: &str, key: Option<&AgentKeyOut>, agents: &[AgentOut]) -> Option<String> {
    let Some(key) = key else {
        return Some(crate::sealing::no_key_text(site));
    };
    let wrong: Vec<String> = agents
        .iter()
        .filter(|a| a.live)
        .filter_map(|a| {
            let fp = a.key_fingerprint.as_deref()?;
            (fp != key.fingerprint).then(|| format!("`{}` holds key {fp}", a.name))
        })
        .collect();
    (!wrong.is_empty()).then(|| {
        format!(
            "agent {} but the registered key is {}: its tasks that carry a BMC password fail. \
             Register the agent's key (`ironrack site agent-key {site} KEY`, KEY from \
             `ironrack agent keygen --key-file PATH` on its host), or start it with the key file \
             whose key is registered",
            wrong.join(", agent "),
            key.fingerprint
        )
    })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BmcIn {
    /// `ipmi`, `redfish`, `fence:<agent>` or `fake`.
    pub driver: String,
    pub address: String,
    /// Defaults to 623 for IPMI, 443 for Redfish.
    pub port: Option<u16>,
    #[serde(default)]
    pub username: String,
    /// Write-only: stored encrypted, never returned.
    pub password: Option<String>,
    #[serde(default = "empty_object")]
    pub options: serde_json::Value,
    /// Console endpoints of this server.
    pub console: Option<ConsoleIn>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BmcPatch {
    pub driver: Option<String>,
    pub address: Option<String>,
    pub port: Option<u16>,
    pub username: Option<String>,
    /// A new password, or null to remove it.
    #[serde(default, deserialize_with = "double_option")]
    pub password: Option<Option<String>>,
    pub options: Option<serde_json::Value>,
    /// New console endpoints (replacing the old ones), or null to remove them.
    #[serde(default, deserialize_with = "double_option")]
    pub console: Option<Option<ConsoleIn>>,
}

/// A server's console endpoints (`bmc.console`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsoleIn {
    /// `host:port` of a VNC server showing this machine (a VM's display, a
    /// KVM switch, a BMC's VNC).
    pub vnc: Option<String>,
    /// Write-only: sealed at rest, never returned. Absent keeps the stored
    /// one; null removes it.
    #[serde(default, deserialize_with = "double_option")]
    pub vnc_password: Option<Option<String>>,
    /// The BMC's own KVM WebSocket (OpenBMC style, RFB inside): a path on
    /// the BMC (`"/kvm/0"`: wss on the BMC's address, its Redfish port for
    /// the redfish driver, else 443) or a `wss://` URL. The agent logs in
    /// with the BMC credentials; certificates as options `insecure_tls` /
    /// `tls_fingerprint` say.
    pub html5: Option<serde_json::Value>,
    /// A vendor template name (nojava-ipmi-kvm format) for desktop sessions.
    pub template: Option<String>,
    /// The BMC web UI a desktop session logs in to, `http(s)://host[:port]`
    /// (default `https://<bmc.address>`).
    pub web: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ConsoleConfigOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vnc: Option<String>,
    pub vnc_password_set: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub html5: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web: Option<String>,
}

impl ConsoleConfigOut {
    pub fn new(c: &ironrack_store::ServerConsole) -> ConsoleConfigOut {
        ConsoleConfigOut {
            vnc: c
                .config
                .get("vnc")
                .and_then(|v| v.as_str())
                .map(str::to_owned),
            vnc_password_set: c.vnc_password_set,
            html5: c.config.get("html5").filter(|v| !v.is_null()).cloned(),
            template: c
                .config
                .get("template")
                .and_then(|v| v.as_str())
                .map(str::to_owned),
            web: c
                .config
                .get("web")
                .and_then(|v| v.as_str())
                .map(str::to_owned),
        }
    }
}

/// `POST /api/v1/servers/{id}/console`
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsoleRequest {
    /// `vnc`, `html5`, `desktop`, `sol` or `auto`: the first the server has
    /// of VNC (a VNC endpoint), its BMC's HTML5 KVM, desktop (a template in
    /// `bmc.console`), and SOL (the ipmi driver).
    #[serde(default = "auto_kind")]
    pub kind: String,
    /// A desktop session's screen, `WIDTHxHEIGHT[xDEPTH]` (e.g.
    /// `1600x900x24`; default: the template file's, else the agent's).
    pub resolution: Option<String>,
    /// Called with an HTTP GET when the session closes.
    pub close_url: Option<String>,
    #[serde(default)]
    pub view_only: bool,
    /// The PIN, if not sent as `X-Ironrack-Pin`.
    pub pin: Option<String>,
    /// Only a browser at this IP address may connect (checked by the
    /// gateway; behind a reverse proxy see `console_trusted_proxies`).
    pub allowed_ip: Option<String>,
}

fn auto_kind() -> String {
    "auto".into()
}

#[derive(Serialize, ToSchema)]
pub struct ConsoleCreated {
    /// The console session's id.
    pub id: String,
    pub kind: String,
    /// The console page (the token is in the fragment).
    pub url: String,
    /// When the token stops working if unused.
    pub expires_at: String,
    /// The WebSocket, for non-browser clients (`?token=` included).
    pub ws_url: String,
    /// One-time token, shown once.
    pub token: String,
}

#[derive(Serialize, ToSchema)]
pub struct ViewerCreated {
    pub url: String,
    pub ws_url: String,
    pub token: String,
    pub expires_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct ConsoleOut {
    pub id: String,
    pub server_id: i64,
    pub server: String,
    pub user: String,
    pub kind: String,
    pub view_only: bool,
    /// `pending` (token not used yet), `live` or `closed`.
    pub state: String,
    pub viewers: i64,
    pub created_at: String,
    pub opened_at: Option<String>,
    pub last_input_at: Option<String>,
    pub closes_at: Option<String>,
    pub closed_at: Option<String>,
    pub close_reason: Option<String>,
    pub close_detail: Option<String>,
}

impl ConsoleOut {
    pub fn new(c: &ironrack_store::ConsoleSession) -> ConsoleOut {
        ConsoleOut {
            id: c.id.to_string(),
            server_id: c.server_id,
            server: c.server_name.clone(),
            user: c.username.clone(),
            kind: c.kind.clone(),
            view_only: c.view_only,
            state: c.state.clone(),
            viewers: c.viewers,
            created_at: time(c.created_at),
            opened_at: opt_time(c.opened_at),
            last_input_at: opt_time(c.last_input_at),
            closes_at: opt_time(if c.state == "pending" {
                Some(c.expires_at)
            } else {
                c.closes_at
            }),
            closed_at: opt_time(c.closed_at),
            close_reason: c.close_reason.clone(),
            close_detail: c.close_detail.clone(),
        }
    }
}

fn empty_object() -> serde_json::Value {
    serde_json::json!({})
}

/// Tells an absent field (`None`) from an explicit null (`Some(None)`).
fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerCreate {
    pub name: String,
    /// Site name.
    pub site: String,
    /// Tenant name; absent for a server in the hoster's own pool.
    pub tenant: Option<String>,
    #[serde(default)]
    pub macs: Vec<String>,
    pub bmc: BmcIn,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerPatch {
    pub name: Option<String>,
    pub site: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    pub tenant: Option<Option<String>>,
    pub macs: Option<Vec<String>>,
    pub bmc: Option<BmcPatch>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ServerQuery {
    /// Page size, 1 to 1000 (default 50).
    pub limit: Option<i64>,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Site name.
    pub site: Option<String>,
    /// Tenant name.
    pub tenant: Option<String>,
    pub name_prefix: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct BmcOut {
    pub driver: String,
    pub address: String,
    pub port: u16,
    pub username: String,
    pub password_set: bool,
    pub options: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console: Option<ConsoleConfigOut>,
}

#[derive(Serialize, ToSchema)]
pub struct ServerOut {
    pub id: i64,
    pub name: String,
    pub site: String,
    pub tenant: Option<String>,
    pub macs: Vec<String>,
    /// Staff only: customers do not see how the BMC is reached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bmc: Option<BmcOut>,
    pub power_state: PowerState,
    pub power_observed_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl ServerOut {
    pub fn new(s: &Server, staff: bool) -> ServerOut {
        ServerOut::from_owned(s.clone(), staff)
    }

    /// Takes the server apart instead of copying it (listings: no string is
    /// cloned per row).
    pub fn from_owned(s: Server, staff: bool) -> ServerOut {
        let bmc = s.bmc;
        ServerOut {
            id: s.id,
            name: s.name,
            site: s.site_name,
            tenant: s.tenant_name,
            macs: s.macs,
            bmc: staff.then_some(BmcOut {
                driver: bmc.driver,
                address: bmc.address,
                port: bmc.port,
                username: bmc.username,
                password_set: bmc.has_password,
                options: bmc.options,
                console: None,
            }),
            power_state: s.power_state,
            power_observed_at: opt_time(s.power_observed_at),
            created_at: time(s.created_at),
            updated_at: time(s.updated_at),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PowerRequest {
    pub action: ironrack_core::PowerAction,
    /// The PIN, if not sent as `X-Ironrack-Pin`.
    pub pin: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TaskOut {
    pub id: i64,
    pub server_id: i64,
    pub server: String,
    pub kind: String,
    pub params: serde_json::Value,
    pub state: TaskState,
    pub result: Option<serde_json::Value>,
    pub error: Option<String>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub messages: Vec<TaskMessageOut>,
    /// Why a queued task is waiting, when that is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TaskMessageOut {
    pub at: String,
    pub message: String,
}

impl TaskOut {
    pub fn new(t: &Task, messages: &[TaskMessage]) -> TaskOut {
        TaskOut {
            id: t.id,
            server_id: t.server_id,
            server: t.server_name.clone(),
            kind: t.kind.clone(),
            params: t.params.clone(),
            state: t.state,
            result: t.result.clone(),
            error: t.error.clone(),
            created_at: time(t.created_at),
            started_at: opt_time(t.started_at),
            finished_at: opt_time(t.finished_at),
            messages: messages
                .iter()
                .map(|m| TaskMessageOut {
                    at: time(m.at),
                    message: m.message.clone(),
                })
                .collect(),
            note: None,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TaskQuery {
    /// Only this server's tasks.
    pub server: Option<i64>,
    pub state: Option<TaskState>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditOut {
    pub id: i64,
    pub at: String,
    pub user: String,
    pub tenant_id: Option<i64>,
    pub action: String,
    /// `type:id` of the object acted on.
    pub object: Option<String>,
    pub source: String,
    pub result: String,
    pub detail: Option<String>,
}

impl From<&AuditEntry> for AuditOut {
    fn from(a: &AuditEntry) -> AuditOut {
        AuditOut {
            id: a.id,
            at: time(a.at),
            user: a.username.clone(),
            tenant_id: a.tenant_id,
            action: a.action.clone(),
            object: a.object_id.as_ref().map(|id| {
                if id.contains(':') {
                    id.clone()
                } else {
                    format!("{}:{id}", a.object_type)
                }
            }),
            source: a.source.clone(),
            result: a.result.clone(),
            detail: a.detail.clone(),
        }
    }
}

/// One sensor as last read from the BMC.
#[derive(Serialize, ToSchema)]
pub struct SensorOut {
    pub name: String,
    /// "Temperature", "Fan", "Voltage", ...
    #[serde(rename = "type")]
    pub sensor_type: String,
    pub reading: Option<f64>,
    pub unit: Option<String>,
    pub status: ironrack_core::SensorStatus,
}

/// A server's sensors; `read_at` is null if they were never read.
#[derive(Serialize, ToSchema)]
pub struct SensorsOut {
    pub server_id: i64,
    pub read_at: Option<String>,
    pub sensors: Vec<SensorOut>,
}

impl SensorsOut {
    pub fn new(server_id: i64, o: &ironrack_store::Observed<ironrack_core::SensorReading>) -> Self {
        SensorsOut {
            server_id,
            read_at: opt_time(o.read_at),
            sensors: o
                .items
                .iter()
                .map(|r| SensorOut {
                    name: r.name.clone(),
                    sensor_type: r.sensor_type.clone(),
                    reading: r.reading,
                    unit: r.unit.clone(),
                    status: r.status,
                })
                .collect(),
        }
    }
}

/// One System Event Log entry.
#[derive(Serialize, ToSchema)]
pub struct SelEntryOut {
    /// The BMC's record id.
    pub id: i64,
    /// When it happened; null if the BMC's clock was not set then.
    pub at: Option<String>,
    pub text: String,
}

/// A server's System Event Log, oldest first; `read_at` is null if it was
/// never read.
#[derive(Serialize, ToSchema)]
pub struct SelOut {
    pub server_id: i64,
    pub read_at: Option<String>,
    pub entries: Vec<SelEntryOut>,
}

impl SelOut {
    pub fn new(server_id: i64, o: &ironrack_store::Observed<ironrack_core::SelEntry>) -> Self {
        SelOut {
            server_id,
            read_at: opt_time(o.read_at),
            entries: o
                .items
                .iter()
                .map(|e| SelEntryOut {
                    id: e.id,
                    at: opt_time(e.at),
                    text: e.text.clone(),
                })
                .collect(),
        }
    }
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct SelRefresh {
    /// Empty the log after reading it (needs the PIN).
    #[serde(default)]
    pub clear: bool,
    /// The PIN, if not sent as `X-Ironrack-Pin`.
    pub pin: Option<String>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct BmcResetRequest {
    /// `cold` (default) or `warm`.
    #[serde(default)]
    pub kind: ironrack_core::BmcResetKind,
    /// The PIN, if not sent as `X-Ironrack-Pin`.
    pub pin: Option<String>,
}
