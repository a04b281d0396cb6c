//! ipmitool 1.8.19's output text, reproduced line for line so scripts that
//! parse ipmitool read ours unchanged. Pure functions over the ipmi crate's
//! parsed types; field names and tables follow the IPMI v2.0 spec.

use ironrack_ipmi::cmd::chassis::RestorePolicy;
pub use ironrack_ipmi::cmd::sdr::sensor_type_name;
use ironrack_ipmi::cmd::sdr::{
    Conversion, DeviceKind, DeviceRecord, SensorReading, ThresholdLevel, threshold_level,
};
use ironrack_ipmi::cmd::sel::{SelEvent, event_description};
use ironrack_ipmi::{ChassisControl, ChassisStatus, DeviceId, Fru, LanParams, SelRecord};

/// `power status`.
pub fn power_status(on: bool) -> String {
    format!("Chassis Power is {}\n", if on { "on" } else { "off" })
}

/// `power on|off|cycle|reset|soft|diag`.
pub fn power_control(c: ChassisControl) -> String {
    let what = match c {
        ChassisControl::PowerOn => "Up/On",
        ChassisControl::PowerOff => "Down/Off",
        ChassisControl::PowerCycle => "Cycle",
        ChassisControl::HardReset => "Reset",
        ChassisControl::Diag => "Diag",
        ChassisControl::SoftOff => "Soft",
    };
    format!("Chassis Power Control: {what}\n")
}

fn yes(b: bool, t: &str, f: &str) -> String {
    if b { t.into() } else { f.into() }
}

/// `chassis status` (Get Chassis Status, 28.2).
pub fn chassis_status(s: &ChassisStatus) -> String {
    let policy = match s.restore_policy {
        RestorePolicy::StayOff => "always-off",
        RestorePolicy::Restore => "previous",
        RestorePolicy::AlwaysOn => "always-on",
        RestorePolicy::Unknown => "unknown",
    };
    let mut last = String::new();
    for (bit, name) in [
        (0x01, "ac-failed "),
        (0x02, "overload "),
        (0x04, "interlock "),
        (0x08, "fault "),
        (0x10, "command"),
    ] {
        if s.last_power_event & bit != 0 {
            last.push_str(name);
        }
    }
    let lines = [
        ("System Power", yes(s.power_on, "on", "off")),
        ("Power Overload", yes(s.power_overload, "true", "false")),
        ("Power Interlock", yes(s.interlock, "active", "inactive")),
        ("Main Power Fault", yes(s.power_fault, "true", "false")),
        ("Power Control Fault", yes(s.control_fault, "true", "false")),
        ("Power Restore Policy", policy.into()),
        ("Last Power Event", last),
        ("Chassis Intrusion", yes(s.intrusion, "active", "inactive")),
        (
            "Front-Panel Lockout",
            yes(s.front_panel_lockout, "active", "inactive"),
        ),
        ("Drive Fault", yes(s.drive_fault, "true", "false")),
        ("Cooling/Fan Fault", yes(s.cooling_fault, "true", "false")),
    ];
    lines
        .iter()
        .map(|(k, v)| format!("{k:<21}: {v}\n"))
        .collect()
}

/// IANA enterprise numbers of common BMC vendors; others print as
/// "Unknown (0x...)" like ipmitool does for numbers it does not know.
fn manufacturer_name(id: u32) -> String {
    match id {
        2 => "IBM".into(),
        11 => "Hewlett-Packard".into(),
        343 => "Intel Corporation".into(),
        674 => "DELL Inc".into(),
        4753 => "MontaVista Software, Inc.".into(),
        10876 => "Super Micro Computer Inc.".into(),
        _ => format!("Unknown (0x{id:X})"),
    }
}

