//! The pure half of the client: URLs, the JSON shapes Redfish sends and
//! expects, which reset to send for a power request, and how to read a
//! Redfish error. Nothing here does I/O, so all of it is tested without a
//! BMC.

use serde_json::{Value, json};

use crate::Error;

/// Base URL of a BMC's service (`https://host:port`), IPv6-safe.
pub fn base_url(scheme: &str, host: &str, port: u16) -> Result<String, Error> {
    if scheme != "https" && scheme != "http" {
        return Err(Error::Invalid(format!(
            "scheme must be `https` or `http`, not `{scheme}`"
        )));
    }
    let host = host.trim();
    if host.is_empty() || host.contains(['/', '?', '#', '@', ' ']) {
        return Err(Error::Invalid(format!("`{host}` is not a BMC host name")));
    }
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    Ok(format!("{scheme}://{host}:{port}"))
}

/// The absolute URL of a resource given its `@odata.id` (a path). Refuses
/// anything that is not a path on the same service, so a BMC cannot point
/// us (and our credentials) at another host.
pub fn resource_url(base: &str, odata_id: &str) -> Result<String, Error> {
    // Some services give absolute URLs of themselves.
    let odata_id = odata_id
        .strip_prefix(base)
        .filter(|p| p.starts_with('/'))
        .unwrap_or(odata_id);
    if !odata_id.starts_with("/redfish/") || odata_id.contains("//") || odata_id.contains('#') {
        return Err(Error::Protocol(format!(
            "`{odata_id}` is not a Redfish resource path"
        )));
    }
    Ok(format!("{base}{odata_id}"))
}

pub const SYSTEMS: &str = "/redfish/v1/Systems";
pub const MANAGERS: &str = "/redfish/v1/Managers";

/// The `@odata.id` of a link object `{"@odata.id": "..."}`.
fn link(v: &Value) -> Option<&str> {
    v.get("@odata.id").and_then(Value::as_str)
}

/// Member paths of a collection.
pub fn members(collection: &Value) -> Vec<String> {
    collection
        .get("Members")
        .and_then(Value::as_array)
        .map(|m| m.iter().filter_map(link).map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Pick the ComputerSystem: the one named by `system_id` (the last path
/// segment, as in `/redfish/v1/Systems/<id>`), or the only member.
pub fn pick_system(members: &[String], system_id: Option<&str>) -> Result<String, Error> {
    let id_of = |m: &String| {
        m.trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or("")
            .to_owned()
    };
    match system_id {
        Some(id) => members
            .iter()
            .find(|m| id_of(m) == id)
            .cloned()
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "no system `{id}` on this BMC; it has: {}",
                    list(members.iter().map(id_of))
                ))
            }),
        None => match members {
            [one] => Ok(one.clone()),
            [] => Err(Error::Protocol("the BMC lists no ComputerSystem".into())),
            many => Err(Error::Invalid(format!(
                "this BMC manages {} systems ({}); choose one with option `system_id`",
                many.len(),
                list(many.iter().map(id_of))
            ))),
        },
    }
}

fn list(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

/// `PowerState` of a ComputerSystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerState {
    On,
    Off,
    PoweringOn,
    PoweringOff,
    Paused,
}

impl PowerState {
    pub fn parse(s: &str) -> Option<PowerState> {
        Some(match s {
            "On" => PowerState::On,
            "Off" => PowerState::Off,
            "PoweringOn" => PowerState::PoweringOn,
            "PoweringOff" => PowerState::PoweringOff,
            "Paused" => PowerState::Paused,
            _ => return None,
        })
    }
}

/// `ResetType` values of `ComputerSystem.Reset` that we send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetType {
    On,
    ForceOn,
    ForceOff,
    GracefulShutdown,
    ForceRestart,
    PowerCycle,
}

