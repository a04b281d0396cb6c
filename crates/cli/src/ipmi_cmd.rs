//! `ironrack ipmi`: an ipmitool-compatible front end to ironrack-ipmi.
//!
//! Same options (`-H -p -U -P -E -C -L -k -N -R`) and command words, same
//! output text (see [`format`]), plus `--json` and a fan-out over a host
//! file (`--hosts FILE`, one output line per host line, prefixed by host).

mod format;
mod sol;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use ironrack_ipmi::cmd::Raw;
use ironrack_ipmi::cmd::sdr::{GetSensorReading, SdrRecord};
use ironrack_ipmi::wire::{NetFn, Request};
use ironrack_ipmi::{BootDevice, BootFlags, ChassisControl, Config, Privilege, Session};
use serde_json::{Value, json};

use format::{SdrRow, Sensor};

#[derive(clap::Args, Debug)]
#[command(
    about = "Talk IPMI to a BMC with ipmitool's options, commands and output",
    after_help = "Commands: power status|on|off|soft|reset|cycle, chassis status, \
                  chassis bootdev none|pxe|disk|safe|diag|cdrom|bios [options=efiboot,persistent], \
                  mc info, sdr list [all|full|compact|event|mcloc|fru|generic], sensor list, \
                  sel list|clear, fru print, lan print, \
                  sol activate|deactivate (~. quits)"
)]
pub struct IpmiArgs {
    /// BMC host name or address.
    #[arg(short = 'H', long = "host", required_unless_present = "hosts")]
    host: Option<String>,
    /// UDP port of the BMC.
    #[arg(short = 'p', long = "port", default_value_t = 623)]
    port: u16,
    /// User name (shared by all hosts of --hosts unless a line names one).
    #[arg(short = 'U', long = "user")]
    user: Option<String>,
    /// Password (visible in `ps`; prefer -E).
    #[arg(short = 'P', long = "password", conflicts_with = "env_password")]
    password: Option<String>,
    /// Read the password from the IPMI_PASSWORD environment variable.
    #[arg(short = 'E')]
    env_password: bool,
    /// Cipher suite (3 or 17 usually); default: the strongest the BMC offers.
    #[arg(short = 'C', long = "cipher-suite")]
    cipher_suite: Option<u8>,
    /// Privilege level: ADMINISTRATOR, OPERATOR or USER.
    #[arg(short = 'L', long = "privilege", default_value = "ADMINISTRATOR")]
    privilege: String,
    /// BMC key Kg (two-key login).
    #[arg(short = 'k')]
    kg: Option<String>,
    /// Interface: only `lanplus` (accepted for ipmitool compatibility).
    #[arg(short = 'I', default_value = "lanplus")]
    interface: String,
    /// Seconds to wait before the first retransmit.
    #[arg(short = 'N', default_value_t = 1.0)]
    timeout: f64,
    /// Transmissions per request.
    #[arg(short = 'R', default_value_t = 4)]
    retries: u32,
    /// Print JSON instead of ipmitool's text (one object per host).
    #[arg(long)]
    json: bool,
    /// Run the command on every BMC of FILE: lines `host[:port] [user pass]`.
    #[arg(long, value_name = "FILE")]
    hosts: Option<PathBuf>,
    /// With --hosts: run the command N times over the same sessions (one
    /// login per host, a few shared UDP sockets), print the last round's
    /// results and each round's wall and CPU time on stderr. Shows what a
    /// long-running agent pays per round once its sessions are open.
    #[arg(long, value_name = "N", default_value_t = 1, requires = "hosts")]
    rounds: u32,
    /// The ipmitool command words, e.g. `power status`.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

/// A parsed command line.
#[derive(Debug, Clone, PartialEq)]
enum Cmd {
    PowerStatus,
    Power(ChassisControl),
    ChassisStatus,
    Bootdev(BootFlags),
    McInfo,
    /// `sdr list [all|full|compact|event|mcloc|fru|generic]`: record types
    /// shown, `None` for ipmitool's default (full and compact sensors).
    SdrList(Option<u8>),
    SensorList,
    SelList,
    SelClear,
    FruPrint,
    LanPrint,
    SolActivate,
    SolDeactivate,
}

fn parse_cmd(words: &[String]) -> anyhow::Result<Cmd> {
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    // "chassis power X" is the long form of "power X".
    let w = match w.as_slice() {
        ["chassis", "power", rest @ ..] => [&["power"], rest].concat(),
        _ => w,
    };
    Ok(match w.as_slice() {
        ["power", "status"] => Cmd::PowerStatus,
        ["power", "on" | "up"] => Cmd::Power(ChassisControl::PowerOn),
        ["power", "off" | "down"] => Cmd::Power(ChassisControl::PowerOff),
        ["power", "cycle"] => Cmd::Power(ChassisControl::PowerCycle),
        ["power", "reset"] => Cmd::Power(ChassisControl::HardReset),
        ["power", "soft"] => Cmd::Power(ChassisControl::SoftOff),
        ["power", "diag"] => Cmd::Power(ChassisControl::Diag),
        ["chassis", "status"] => Cmd::ChassisStatus,
        ["chassis", "bootdev", dev, opts @ ..] => Cmd::Bootdev(parse_bootdev(dev, opts)?),
        ["mc", "info"] => Cmd::McInfo,
        ["sdr"] | ["sdr", "list"] => Cmd::SdrList(None),
        ["sdr", "list", kind] => Cmd::SdrList(Some(match *kind {
            "all" => 0xFF,
            "full" => 0x01,
            "compact" => 0x02,
            "event" => 0x03,
            "generic" => 0x10,
            "fru" => 0x11,
            "mcloc" => 0x12,
            other => bail!(
                "unknown SDR record kind `{other}`: all, full, compact, event, mcloc, fru, generic"
            ),
        })),
        ["sensor"] | ["sensor", "list"] => Cmd::SensorList,
        ["sel", "list"] => Cmd::SelList,
        ["sel", "clear"] => Cmd::SelClear,
        ["fru"] | ["fru", "print"] => Cmd::FruPrint,
        ["lan", "print"] | ["lan", "print", _] => Cmd::LanPrint,
        ["sol", "activate"] => Cmd::SolActivate,
        ["sol", "deactivate"] => Cmd::SolDeactivate,
        _ => bail!(
            "unsupported command `{}` (see `ironrack ipmi --help`)",
            words.join(" ")
        ),
    })
}

fn parse_bootdev(dev: &str, opts: &[&str]) -> anyhow::Result<BootFlags> {
    let device = match dev {
        "none" => BootDevice::None,
        "pxe" => BootDevice::Pxe,
        "disk" => BootDevice::Disk,
        "safe" => BootDevice::Safe,
        "diag" => BootDevice::Diag,
        "cdrom" => BootDevice::Cdrom,
        "bios" => BootDevice::Bios,
        "floppy" => BootDevice::Floppy,
        other => {
            bail!("unknown boot device `{other}`: none, pxe, disk, safe, diag, cdrom, bios, floppy")
        }
    };
    let (mut efi, mut persistent) = (false, false);
    for o in opts {
        let list = o
            .strip_prefix("options=")
            .ok_or_else(|| anyhow!("expected options=efiboot,persistent, not `{o}`"))?;
        for opt in list.split(',').filter(|s| !s.is_empty()) {
            match opt {
                "efiboot" => efi = true,
                "persistent" => persistent = true,
                other => bail!("unknown bootdev option `{other}`: efiboot, persistent"),
            }
        }
    }
    Ok(BootFlags::new(device, efi, persistent))
}

fn parse_privilege(s: &str) -> anyhow::Result<Privilege> {
    Ok(match s.to_ascii_uppercase().as_str() {
        "ADMINISTRATOR" | "ADMIN" => Privilege::Administrator,
        "OPERATOR" => Privilege::Operator,
        "USER" => Privilege::User,
        "CALLBACK" => Privilege::Callback,
        other => bail!("unknown privilege level `{other}`"),
    })
}

/// One BMC to talk to.
#[derive(Debug, Clone, PartialEq)]
struct Target {
    label: String,
    host: String,
    port: u16,
    user: String,
    password: String,
}

/// Parse a hosts file: `host[:port] [user pass]` per line; `#` comments.
fn parse_hosts(
    text: &str,
    default_port: u16,
    user: Option<&str>,
    password: Option<&str>,
) -> anyhow::Result<Vec<Target>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        let (u, p) = match f.as_slice() {
            [_] => (
                user.ok_or_else(|| anyhow!("line {}: no user (give -U)", n + 1))?,
                password.ok_or_else(|| anyhow!("line {}: no password (give -P or -E)", n + 1))?,
            ),
            [_, u, p] => (*u, *p),
            _ => bail!("line {}: expected `host[:port] [user password]`", n + 1),
        };
        let (host, port) =
            split_host_port(f[0], default_port).with_context(|| format!("line {}", n + 1))?;
        out.push(Target {
            label: f[0].to_string(),
            host,
            port,
            user: u.to_string(),
            password: p.to_string(),
        });
    }
    if out.is_empty() {
        bail!("no hosts in the hosts file");
    }
    Ok(out)
}

