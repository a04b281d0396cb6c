//! System Event Log (spec 31, record format 32).

use super::Command;
use crate::wire::{DecodeError, NetFn, Reader, Request};

/// Get SEL Info (31.2).
#[derive(Debug, Clone, Copy, Default)]
pub struct GetSelInfo;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelInfo {
    /// SEL version, BCD (0x51).
    pub version: u8,
    pub entries: u16,
    pub free_space: u16,
    pub last_addition: u32,
    pub last_erase: u32,
    pub operation_support: u8,
}

impl Command for GetSelInfo {
    type Output = SelInfo;
    const NAME: &'static str = "Get SEL Info";
    fn request(&self) -> Request {
        Request::new(NetFn::STORAGE, 0x40, vec![])
    }
    fn parse(&self, data: &[u8]) -> Result<SelInfo, DecodeError> {
        let mut r = Reader::new(data);
        Ok(SelInfo {
            version: r.u8("SEL version")?,
            entries: r.u16le("entries")?,
            free_space: r.u16le("free space")?,
            last_addition: r.u32le("most recent addition")?,
            last_erase: r.u32le("most recent erase")?,
            operation_support: r.u8("operation support")?,
        })
    }
}

/// Reserve SEL (31.4); answers the reservation id.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReserveSel;

impl Command for ReserveSel {
    type Output = u16;
    const NAME: &'static str = "Reserve SEL";
    fn request(&self) -> Request {
        Request::new(NetFn::STORAGE, 0x42, vec![])
    }
    fn parse(&self, data: &[u8]) -> Result<u16, DecodeError> {
        Reader::new(data).u16le("reservation id")
    }
}

/// Get SEL Entry (31.5), whole record. Answers (next record id, record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetSelEntry {
    pub reservation: u16,
    pub record_id: u16,
}

impl Command for GetSelEntry {
    type Output = (u16, SelRecord);
    const NAME: &'static str = "Get SEL Entry";
    fn request(&self) -> Request {
        let mut d = Vec::with_capacity(6);
        d.extend_from_slice(&self.reservation.to_le_bytes());
        d.extend_from_slice(&self.record_id.to_le_bytes());
        d.extend_from_slice(&[0x00, 0xFF]);
        Request::new(NetFn::STORAGE, 0x43, d)
    }
    fn parse(&self, data: &[u8]) -> Result<(u16, SelRecord), DecodeError> {
        let mut r = Reader::new(data);
        let next = r.u16le("next record id")?;
        Ok((next, SelRecord::parse(r.rest())?))
    }
}

/// Clear SEL (31.9): `initiate` erases; otherwise only asks for the status.
/// Answers true once erasure has completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClearSel {
    pub reservation: u16,
    pub initiate: bool,
}

impl Command for ClearSel {
    type Output = bool;
    const NAME: &'static str = "Clear SEL";
    fn request(&self) -> Request {
        let mut d = self.reservation.to_le_bytes().to_vec();
        d.extend_from_slice(b"CLR");
        d.push(if self.initiate { 0xAA } else { 0x00 });
        Request::new(NetFn::STORAGE, 0x47, d)
    }
    fn parse(&self, data: &[u8]) -> Result<bool, DecodeError> {
        Ok(Reader::new(data).u8("erasure progress")? & 0x0F == 0x01)
    }
}

/// The body of a SEL record (32.1–32.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelEvent {
    /// Record type 02h: a platform event.
    System {
        /// Seconds since 1970 (values below 0x20000000 are "since BMC init").
        timestamp: u32,
        generator_id: u16,
        evm_revision: u8,
        sensor_type: u8,
        sensor_number: u8,
        /// True for deassertion events.
        deassertion: bool,
        event_type: u8,
        event_data: [u8; 3],
    },
    /// Record types C0h–DFh.
    OemTimestamped {
        timestamp: u32,
        manufacturer_id: u32,
        data: [u8; 6],
    },
    /// Record types E0h–FFh (and unknown ones).
    Oem { data: [u8; 13] },
}

/// One 16-byte SEL record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelRecord {
    pub record_id: u16,
    pub record_type: u8,
    pub event: SelEvent,
}

