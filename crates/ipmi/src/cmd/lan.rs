//! Get LAN Configuration Parameters (netFn 0Ch, spec 23.2).

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
    pub const IP_SOURCE: u8 = 4;
    pub const IP_ADDRESS: u8 = 3;
    pub const MAC_ADDRESS: u8 = 5;
    pub const SUBNET_MASK: u8 = 6;
    pub const DEFAULT_GATEWAY: u8 = 12;
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
