//! Chassis commands (netFn 00h, spec 28): status, power control, boot options.

use super::Command;
use crate::wire::{DecodeError, NetFn, Reader, Request};

/// Get Chassis Status (28.2).
#[derive(Debug, Clone, Copy, Default)]
pub struct GetChassisStatus;

/// Power restore policy (bits 6:5 of "current power state").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestorePolicy {
    StayOff,
    Restore,
    AlwaysOn,
    Unknown,
}

/// Answer to Get Chassis Status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChassisStatus {
    pub power_on: bool,
    pub power_overload: bool,
    pub interlock: bool,
    pub power_fault: bool,
    pub control_fault: bool,
    pub restore_policy: RestorePolicy,
    /// Raw "last power event" byte.
    pub last_power_event: u8,
    pub intrusion: bool,
    pub front_panel_lockout: bool,
    pub drive_fault: bool,
    pub cooling_fault: bool,
}

impl Command for GetChassisStatus {
    type Output = ChassisStatus;
    const NAME: &'static str = "Get Chassis Status";
    fn request(&self) -> Request {
        Request::new(NetFn::CHASSIS, 0x01, vec![])
    }
    fn parse(&self, data: &[u8]) -> Result<ChassisStatus, DecodeError> {
        let mut r = Reader::new(data);
        let p = r.u8("current power state")?;
        let last_power_event = r.u8("last power event")?;
        let misc = r.u8("misc chassis state")?;
        Ok(ChassisStatus {
            power_on: p & 0x01 != 0,
            power_overload: p & 0x02 != 0,
            interlock: p & 0x04 != 0,
            power_fault: p & 0x08 != 0,
            control_fault: p & 0x10 != 0,
            restore_policy: match (p >> 5) & 0x03 {
                0 => RestorePolicy::StayOff,
                1 => RestorePolicy::Restore,
                2 => RestorePolicy::AlwaysOn,
                _ => RestorePolicy::Unknown,
            },
            last_power_event,
            intrusion: misc & 0x01 != 0,
            front_panel_lockout: misc & 0x02 != 0,
            drive_fault: misc & 0x04 != 0,
            cooling_fault: misc & 0x08 != 0,
        })
    }
}

/// Chassis Control (28.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChassisControl {
    PowerOff,
    PowerOn,
    PowerCycle,
    HardReset,
    /// Pulse a diagnostic interrupt (NMI).
    Diag,
    /// Soft shutdown via ACPI.
    SoftOff,
}

impl Command for ChassisControl {
    type Output = ();
    const NAME: &'static str = "Chassis Control";
    fn request(&self) -> Request {
        let v = match self {
            ChassisControl::PowerOff => 0,
            ChassisControl::PowerOn => 1,
            ChassisControl::PowerCycle => 2,
            ChassisControl::HardReset => 3,
            ChassisControl::Diag => 4,
            ChassisControl::SoftOff => 5,
        };
        Request::new(NetFn::CHASSIS, 0x02, vec![v])
    }
    fn parse(&self, _: &[u8]) -> Result<(), DecodeError> {
        Ok(())
    }
}

/// Boot device selector (boot flags parameter 5, data 2 bits 5:2; 28.13).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootDevice {
    /// No override.
    None,
    Pxe,
    Disk,
    /// Disk, safe mode.
    Safe,
    /// Diagnostic partition.
    Diag,
    Cdrom,
    /// BIOS / firmware setup.
    Bios,
    Floppy,
    Other(u8),
}

impl BootDevice {
    fn selector(self) -> u8 {
        match self {
            BootDevice::None => 0x0,
            BootDevice::Pxe => 0x1,
            BootDevice::Disk => 0x2,
            BootDevice::Safe => 0x3,
            BootDevice::Diag => 0x4,
            BootDevice::Cdrom => 0x5,
            BootDevice::Bios => 0x6,
            BootDevice::Floppy => 0xF,
            BootDevice::Other(v) => v & 0x0F,
        }
    }
    fn from_selector(v: u8) -> Self {
        match v & 0x0F {
            0x0 => BootDevice::None,
            0x1 => BootDevice::Pxe,
            0x2 => BootDevice::Disk,
            0x3 => BootDevice::Safe,
            0x4 => BootDevice::Diag,
            0x5 => BootDevice::Cdrom,
            0x6 => BootDevice::Bios,
            0xF => BootDevice::Floppy,
            o => BootDevice::Other(o),
        }
    }
}