/// `host`, `host:port`, `[v6]:port` or a bare IPv6 address.
fn split_host_port(s: &str, default_port: u16) -> anyhow::Result<(String, u16)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (h, p) = rest
            .split_once(']')
            .ok_or_else(|| anyhow!("bad address `{s}`"))?;
        let port = match p.strip_prefix(':') {
            Some(p) => p.parse().with_context(|| format!("bad port in `{s}`"))?,
            None => default_port,
        };
        return Ok((h.to_string(), port));
    }
    match s.split_once(':') {
        Some((h, p)) if !p.contains(':') => Ok((
            h.to_string(),
            p.parse().with_context(|| format!("bad port in `{s}`"))?,
        )),
        _ => Ok((s.to_string(), default_port)),
    }
}

/// Text and JSON results of one command.
struct Output {
    text: String,
    json: Value,
}

async fn sensors(s: &mut Session) -> Result<Vec<Sensor>, ironrack_ipmi::Error> {
    Ok(sdr_rows(s, None)
        .await?
        .into_iter()
        .filter_map(|r| match r {
            SdrRow::Sensor(x) => Some(x),
            SdrRow::Device(_) => None,
        })
        .collect())
}

/// The SDR repository's records of type `kind` (0xFF: every type `sdr
/// list all` prints; `None`: full and compact sensors) in repository
/// order, sensors with their readings.
async fn sdr_rows(s: &mut Session, kind: Option<u8>) -> Result<Vec<SdrRow>, ironrack_ipmi::Error> {
    let mut out = Vec::new();
    for rec in s.sdr_list().await? {
        let record_type = match &rec {
            SdrRecord::Full { .. } => 0x01,
            SdrRecord::Compact { .. } => 0x02,
            SdrRecord::Other { record_type, .. } => *record_type,
        };
        let wanted = match kind {
            None => record_type <= 0x02,
            Some(0xFF) => true,
            Some(k) => k == record_type,
        };
        if !wanted {
            continue;
        }
        let Some(c) = rec.sensor() else {
            out.extend(rec.device().map(SdrRow::Device));
            continue;
        };
        // Sensors owned by other controllers need bridging (not done).
        let local = c.owner_id == ironrack_ipmi::wire::BMC_ADDR && c.owner_lun == 0;
        let reading = if local {
            match s.exec(&GetSensorReading(c.number)).await {
                Ok(r) => Some(r),
                Err(ironrack_ipmi::Error::CompletionCode { .. }) => None,
                Err(e) => return Err(e),
            }
        } else {
            None
        };
        let threshold = c.event_reading_type == 0x01;
        let (full, conversion) = match &rec {
            SdrRecord::Full { conversion, .. } if c.units.analog_format != 3 => {
                (true, Some((*conversion, c.units.analog_format)))
            }
            SdrRecord::Full { .. } => (true, None),
            _ => (false, None),
        };
        let thresholds = if threshold && local {
            // Get Sensor Thresholds (35.9): readable mask + six values.
            let req = Request::new(NetFn::SENSOR_EVENT, 0x27, vec![c.number]);
            s.exec(&Raw(req))
                .await
                .ok()
                .and_then(|d| <[u8; 7]>::try_from(d.get(..7)?).ok())
        } else {
            None
        };
        out.push(SdrRow::Sensor(Sensor {
            name: c.name.clone(),
            number: c.number,
            sensor_type: c.sensor_type,
            threshold,
            full,
            unit: if threshold || conversion.is_some() {
                c.units.name()
            } else {
                "discrete".into()
            },
            conversion,
            reading,
            thresholds,
        }));
    }
    Ok(out)
}

