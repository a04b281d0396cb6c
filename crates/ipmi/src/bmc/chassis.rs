//! The virtual BMC's in-memory machine and its command responder: device
//! id (20.1), chassis status/control (28.2, 28.3), boot flags (28.12,
//! 28.13), an SDR repository (33) with four sensors (35.14), an empty SEL.

use crate::wire::{NetFn, Request};

/// Sensor units and the linear factors of a full record (43.1).
struct SensorDef {
    number: u8,
    name: &'static str,
    /// Sensor type (table 42-3) and entity id (table 43-13).
    sensor_type: u8,
    entity: u8,
    /// `Some((unit, M, R exponent))` for an analog threshold sensor;
    /// `None` for a discrete (compact record) one.
    analog: Option<(u8, u8, i8)>,
}

/// The same four sensors as lab/bmcs.sh gives ipmi_sim.
const SENSORS: [SensorDef; 4] = [
    SensorDef {
        number: 1,
        name: "CPU Temp",
        sensor_type: 0x01,
        entity: 0x03,
        analog: Some((1, 1, 0)), // degrees C
    },
    SensorDef {
        number: 2,
        name: "Sys 12V",
        sensor_type: 0x02,
        entity: 0x07,
        analog: Some((4, 6, -2)), // Volts, 0.06 V per count
    },
    SensorDef {
        number: 3,
        name: "FAN1",
        sensor_type: 0x04,
        entity: 0x1d,
        analog: Some((18, 75, 0)), // RPM, 75 per count
    },
    SensorDef {
        number: 4,
        name: "PSU1 Status",
        sensor_type: 0x08,
        entity: 0x0a,
        analog: None,
    },
];

/// Encode sensor record `index` (record id index+1).
fn sdr(index: usize, d: &SensorDef) -> Vec<u8> {
    let id = (index as u16 + 1).to_le_bytes();
    let name = d.name.as_bytes();
    let mut body = vec![
        0x20, // owner: BMC
        0x00, // LUN 0
        d.number,
        d.entity,
        0x01, // entity instance
        0x67, // initialization: scanning, events, thresholds
        0x88, // capabilities (a full record: readable thresholds)
        d.sensor_type,
    ];
    match d.analog {
        Some((unit, m, rexp)) => {
            body.push(0x01); // threshold event/reading type
            body.extend_from_slice(&[0xc0, 0x0f, 0xc0, 0x7f, 0x38, 0x38]); // masks
            body.extend_from_slice(&[0x00, unit, 0x00]); // unsigned, base unit
            body.extend_from_slice(&[0x00, m, 0x00, 0x00, 0x00, 0x00]); // linear, M, B
            body.push(((rexp as u8) & 0x0F) << 4); // R exp, B exp 0
            body.extend_from_slice(&[0x03, 0x00]); // flags, nominal
            body.extend_from_slice(&[0xf0, 0x00, 0xff, 0x00, 0xfe, 0xfd, 0xfc]);
            // Lower thresholds, hysteresis, reserved, OEM.
            body.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
            let mut rec = vec![id[0], id[1], 0x51, 0x01, 0];
            body.push(0xC0 | name.len() as u8);
            body.extend_from_slice(name);
            rec[4] = body.len() as u8;
            rec.extend_from_slice(&body);
            rec
        }
        None => {
            body.push(0x6f); // sensor-specific discrete
            body.extend_from_slice(&[0x03, 0x00, 0x03, 0x00, 0x03, 0x00]); // masks
            body.extend_from_slice(&[0xc0, 0x00, 0x00]); // no analog reading
            body.extend_from_slice(&[0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]);
            let mut rec = vec![id[0], id[1], 0x51, 0x02, 0];
            body.push(0xC0 | name.len() as u8);
            body.extend_from_slice(name);
            rec[4] = body.len() as u8;
            rec.extend_from_slice(&body);
            rec
        }
    }
}

/// The simulated machine.
#[derive(Debug, Clone, Default)]
pub struct Chassis {
    pub power_on: bool,
    /// Boot flags parameter 5, data bytes 1–5 as last set.
    pub boot_flags: [u8; 5],
    /// Bit 4 of "last power event": last change was by command (28.2).
    pub last_event: u8,
    /// Chassis control requests received (0 off, 1 on, 2 cycle, 3 reset, 5 soft).
    pub controls: Vec<u8>,
    reservation: u16,
}

impl Chassis {
    /// Raw reading and state bits of sensor `n` (fixed values).
    fn reading(&self, n: u8) -> Option<(u8, u8)> {
        Some(match n {
            1 => (0x28, 0),    // 40 degrees C
            2 => (0xc8, 0),    // 12 V
            3 => (0x50, 0),    // 6000 RPM
            4 => (0x01, 0x01), // presence detected (state bit 0)
            _ => return None,
        })
    }

