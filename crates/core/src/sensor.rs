//! What a BMC reports about the hardware: sensor readings and System Event
//! Log entries, in one shape for every driver.

use serde::{Deserialize, Serialize};

/// How a sensor's reading compares with its thresholds (or, for a discrete
/// sensor, whether it could be read at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SensorStatus {
    Ok,
    /// A non-critical threshold is crossed.
    Warning,
    /// A critical threshold is crossed.
    Critical,
    /// A non-recoverable threshold is crossed.
    NonRecoverable,
    /// The BMC gave no reading (sensor absent, not scanning, or unreadable).
    Unavailable,
}

impl SensorStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SensorStatus::Ok => "ok",
            SensorStatus::Warning => "warning",
            SensorStatus::Critical => "critical",
            SensorStatus::NonRecoverable => "non_recoverable",
            SensorStatus::Unavailable => "unavailable",
        }
    }

    /// The status stored as text; unknown text reads as unavailable.
    pub fn parse(s: &str) -> SensorStatus {
        match s {
            "ok" => SensorStatus::Ok,
            "warning" => SensorStatus::Warning,
            "critical" => SensorStatus::Critical,
            "non_recoverable" => SensorStatus::NonRecoverable,
            _ => SensorStatus::Unavailable,
        }
    }
}

/// One sensor's current value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SensorReading {
    /// The sensor's name as the BMC gives it ("CPU Temp").
    pub name: String,
    /// Its kind ("Temperature", "Fan", "Power Supply").
    pub sensor_type: String,
    /// The converted value, for analog sensors that answered.
    pub reading: Option<f64>,
    /// Unit of `reading` ("degrees C", "RPM"); `None` for discrete sensors.
    pub unit: Option<String>,
    pub status: SensorStatus,
}

/// One System Event Log entry, decoded to text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SelEntry {
    /// The BMC's record id.
    pub id: i64,
    /// When the event happened (Unix milliseconds), if the BMC's clock was
    /// set at the time.
    pub at: Option<i64>,
    /// What happened, e.g. "Temperature #0x01 | Upper Critical going high | Asserted".
    pub text: String,
}

/// Which BMC reset a `bmc_reset` task asks for (IPMI 20.2 / 20.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BmcResetKind {
    /// Restart the BMC's firmware from scratch (the usual cure).
    #[default]
    Cold,
    /// Restart the BMC's processes, keeping its state (not every BMC has it).
    Warm,
}

impl BmcResetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BmcResetKind::Cold => "cold",
            BmcResetKind::Warm => "warm",
        }
    }
}

/// Refuse to keep more SEL entries than this per server: a BMC's SEL holds
/// a few thousand at most, and only recent ones matter to a person.
pub const SEL_KEEP: usize = 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips_as_text() {
        for s in [
            SensorStatus::Ok,
            SensorStatus::Warning,
            SensorStatus::Critical,
            SensorStatus::NonRecoverable,
            SensorStatus::Unavailable,
        ] {
            assert_eq!(SensorStatus::parse(s.as_str()), s);
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::json!(s.as_str())
            );
        }
        assert_eq!(SensorStatus::parse("bogus"), SensorStatus::Unavailable);
    }
}