impl SelRecord {
    pub fn parse(b: &[u8]) -> Result<SelRecord, DecodeError> {
        let mut r = Reader::new(b);
        let record_id = r.u16le("SEL record id")?;
        let record_type = r.u8("SEL record type")?;
        let event = match record_type {
            0x02 => {
                let timestamp = r.u32le("timestamp")?;
                let generator_id = r.u16le("generator id")?;
                let evm_revision = r.u8("EvM revision")?;
                let sensor_type = r.u8("sensor type")?;
                let sensor_number = r.u8("sensor number")?;
                let dir = r.u8("event dir/type")?;
                SelEvent::System {
                    timestamp,
                    generator_id,
                    evm_revision,
                    sensor_type,
                    sensor_number,
                    deassertion: dir & 0x80 != 0,
                    event_type: dir & 0x7F,
                    event_data: r.array("event data")?,
                }
            }
            0xC0..=0xDF => {
                let timestamp = r.u32le("timestamp")?;
                let m: [u8; 3] = r.array("manufacturer id")?;
                SelEvent::OemTimestamped {
                    timestamp,
                    manufacturer_id: u32::from_le_bytes([m[0], m[1], m[2], 0]),
                    data: r.array("OEM data")?,
                }
            }
            _ => SelEvent::Oem {
                data: r.array("OEM data")?,
            },
        };
        Ok(SelRecord {
            record_id,
            record_type,
            event,
        })
    }
}

impl SelRecord {
    /// Seconds since 1970, if the record has a timestamp taken after the
    /// BMC's clock was set (values below 20000000h count from BMC
    /// initialisation, 32.1).
    pub fn unix_time(&self) -> Option<u32> {
        match &self.event {
            SelEvent::System { timestamp, .. } | SelEvent::OemTimestamped { timestamp, .. } => {
                (*timestamp >= 0x2000_0000).then_some(*timestamp)
            }
            SelEvent::Oem { .. } => None,
        }
    }

    /// One line of text, as `ipmitool sel list` words it without the
    /// date: "Temperature #0x01 | Upper Critical going high | Asserted".
    pub fn describe(&self) -> String {
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        match &self.event {
            SelEvent::System {
                sensor_type,
                sensor_number,
                deassertion,
                event_type,
                event_data,
                ..
            } => {
                let mut o = super::sdr::sensor_type_name(*sensor_type).to_owned();
                if *sensor_number != 0 {
                    o.push_str(&format!(" #0x{sensor_number:02x}"));
                }
                format!(
                    "{o} | {} | {}",
                    event_description(*sensor_type, *event_type, event_data[0]).trim_end(),
                    if *deassertion {
                        "Deasserted"
                    } else {
                        "Asserted"
                    }
                )
            }
            SelEvent::OemTimestamped {
                manufacturer_id,
                data,
                ..
            } => {
                let m = manufacturer_id.to_le_bytes();
                format!(
                    "OEM record {:02x} | {} | {}",
                    self.record_type,
                    hex(&m[..3]),
                    hex(data)
                )
            }
            SelEvent::Oem { data } => {
                format!("OEM record {:02x} | {}", self.record_type, hex(data))
            }
        }
    }
}