fn sensors_json(list: &[Sensor]) -> Value {
    Value::Array(
        list.iter()
            .map(|s| {
                json!({
                    "name": s.name,
                    "number": s.number,
                    "type": format::sensor_type_name(s.sensor_type),
                    "value": s.value(),
                    "unit": s.unit,
                    "raw": s.reading.map(|r| r.raw),
                    "state": s.reading.map(|r| r.state),
                    "status": s.status(),
                })
            })
            .collect(),
    )
}

/// Run one non-interactive command on an open session.
async fn execute(s: &mut Session, cmd: &Cmd) -> Result<Output, ironrack_ipmi::Error> {
    Ok(match cmd {
        Cmd::PowerStatus => {
            let on = s.chassis_status().await?.power_on;
            Output {
                text: format::power_status(on),
                json: json!({ "power": if on { "on" } else { "off" } }),
            }
        }
        Cmd::Power(c) => {
            s.chassis_control(*c).await?;
            Output {
                text: format::power_control(*c),
                json: json!({ "control": format::power_control(*c).trim_end().rsplit(": ").next() }),
            }
        }
        Cmd::ChassisStatus => {
            let st = s.chassis_status().await?;
            Output {
                text: format::chassis_status(&st),
                json: json!({
                    "power": if st.power_on { "on" } else { "off" },
                    "power_overload": st.power_overload,
                    "interlock": st.interlock,
                    "power_fault": st.power_fault,
                    "control_fault": st.control_fault,
                    "restore_policy": format!("{:?}", st.restore_policy),
                    "last_power_event": st.last_power_event,
                    "intrusion": st.intrusion,
                    "front_panel_lockout": st.front_panel_lockout,
                    "drive_fault": st.drive_fault,
                    "cooling_fault": st.cooling_fault,
                }),
            }
        }
        Cmd::Bootdev(f) => {
            s.set_boot_device(*f).await?;
            let name = format!("{:?}", f.device).to_ascii_lowercase();
            Output {
                text: format!("Set Boot Device to {name}\n"),
                json: json!({ "bootdev": name, "efiboot": f.efi, "persistent": f.persistent }),
            }
        }
        Cmd::McInfo => {
            let d = s.get_device_id().await?;
            Output {
                text: format::mc_info(&d),
                json: json!({
                    "device_id": d.device_id,
                    "device_revision": d.device_revision,
                    "firmware": d.firmware(),
                    "ipmi_version": format!("{}.{}", d.ipmi_version.0, d.ipmi_version.1),
                    "manufacturer_id": d.manufacturer_id,
                    "product_id": d.product_id,
                    "device_available": d.device_available,
                    "provides_sdrs": d.provides_sdrs,
                }),
            }
        }
        Cmd::SdrList(kind) => {
            let rows = sdr_rows(s, *kind).await?;
            let list: Vec<Sensor> = rows
                .iter()
                .filter_map(|r| match r {
                    SdrRow::Sensor(x) => Some(x.clone()),
                    SdrRow::Device(_) => None,
                })
                .collect();
            Output {
                text: format::sdr_list(&rows),
                json: sensors_json(&list),
            }
        }
        Cmd::SensorList => {
            let list = sensors(s).await?;
            Output {
                text: format::sensor_list(&list),
                json: sensors_json(&list),
            }
        }
        Cmd::SelList => {
            let recs = s.sel_list().await?;
            let text = format::sel_list(&recs);
            let json = Value::Array(
                text.lines()
                    .filter(|l| l.contains(" | "))
                    .zip(&recs)
                    .map(|(l, r)| json!({ "id": r.record_id, "type": r.record_type, "text": l }))
                    .collect(),
            );
            Output { text, json }
        }
        Cmd::SelClear => {
            s.sel_clear().await?;
            Output {
                text: "Clearing SEL.  Please allow a few seconds to erase.\n".into(),
                json: json!({ "cleared": true }),
            }
        }
        Cmd::FruPrint => {
            let f = s.fru().await?;
            let text = format::fru_print(&f);
            let json = Value::Object(
                text.lines()
                    .filter_map(|l| l.split_once(" : ").or_else(|| l.split_once(": ")))
                    .map(|(k, v)| (k.trim().to_string(), Value::String(v.trim().to_string())))
                    .collect(),
            );
            Output { text, json }
        }
        Cmd::LanPrint => {
            let p = s.lan_params(&format::LAN_PRINT_PARAMS).await?;
            let l = p.config()?;
            Output {
                text: format::lan_print(&p),
                json: json!({
                    "ip": l.ip.to_string(),
                    "netmask": l.netmask.to_string(),
                    "gateway": l.gateway.to_string(),
                    "mac": l.mac_string(),
                    "ip_source": format!("{:?}", l.ip_source),
                }),
            }
        }
        Cmd::SolDeactivate => {
            s.sol_deactivate(1).await?;
            Output {
                text: String::new(),
                json: json!({ "sol": "deactivated" }),
            }
        }
        // Interactive: `run` hands it to `sol::activate` instead.
        Cmd::SolActivate => {
            return Err(ironrack_ipmi::Error::Config(
                "sol activate needs a terminal session (-H)".into(),
            ));
        }
    })
}