impl ResetType {
    pub fn as_str(self) -> &'static str {
        match self {
            ResetType::On => "On",
            ResetType::ForceOn => "ForceOn",
            ResetType::ForceOff => "ForceOff",
            ResetType::GracefulShutdown => "GracefulShutdown",
            ResetType::ForceRestart => "ForceRestart",
            ResetType::PowerCycle => "PowerCycle",
        }
    }

    /// The body of a `ComputerSystem.Reset` POST.
    pub fn body(self) -> Value {
        json!({ "ResetType": self.as_str() })
    }

    /// The state the system shows once the reset took effect, if any.
    pub fn resulting_state(self) -> Option<PowerState> {
        match self {
            ResetType::On
            | ResetType::ForceOn
            | ResetType::ForceRestart
            | ResetType::PowerCycle => Some(PowerState::On),
            ResetType::ForceOff => Some(PowerState::Off),
            // The OS may ignore the request; there is nothing to wait for.
            ResetType::GracefulShutdown => None,
        }
    }
}

/// What the caller asks of a system's power.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerRequest {
    On,
    /// Hard off.
    Off,
    /// Ask the OS to shut down.
    GracefulShutdown,
    /// Hard reset.
    Restart,
    /// Off, then on.
    Cycle,
}

/// The resets to send, in order, for a request given the system's current
/// state and `ResetType@Redfish.AllowableValues` (`None`: the BMC does not
/// say, so every type is assumed). Requests already satisfied need none.
pub fn reset_plan(
    req: PowerRequest,
    current: Option<PowerState>,
    allowed: Option<&[String]>,
) -> Result<Vec<ResetType>, Error> {
    let offers = |t: ResetType| allowed.is_none_or(|a| a.iter().any(|x| x == t.as_str()));
    let first_offered = |choices: &[ResetType]| {
        choices
            .iter()
            .copied()
            .find(|t| offers(*t))
            .ok_or_else(|| Error::NotOffered {
                wanted: choices
                    .iter()
                    .map(|t| t.as_str())
                    .collect::<Vec<_>>()
                    .join(" or "),
                offered: allowed.map(|a| a.join(", ")).unwrap_or_default(),
            })
    };
    let is_off = current == Some(PowerState::Off);
    Ok(match req {
        PowerRequest::On if current == Some(PowerState::On) => vec![],
        PowerRequest::Off if is_off => vec![],
        PowerRequest::On => vec![first_offered(&[ResetType::On, ResetType::ForceOn])?],
        PowerRequest::Off => vec![first_offered(&[ResetType::ForceOff])?],
        PowerRequest::GracefulShutdown if is_off => vec![],
        PowerRequest::GracefulShutdown => vec![first_offered(&[ResetType::GracefulShutdown])?],
        // Restarting or cycling a machine that is off means turning it on.
        PowerRequest::Restart | PowerRequest::Cycle if is_off => {
            vec![first_offered(&[ResetType::On, ResetType::ForceOn])?]
        }
        PowerRequest::Restart => vec![first_offered(&[ResetType::ForceRestart])?],
        PowerRequest::Cycle if offers(ResetType::PowerCycle) => vec![ResetType::PowerCycle],
        PowerRequest::Cycle => vec![
            first_offered(&[ResetType::ForceOff])?,
            first_offered(&[ResetType::On, ResetType::ForceOn])?,
        ],
    })
}

/// `Boot.BootSourceOverrideTarget` values we set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootTarget {
    None,
    Pxe,
    Hdd,
    Cd,
    BiosSetup,
}

impl BootTarget {
    pub fn as_str(self) -> &'static str {
        match self {
            BootTarget::None => "None",
            BootTarget::Pxe => "Pxe",
            BootTarget::Hdd => "Hdd",
            BootTarget::Cd => "Cd",
            BootTarget::BiosSetup => "BiosSetup",
        }
    }
}

/// `Boot.BootSourceOverrideMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootMode {
    Uefi,
    Legacy,
}

impl BootMode {
    pub fn as_str(self) -> &'static str {
        match self {
            BootMode::Uefi => "UEFI",
            BootMode::Legacy => "Legacy",
        }
    }
}

/// A boot source override to set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootOverride {
    pub target: BootTarget,
    /// `Continuous` rather than `Once`.
    pub persistent: bool,
    pub mode: BootMode,
}

/// The boot override as a system reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BootSettings {
    pub target: Option<String>,
    pub enabled: Option<String>,
    pub mode: Option<String>,
    /// `BootSourceOverrideTarget@Redfish.AllowableValues`, if given.
    pub allowed_targets: Option<Vec<String>>,
}

