//! SDR repository (spec 33), sensor data records (43) and readings (35.14).

use super::Command;
use crate::wire::{DecodeError, NetFn, Reader, Request};

/// Get SDR Repository Info (33.9).
#[derive(Debug, Clone, Copy, Default)]
pub struct GetSdrRepositoryInfo;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdrRepositoryInfo {
    /// SDR version, BCD (0x51 for IPMI 1.5/2.0).
    pub version: u8,
    pub record_count: u16,
    pub free_space: u16,
    pub last_addition: u32,
    pub last_erase: u32,
    pub operation_support: u8,
}

impl Command for GetSdrRepositoryInfo {
    type Output = SdrRepositoryInfo;
    const NAME: &'static str = "Get SDR Repository Info";
    fn request(&self) -> Request {
        Request::new(NetFn::STORAGE, 0x20, vec![])
    }
    fn parse(&self, data: &[u8]) -> Result<SdrRepositoryInfo, DecodeError> {
        let mut r = Reader::new(data);
        Ok(SdrRepositoryInfo {
            version: r.u8("SDR version")?,
            record_count: r.u16le("record count")?,
            free_space: r.u16le("free space")?,
            last_addition: r.u32le("most recent addition")?,
            last_erase: r.u32le("most recent erase")?,
            operation_support: r.u8("operation support")?,
        })
    }
}

/// Reserve SDR Repository (33.11); answers the reservation id.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReserveSdrRepository;

impl Command for ReserveSdrRepository {
    type Output = u16;
    const NAME: &'static str = "Reserve SDR Repository";
    fn request(&self) -> Request {
        Request::new(NetFn::STORAGE, 0x22, vec![])
    }
    fn parse(&self, data: &[u8]) -> Result<u16, DecodeError> {
        Reader::new(data).u16le("reservation id")
    }
}

/// Get SDR (33.12): `count` bytes of record `record_id` from `offset`
/// (0xFF = whole record). Answers (next record id, bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetSdr {
    pub reservation: u16,
    pub record_id: u16,
    pub offset: u8,
    pub count: u8,
}

/// Record id that ends an SDR/SEL walk.
pub const LAST_RECORD: u16 = 0xFFFF;

impl Command for GetSdr {
    type Output = (u16, Vec<u8>);
    const NAME: &'static str = "Get SDR";
    fn request(&self) -> Request {
        let mut d = Vec::with_capacity(6);
        d.extend_from_slice(&self.reservation.to_le_bytes());
        d.extend_from_slice(&self.record_id.to_le_bytes());
        d.push(self.offset);
        d.push(self.count);
        Request::new(NetFn::STORAGE, 0x23, d)
    }
    fn parse(&self, data: &[u8]) -> Result<(u16, Vec<u8>), DecodeError> {
        let mut r = Reader::new(data);
        let next = r.u16le("next record id")?;
        Ok((next, r.rest().to_vec()))
    }
}

/// Length of the SDR header (record id, version, type, length; 43.0).
pub const SDR_HEADER_LEN: usize = 5;

/// Sensor units (43.1 bytes 21–23).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Units {
    /// Analog data format: 0 unsigned, 1 one's complement, 2 two's
    /// complement, 3 no analog reading.
    pub analog_format: u8,
    pub rate: u8,
    /// 0 none, 1 base/modifier, 2 base*modifier.
    pub modifier_kind: u8,
    pub percentage: bool,
    pub base: u8,
    pub modifier: u8,
}

impl Units {
    /// Display string, e.g. "degrees C", "Volts", "% RPM".
    pub fn name(&self) -> String {
        let mut s = String::new();
        if self.percentage {
            s.push_str("% ");
        }
        s.push_str(unit_name(self.base));
        match self.modifier_kind {
            1 => {
                s.push('/');
                s.push_str(unit_name(self.modifier));
            }
            2 => {
                s.push('*');
                s.push_str(unit_name(self.modifier));
            }
            _ => {}
        }
        s
    }
}

