use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An Ethernet MAC address, written lowercase with colons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddress(pub [u8; 6]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a MAC address (expected six hex pairs such as 52:54:00:12:34:56)")]
pub struct MacError(pub String);

impl FromStr for MacAddress {
    type Err = MacError;

    /// Accepts `aa:bb:cc:dd:ee:ff`, `aa-bb-cc-dd-ee-ff` and `aabb.ccdd.eeff`,
    /// the spellings switches and BMC labels use.
    fn from_str(s: &str) -> Result<Self, MacError> {
        let err = || MacError(s.to_owned());
        let groups: Vec<&str> = if s.contains(':') {
            s.split(':').collect()
        } else if s.contains('-') {
            s.split('-').collect()
        } else if s.contains('.') {
            s.split('.').collect()
        } else {
            vec![s]
        };
        // Six pairs, three quads, or one run of twelve: nothing in between.
        let width = match groups.len() {
            6 => 2,
            3 => 4,
            1 => 12,
            _ => return Err(err()),
        };
        if groups
            .iter()
            .any(|g| g.len() != width || !g.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(err());
        }
        let hex: String = groups.concat();
        let mut out = [0u8; 6];
        for (i, byte) in out.iter_mut().enumerate() {
            let pair = hex.get(2 * i..2 * i + 2).ok_or_else(err)?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| err())?;
        }
        Ok(MacAddress(out))
    }
}

impl fmt::Display for MacAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

/// A BMC address: an IP address or a DNS host name (RFC 1123 labels).
pub fn validate_host(s: &str) -> Result<(), String> {
    if s.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    let looks_numeric = s.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if !looks_numeric && s.len() <= 253 && s.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(format!("`{s}` is neither an IP address nor a host name"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_spellings() {
        for s in [
            "52:54:00:12:34:56",
            "52-54-00-12-34-56",
            "5254.0012.3456",
            "525400123456",
        ] {
            assert_eq!(
                s.parse::<MacAddress>().unwrap().to_string(),
                "52:54:00:12:34:56"
            );
        }
        assert_eq!(
            "AA:BB:CC:DD:EE:FF"
                .parse::<MacAddress>()
                .unwrap()
                .to_string(),
            "aa:bb:cc:dd:ee:ff"
        );
    }

    #[test]
    fn bad_macs() {
        for s in [
            "",
            "52:54:00:12:34",
            "52:54:00:12:34:5g",
            "52:54:00:12:34:56:78",
            "52::5400:12:34:56",
            "é2:54:00:12:34:56",
        ] {
            assert!(s.parse::<MacAddress>().is_err(), "{s}");
        }
    }

    #[test]
    fn hosts() {
        for ok in ["10.0.0.1", "::1", "bmc-01.rack3.example", "localhost"] {
            assert!(validate_host(ok).is_ok(), "{ok}");
        }
        for bad in ["300.1.1.1", "", "-bmc", "bmc_1", "a..b", "bmc 1"] {
            assert!(validate_host(bad).is_err(), "{bad}");
        }
    }
}