/// What we need to know of a ComputerSystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct System {
    pub odata_id: String,
    pub power: Option<PowerState>,
    /// Target URL path of `#ComputerSystem.Reset`.
    pub reset_target: String,
    /// `ResetType@Redfish.AllowableValues`, if given.
    pub allowed_resets: Option<Vec<String>>,
    pub boot: BootSettings,
    /// `VirtualMedia` collection linked from the system (Redfish 2021.1+).
    pub virtual_media: Option<String>,
    /// `Links.ManagedBy`: the managers whose `VirtualMedia` to look at.
    pub managers: Vec<String>,
}

fn strings(v: Option<&Value>) -> Option<Vec<String>> {
    v.and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    })
}

fn string(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::to_owned)
}

impl System {
    /// Read a ComputerSystem resource fetched from `odata_id`.
    pub fn parse(odata_id: &str, v: &Value) -> Result<System, Error> {
        if !v.is_object() {
            return Err(Error::Protocol(format!("{odata_id} is not a JSON object")));
        }
        let reset = v.pointer("/Actions/#ComputerSystem.Reset");
        let reset_target = reset
            .and_then(|r| r.get("target"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            // The standard location, for BMCs that omit the action.
            .unwrap_or_else(|| format!("{odata_id}/Actions/ComputerSystem.Reset"));
        let boot = v.get("Boot");
        let b = |k: &str| string(boot.and_then(|b| b.get(k)));
        Ok(System {
            odata_id: odata_id.to_owned(),
            power: v
                .get("PowerState")
                .and_then(Value::as_str)
                .and_then(PowerState::parse),
            reset_target,
            allowed_resets: strings(reset.and_then(|r| r.get("ResetType@Redfish.AllowableValues"))),
            boot: BootSettings {
                target: b("BootSourceOverrideTarget"),
                enabled: b("BootSourceOverrideEnabled"),
                mode: b("BootSourceOverrideMode"),
                allowed_targets: strings(
                    boot.and_then(|b| b.get("BootSourceOverrideTarget@Redfish.AllowableValues")),
                ),
            },
            virtual_media: v.get("VirtualMedia").and_then(link).map(str::to_owned),
            managers: v
                .pointer("/Links/ManagedBy")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(link).map(str::to_owned).collect())
                .unwrap_or_default(),
        })
    }

    /// The PATCH body that sets a boot override, checked against what the
    /// system says it allows. The mode is sent only if the system reports
    /// one (older BMCs reject the property).
    pub fn boot_patch(&self, o: BootOverride) -> Result<Value, Error> {
        if let Some(allowed) = &self.boot.allowed_targets
            && o.target != BootTarget::None
            && !allowed.iter().any(|t| t == o.target.as_str())
        {
            return Err(Error::NotOffered {
                wanted: format!("boot target {}", o.target.as_str()),
                offered: allowed.join(", "),
            });
        }
        let mut boot = json!({
            "BootSourceOverrideTarget": o.target.as_str(),
            "BootSourceOverrideEnabled": if o.persistent { "Continuous" } else { "Once" },
        });
        if self.boot.mode.is_some() {
            boot["BootSourceOverrideMode"] = o.mode.as_str().into();
        }
        Ok(json!({ "Boot": boot }))
    }
}

/// The `VirtualMedia` collection of a manager, if it has one.
pub fn manager_virtual_media(manager: &Value) -> Option<String> {
    manager
        .get("VirtualMedia")
        .and_then(link)
        .map(str::to_owned)
}

/// A virtual media device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualMedia {
    pub odata_id: String,
    pub media_types: Vec<String>,
    pub image: Option<String>,
    pub inserted: Option<bool>,
    pub insert_target: Option<String>,
    pub eject_target: Option<String>,
}