/// Fields common to full and compact sensor records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SensorCommon {
    pub record_id: u16,
    pub owner_id: u8,
    pub owner_lun: u8,
    pub number: u8,
    pub entity_id: u8,
    pub entity_instance: u8,
    pub sensor_type: u8,
    /// 0x01 = threshold sensor, others discrete (table 42-1).
    pub event_reading_type: u8,
    pub units: Units,
    pub name: String,
}

/// Full Sensor Record conversion factors (43.1 bytes 24–30).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conversion {
    pub linearization: u8,
    /// 10-bit signed.
    pub m: i16,
    /// 10-bit signed.
    pub b: i16,
    /// B exponent (4-bit signed).
    pub k1: i8,
    /// Result exponent (4-bit signed).
    pub k2: i8,
}

/// A decoded sensor data record.
#[derive(Debug, Clone, PartialEq)]
pub enum SdrRecord {
    /// Type 01h: analog sensor with conversion factors.
    Full {
        common: SensorCommon,
        conversion: Conversion,
        nominal_raw: Option<u8>,
    },
    /// Type 02h: discrete (or simple) sensor without conversion.
    Compact { common: SensorCommon },
    /// Any other record type, kept raw.
    Other {
        record_id: u16,
        record_type: u8,
        body: Vec<u8>,
    },
}

impl SdrRecord {
    pub fn sensor(&self) -> Option<&SensorCommon> {
        match self {
            SdrRecord::Full { common, .. } | SdrRecord::Compact { common } => Some(common),
            SdrRecord::Other { .. } => None,
        }
    }

    /// An event-only sensor or a device locator record, decoded; `None`
    /// for sensors and other record types (or a body too short).
    pub fn device(&self) -> Option<DeviceRecord> {
        let SdrRecord::Other {
            record_type, body, ..
        } = self
        else {
            return None;
        };
        let at = |i: usize| body.get(i).copied();
        // Entity id and instance, OEM, then the ID string: at the same
        // place in the three locators (43.7–43.9), two bytes later in an
        // event-only record (43.3).
        let (kind, entity_at) = match record_type {
            0x03 => (
                DeviceKind::EventOnly {
                    sensor_number: at(2)?,
                },
                3,
            ),
            0x10 => (
                DeviceKind::GenericLocator {
                    access_address: at(0)?,
                    slave_address: at(1)?,
                    oem: at(9)?,
                },
                7,
            ),
            0x11 => (
                DeviceKind::FruLocator {
                    device_id: at(1)?,
                    logical: at(2)? & 0x80 != 0,
                },
                7,
            ),
            0x12 => (
                DeviceKind::McLocator {
                    slave_address: at(0)?,
                    // Byte 8 bit 5: static (1) or dynamic controller.
                    static_presence: at(2)? & 0x20 != 0,
                },
                7,
            ),
            _ => return None,
        };
        let name_at = if *record_type == 0x03 { 11 } else { 10 };
        Some(DeviceRecord {
            kind,
            entity_id: at(entity_at)?,
            entity_instance: at(entity_at + 1)? & 0x7F,
            name: id_string(at(name_at)?, body.get(name_at + 1..).unwrap_or_default()),
        })
    }
}

/// A record that names something without a reading: an event-only sensor
/// (type 03h) or a generic, FRU or management controller device locator
/// (10h, 11h, 12h).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    pub kind: DeviceKind,
    pub entity_id: u8,
    pub entity_instance: u8,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    EventOnly {
        sensor_number: u8,
    },
    GenericLocator {
        access_address: u8,
        slave_address: u8,
        oem: u8,
    },
    FruLocator {
        device_id: u8,
        /// A logical FRU device (accessed by FRU commands), not a
        /// physical SEEPROM.
        logical: bool,
    },
    McLocator {
        slave_address: u8,
        static_presence: bool,
    },
}

fn sign_extend(v: u16, bits: u32) -> i16 {
    let shift = 16 - bits;
    ((v << shift) as i16) >> shift
}

fn nibble_signed(v: u8) -> i8 {
    ((v << 4) as i8) >> 4
}