impl IpmiArgs {
    fn config(&self, host: &str, port: u16, user: &str, password: &str) -> anyhow::Result<Config> {
        let mut cfg = Config::new(host, user, password)
            .port(port)
            .privilege(parse_privilege(&self.privilege)?)
            .timeout(Duration::from_secs_f64(self.timeout.clamp(0.05, 60.0)))
            .tries(self.retries);
        if let Some(id) = self.cipher_suite {
            cfg = cfg.cipher_suite(id);
        }
        if let Some(kg) = &self.kg {
            cfg = cfg.kg(kg);
        }
        Ok(cfg)
    }

    fn password(&self) -> anyhow::Result<Option<String>> {
        if self.env_password {
            return std::env::var("IPMI_PASSWORD")
                .map(Some)
                .map_err(|_| anyhow!("-E given but IPMI_PASSWORD is not set"));
        }
        Ok(self.password.clone())
    }
}

async fn one(cfg: Config, cmd: &Cmd) -> Result<Output, ironrack_ipmi::Error> {
    let mut s = Session::connect(cfg).await?;
    let out = execute(&mut s, cmd).await;
    // Close politely; the command's error matters more than close's.
    let closed = s.close().await;
    let out = out?;
    closed.map(|_| out)
}

pub async fn run(args: IpmiArgs) -> anyhow::Result<()> {
    if args.interface != "lanplus" {
        bail!("only the lanplus interface (IPMI 2.0 / RMCP+) is supported");
    }
    let cmd = parse_cmd(&args.command)?;
    let password = args.password()?;
    if let Some(file) = &args.hosts {
        if cmd == Cmd::SolActivate {
            bail!("sol activate is interactive: use -H, not --hosts");
        }
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let targets = parse_hosts(&text, args.port, args.user.as_deref(), password.as_deref())?;
        if args.rounds > 1 {
            return fan_out_rounds(&args, targets, cmd).await;
        }
        return fan_out(&args, targets, cmd).await;
    }
    let host = args.host.clone().unwrap_or_default();
    let user = args.user.clone().unwrap_or_default();
    let password = password.ok_or_else(|| anyhow!("no password: give -P PASSWORD or -E"))?;
    let cfg = args.config(&host, args.port, &user, &password)?;
    if cmd == Cmd::SolActivate {
        return sol::activate(cfg).await;
    }
    let out = one(cfg, &cmd)
        .await
        .with_context(|| format!("{host}:{}", args.port))?;
    if args.json {
        println!("{}", out.json);
    } else {
        print!("{}", out.text);
    }
    Ok(())
}

