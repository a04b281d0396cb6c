use serde::{Deserialize, Serialize};

/// Power state as last observed through the BMC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PowerState {
    On,
    Off,
    /// Never observed, or the last observation failed.
    Unknown,
}

impl PowerState {
    pub fn as_str(self) -> &'static str {
        match self {
            PowerState::On => "on",
            PowerState::Off => "off",
            PowerState::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> PowerState {
        match s {
            "on" => PowerState::On,
            "off" => PowerState::Off,
            _ => PowerState::Unknown,
        }
    }
}

/// A power request, named as ipmitool's `power` words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PowerAction {
    On,
    /// Hard power off.
    Off,
    /// ACPI soft shutdown request to the OS.
    Soft,
    /// Hard reset.
    Reset,
    /// Off, then on.
    Cycle,
    /// Only read the state.
    Status,
}

impl PowerAction {
    pub const ALL: [PowerAction; 6] = [
        PowerAction::On,
        PowerAction::Off,
        PowerAction::Soft,
        PowerAction::Reset,
        PowerAction::Cycle,
        PowerAction::Status,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PowerAction::On => "on",
            PowerAction::Off => "off",
            PowerAction::Soft => "soft",
            PowerAction::Reset => "reset",
            PowerAction::Cycle => "cycle",
            PowerAction::Status => "status",
        }
    }

    pub fn parse(s: &str) -> Option<PowerAction> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// Actions that can cost a customer running work: they need the PIN.
    pub fn is_destructive(self) -> bool {
        matches!(
            self,
            PowerAction::Off | PowerAction::Soft | PowerAction::Reset | PowerAction::Cycle
        )
    }

    /// The state a successful action leaves behind, if it determines one.
    pub fn resulting_state(self) -> Option<PowerState> {
        match self {
            PowerAction::On | PowerAction::Reset | PowerAction::Cycle => Some(PowerState::On),
            PowerAction::Off => Some(PowerState::Off),
            PowerAction::Soft | PowerAction::Status => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destructive_actions_are_the_ones_that_stop_a_running_os() {
        let destructive: Vec<_> = PowerAction::ALL
            .into_iter()
            .filter(|a| a.is_destructive())
            .map(PowerAction::as_str)
            .collect();
        assert_eq!(destructive, ["off", "soft", "reset", "cycle"]);
        for a in PowerAction::ALL {
            assert_eq!(PowerAction::parse(a.as_str()), Some(a));
        }
        assert_eq!(PowerAction::parse("explode"), None);
    }
}