/// Decode an ID string (type/length byte + bytes; 43.15): 8-bit ASCII for
/// type 11b, which is what BMCs use in practice; otherwise hex.
fn id_string(tl: u8, bytes: &[u8]) -> String {
    let len = usize::from(tl & 0x1F).min(bytes.len());
    let b = bytes.get(..len).unwrap_or_default();
    if tl >> 6 == 0b11 {
        b.iter()
            .take_while(|c| **c != 0)
            .map(|c| char::from(*c))
            .collect::<String>()
            .trim_end()
            .to_string()
    } else {
        b.iter().map(|c| format!("{c:02x}")).collect()
    }
}

fn common(record_id: u16, r: &mut Reader<'_>) -> Result<(SensorCommon, u8), DecodeError> {
    let owner_id = r.u8("sensor owner id")?;
    let owner_lun = r.u8("sensor owner lun")? & 0x03;
    let number = r.u8("sensor number")?;
    let entity_id = r.u8("entity id")?;
    let entity_instance = r.u8("entity instance")?;
    r.skip(2, "initialization / capabilities")?;
    let sensor_type = r.u8("sensor type")?;
    let event_reading_type = r.u8("event/reading type")?;
    r.skip(6, "event masks")?;
    let u1 = r.u8("sensor units 1")?;
    let base = r.u8("sensor units 2")?;
    let modifier = r.u8("sensor units 3")?;
    let units = Units {
        analog_format: u1 >> 6,
        rate: (u1 >> 3) & 0x07,
        modifier_kind: (u1 >> 1) & 0x03,
        percentage: u1 & 1 != 0,
        base,
        modifier,
    };
    Ok((
        SensorCommon {
            record_id,
            owner_id,
            owner_lun,
            number,
            entity_id,
            entity_instance,
            sensor_type,
            event_reading_type,
            units,
            name: String::new(),
        },
        u1,
    ))
}

/// Parse one SDR (header + body, as fetched by Get SDR).
pub fn parse_sdr(rec: &[u8]) -> Result<SdrRecord, DecodeError> {
    let mut r = Reader::new(rec);
    let record_id = r.u16le("record id")?;
    let _version = r.u8("SDR version")?;
    let record_type = r.u8("record type")?;
    let len = usize::from(r.u8("record length")?);
    let avail = r.remaining();
    if len > avail {
        return Err(DecodeError::BadLength {
            what: "SDR body",
            len,
            available: avail,
        });
    }
    let body = r.take(len, "SDR body")?;
    let mut b = Reader::new(body);
    match record_type {
        0x01 => {
            let (mut common, _) = common(record_id, &mut b)?;
            let linearization = b.u8("linearization")? & 0x7F;
            let m_lo = b.u8("M")?;
            let m_hi = b.u8("M, tolerance")?;
            let b_lo = b.u8("B")?;
            let b_hi = b.u8("B, accuracy")?;
            b.skip(1, "accuracy, direction")?;
            let exp = b.u8("R exp, B exp")?;
            let flags = b.u8("analog characteristic flags")?;
            let nominal = b.u8("nominal reading")?;
            b.skip(14, "thresholds, hysteresis, reserved")?;
            b.skip(1, "OEM")?;
            let tl = b.u8("ID string type/length")?;
            common.name = id_string(tl, b.rest());
            let conversion = Conversion {
                linearization,
                m: sign_extend(u16::from(m_lo) | (u16::from(m_hi >> 6) << 8), 10),
                b: sign_extend(u16::from(b_lo) | (u16::from(b_hi >> 6) << 8), 10),
                k1: nibble_signed(exp & 0x0F),
                k2: nibble_signed(exp >> 4),
            };
            Ok(SdrRecord::Full {
                common,
                conversion,
                nominal_raw: (flags & 0x01 != 0).then_some(nominal),
            })
        }
        0x02 => {
            let (mut common, _) = common(record_id, &mut b)?;
            b.skip(2, "record sharing")?;
            b.skip(2, "hysteresis")?;
            b.skip(3, "reserved")?;
            b.skip(1, "OEM")?;
            let tl = b.u8("ID string type/length")?;
            common.name = id_string(tl, b.rest());
            Ok(SdrRecord::Compact { common })
        }
        _ => Ok(SdrRecord::Other {
            record_id,
            record_type,
            body: body.to_vec(),
        }),
    }
}

