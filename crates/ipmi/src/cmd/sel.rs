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