/// Run `cmd` on every target (64 at a time) and print results in file
/// order: each output line prefixed with `label: `, or one JSON object per
/// host with `--json`.
async fn fan_out(args: &IpmiArgs, targets: Vec<Target>, cmd: Cmd) -> anyhow::Result<()> {
    let slots = Arc::new(tokio::sync::Semaphore::new(64));
    let cmd = Arc::new(cmd);
    let mut tasks = Vec::new();
    for t in &targets {
        let cfg = args.config(&t.host, t.port, &t.user, &t.password)?;
        let (slots, cmd) = (slots.clone(), cmd.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = slots.acquire_owned().await;
            one(cfg, &cmd).await
        }));
    }
    let mut failed = 0;
    for (t, task) in targets.iter().zip(tasks) {
        let result = task
            .await
            .unwrap_or_else(|e| Err(ironrack_ipmi::Error::Io(std::io::Error::other(e))));
        match (result, args.json) {
            (Ok(o), true) => println!(
                "{}",
                json!({ "host": t.label, "ok": true, "result": o.json })
            ),
            (Ok(o), false) => {
                for line in o.text.lines() {
                    println!("{}: {line}", t.label);
                }
            }
            (Err(e), json) => {
                failed += 1;
                if json {
                    println!(
                        "{}",
                        json!({ "host": t.label, "ok": false, "error": e.to_string() })
                    );
                } else {
                    println!("{}: Error: {e}", t.label);
                }
            }
        }
    }
    if failed > 0 {
        bail!("{failed} of {} hosts failed", targets.len());
    }
    Ok(())
}