/// Event offset text: threshold states (table 42-2, generic code 01h) and
/// the sensor-specific offsets (table 42-3) of the common sensor types.
pub fn event_description(sensor_type: u8, event_type: u8, offset: u8) -> &'static str {
    const THRESHOLD: [&str; 12] = [
        "Lower Non-critical going low ",
        "Lower Non-critical going high",
        "Lower Critical going low ",
        "Lower Critical going high",
        "Lower Non-recoverable going low ",
        "Lower Non-recoverable going high",
        "Upper Non-critical going low ",
        "Upper Non-critical going high",
        "Upper Critical going low ",
        "Upper Critical going high",
        "Upper Non-recoverable going low ",
        "Upper Non-recoverable going high",
    ];
    let specific: &[&str] = match sensor_type {
        0x05 => &[
            "General Chassis intrusion",
            "Drive Bay intrusion",
            "I/O Card area intrusion",
            "Processor area intrusion",
            "System unplugged from LAN",
            "Unauthorized dock",
            "FAN area intrusion",
        ],
        0x07 => &[
            "IERR",
            "Thermal Trip",
            "FRB1/BIST failure",
            "FRB2/Hang in POST failure",
            "FRB3/Processor startup/init failure",
            "Configuration Error",
            "SM BIOS Uncorrectable CPU-complex Error",
            "Presence detected",
            "Disabled",
            "Terminator presence detected",
            "Throttled",
        ],
        0x08 => &[
            "Presence detected",
            "Failure detected",
            "Predictive failure",
            "Power Supply AC lost",
            "AC lost or out-of-range",
            "AC out-of-range, but present",
            "Config Error",
            "Power Supply Inactive",
        ],
        0x09 => &[
            "Power off/down",
            "Power cycle",
            "240VA power down",
            "Interlock power down",
            "AC lost",
            "Soft-power control failure",
            "Failure detected",
            "Predictive failure",
        ],
        0x0C => &[
            "Correctable ECC",
            "Uncorrectable ECC",
            "Parity",
            "Memory Scrub Failed",
            "Memory Device Disabled",
            "Correctable ECC logging limit reached",
            "Presence Detected",
            "Configuration Error",
            "Spare",
            "Throttled",
            "Over Temperature",
        ],
        0x10 => &[
            "Correctable memory error logging disabled",
            "Event logging disabled",
            "Log area reset/cleared",
            "All event logging disabled",
            "Log full",
            "Log almost full",
        ],
        0x14 => &[
            "Power Button pressed",
            "Sleep Button pressed",
            "Reset Button pressed",
            "FRU latch open",
            "FRU service request button",
        ],
        _ => &[],
    };
    let table: &[&str] = match event_type {
        0x01 => &THRESHOLD,
        0x6F => specific,
        _ => &[],
    };
    table
        .get(usize::from(offset & 0x0F))
        .copied()
        .unwrap_or("Unknown")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_system_event() {
        let d = [
            0x02, 0x00, 0x01, 0x00, 0x02, 0x63, 0x06, 0x00, 0x00, 0x20, 0x00, 0x04, 0x01, 0x01,
            0x01, 0x59, 0x5a, 0x5a,
        ];
        let (next, rec) = GetSelEntry {
            reservation: 0,
            record_id: 0,
        }
        .parse(&d)
        .unwrap();
        assert_eq!(next, 2);
        assert_eq!(rec.record_id, 1);
        let SelEvent::System {
            sensor_type,
            sensor_number,
            event_data,
            ..
        } = rec.event
        else {
            panic!()
        };
        assert_eq!((sensor_type, sensor_number), (1, 1));
        assert_eq!(event_data, [0x59, 0x5a, 0x5a]);
        assert!(SelRecord::parse(&d[2..10]).is_err());
        assert_eq!(
            rec.describe(),
            "Temperature #0x01 | Upper Critical going high | Asserted"
        );
        assert_eq!(rec.unix_time(), None, "timestamp 0 is before BMC init");
    }

    #[test]
    fn describe_oem_and_timestamps() {
        let mut b = [0u8; 16];
        b[0] = 7;
        b[2] = 0xE0;
        b[3] = 0xAB;
        let oem = SelRecord::parse(&b).unwrap();
        assert_eq!(
            oem.describe(),
            format!("OEM record e0 | ab{}", "00".repeat(12))
        );
        assert_eq!(oem.unix_time(), None);
        let mut sys = [0u8; 16];
        sys[2] = 0x02;
        sys[3..7].copy_from_slice(&0x6000_0000u32.to_le_bytes());
        sys[10] = 0x08;
        sys[12] = 0x6F;
        sys[13] = 0x01;
        let rec = SelRecord::parse(&sys).unwrap();
        assert_eq!(rec.unix_time(), Some(0x6000_0000));
        assert_eq!(rec.describe(), "Power Supply | Failure detected | Asserted");
    }

    #[test]
    fn clear_request() {
        let r = ClearSel {
            reservation: 0x1234,
            initiate: true,
        }
        .request();
        assert_eq!(r.data, vec![0x34, 0x12, b'C', b'L', b'R', 0xAA]);
    }
}
