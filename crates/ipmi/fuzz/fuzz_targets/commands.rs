//! Command response parsers and the records inside them (SDR, SEL, FRU,
//! LAN parameters).
#![no_main]

use ironrack_ipmi::cmd::{Command, app, chassis, fru, lan, sdr, sel};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|b: &[u8]| {
    let _ = app::GetDeviceId.parse(b);
    let _ = chassis::GetChassisStatus.parse(b);
    let _ = chassis::GetBootFlags.parse(b);
    let _ = sdr::GetSdrRepositoryInfo.parse(b);
    let _ = sdr::ReserveSdrRepository.parse(b);
    let _ = sdr::GetSdr { reservation: 0, record_id: 0, offset: 0, count: 0xff }.parse(b);
    let _ = sdr::GetSensorReading(1).parse(b);
    let _ = sel::GetSelInfo.parse(b);
    let _ = sel::GetSelEntry { reservation: 0, record_id: 0 }.parse(b);
    let _ = sel::ClearSel { reservation: 0, initiate: false }.parse(b);
    let _ = fru::GetFruInventoryAreaInfo(0).parse(b);
    let _ = fru::ReadFruData { device: 0, offset: 0, count: 16 }.parse(b);
    let _ = lan::GetLanConfig { channel: 1, param: 3 }.parse(b);
    if let Ok(r) = sdr::parse_sdr(b) {
        let _ = r.device();
    }
    if let Ok(sdr::SdrRecord::Full { conversion, common, .. }) = sdr::parse_sdr(b) {
        for raw in [0u8, 0x7f, 0x80, 0xff] {
            let _ = conversion.convert(raw, common.units.analog_format);
        }
        let _ = common.units.name();
    }
    let _ = sel::SelRecord::parse(b);
    let _ = fru::Fru::parse(b);
});