/// `--rounds N`: every host's session is opened once on a shared engine and
/// reused by each round; round 1 includes the logins (cold), the others
/// do not (warm).
async fn fan_out_rounds(args: &IpmiArgs, targets: Vec<Target>, cmd: Cmd) -> anyhow::Result<()> {
    let engine = Arc::new(
        ironrack_ipmi::Engine::bind(std::net::Ipv4Addr::UNSPECIFIED.into(), 4)
            .await
            .context("binding the UDP sockets")?,
    );
    let slots = Arc::new(tokio::sync::Semaphore::new(64));
    let cmd = Arc::new(cmd);
    let mut sessions: Vec<Option<Session>> = targets.iter().map(|_| None).collect();
    let mut last: Vec<Result<Output, String>> = Vec::new();
    for round in 1..=args.rounds {
        let (t0, cpu0) = (std::time::Instant::now(), process_cpu());
        let mut tasks = Vec::new();
        for (t, slot) in targets.iter().zip(sessions.iter_mut()) {
            let cfg = args.config(&t.host, t.port, &t.user, &t.password)?;
            let (slots, cmd, engine, session) =
                (slots.clone(), cmd.clone(), engine.clone(), slot.take());
            tasks.push(tokio::spawn(async move {
                let _permit = slots.acquire_owned().await;
                let mut s = match session {
                    Some(s) => s,
                    None => engine
                        .connect(cfg)
                        .await
                        .map_err(|e| (None, e.to_string()))?,
                };
                match execute(&mut s, &cmd).await {
                    Ok(out) => Ok((s, out)),
                    Err(e) => Err((Some(s), e.to_string())),
                }
            }));
        }
        last.clear();
        for (task, slot) in tasks.into_iter().zip(sessions.iter_mut()) {
            match task.await {
                Ok(Ok((s, out))) => {
                    *slot = Some(s);
                    last.push(Ok(out));
                }
                Ok(Err((s, e))) => {
                    *slot = s;
                    last.push(Err(e));
                }
                Err(e) => last.push(Err(e.to_string())),
            }
        }
        let failed = last.iter().filter(|r| r.is_err()).count();
        eprintln!(
            "round {round}: {} hosts, {failed} failed, {:.1} ms wall, {} ms CPU, {} open sessions, RSS {:.1} MB",
            targets.len(),
            t0.elapsed().as_secs_f64() * 1000.0,
            process_cpu().saturating_sub(cpu0).as_millis(),
            sessions.iter().flatten().count(),
            resident_kib() as f64 / 1024.0
        );
    }
    for s in sessions.into_iter().flatten() {
        let _ = s.close().await;
    }
    let mut failed = 0;
    for (t, r) in targets.iter().zip(last) {
        match r {
            Ok(o) if args.json => println!(
                "{}",
                json!({ "host": t.label, "ok": true, "result": o.json })
            ),
            Ok(o) => o.text.lines().for_each(|l| println!("{}: {l}", t.label)),
            Err(e) => {
                failed += 1;
                if args.json {
                    println!("{}", json!({ "host": t.label, "ok": false, "error": e }));
                } else {
                    println!("{}: Error: {e}", t.label);
                }
            }
        }
    }
    if failed > 0 {
        bail!("{failed} of {} hosts failed", targets.len());
    }
    Ok(())
}