impl Conversion {
    /// y = L[(M*x + B*10^K1) * 10^K2] (36.3). `None` for non-linear
    /// sensors whose formula we do not implement or non-analog formats.
    pub fn convert(&self, raw: u8, analog_format: u8) -> Option<f64> {
        let x = match analog_format {
            0 => f64::from(raw),
            1 => {
                let v = raw as i8;
                // one's complement: negative values are offset by one
                f64::from(if v < 0 { v + 1 } else { v })
            }
            2 => f64::from(raw as i8),
            _ => return None,
        };
        let y = (f64::from(self.m) * x + f64::from(self.b) * 10f64.powi(self.k1.into()))
            * 10f64.powi(self.k2.into());
        let v = match self.linearization {
            0 => y,
            1 => y.ln(),
            2 => y.log10(),
            3 => y.log2(),
            4 => y.exp(),
            5 => 10f64.powf(y),
            6 => y.exp2(),
            7 => 1.0 / y,
            8 => y * y,
            9 => y * y * y,
            10 => y.sqrt(),
            11 => y.cbrt(),
            _ => return None,
        };
        v.is_finite().then_some(v)
    }
}

/// Get Sensor Reading (35.14).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetSensorReading(pub u8);

/// Answer to Get Sensor Reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SensorReading {
    pub raw: u8,
    pub event_messages_enabled: bool,
    pub scanning_enabled: bool,
    /// "Reading/state unavailable": ignore `raw`.
    pub unavailable: bool,
    /// Threshold comparison bits (byte 3) or discrete state bits (bytes 3–4).
    pub state: u16,
}

impl Command for GetSensorReading {
    type Output = SensorReading;
    const NAME: &'static str = "Get Sensor Reading";
    fn request(&self) -> Request {
        Request::new(NetFn::SENSOR_EVENT, 0x2D, vec![self.0])
    }
    fn parse(&self, data: &[u8]) -> Result<SensorReading, DecodeError> {
        let mut r = Reader::new(data);
        let raw = r.u8("reading")?;
        let flags = r.u8("sensor flags")?;
        // Bytes 3 and 4 are optional for some sensors.
        let s1 = r.u8("state 1").unwrap_or(0);
        let s2 = r.u8("state 2").unwrap_or(0);
        Ok(SensorReading {
            raw,
            event_messages_enabled: flags & 0x80 != 0,
            scanning_enabled: flags & 0x40 != 0,
            unavailable: flags & 0x20 != 0,
            state: u16::from(s1) | (u16::from(s2 & 0x7F) << 8),
        })
    }
}

/// Which threshold a threshold sensor's reading crosses, worst first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThresholdLevel {
    Ok,
    NonCritical,
    Critical,
    NonRecoverable,
}

/// The worst crossed threshold in Get Sensor Reading's state byte
/// (table 35-14: bit 0/3 lower/upper non-critical, 1/4 critical, 2/5
/// non-recoverable).
pub fn threshold_level(state: u16) -> ThresholdLevel {
    if state & 0x24 != 0 {
        ThresholdLevel::NonRecoverable
    } else if state & 0x12 != 0 {
        ThresholdLevel::Critical
    } else if state & 0x09 != 0 {
        ThresholdLevel::NonCritical
    } else {
        ThresholdLevel::Ok
    }
}

