//! Every public decoder on arbitrary bytes: must return, never panic.
#![no_main]

use ironrack_ipmi::cmd::{Command, app, chassis, fru, lan, sdr, sel};
use ironrack_ipmi::{session, wire};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|b: &[u8]| {
    let _ = wire::decode_v2(b, 0);
    let _ = wire::decode_v2(b, 12);
    let _ = wire::decode_v2(b, 16);
    let _ = wire::decode_v15(b);
    let _ = wire::decode_response(b);
    let _ = wire::decode_request(b);
    let _ = wire::decode_asf_pong(b);
    let _ = wire::peek_session_id(b);
    let _ = wire::demux_id(b);
    let _ = session::parse_cipher_suite_records(b);
    let _ = app::GetDeviceId.parse(b);
    let _ = chassis::GetChassisStatus.parse(b);
    let _ = chassis::GetBootFlags.parse(b);
    let _ = sdr::GetSdrRepositoryInfo.parse(b);
    let _ = sdr::GetSensorReading(1).parse(b);
    let _ = sel::GetSelInfo.parse(b);
    let _ = sel::GetSelEntry { reservation: 0, record_id: 0 }.parse(b);
    let _ = fru::ReadFruData { device: 0, offset: 0, count: 16 }.parse(b);
    let _ = lan::GetLanConfig { channel: 1, param: 3 }.parse(b);
    if let Ok(sdr::SdrRecord::Full { conversion, common, .. }) = sdr::parse_sdr(b) {
        for raw in [0u8, 0x7f, 0x80, 0xff] {
            let _ = conversion.convert(raw, common.units.analog_format);
        }
    }
    let _ = sel::SelRecord::parse(b);
    let _ = fru::Fru::parse(b);
});
