use std::fmt;

/// Which driver the site agent uses to reach a server's BMC.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BmcDriver {
    /// Native IPMI 2.0 (RMCP+).
    Ipmi,
    /// Native Redfish.
    Redfish,
    /// A ClusterLabs fence agent, e.g. `fence:fence_apc` → `fence_apc`.
    Fence(String),
    /// An in-memory machine, for demos and tests.
    Fake,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BmcDriverError {
    #[error("unknown driver `{0}`: expected ipmi, redfish, fake or fence:<agent>")]
    Unknown(String),
    #[error(
        "fence agent name `{0}` is not valid: it must start with `fence_` and hold only letters, digits and `_`"
    )]
    BadFenceAgent(String),
}

impl BmcDriver {
    pub fn parse(s: &str) -> Result<BmcDriver, BmcDriverError> {
        match s {
            "ipmi" => Ok(BmcDriver::Ipmi),
            "redfish" => Ok(BmcDriver::Redfish),
            "fake" => Ok(BmcDriver::Fake),
            _ => match s.strip_prefix("fence:") {
                // The name becomes a program to execute: keep it to a plain
                // file name so it can never be a path.
                Some(agent) => {
                    let plain = agent.len() > 6
                        && agent.starts_with("fence_")
                        && agent
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
                    if plain {
                        Ok(BmcDriver::Fence(agent.to_owned()))
                    } else {
                        Err(BmcDriverError::BadFenceAgent(agent.to_owned()))
                    }
                }
                None => Err(BmcDriverError::Unknown(s.to_owned())),
            },
        }
    }
}

impl fmt::Display for BmcDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BmcDriver::Ipmi => f.write_str("ipmi"),
            BmcDriver::Redfish => f.write_str("redfish"),
            BmcDriver::Fake => f.write_str("fake"),
            BmcDriver::Fence(a) => write!(f, "fence:{a}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_drivers() {
        for s in ["ipmi", "redfish", "fake", "fence:fence_apc"] {
            assert_eq!(BmcDriver::parse(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn refuses_paths_as_fence_agents() {
        assert!(matches!(
            BmcDriver::parse("fence:../../bin/sh"),
            Err(BmcDriverError::BadFenceAgent(_))
        ));
        assert!(BmcDriver::parse("fence:fence_").is_err());
        assert!(BmcDriver::parse("fence:sh").is_err());
        assert!(matches!(
            BmcDriver::parse("ilo"),
            Err(BmcDriverError::Unknown(_))
        ));
    }
}
