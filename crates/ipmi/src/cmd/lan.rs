//! Get LAN Configuration Parameters (netFn 0Ch, spec 23.2).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use super::Command;
use crate::wire::{DecodeError, NetFn, Reader, Request};

/// Channel number meaning "the channel this request came in on" (6.3).
pub const CURRENT_CHANNEL: u8 = 0x0E;

/// Get one LAN configuration parameter; answers the raw parameter data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetLanConfig {
    pub channel: u8,
    pub param: u8,
}

/// Parameter numbers (table 23-4).
pub mod param {
    pub const SET_IN_PROGRESS: u8 = 0;
    pub const AUTH_TYPE_SUPPORT: u8 = 1;
    pub const AUTH_TYPE_ENABLES: u8 = 2;
    pub const IP_ADDRESS: u8 = 3;
    pub const IP_SOURCE: u8 = 4;
    pub const MAC_ADDRESS: u8 = 5;
    pub const SUBNET_MASK: u8 = 6;
    pub const IP_HEADER: u8 = 7;
    pub const BMC_ARP_CONTROL: u8 = 10;
    pub const GRATUITOUS_ARP_INTERVAL: u8 = 11;
    pub const DEFAULT_GATEWAY: u8 = 12;
    pub const DEFAULT_GATEWAY_MAC: u8 = 13;
    pub const BACKUP_GATEWAY: u8 = 14;
    pub const BACKUP_GATEWAY_MAC: u8 = 15;
    pub const COMMUNITY_STRING: u8 = 16;
    pub const VLAN_ID: u8 = 20;
    pub const VLAN_PRIORITY: u8 = 21;
    pub const CIPHER_SUITE_COUNT: u8 = 22;
    pub const CIPHER_SUITES: u8 = 23;
    pub const CIPHER_SUITE_PRIVILEGES: u8 = 24;
    pub const BAD_PASSWORD_THRESHOLD: u8 = 26;
}

/// Completion codes with which a BMC says it lacks a parameter (23.2:
/// 80h not supported; C9h/CCh from BMCs that treat it as out of range).
pub fn is_unsupported_parameter(code: u8) -> bool {
    matches!(code, 0x80 | 0xC9 | 0xCC)
}

/// Raw data of the LAN configuration parameters read from a BMC (revision
/// byte removed); a parameter the BMC does not support is absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LanParams(pub BTreeMap<u8, Vec<u8>>);

impl LanParams {
    pub fn get(&self, param: u8) -> Option<&[u8]> {
        self.0.get(&param).map(Vec::as_slice)
    }

    /// The address settings, from parameters 3, 4, 5, 6 and 12 (one the
    /// BMC lacks fails to decode as if empty).
    pub fn config(&self) -> Result<LanConfig, DecodeError> {
        let get = |p| self.get(p).unwrap_or_default();
        Ok(LanConfig {
            ip: ipv4(get(param::IP_ADDRESS))?,
            netmask: ipv4(get(param::SUBNET_MASK))?,
            gateway: ipv4(get(param::DEFAULT_GATEWAY))?,
            mac: mac(get(param::MAC_ADDRESS))?,
            ip_source: ip_source(get(param::IP_SOURCE))?,
        })
    }
}

impl Command for GetLanConfig {
    type Output = Vec<u8>;
    const NAME: &'static str = "Get LAN Configuration Parameters";
    fn request(&self) -> Request {
        Request::new(
            NetFn::TRANSPORT,
            0x02,
            vec![self.channel & 0x0F, self.param, 0, 0],
        )
    }
    fn parse(&self, data: &[u8]) -> Result<Vec<u8>, DecodeError> {
        let mut r = Reader::new(data);
        let _revision = r.u8("parameter revision")?;
        Ok(r.rest().to_vec())
    }
}

/// How the BMC got its address (parameter 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpSource {
    Unspecified,
    Static,
    Dhcp,
    Bios,
    Other(u8),
}

/// The BMC's LAN settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LanConfig {
    pub ip: Ipv4Addr,
    pub netmask: Ipv4Addr,
    pub gateway: Ipv4Addr,
    pub mac: [u8; 6],
    pub ip_source: IpSource,
}

impl LanConfig {
    /// MAC as "aa:bb:cc:dd:ee:ff".
    pub fn mac_string(&self) -> String {
        self.mac
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    }
}

pub(crate) fn ipv4(d: &[u8]) -> Result<Ipv4Addr, DecodeError> {
    Ok(Ipv4Addr::from(Reader::new(d).array::<4>("IPv4 address")?))
}

pub(crate) fn mac(d: &[u8]) -> Result<[u8; 6], DecodeError> {
    Reader::new(d).array::<6>("MAC address")
}

pub(crate) fn ip_source(d: &[u8]) -> Result<IpSource, DecodeError> {
    Ok(match Reader::new(d).u8("IP source")? & 0x0F {
        0 => IpSource::Unspecified,
        1 => IpSource::Static,
        2 => IpSource::Dhcp,
        3 => IpSource::Bios,
        o => IpSource::Other(o),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_params() {
        let c = GetLanConfig {
            channel: 1,
            param: param::IP_ADDRESS,
        };
        assert_eq!(c.request().data, vec![1, 3, 0, 0]);
        let d = c.parse(&[0x11, 10, 0, 0, 5]).unwrap();
        assert_eq!(ipv4(&d).unwrap(), Ipv4Addr::new(10, 0, 0, 5));
        assert!(mac(&[1, 2, 3]).is_err());
    }
}