/// `mc info` (Get Device ID, 20.1).
pub fn mc_info(d: &DeviceId) -> String {
    const SUPPORT: [&str; 8] = [
        "Sensor Device",
        "SDR Repository Device",
        "SEL Device",
        "FRU Inventory Device",
        "IPMB Event Receiver",
        "IPMB Event Generator",
        "Bridge",
        "Chassis Device",
    ];
    let mut o = String::new();
    let mut kv = |k: &str, v: String| o.push_str(&format!("{k:<26}: {v}\n"));
    kv("Device ID", d.device_id.to_string());
    kv("Device Revision", d.device_revision.to_string());
    kv("Firmware Revision", d.firmware());
    kv(
        "IPMI Version",
        format!("{:x}.{:x}", d.ipmi_version.0, d.ipmi_version.1),
    );
    kv("Manufacturer ID", d.manufacturer_id.to_string());
    kv("Manufacturer Name", manufacturer_name(d.manufacturer_id));
    kv(
        "Product ID",
        format!("{} (0x{:04x})", d.product_id, d.product_id),
    );
    kv("Product Name", format!("Unknown (0x{:X})", d.product_id));
    kv("Device Available", yes(d.device_available, "yes", "no"));
    kv("Provides Device SDRs", yes(d.provides_sdrs, "yes", "no"));
    o.push_str("Additional Device Support :\n");
    for (i, name) in SUPPORT.iter().enumerate() {
        if d.additional_support & (1 << i) != 0 {
            o.push_str(&format!("    {name}\n"));
        }
    }
    if let Some(aux) = d.aux_firmware {
        o.push_str("Aux Firmware Rev Info     : \n");
        for b in aux {
            o.push_str(&format!("    0x{b:02x}\n"));
        }
    }
    o
}

/// One sensor with what `sdr list` and `sensor list` need.
#[derive(Debug, Clone)]
pub struct Sensor {
    pub name: String,
    pub number: u8,
    pub sensor_type: u8,
    /// Event/reading type 01h (table 42-1).
    pub threshold: bool,
    /// A full record (compact ones print "Not Readable" when unreadable).
    pub full: bool,
    pub unit: String,
    /// Linear conversion and analog format, for analog full records.
    pub conversion: Option<(Conversion, u8)>,
    pub reading: Option<SensorReading>,
    /// Get Sensor Thresholds answer (mask + six raw values), if supported.
    pub thresholds: Option<[u8; 7]>,
}

impl Sensor {
    fn valid(&self) -> Option<SensorReading> {
        self.reading
            .filter(|r| r.scanning_enabled && !r.unavailable)
    }
    fn analog(&self, raw: u8) -> Option<f64> {
        let (c, fmt) = self.conversion?;
        c.convert(raw, fmt)
    }
    pub fn value(&self) -> Option<f64> {
        self.valid().and_then(|r| self.analog(r.raw))
    }
    /// Threshold status word (sensor reading byte 3, table 35-14).
    pub fn status(&self) -> &'static str {
        let Some(r) = self.valid() else { return "ns" };
        if !self.threshold {
            return "ok";
        }
        match threshold_level(r.state) {
            ThresholdLevel::NonRecoverable => "nr",
            ThresholdLevel::Critical => "cr",
            ThresholdLevel::NonCritical => "nc",
            ThresholdLevel::Ok => "ok",
        }
    }
}