/// Sensor type names (spec table 42-3).
pub fn sensor_type_name(t: u8) -> &'static str {
    const NAMES: [&str; 45] = [
        "reserved",
        "Temperature",
        "Voltage",
        "Current",
        "Fan",
        "Physical Security",
        "Platform Security",
        "Processor",
        "Power Supply",
        "Power Unit",
        "Cooling Device",
        "Other",
        "Memory",
        "Drive Slot / Bay",
        "POST Memory Resize",
        "System Firmwares",
        "Event Logging Disabled",
        "Watchdog1",
        "System Event",
        "Critical Interrupt",
        "Button",
        "Module / Board",
        "Microcontroller",
        "Add-in Card",
        "Chassis",
        "Chip Set",
        "Other FRU",
        "Cable / Interconnect",
        "Terminator",
        "System Boot Initiated",
        "Boot Error",
        "OS Boot",
        "OS Critical Stop",
        "Slot / Connector",
        "System ACPI Power State",
        "Watchdog2",
        "Platform Alert",
        "Entity Presence",
        "Monitor ASIC",
        "LAN",
        "Management Subsys Health",
        "Battery",
        "Session Audit",
        "Version Change",
        "FRU State",
    ];
    match t {
        0xC0..=0xFF => "OEM",
        _ => NAMES.get(usize::from(t)).copied().unwrap_or("Unknown"),
    }
}

