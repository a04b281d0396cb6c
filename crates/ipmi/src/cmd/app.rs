//! Application commands (netFn 06h): Get Device ID, BMC resets (spec 20).

use super::{Command, bcd};
use crate::wire::{DecodeError, NetFn, Reader, Request};

/// Get Device ID (20.1).
#[derive(Debug, Clone, Copy, Default)]
pub struct GetDeviceId;

/// Answer to Get Device ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceId {
    pub device_id: u8,
    pub device_revision: u8,
    pub provides_sdrs: bool,
    /// False while the firmware is updating or self-initialising.
    pub device_available: bool,
    pub firmware_major: u8,
    /// Decoded from BCD: firmware "9.08" has major 9, minor 8.
    pub firmware_minor: u8,
    /// IPMI version (major, minor), e.g. (2, 0).
    pub ipmi_version: (u8, u8),
    pub additional_support: u8,
    /// 20-bit IANA enterprise number.
    pub manufacturer_id: u32,
    pub product_id: u16,
    pub aux_firmware: Option<[u8; 4]>,
}

impl DeviceId {
    /// Firmware revision as ipmitool prints it ("9.08").
    pub fn firmware(&self) -> String {
        format!("{}.{:02}", self.firmware_major, self.firmware_minor)
    }
}

impl Command for GetDeviceId {
    type Output = DeviceId;
    const NAME: &'static str = "Get Device ID";
    fn request(&self) -> Request {
        Request::new(NetFn::APP, 0x01, vec![])
    }
    fn parse(&self, data: &[u8]) -> Result<DeviceId, DecodeError> {
        let mut r = Reader::new(data);
        let device_id = r.u8("device id")?;
        let rev = r.u8("device revision")?;
        let fw1 = r.u8("firmware revision 1")?;
        let fw2 = r.u8("firmware revision 2")?;
        let ver = r.u8("IPMI version")?;
        let additional_support = r.u8("additional device support")?;
        let m: [u8; 3] = r.array("manufacturer id")?;
        let product_id = r.u16le("product id")?;
        let aux_firmware = r.array::<4>("aux firmware").ok();
        Ok(DeviceId {
            device_id,
            device_revision: rev & 0x0F,
            provides_sdrs: rev & 0x80 != 0,
            device_available: fw1 & 0x80 == 0,
            firmware_major: fw1 & 0x7F,
            firmware_minor: bcd(fw2),
            ipmi_version: (ver & 0x0F, ver >> 4),
            additional_support,
            manufacturer_id: u32::from_le_bytes([m[0], m[1], m[2] & 0x0F, 0]),
            product_id,
            aux_firmware,
        })
    }
}

/// BMC Cold Reset (20.2) or Warm Reset (20.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BmcReset {
    Cold,
    Warm,
}

impl Command for BmcReset {
    type Output = ();
    const NAME: &'static str = "BMC reset";
    fn request(&self) -> Request {
        let cmd = match self {
            BmcReset::Cold => 0x02,
            BmcReset::Warm => 0x03,
        };
        Request::new(NetFn::APP, cmd, vec![])
    }
    fn parse(&self, _: &[u8]) -> Result<(), DecodeError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_id_ipmi_sim() {
        // What ipmi_sim answers for "mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02".
        let d = GetDeviceId
            .parse(&[
                0x00, 0x03, 0x09, 0x08, 0x02, 0x9f, 0x91, 0x12, 0x00, 0x02, 0x0f,
            ])
            .unwrap();
        assert_eq!(d.firmware(), "9.08");
        assert_eq!(d.ipmi_version, (2, 0));
        assert_eq!(d.manufacturer_id, 4753);
        assert_eq!(d.product_id, 0x0f02);
        assert!(GetDeviceId.parse(&[0; 5]).is_err());
    }
}