    /// Answer a command: (completion code, data). `operator` tells whether
    /// the session may change state (power, boot; table G-1).
    pub fn command(&mut self, req: &Request, operator: bool) -> (u8, Vec<u8>) {
        let d = req.data.as_slice();
        match (req.netfn, req.cmd) {
            // Get Device ID (20.1): fw 1.00, IPMI 2.0, no device SDRs,
            // sensor + SDR repository + SEL + chassis device.
            (NetFn::APP, 0x01) => (
                0,
                vec![
                    0x20, 0x01, 0x01, 0x00, 0x02, 0x87, 0x00, 0x00, 0x00, 0x01, 0x00, 0, 0, 0, 0,
                ],
            ),
            // Get Channel Authentication Capabilities, in session too.
            (NetFn::APP, 0x38) => (0, vec![0x01, 0x80, 0x04, 0x02, 0, 0, 0, 0]),
            // Get Chassis Status (28.2).
            (NetFn::CHASSIS, 0x01) => (0, vec![u8::from(self.power_on), self.last_event, 0, 0]),
            // Chassis Control (28.3).
            (NetFn::CHASSIS, 0x02) if !operator => (0xD4, vec![]),
            (NetFn::CHASSIS, 0x02) => match d.first().map(|b| b & 0x0F) {
                Some(c @ 0..=5) => {
                    match c {
                        0 | 5 => self.power_on = false,
                        1..=3 => self.power_on = true,
                        _ => {}
                    }
                    self.controls.push(c);
                    self.last_event = 0x10;
                    (0, vec![])
                }
                _ => (0xCC, vec![]),
            },
            // Set System Boot Options (28.12): keep parameter 5, accept others.
            (NetFn::CHASSIS, 0x08) if !operator => (0xD4, vec![]),
            (NetFn::CHASSIS, 0x08) => match d {
                [p, rest @ ..] if p & 0x7F == 5 && rest.len() >= 5 => {
                    self.boot_flags.copy_from_slice(&rest[..5]);
                    (0, vec![])
                }
                [_, ..] => (0, vec![]),
                [] => (0xC7, vec![]),
            },
            // Get System Boot Options (28.13).
            (NetFn::CHASSIS, 0x09) => match d.first().map(|p| p & 0x7F) {
                Some(5) => {
                    let mut v = vec![0x01, 0x05];
                    v.extend_from_slice(&self.boot_flags);
                    (0, v)
                }
                Some(0) => (0, vec![0x01, 0x00, 0x00]), // set in progress: complete
                Some(_) => (0x80, vec![]),              // parameter not supported
                None => (0xC7, vec![]),
            },
            // Get SDR Repository Info (33.9).
            (NetFn::STORAGE, 0x20) => (
                0,
                vec![
                    0x51,
                    SENSORS.len() as u8,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0x00,
                ],
            ),
            // Reserve SDR Repository (33.11) / Reserve SEL (31.4).
            (NetFn::STORAGE, 0x22 | 0x42) => {
                self.reservation = self.reservation.wrapping_add(1).max(1);
                (0, self.reservation.to_le_bytes().to_vec())
            }
            // Get SDR (33.12).
            (NetFn::STORAGE, 0x23) => match d {
                [_, _, lo, hi, offset, count] => {
                    let id = u16::from_le_bytes([*lo, *hi]);
                    let index = if id == 0 { 0 } else { usize::from(id) - 1 };
                    let Some(def) = SENSORS.get(index) else {
                        return (0xCB, vec![]);
                    };
                    let rec = sdr(index, def);
                    let next: u16 = if index + 1 < SENSORS.len() {
                        index as u16 + 2
                    } else {
                        0xFFFF
                    };
                    let start = usize::from(*offset).min(rec.len());
                    let end = if *count == 0xFF {
                        rec.len()
                    } else {
                        (start + usize::from(*count)).min(rec.len())
                    };
                    let mut v = next.to_le_bytes().to_vec();
                    v.extend_from_slice(&rec[start..end]);
                    (0, v)
                }
                _ => (0xC7, vec![]),
            },
            // Get SEL Info (31.2): empty, supports reserve + delete/clear.
            (NetFn::STORAGE, 0x40) => (0, vec![0x51, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0x0A]),
            // Get SEL Entry (31.5): no entries.
            (NetFn::STORAGE, 0x43) => (0xCB, vec![]),
            // Clear SEL (31.9): done at once.
            (NetFn::STORAGE, 0x47) => (0, vec![0x01]),
            // Get Sensor Reading (35.14): scanning enabled.
            (NetFn::SENSOR_EVENT, 0x2D) => match d.first().and_then(|n| self.reading(*n)) {
                Some((raw, state)) => (0, vec![raw, 0xC0, state, 0x00]),
                None => (0xCB, vec![]),
            },
            // Get Sensor Thresholds (35.9): none readable.
            (NetFn::SENSOR_EVENT, 0x27) => match d.first().and_then(|n| self.reading(*n)) {
                Some(_) => (0, vec![0, 0, 0, 0, 0, 0, 0]),
                None => (0xCB, vec![]),
            },
            _ => (0xC1, vec![]), // invalid command
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::sdr::{SdrRecord, parse_sdr};

    #[test]
    fn records_parse_and_convert() {
        for (i, d) in SENSORS.iter().enumerate() {
            let r = parse_sdr(&sdr(i, d)).unwrap();
            assert_eq!(r.sensor().unwrap().name, d.name);
            assert_eq!(r.sensor().unwrap().number, d.number);
        }
        let SdrRecord::Full {
            conversion, common, ..
        } = parse_sdr(&sdr(1, &SENSORS[1])).unwrap()
        else {
            panic!()
        };
        assert_eq!(common.units.name(), "Volts");
        assert!((conversion.convert(0xc8, 0).unwrap() - 12.0).abs() < 1e-9);
    }
}