/// Sensor unit type codes (spec table 43-15).
pub fn unit_name(code: u8) -> &'static str {
    const NAMES: [&str; 93] = [
        "unspecified",
        "degrees C",
        "degrees F",
        "degrees K",
        "Volts",
        "Amps",
        "Watts",
        "Joules",
        "Coulombs",
        "VA",
        "Nits",
        "lumen",
        "lux",
        "Candela",
        "kPa",
        "PSI",
        "Newton",
        "CFM",
        "RPM",
        "Hz",
        "microsecond",
        "millisecond",
        "second",
        "minute",
        "hour",
        "day",
        "week",
        "mil",
        "inches",
        "feet",
        "cu in",
        "cu feet",
        "mm",
        "cm",
        "m",
        "cu cm",
        "cu m",
        "liters",
        "fluid ounce",
        "radians",
        "steradians",
        "revolutions",
        "cycles",
        "gravities",
        "ounce",
        "pound",
        "ft-lb",
        "oz-in",
        "gauss",
        "gilberts",
        "henry",
        "millihenry",
        "farad",
        "microfarad",
        "ohms",
        "siemens",
        "mole",
        "becquerel",
        "PPM",
        "reserved",
        "Decibels",
        "DbA",
        "DbC",
        "gray",
        "sievert",
        "color temp deg K",
        "bit",
        "kilobit",
        "megabit",
        "gigabit",
        "byte",
        "kilobyte",
        "megabyte",
        "gigabyte",
        "word",
        "dword",
        "qword",
        "line",
        "hit",
        "miss",
        "retry",
        "reset",
        "overrun",
        "underrun",
        "collision",
        "packets",
        "messages",
        "characters",
        "error",
        "correctable error",
        "uncorrectable error",
        "fatal error",
        "grams",
    ];
    NAMES.get(usize::from(code)).copied().unwrap_or("unknown")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn locator_and_event_only_records() {
        let rec = |t: u8, body: &[u8]| {
            let mut v = vec![9, 0, 0x51, t, body.len() as u8];
            v.extend_from_slice(body);
            parse_sdr(&v).unwrap().device()
        };
        let mc = rec(
            0x12,
            &[
                0x20, 0, 0x20, 0x8f, 0, 0, 0, 7, 1, 0, 0xc3, b'B', b'M', b'C',
            ],
        )
        .unwrap();
        assert_eq!(
            mc,
            DeviceRecord {
                kind: DeviceKind::McLocator {
                    slave_address: 0x20,
                    static_presence: true
                },
                entity_id: 7,
                entity_instance: 1,
                name: "BMC".into()
            }
        );
        let fru = rec(
            0x11,
            &[0x20, 3, 0x80, 0, 0, 0x10, 0, 7, 0x81, 0, 0xc1, b'F'],
        )
        .unwrap();
        assert_eq!(
            (fru.kind, fru.entity_instance, fru.name.as_str()),
            (
                DeviceKind::FruLocator {
                    device_id: 3,
                    logical: true
                },
                1,
                "F"
            )
        );
        let ev = rec(
            0x03,
            &[0x20, 0, 5, 7, 1, 0x12, 0x6f, 1, 0, 0, 0, 0xc2, b'E', b'v'],
        );
        assert_eq!(ev.unwrap().kind, DeviceKind::EventOnly { sensor_number: 5 });
        // Truncated bodies and other types decode to nothing.
        assert_eq!(rec(0x12, &[0x20, 0, 0x20]), None);
        assert_eq!(rec(0x08, &[0; 16]), None);
    }

    #[test]
    fn worst_threshold_wins() {
        assert_eq!(threshold_level(0), ThresholdLevel::Ok);
        assert_eq!(threshold_level(0x08), ThresholdLevel::NonCritical);
        assert_eq!(threshold_level(0x01 | 0x10), ThresholdLevel::Critical);
        assert_eq!(threshold_level(0x02 | 0x20), ThresholdLevel::NonRecoverable);
        assert_eq!(sensor_type_name(0x04), "Fan");
        assert_eq!(sensor_type_name(0xC5), "OEM");
    }

    /// The "Sys 12V" record from lab/bmcs.sh.
    pub(crate) fn volt_record() -> Vec<u8> {
        let mut v = vec![0x02, 0x00, 0x51, 0x01, 50];
        v.extend_from_slice(&[
            0x20, 0x00, 0x02, 0x07, 0x01, 0x67, 0x88, 0x02, 0x01, 0xc0, 0x0f, 0xc0, 0x7f, 0x38,
            0x38, 0x00, 0x04, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0xe0, 0x03, 0xc8, 0xf0,
            0x00, 0xff, 0x00, 0xfe, 0xfd, 0xfc, 0, 0, 0, 0, 0, 0, 0, 0, 0xc7,
        ]);
        v.extend_from_slice(b"Sys 12V");
        v
    }

    #[test]
    fn full_record_and_conversion() {
        let r = parse_sdr(&volt_record()).unwrap();
        let SdrRecord::Full {
            common, conversion, ..
        } = &r
        else {
            panic!("{r:?}")
        };
        assert_eq!(common.name, "Sys 12V");
        assert_eq!(common.units.name(), "Volts");
        assert_eq!(conversion.m, 6);
        assert_eq!(conversion.k2, -2);
        let v = conversion.convert(200, 0).unwrap();
        assert!((v - 12.0).abs() < 1e-9);
        // Negative M, B and exponents.
        let c = Conversion {
            linearization: 0,
            m: -2,
            b: 5,
            k1: 1,
            k2: -1,
        };
        assert!((c.convert(10, 0).unwrap() - 3.0).abs() < 1e-9);
        assert!((c.convert(0xFF, 2).unwrap() - 5.2).abs() < 1e-9);
        assert_eq!(sign_extend(0x3FF, 10), -1);
    }

    #[test]
    fn compact_record() {
        let mut v = vec![0x04, 0x00, 0x51, 0x02, 38];
        v.extend_from_slice(&[
            0x20, 0x00, 0x04, 0x0a, 0x01, 0x67, 0x40, 0x08, 0x6f, 0x03, 0x00, 0x03, 0x00, 0x03,
            0x00, 0xc0, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xcb,
        ]);
        v.extend_from_slice(b"PSU1 Status");
        let r = parse_sdr(&v).unwrap();
        assert_eq!(r.sensor().unwrap().name, "PSU1 Status");
        assert_eq!(r.sensor().unwrap().number, 4);
        // Truncated body → error, not panic.
        assert!(parse_sdr(&v[..20]).is_err());
    }

    #[test]
    fn reading() {
        let r = GetSensorReading(1).parse(&[0x28, 0xc0, 0x00]).unwrap();
        assert_eq!(r.raw, 0x28);
        assert!(r.scanning_enabled && !r.unavailable);
        assert!(GetSensorReading(1).parse(&[0x28]).is_err());
        assert_eq!(unit_name(18), "RPM");
        assert_eq!(unit_name(92), "grams");
        assert_eq!(unit_name(200), "unknown");
    }
}