/// "40" for whole numbers, else two decimals (ipmitool's `%.*f`).
fn short_number(v: f64) -> String {
    if v == v.trunc() {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// One line of `sdr list`: a sensor with its reading, or a record that
/// only names something (event-only sensor, device locator).
#[derive(Debug, Clone)]
pub enum SdrRow {
    Sensor(Sensor),
    Device(DeviceRecord),
}

/// ipmitool's line for a record without a reading (`sdr list all`).
fn device_line(d: &DeviceRecord) -> String {
    let name = &d.name;
    match d.kind {
        DeviceKind::EventOnly { .. } => format!("{name:<16} | Event-Only        | ns\n"),
        DeviceKind::GenericLocator {
            access_address,
            slave_address,
            oem,
        } => format!(
            "{name:<16} | Generic @{access_address:02X}:{slave_address:02X}.{oem:<2} | ok\n"
        ),
        DeviceKind::FruLocator { device_id, logical } => format!(
            "{name:<16} | {} FRU @{device_id:02X}h {:02x}.{:x} | ok\n",
            if logical { "Log" } else { "Phy" },
            d.entity_id,
            d.entity_instance
        ),
        DeviceKind::McLocator {
            slave_address,
            static_presence,
        } => {
            let (how, pad) = if static_presence {
                ("Static", " ")
            } else {
                ("Dynamic", "")
            };
            format!("{name:<16} | {how} MC @ {slave_address:02X}h {pad} | ok\n")
        }
    }
}

/// `sdr list`.
pub fn sdr_list(rows: &[SdrRow]) -> String {
    let mut o = String::new();
    for row in rows {
        let s = match row {
            SdrRow::Sensor(s) => s,
            SdrRow::Device(d) => {
                o.push_str(&device_line(d));
                continue;
            }
        };
        let value = match (s.valid(), s.value()) {
            (Some(_), Some(v)) => format!("{} {}", short_number(v), s.unit),
            // ipmitool 1.8.19 shows a discrete sensor's state byte here.
            (Some(r), None) => format!("0x{:02x}", r.state & 0xFF),
            (None, _) if s.reading.is_some_and(|r| !r.scanning_enabled) && s.full => {
                "disabled".into()
            }
            (None, _) if s.full => "no reading".into(),
            (None, _) => "Not Readable".into(),
        };
        o.push_str(&format!("{:<16} | {value:<17} | {}\n", s.name, s.status()));
    }
    o
}

/// `sensor list`.
pub fn sensor_list(sensors: &[Sensor]) -> String {
    let mut o = String::new();
    for s in sensors {
        o.push_str(&format!("{:<16} ", s.name));
        let r = s.valid();
        if s.threshold {
            match (r, s.value()) {
                (Some(_), Some(v)) => {
                    o.push_str(&format!("| {v:<10.3} | {:<10} | {:<6}", s.unit, s.status()))
                }
                (Some(r), None) => o.push_str(&format!(
                    "| 0x{:<8x} | {:<10} | {:<6}",
                    r.raw,
                    s.unit,
                    s.status()
                )),
                (None, _) => o.push_str(&format!("| {:<10} | {:<10} | {:<6}", "na", s.unit, "na")),
            }
            match s.thresholds {
                Some(t) if s.conversion.is_some() => {
                    // Order printed: lnr, lcr, lnc, unc, ucr, unr (mask bits
                    // 2,1,0,3,4,5; values at bytes 3,2,1,4,5,6; 35.9).
                    for (bit, idx) in [(2, 3), (1, 2), (0, 1), (3, 4), (4, 5), (5, 6)] {
                        let raw = t.get(idx).copied().unwrap_or(0);
                        match s.analog(raw) {
                            Some(v) if t[0] & (1 << bit) != 0 => {
                                o.push_str(&format!("| {v:<10.3}"))
                            }
                            _ => o.push_str(&format!("| {:<10}", "na")),
                        }
                    }
                }
                _ => o.push_str(&"| na        ".repeat(6)),
            }
        } else {
            match r {
                Some(r) => o.push_str(&format!(
                    "| 0x{:<8x} | {:<10} | 0x{:02x}{:02x}",
                    r.state & 0xFF, // 1.8.19 shows the state byte as reading
                    "discrete",
                    r.state & 0xFF,
                    r.state >> 8
                )),
                None => o.push_str(&format!(
                    "| {:<10} | {:<10} | {:<6}",
                    "na", "discrete", "na"
                )),
            }
            o.push_str(&"| na        ".repeat(6));
        }
        o.push('\n');
    }
    o
}

/// (days since 1970-01-01) → (year, month, day), proleptic Gregorian.
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `%m/%d/%Y` and `%H:%M:%S` of a Unix time, UTC.
fn date_time(t: u64) -> (String, String) {
    let secs = t as i64;
    let (y, m, d) = civil(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    (
        format!("{m:02}/{d:02}/{y}"),
        format!("{:02}:{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60),
    )
}

/// asctime-style "Wed Jul  9 00:48:00 1997 UTC" (FRU dates).
pub fn asctime_utc(t: u64) -> String {
    const WD: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MON: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = (t / 86_400) as i64;
    let (y, m, d) = civil(days);
    let s = t % 86_400;
    format!(
        "{} {} {d:>2} {:02}:{:02}:{:02} {y} UTC",
        WD[(days % 7) as usize],
        MON[(m - 1) as usize],
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

/// `sel list` (record formats 32.1–32.3).
pub fn sel_list(records: &[SelRecord]) -> String {
    if records.is_empty() {
        return "SEL has no entries\n".into();
    }
    let mut o = String::new();
    for r in records {
        o.push_str(&format!("{:>4x} | ", r.record_id));
        let ts = match &r.event {
            SelEvent::System { timestamp, .. } | SelEvent::OemTimestamped { timestamp, .. } => {
                Some(*timestamp)
            }
            SelEvent::Oem { .. } => None,
        };
        if let Some(ts) = ts {
            // Times below 20000000h count from BMC initialisation (32.1).
            if ts < 0x2000_0000 {
                o.push_str(&format!(" Pre-Init  |{ts:010}| "));
            } else {
                let (d, t) = date_time(u64::from(ts));
                o.push_str(&format!("{d} | {t} | "));
            }
        }
        match &r.event {
            SelEvent::System {
                sensor_type,
                sensor_number,
                deassertion,
                event_type,
                event_data,
                ..
            } => {
                o.push_str(sensor_type_name(*sensor_type));
                if *sensor_number != 0 {
                    o.push_str(&format!(" #0x{sensor_number:02x}"));
                }
                o.push_str(&format!(
                    " | {} | {}\n",
                    event_description(*sensor_type, *event_type, event_data[0]),
                    if *deassertion {
                        "Deasserted"
                    } else {
                        "Asserted"
                    }
                ));
            }
            SelEvent::OemTimestamped {
                manufacturer_id,
                data,
                ..
            } => {
                let m = manufacturer_id.to_le_bytes();
                o.push_str(&format!(
                    "OEM record {:02x} | {:02x}{:02x}{:02x} | {}\n",
                    r.record_type,
                    m[0],
                    m[1],
                    m[2],
                    hex(data)
                ));
            }
            SelEvent::Oem { data } => {
                o.push_str(&format!(
                    "OEM record {:02x} | {}\n",
                    r.record_type,
                    hex(data)
                ));
            }
        }
    }
    o
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Chassis types (SMBIOS table, FRU spec 10 refers to it).
fn chassis_type(t: u8) -> &'static str {
    const T: [&str; 33] = [
        "Unspecified",
        "Other",
        "Unknown",
        "Desktop",
        "Low Profile Desktop",
        "Pizza Box",
        "Mini Tower",
        "Tower",
        "Portable",
        "LapTop",
        "Notebook",
        "Hand Held",
        "Docking Station",
        "All in One",
        "Sub Notebook",
        "Space-saving",
        "Lunch Box",
        "Main Server Chassis",
        "Expansion Chassis",
        "SubChassis",
        "Bus Expansion Chassis",
        "Peripheral Chassis",
        "RAID Chassis",
        "Rack Mount Chassis",
        "Sealed-case PC",
        "Multi-system Chassis",
        "CompactPCI",
        "AdvancedTCA",
        "Blade",
        "Blade Enclosure",
        "Tablet",
        "Convertible",
        "Detachable",
    ];
    T.get(usize::from(t)).copied().unwrap_or("Unknown")
}

/// `fru print` for the BMC's own FRU (device 0). Empty fields are skipped,
/// as ipmitool does.
pub fn fru_print(f: &Fru) -> String {
    let mut o = String::from("FRU Device Description : Builtin FRU Device (ID 0)\n");
    let mut kv = |k: &str, v: &str| {
        if !v.is_empty() {
            o.push_str(&format!(" {k:<22}: {v}\n"));
        }
    };
    if let Some(c) = &f.chassis {
        kv("Chassis Type", chassis_type(c.chassis_type));
        kv("Chassis Part Number", &c.part_number);
        kv("Chassis Serial", &c.serial);
        for x in &c.custom {
            kv("Chassis Extra", x);
        }
    }
    if let Some(b) = &f.board {
        if let Some(t) = b.mfg_time {
            kv("Board Mfg Date", &asctime_utc(t));
        }
        kv("Board Mfg", &b.manufacturer);
        kv("Board Product", &b.product);
        kv("Board Serial", &b.serial);
        kv("Board Part Number", &b.part_number);
        for x in &b.custom {
            kv("Board Extra", x);
        }
    }
    if let Some(p) = &f.product {
        kv("Product Manufacturer", &p.manufacturer);
        kv("Product Name", &p.name);
        kv("Product Part Number", &p.part_number);
        kv("Product Version", &p.version);
        kv("Product Serial", &p.serial);
        kv("Product Asset Tag", &p.asset_tag);
        for x in &p.custom {
            kv("Product Extra", x);
        }
    }
    o.push('\n');
    o
}

/// The LAN parameters `lan print` shows, in the order ipmitool reads them.
pub const LAN_PRINT_PARAMS: [u8; 21] = {
    use ironrack_ipmi::cmd::lan::param::*;
    [
        SET_IN_PROGRESS,
        AUTH_TYPE_SUPPORT,
        AUTH_TYPE_ENABLES,
        IP_SOURCE,
        IP_ADDRESS,
        SUBNET_MASK,
        MAC_ADDRESS,
        COMMUNITY_STRING,
        IP_HEADER,
        BMC_ARP_CONTROL,
        GRATUITOUS_ARP_INTERVAL,
        DEFAULT_GATEWAY,
        DEFAULT_GATEWAY_MAC,
        BACKUP_GATEWAY,
        BACKUP_GATEWAY_MAC,
        VLAN_ID,
        VLAN_PRIORITY,
        CIPHER_SUITE_COUNT,
        CIPHER_SUITES,
        CIPHER_SUITE_PRIVILEGES,
        BAD_PASSWORD_THRESHOLD,
    ]
};

/// `lan print` (ipmitool's `ipmi_lan_print`): a line per parameter the BMC
/// has, "Not Available" for the last two when it lacks them.
pub fn lan_print(p: &LanParams) -> String {
    use ironrack_ipmi::cmd::lan::param::*;
    let mut o = String::new();
    let mut line = |k: &str, v: &str| o.push_str(&format!("{k:<24}: {v}\n"));
    // Byte i of a parameter, 0 past its end (the BMC sent less than the
    // spec's length).
    let b = |d: &[u8], i: usize| d.get(i).copied().unwrap_or(0);
    let ip = |d: &[u8]| format!("{}.{}.{}.{}", b(d, 0), b(d, 1), b(d, 2), b(d, 3));
    let mac = |d: &[u8]| {
        (0..6)
            .map(|i| format!("{:02x}", b(d, i)))
            .collect::<Vec<_>>()
            .join(":")
    };
    // Authentication type bits (table 23-4, parameter 1).
    let auth = |x: u8| {
        [
            (0, "NONE "),
            (1, "MD2 "),
            (2, "MD5 "),
            (4, "PASSWORD "),
            (5, "OEM "),
        ]
        .iter()
        .filter(|(bit, _)| x & (1 << bit) != 0)
        .map(|(_, n)| *n)
        .collect::<String>()
    };
    if let Some(d) = p.get(SET_IN_PROGRESS) {
        let v = [
            "Set Complete",
            "Set In Progress",
            "Commit Write",
            "Reserved",
        ];
        line("Set in Progress", v[usize::from(b(d, 0) & 3)]);
    }
    if let Some(d) = p.get(AUTH_TYPE_SUPPORT) {
        line("Auth Type Support", &auth(b(d, 0)));
    }
    if let Some(d) = p.get(AUTH_TYPE_ENABLES) {
        for (i, level) in ["Callback", "User    ", "Operator", "Admin   ", "OEM     "]
            .iter()
            .enumerate()
        {
            let k = if i == 0 { "Auth Type Enable" } else { "" };
            line(k, &format!("{level} : {}", auth(b(d, i))));
        }
    }
    if let Some(d) = p.get(IP_SOURCE) {
        let v = match b(d, 0) & 0x0F {
            0 => "Unspecified",
            1 => "Static Address",
            2 => "DHCP Address",
            3 => "BIOS Assigned Address",
            _ => "Other",
        };
        line("IP Address Source", v);
    }
    if let Some(d) = p.get(IP_ADDRESS) {
        line("IP Address", &ip(d));
    }
    if let Some(d) = p.get(SUBNET_MASK) {
        line("Subnet Mask", &ip(d));
    }
    if let Some(d) = p.get(MAC_ADDRESS) {
        line("MAC Address", &mac(d));
    }
    if let Some(d) = p.get(COMMUNITY_STRING) {
        let end = d.iter().position(|&c| c == 0).unwrap_or(d.len());
        line(
            "SNMP Community String",
            &String::from_utf8_lossy(d.get(..end).unwrap_or_default()),
        );
    }
    if let Some(d) = p.get(IP_HEADER) {
        line(
            "IP Header",
            &format!(
                "TTL=0x{:02x} Flags=0x{:02x} Precedence=0x{:02x} TOS=0x{:02x}",
                b(d, 0),
                b(d, 1) & 0xe0,
                b(d, 2) & 0xe0,
                b(d, 2) & 0x1e
            ),
        );
    }
    if let Some(d) = p.get(BMC_ARP_CONTROL) {
        let en = |bit: u8| if b(d, 0) & bit != 0 { "En" } else { "Dis" };
        line(
            "BMC ARP Control",
            &format!(
                "ARP Responses {}abled, Gratuitous ARP {}abled",
                en(2),
                en(1)
            ),
        );
    }
    if let Some(d) = p.get(GRATUITOUS_ARP_INTERVAL) {
        // 500 ms units; ipmitool rounds up to whole seconds, prints ".0".
        line(
            "Gratituous ARP Intrvl",
            &format!("{}.0 seconds", u32::from(b(d, 0)).div_ceil(2)),
        );
    }
    for (param, name, is_ip) in [
        (DEFAULT_GATEWAY, "Default Gateway IP", true),
        (DEFAULT_GATEWAY_MAC, "Default Gateway MAC", false),
        (BACKUP_GATEWAY, "Backup Gateway IP", true),
        (BACKUP_GATEWAY_MAC, "Backup Gateway MAC", false),
    ] {
        if let Some(d) = p.get(param) {
            line(name, &if is_ip { ip(d) } else { mac(d) });
        }
    }
    if let Some(d) = p.get(VLAN_ID) {
        let id = (u16::from(b(d, 1) & 0x0f) << 8) | u16::from(b(d, 0));
        let v = if b(d, 1) & 0x80 != 0 {
            id.to_string()
        } else {
            "Disabled".into()
        };
        line("802.1q VLAN ID", &v);
    }
    if let Some(d) = p.get(VLAN_PRIORITY) {
        line("802.1q VLAN Priority", &(b(d, 0) & 0x07).to_string());
    }
    if let Some(count) = p.get(CIPHER_SUITE_COUNT) {
        // Byte 0 is reserved, then one suite id per byte (23-4, param 23).
        let v = match p.get(CIPHER_SUITES) {
            Some(d) if d.len() <= 17 => (0..usize::from(b(count, 0)).min(16))
                .map(|i| b(d, i + 1).to_string())
                .collect::<Vec<_>>()
                .join(","),
            _ => "None".into(),
        };
        line("RMCP+ Cipher Suites", &v);
    }
    match p.get(CIPHER_SUITE_PRIVILEGES) {
        // Byte 0 reserved, then a nibble per suite; ipmitool shows 15.
        Some(d) if d.len() == 9 => {
            let level = |n: u8| match n {
                1 => 'c',
                2 => 'u',
                3 => 'o',
                4 => 'a',
                5 => 'O',
                _ => 'X',
            };
            let v: String = (0..15)
                .map(|i| level((b(d, 1 + i / 2) >> (4 * (i % 2))) & 0x0F))
                .collect();
            line("Cipher Suite Priv Max", &v);
            for legend in [
                "X=Cipher Suite Unused",
                "c=CALLBACK",
                "u=USER",
                "o=OPERATOR",
            ]
            .iter()
            .chain(&["a=ADMIN", "O=OEM"])
            {
                line("", &format!("    {legend}"));
            }
        }
        _ => line("Cipher Suite Priv Max", "Not Available"),
    }
    match p.get(BAD_PASSWORD_THRESHOLD) {
        Some(d) if d.len() == 6 => {
            let word = |i| u32::from(b(d, i)) | (u32::from(b(d, i + 1)) << 8);
            line("Bad Password Threshold", &b(d, 1).to_string());
            line(
                "Invalid password disable",
                if b(d, 0) & 1 != 0 { "yes" } else { "no" },
            );
            line("Attempt Count Reset Int.", &(word(2) * 10).to_string());
            line("User Lockout Interval", &(word(4) * 10).to_string());
        }
        _ => line("Bad Password Threshold", "Not Available"),
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(asctime_utc(868_409_280), "Wed Jul  9 00:48:00 1997 UTC");
        assert_eq!(
            date_time(1_700_000_000),
            ("11/14/2023".into(), "22:13:20".into())
        );
    }

    #[test]
    fn power_lines() {
        assert_eq!(power_status(true), "Chassis Power is on\n");
        assert_eq!(
            power_control(ChassisControl::PowerOff),
            "Chassis Power Control: Down/Off\n"
        );
    }

    #[test]
    fn locator_lines_beyond_ipmi_sim() {
        let row = |kind| {
            SdrRow::Device(DeviceRecord {
                kind,
                entity_id: 7,
                entity_instance: 1,
                name: "X".into(),
            })
        };
        let rows = [
            row(DeviceKind::McLocator {
                slave_address: 0x2c,
                static_presence: false,
            }),
            row(DeviceKind::GenericLocator {
                access_address: 0x20,
                slave_address: 0xa0,
                oem: 3,
            }),
            row(DeviceKind::FruLocator {
                device_id: 2,
                logical: false,
            }),
        ];
        assert_eq!(
            sdr_list(&rows),
            "X                | Dynamic MC @ 2Ch  | ok\n\
             X                | Generic @20:A0.3  | ok\n\
             X                | Phy FRU @02h 07.1 | ok\n"
        );
    }

    #[test]
    fn lan_lines_beyond_ipmi_sim() {
        use ironrack_ipmi::cmd::lan::param::*;
        let mut p = LanParams::default();
        for (k, v) in [
            (VLAN_ID, vec![0x2a, 0x80]),
            (GRATUITOUS_ARP_INTERVAL, vec![4]),
            (BMC_ARP_CONTROL, vec![2]),
            (CIPHER_SUITE_COUNT, vec![2]),
            (CIPHER_SUITES, vec![0, 3, 17]),
            (BAD_PASSWORD_THRESHOLD, vec![1, 5, 6, 0, 0x2c, 1]),
        ] {
            p.0.insert(k, v);
        }
        assert_eq!(
            lan_print(&p),
            "BMC ARP Control         : ARP Responses Enabled, Gratuitous ARP Disabled\n\
             Gratituous ARP Intrvl   : 2.0 seconds\n\
             802.1q VLAN ID          : 42\n\
             RMCP+ Cipher Suites     : 3,17\n\
             Cipher Suite Priv Max   : Not Available\n\
             Bad Password Threshold  : 5\n\
             Invalid password disable: yes\n\
             Attempt Count Reset Int.: 60\n\
             User Lockout Interval   : 3000\n"
        );
    }

    #[test]
    fn sel_lines() {
        let rec = SelRecord::parse(&[
            0x02, 0x00, 0x02, 0x77, 0x0c, 0x00, 0x00, 0x20, 0x00, 0x04, 0x01, 0x01, 0x01, 0x59,
            0x5a, 0x5a,
        ])
        .unwrap();
        assert_eq!(
            sel_list(&[rec]),
            "   2 |  Pre-Init  |0000003191| Temperature #0x01 | Upper Critical going high | Asserted\n"
        );
        assert_eq!(sel_list(&[]), "SEL has no entries\n");
    }
}