impl VirtualMedia {
    pub fn parse(odata_id: &str, v: &Value) -> VirtualMedia {
        let action = |name: &str| {
            v.get("Actions")
                .and_then(|a| a.get(name))
                .and_then(|a| a.get("target"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        VirtualMedia {
            odata_id: odata_id.to_owned(),
            media_types: strings(v.get("MediaTypes")).unwrap_or_default(),
            image: string(v.get("Image")).filter(|s| !s.is_empty()),
            inserted: v.get("Inserted").and_then(Value::as_bool),
            insert_target: action("#VirtualMedia.InsertMedia"),
            eject_target: action("#VirtualMedia.EjectMedia"),
        }
    }

    pub fn is_cd(&self) -> bool {
        self.media_types.iter().any(|t| t == "CD" || t == "DVD")
    }
}

/// Check an image URL before handing it to a BMC (it fetches it itself).
pub fn check_image_url(url: &str) -> Result<(), Error> {
    let ok = ["http://", "https://", "nfs://", "cifs://"]
        .iter()
        .any(|p| url.starts_with(p));
    if !ok || url.chars().any(char::is_control) || url.contains(' ') {
        return Err(Error::Invalid(format!(
            "image must be an http(s), nfs or cifs URL without spaces, not `{url}`"
        )));
    }
    Ok(())
}

/// Body of `VirtualMedia.InsertMedia`.
pub fn insert_body(image: &str) -> Value {
    json!({ "Image": image, "Inserted": true, "WriteProtected": true })
}

/// A readable message from a Redfish error body (`error.message` and each
/// `@Message.ExtendedInfo` entry's `Message`, else its `MessageId`), or the
/// start of the body if it is not one.
pub fn error_message(body: &[u8]) -> String {
    let text = || {
        let s = String::from_utf8_lossy(body);
        let s = s.trim();
        if s.is_empty() {
            "(no details)".to_owned()
        } else {
            s.chars().take(300).collect()
        }
    };
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return text();
    };
    let Some(err) = v.get("error") else {
        return text();
    };
    let mut parts: Vec<String> = Vec::new();
    if let Some(m) = err.get("message").and_then(Value::as_str) {
        parts.push(m.to_owned());
    }
    for info in err
        .get("@Message.ExtendedInfo")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let msg = info
            .get("Message")
            .or_else(|| info.get("MessageId"))
            .and_then(Value::as_str);
        let fix = info.get("Resolution").and_then(Value::as_str);
        if let Some(m) = msg
            && !parts.iter().any(|p| p == m)
        {
            parts.push(match fix {
                Some(r) => format!("{m} ({r})"),
                None => m.to_owned(),
            });
        }
    }
    if parts.is_empty() {
        if let Some(code) = err.get("code").and_then(Value::as_str) {
            parts.push(code.to_owned());
        } else {
            return text();
        }
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn urls() {
        assert_eq!(
            base_url("https", "10.0.0.1", 443).unwrap(),
            "https://10.0.0.1:443"
        );
        assert_eq!(base_url("http", "::1", 8000).unwrap(), "http://[::1]:8000");
        assert!(base_url("ftp", "h", 1).is_err());
        assert!(base_url("https", "evil.com/x?", 1).is_err());
        assert!(base_url("https", "user@h", 1).is_err());
        assert_eq!(
            resource_url("https://h:1", "/redfish/v1/Systems/1").unwrap(),
            "https://h:1/redfish/v1/Systems/1"
        );
        assert_eq!(
            resource_url("https://h:1", "https://h:1/redfish/v1/Systems/1").unwrap(),
            "https://h:1/redfish/v1/Systems/1"
        );
        for bad in [
            "https://h:1.evil.com/redfish/v1",
            "https://h:1@evil/redfish/v1",
            "//evil.com/redfish/v1",
            "https://evil.com/redfish",
            "/other",
            "/redfish//x",
        ] {
            assert!(resource_url("https://h:1", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn picks_the_system() {
        let one = s(&["/redfish/v1/Systems/abc"]);
        assert_eq!(pick_system(&one, None).unwrap(), "/redfish/v1/Systems/abc");
        let two = s(&["/redfish/v1/Systems/a", "/redfish/v1/Systems/b/"]);
        let e = pick_system(&two, None).unwrap_err().to_string();
        assert!(
            e.contains("2 systems (a, b)") && e.contains("system_id"),
            "{e}"
        );
        assert_eq!(
            pick_system(&two, Some("b")).unwrap(),
            "/redfish/v1/Systems/b/"
        );
        let e = pick_system(&two, Some("c")).unwrap_err().to_string();
        assert!(e.contains("no system `c`") && e.contains("a, b"), "{e}");
        assert!(pick_system(&[], None).is_err());
        let coll = json!({"Members": [{"@odata.id": "/redfish/v1/Systems/x"}, {"nope": 1}]});
        assert_eq!(members(&coll), s(&["/redfish/v1/Systems/x"]));
    }

    #[test]
    fn reset_plans() {
        use PowerRequest as R;
        use ResetType as T;
        let on = Some(PowerState::On);
        let off = Some(PowerState::Off);
        let sushy = s(&[
            "On",
            "ForceOff",
            "GracefulShutdown",
            "GracefulRestart",
            "ForceRestart",
            "Nmi",
            "ForceOn",
        ]);
        let a = Some(sushy.as_slice());
        assert_eq!(reset_plan(R::On, off, a).unwrap(), [T::On]);
        assert_eq!(reset_plan(R::On, on, a).unwrap(), []);
        assert_eq!(reset_plan(R::Off, on, a).unwrap(), [T::ForceOff]);
        assert_eq!(reset_plan(R::Off, off, a).unwrap(), []);
        assert_eq!(
            reset_plan(R::GracefulShutdown, on, a).unwrap(),
            [T::GracefulShutdown]
        );
        assert_eq!(reset_plan(R::Restart, on, a).unwrap(), [T::ForceRestart]);
        assert_eq!(reset_plan(R::Restart, off, a).unwrap(), [T::On]);
        // No PowerCycle offered: off, then on.
        assert_eq!(reset_plan(R::Cycle, on, a).unwrap(), [T::ForceOff, T::On]);
        assert_eq!(reset_plan(R::Cycle, off, a).unwrap(), [T::On]);
        let with_cycle = s(&["ForceOn", "ForceOff", "PowerCycle"]);
        let c = Some(with_cycle.as_slice());
        assert_eq!(reset_plan(R::Cycle, on, c).unwrap(), [T::PowerCycle]);
        assert_eq!(reset_plan(R::On, off, c).unwrap(), [T::ForceOn]);
        // Unknown allowable values: the standard types.
        assert_eq!(reset_plan(R::Cycle, None, None).unwrap(), [T::PowerCycle]);
        let e = reset_plan(R::GracefulShutdown, on, c)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("GracefulShutdown") && e.contains("ForceOn, ForceOff, PowerCycle"),
            "{e}"
        );
        assert_eq!(T::PowerCycle.body(), json!({"ResetType": "PowerCycle"}));
    }

    fn sushy_system() -> Value {
        json!({
            "@odata.id": "/redfish/v1/Systems/u1",
            "PowerState": "Off",
            "Boot": {
                "BootSourceOverrideEnabled": "Continuous",
                "BootSourceOverrideTarget": "Hdd",
                "BootSourceOverrideTarget@Redfish.AllowableValues": ["Pxe", "Cd", "Hdd", "UefiHttp"],
                "BootSourceOverrideMode": "UEFI"
            },
            "VirtualMedia": {"@odata.id": "/redfish/v1/Systems/u1/VirtualMedia"},
            "Links": {"ManagedBy": [{"@odata.id": "/redfish/v1/Managers/m1"}]},
            "Actions": {"#ComputerSystem.Reset": {
                "target": "/redfish/v1/Systems/u1/Actions/ComputerSystem.Reset",
                "ResetType@Redfish.AllowableValues": ["On", "ForceOff"]
            }}
        })
    }

    #[test]
    fn reads_a_system() {
        let sys = System::parse("/redfish/v1/Systems/u1", &sushy_system()).unwrap();
        assert_eq!(sys.power, Some(PowerState::Off));
        assert_eq!(
            sys.reset_target,
            "/redfish/v1/Systems/u1/Actions/ComputerSystem.Reset"
        );
        assert_eq!(sys.allowed_resets, Some(s(&["On", "ForceOff"])));
        assert_eq!(sys.boot.target.as_deref(), Some("Hdd"));
        assert_eq!(sys.boot.mode.as_deref(), Some("UEFI"));
        assert_eq!(
            sys.virtual_media.as_deref(),
            Some("/redfish/v1/Systems/u1/VirtualMedia")
        );
        assert_eq!(sys.managers, s(&["/redfish/v1/Managers/m1"]));

        let bare =
            System::parse("/redfish/v1/Systems/2", &json!({"PowerState": "Sideways"})).unwrap();
        assert_eq!(bare.power, None);
        assert_eq!(
            bare.reset_target,
            "/redfish/v1/Systems/2/Actions/ComputerSystem.Reset"
        );
        assert_eq!(bare.allowed_resets, None);
        assert!(System::parse("/x", &json!([1])).is_err());
    }

    #[test]
    fn boot_patches() {
        let sys = System::parse("/redfish/v1/Systems/u1", &sushy_system()).unwrap();
        let pxe = BootOverride {
            target: BootTarget::Pxe,
            persistent: false,
            mode: BootMode::Legacy,
        };
        assert_eq!(
            sys.boot_patch(pxe).unwrap(),
            json!({"Boot": {"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Once", "BootSourceOverrideMode": "Legacy"}})
        );
        let bios = BootOverride {
            target: BootTarget::BiosSetup,
            persistent: true,
            mode: BootMode::Uefi,
        };
        let e = sys.boot_patch(bios).unwrap_err().to_string();
        assert!(
            e.contains("BiosSetup") && e.contains("Pxe, Cd, Hdd, UefiHttp"),
            "{e}"
        );
        // No mode reported: none sent.
        let old = System::parse("/redfish/v1/Systems/o", &json!({"Boot": {}})).unwrap();
        assert_eq!(
            old.boot_patch(bios).unwrap(),
            json!({"Boot": {"BootSourceOverrideTarget": "BiosSetup", "BootSourceOverrideEnabled": "Continuous"}})
        );
    }

    #[test]
    fn reads_virtual_media() {
        let v = json!({
            "MediaTypes": ["CD", "DVD"], "Image": "", "Inserted": false,
            "Actions": {
                "#VirtualMedia.EjectMedia": {"target": "/redfish/v1/Systems/u1/VirtualMedia/Cd/Actions/VirtualMedia.EjectMedia"},
                "#VirtualMedia.InsertMedia": {"target": "/redfish/v1/Systems/u1/VirtualMedia/Cd/Actions/VirtualMedia.InsertMedia"}
            }
        });
        let m = VirtualMedia::parse("/redfish/v1/Systems/u1/VirtualMedia/Cd", &v);
        assert!(m.is_cd());
        assert_eq!(m.image, None);
        assert_eq!(m.inserted, Some(false));
        assert!(m.insert_target.unwrap().ends_with("InsertMedia"));
        assert!(!VirtualMedia::parse("/x", &json!({"MediaTypes": ["Floppy"]})).is_cd());
        assert_eq!(
            manager_virtual_media(
                &json!({"VirtualMedia": {"@odata.id": "/redfish/v1/Managers/1/VM"}})
            ),
            Some("/redfish/v1/Managers/1/VM".into())
        );
        assert!(check_image_url("http://10.0.0.1/boot.iso").is_ok());
        assert!(check_image_url("file:///etc/shadow").is_err());
        assert!(check_image_url("http://a/b c").is_err());
        assert!(check_image_url("http://a/b\nc").is_err());
    }

    #[test]
    fn error_messages() {
        // sushy-tools' 401 body.
        let body = br#"{"error":{"code":"Base.1.0.GeneralError","message":"Incorrect username or password","@Message.ExtendedInfo":[{"MessageId":"Base.1.0.GeneralError"}]}}"#;
        assert_eq!(
            error_message(body),
            "Incorrect username or password; Base.1.0.GeneralError"
        );
        // A typical vendor body: details only in ExtendedInfo.
        let body = br#"{"error":{"code":"Base.1.8.GeneralError","message":"A general error has occurred. See ExtendedInfo for more information.","@Message.ExtendedInfo":[{"MessageId":"Base.1.8.PropertyValueNotInList","Message":"The value Floppy for the property BootSourceOverrideTarget is not in the list of acceptable values.","Resolution":"Choose a value from the enumeration list."}]}}"#;
        let m = error_message(body);
        assert!(
            m.contains("Floppy for the property") && m.contains("(Choose a value"),
            "{m}"
        );
        assert_eq!(error_message(br#"{"error":{"code":"X.Y"}}"#), "X.Y");
        assert_eq!(
            error_message(b"<html>bad gateway</html>"),
            "<html>bad gateway</html>"
        );
        assert_eq!(error_message(b""), "(no details)");
        assert_eq!(error_message(&[b'x'; 1000]).len(), 300);
    }
}