/// Boot flags (boot option parameter 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootFlags {
    /// The BMC marks flags valid until the BIOS consumed them.
    pub valid: bool,
    /// Apply to all future boots, not only the next one.
    pub persistent: bool,
    /// EFI rather than legacy BIOS boot.
    pub efi: bool,
    pub device: BootDevice,
}

impl BootFlags {
    /// Flags for a boot override, valid bit set.
    pub fn new(device: BootDevice, efi: bool, persistent: bool) -> Self {
        BootFlags {
            valid: true,
            persistent,
            efi,
            device,
        }
    }
}

const BOOT_PARAM_FLAGS: u8 = 5;

/// Set System Boot Options, parameter 5 (28.12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetBootFlags(pub BootFlags);

impl Command for SetBootFlags {
    type Output = ();
    const NAME: &'static str = "Set System Boot Options";
    fn request(&self) -> Request {
        let f = self.0;
        let mut b1 = 0u8;
        if f.valid {
            b1 |= 0x80;
        }
        if f.persistent {
            b1 |= 0x40;
        }
        if f.efi {
            b1 |= 0x20;
        }
        let b2 = f.device.selector() << 2;
        Request::new(
            NetFn::CHASSIS,
            0x08,
            vec![BOOT_PARAM_FLAGS, b1, b2, 0, 0, 0],
        )
    }
    fn parse(&self, _: &[u8]) -> Result<(), DecodeError> {
        Ok(())
    }
}

/// Get System Boot Options, parameter 5 (28.13).
#[derive(Debug, Clone, Copy, Default)]
pub struct GetBootFlags;

impl Command for GetBootFlags {
    type Output = BootFlags;
    const NAME: &'static str = "Get System Boot Options";
    fn request(&self) -> Request {
        Request::new(NetFn::CHASSIS, 0x09, vec![BOOT_PARAM_FLAGS, 0, 0])
    }
    fn parse(&self, data: &[u8]) -> Result<BootFlags, DecodeError> {
        let mut r = Reader::new(data);
        let _version = r.u8("parameter version")?;
        let param = r.u8("parameter selector")?;
        if param & 0x7F != BOOT_PARAM_FLAGS {
            return Err(DecodeError::Unexpected {
                what: "boot parameter selector",
                value: param.into(),
            });
        }
        let b1 = r.u8("boot flags 1")?;
        let b2 = r.u8("boot flags 2")?;
        Ok(BootFlags {
            valid: b1 & 0x80 != 0,
            persistent: b1 & 0x40 != 0,
            efi: b1 & 0x20 != 0,
            device: BootDevice::from_selector(b2 >> 2),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_flags_roundtrip() {
        let req = SetBootFlags(BootFlags::new(BootDevice::Pxe, true, false)).request();
        assert_eq!(req.data, vec![5, 0xa0, 0x04, 0, 0, 0]);
        // ipmitool "Boot parameter data: 0004000000" from ipmi_sim.
        let f = GetBootFlags.parse(&[1, 5, 0x00, 0x04, 0, 0, 0]).unwrap();
        assert_eq!(f.device, BootDevice::Pxe);
        assert!(!f.valid && !f.efi && !f.persistent);
        let f = GetBootFlags.parse(&[1, 5, 0xe0, 0x18, 0, 0, 0]).unwrap();
        assert_eq!(f, BootFlags::new(BootDevice::Bios, true, true));
    }

    #[test]
    fn chassis_status() {
        let s = GetChassisStatus.parse(&[0x21, 0x10, 0x40]).unwrap();
        assert!(s.power_on);
        assert_eq!(s.restore_policy, RestorePolicy::Restore);
        assert!(GetChassisStatus.parse(&[0x21]).is_err());
    }
}
