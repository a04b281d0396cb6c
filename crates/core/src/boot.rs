use serde::{Deserialize, Serialize};

/// The device a server boots from, as BMCs name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BootDevice {
    Pxe,
    Disk,
    Cdrom,
    Bios,
}

/// A boot device request: the parameters of a `boot_device` task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BootRequest {
    pub device: BootDevice,
    /// Boot in UEFI mode.
    #[serde(default)]
    pub efi: bool,
    /// Keep the setting for every boot, not only the next.
    #[serde(default)]
    pub persistent: bool,
}