/// User + system CPU time of this process so far (from /proc; Linux's
/// USER_HZ is 100 on every architecture we ship for).
/// This process's resident memory (VmRSS), in KiB; 0 where unknown.
fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

fn process_cpu() -> std::time::Duration {
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            // Fields after the command name, which is in parentheses.
            let rest = stat.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0);
    std::time::Duration::from_millis(ticks * 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn commands_parse_like_ipmitool() {
        assert_eq!(parse_cmd(&words("power status")).unwrap(), Cmd::PowerStatus);
        assert_eq!(
            parse_cmd(&words("chassis power on")).unwrap(),
            Cmd::Power(ChassisControl::PowerOn)
        );
        assert_eq!(
            parse_cmd(&words("chassis bootdev pxe options=efiboot,persistent")).unwrap(),
            Cmd::Bootdev(BootFlags::new(BootDevice::Pxe, true, true))
        );
        assert!(parse_cmd(&words("chassis bootdev usb")).is_err());
        assert!(parse_cmd(&words("raw 0 1")).is_err());
    }

    #[test]
    fn hosts_file() {
        let t = parse_hosts(
            "# rack 1\n10.0.0.1\n10.0.0.2:1623 root calvin\n\n[::1]:9 a b\n",
            623,
            Some("ADMIN"),
            Some("pw"),
        )
        .unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!((t[0].port, t[0].user.as_str()), (623, "ADMIN"));
        assert_eq!(
            (t[1].host.as_str(), t[1].port, t[1].password.as_str()),
            ("10.0.0.2", 1623, "calvin")
        );
        assert_eq!((t[2].host.as_str(), t[2].port), ("::1", 9));
        assert!(parse_hosts("10.0.0.1\n", 623, None, None).is_err());
        assert!(parse_hosts("h u\n", 623, None, None).is_err());
    }
}
