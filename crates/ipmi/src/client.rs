//! Thin tokio driver around the sans-IO session: one UDP socket per session,
//! timeouts with exponential backoff, retransmits.
//!
//! The driver only moves datagrams; every protocol decision lives in
//! [`crate::session`]. A later multi-session engine can feed the same
//! [`SessionCore`]s from a few shared sockets, demultiplexed by
//! [`crate::wire::peek_session_id`] (our console session id).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::Instant;

use crate::cmd::app::{BmcReset, DeviceId, GetDeviceId};
use crate::cmd::chassis::{
    BootFlags, ChassisControl, ChassisStatus, GetBootFlags, GetChassisStatus, SetBootFlags,
};
use crate::cmd::fru::{Fru, GetFruInventoryAreaInfo, ReadFruData};
use crate::cmd::lan::{self, GetLanConfig, LanConfig};
use crate::cmd::sdr::{
    self, GetSdr, GetSensorReading, LAST_RECORD, ReserveSdrRepository, SDR_HEADER_LEN, SdrRecord,
};
use crate::cmd::sel::{ClearSel, GetSelEntry, GetSelInfo, ReserveSel, SelRecord};
use crate::cmd::{Command, Raw};
use crate::config::{Config, Privilege};
use crate::crypto::CipherSuite;
use crate::error::{Error, completion_code_name};
use crate::session::{Handshake, HandshakeEvent, SessionCore};
use crate::wire::{self, PayloadType, Request, Response};

/// Upper bound on records walked in an SDR or SEL list, so a BMC whose
/// "next record id" chain loops cannot hang us.
const MAX_RECORDS: usize = 4096;

/// One step of a request/response exchange, retransmitted until it yields.
trait Exchange {
    type Out;
    /// The datagram for transmission number `attempt` (0-based).
    fn packet(&mut self, attempt: u32) -> Vec<u8>;
    /// `Ok(None)`: not the answer, keep waiting.
    fn receive(&mut self, dg: &[u8]) -> Result<Option<Self::Out>, Error>;
}

/// How datagrams reach one BMC.
#[derive(Debug)]
pub(crate) enum Transport {
    /// A socket of its own, connected to the BMC.
    Dedicated(UdpSocket),
    /// A socket shared through an [`crate::Engine`].
    Shared(crate::engine::Route),
}

/// The path to one BMC plus the retry policy.
#[derive(Debug)]
pub(crate) struct Link {
    transport: Transport,
    peer: SocketAddr,
    timeout: Duration,
    tries: u32,
}

/// Resolve the BMC's address (first one returned).
pub(crate) async fn resolve(cfg: &Config) -> Result<SocketAddr, Error> {
    tokio::net::lookup_host((cfg.host.as_str(), cfg.port))
        .await
        .map_err(|e| Error::Unreachable {
            reason: format!("cannot resolve {}: {e}", cfg.host),
        })?
        .next()
        .ok_or_else(|| Error::Unreachable {
            reason: format!("{} has no address", cfg.host),
        })
}

impl Link {
    pub(crate) fn new(transport: Transport, peer: SocketAddr, cfg: &Config) -> Link {
        Link {
            transport,
            peer,
            timeout: cfg.timeout,
            tries: cfg.tries.max(1),
        }
    }

    async fn open(cfg: &Config) -> Result<Link, Error> {
        let peer = resolve(cfg).await?;
        let local: SocketAddr = if peer.is_ipv4() {
            (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let sock = UdpSocket::bind(local).await?;
        // Connecting filters out datagrams from other hosts and surfaces
        // ICMP port-unreachable as ECONNREFUSED.
        sock.connect(peer).await.map_err(|e| Error::Unreachable {
            reason: format!("{peer}: {e}"),
        })?;
        Ok(Link::new(Transport::Dedicated(sock), peer, cfg))
    }

    async fn send(&self, pkt: &[u8]) -> std::io::Result<()> {
        match &self.transport {
            Transport::Dedicated(s) => s.send(pkt).await.map(|_| ()),
            Transport::Shared(r) => r.send(pkt, self.peer).await,
        }
    }

    /// Best effort, never blocks (used from `Drop`).
    fn try_send(&self, pkt: &[u8]) {
        let _ = match &self.transport {
            Transport::Dedicated(s) => s.try_send(pkt),
            Transport::Shared(r) => r.try_send(pkt, self.peer),
        };
    }

    async fn recv(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match &mut self.transport {
            Transport::Dedicated(s) => s.recv(buf).await,
            Transport::Shared(r) => r.recv(buf).await,
        }
    }

    fn io_error(&self, e: std::io::Error) -> Error {
        if e.kind() == std::io::ErrorKind::ConnectionRefused {
            Error::Unreachable {
                reason: format!("{}: port unreachable", self.peer),
            }
        } else {
            Error::Io(e)
        }
    }

    /// Send, wait, retransmit with backoff (timeout x1, x2, x4, x4...).
    async fn run<E: Exchange>(&mut self, ex: &mut E) -> Result<E::Out, Error> {
        self.run_tries(ex, self.tries).await
    }

    async fn run_tries<E: Exchange>(&mut self, ex: &mut E, tries: u32) -> Result<E::Out, Error> {
        let mut buf = vec![0u8; 2048];
        let mut refused = 0u32;
        for attempt in 0..tries {
            let wait = self.timeout * (1u32 << attempt.min(2));
            let deadline = Instant::now() + wait;
            let pkt = ex.packet(attempt);
            if attempt > 0 {
                tracing::debug!(peer = %self.peer, attempt, "retransmit");
            }
            match self.send(&pkt).await {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    refused += 1;
                    tokio::time::sleep_until(deadline).await;
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
            loop {
                match tokio::time::timeout_at(deadline, self.recv(&mut buf)).await {
                    Err(_) => break, // this attempt timed out
                    Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                        refused += 1;
                        tokio::time::sleep_until(deadline).await;
                        break;
                    }
                    Ok(Err(e)) => return Err(e.into()),
                    Ok(Ok(n)) => {
                        let dg = buf.get(..n).unwrap_or_default();
                        if let Some(out) = ex.receive(dg)? {
                            return Ok(out);
                        }
                    }
                }
            }
        }
        if refused > 0 {
            Err(Error::Unreachable {
                reason: format!(
                    "{}: port unreachable ({refused} of {tries} tries refused)",
                    self.peer
                ),
            })
        } else {
            Err(Error::Timeout { tries })
        }
    }
}

struct HandshakeStep<'a>(&'a mut Handshake);

enum HsOut {
    Progress,
    Established(Box<SessionCore>),
}

impl Exchange for HandshakeStep<'_> {
    type Out = HsOut;
    fn packet(&mut self, _: u32) -> Vec<u8> {
        self.0.transmit().to_vec()
    }
    fn receive(&mut self, dg: &[u8]) -> Result<Option<HsOut>, Error> {
        Ok(match self.0.handle(dg)? {
            HandshakeEvent::Ignored => {
                tracing::debug!(
                    step = self.0.step_name(),
                    len = dg.len(),
                    "unexpected datagram ignored"
                );
                None
            }
            HandshakeEvent::Progress => Some(HsOut::Progress),
            HandshakeEvent::Established(core) => Some(HsOut::Established(core)),
        })
    }
}

struct RequestStep<'a> {
    core: &'a mut SessionCore,
    req: &'a Request,
    rq_seq: u8,
}

impl Exchange for RequestStep<'_> {
    type Out = Response;
    fn packet(&mut self, _: u32) -> Vec<u8> {
        // Same rqSeq on retransmit, fresh session sequence number.
        self.core.encode_request(self.req, self.rq_seq)
    }
    fn receive(&mut self, dg: &[u8]) -> Result<Option<Response>, Error> {
        match self.core.decode_response(dg) {
            Ok(r)
                if r.rq_seq == self.rq_seq
                    && r.cmd == self.req.cmd
                    && r.netfn == self.req.netfn.0 | 1 =>
            {
                Ok(Some(r))
            }
            Ok(r) => {
                tracing::debug!(rq_seq = r.rq_seq, cmd = r.cmd, "stale response dropped");
                Ok(None)
            }
            Err(e) => {
                tracing::debug!(error = %e, "datagram dropped");
                Ok(None)
            }
        }
    }
}

/// One value from [`Session::sensor_readings`].
#[derive(Debug, Clone, PartialEq)]
pub struct SensorValue {
    pub name: String,
    pub number: u8,
    pub sensor_type: u8,
    /// Converted reading for analog sensors with a full record.
    pub value: Option<f64>,
    /// Unit name ("degrees C", "Volts", "RPM"); "discrete" for state sensors.
    pub unit: String,
    pub raw: Option<u8>,
    /// Threshold or discrete state bits.
    pub state: u16,
    /// A threshold sensor (event/reading type 01h): `state` holds which
    /// thresholds the reading crosses.
    pub threshold: bool,
}

/// An authenticated RMCP+ session with one BMC.
///
/// Requests are sequential (`&mut self`). Call [`Session::close`] when done;
/// dropping a session sends one unacknowledged Close Session datagram, since
/// BMCs have only a handful of session slots.
#[derive(Debug)]
pub struct Session {
    link: Link,
    core: Box<SessionCore>,
    closed: bool,
}

impl Session {
    /// Log in: auth capabilities, cipher suite choice, Open Session, RAKP
    /// 1–4, then Set Session Privilege Level.
    pub async fn connect(cfg: Config) -> Result<Session, Error> {
        // Validate before touching the network.
        crate::session::validate(&cfg)?;
        let link = Link::open(&cfg).await?;
        let console_sid = loop {
            let v = rand::random::<u32>();
            if v != 0 {
                break v;
            }
        };
        Self::login(link, console_sid, cfg).await
    }

    /// Log in over an existing link with our session id `console_sid`.
    pub(crate) async fn login(
        mut link: Link,
        console_sid: u32,
        cfg: Config,
    ) -> Result<Session, Error> {
        let mut hs = Handshake::new(&cfg, console_sid)?;
        let core = loop {
            let step = hs.step_name();
            let tries = hs.step_tries(link.tries);
            match link.run_tries(&mut HandshakeStep(&mut hs), tries).await {
                Ok(HsOut::Progress) => {}
                Ok(HsOut::Established(core)) => break core,
                Err(Error::Timeout { .. }) if hs.on_timeout() => {}
                Err(e) => {
                    tracing::debug!(step, error = %e, "login failed");
                    if let Some(p) = hs.abort_packet() {
                        link.try_send(p);
                    }
                    return Err(e);
                }
            }
        };
        tracing::debug!(peer = %link.peer, suite = core.cipher_suite().id, "session established");
        let mut s = Session {
            link,
            core,
            closed: false,
        };
        if cfg.privilege > Privilege::User {
            let req = s.core.set_privilege_request();
            let granted = s.exec(&Raw(req)).await.map_err(|e| match e {
                Error::CompletionCode { code, name, .. } => Error::AuthenticationFailed {
                    reason: format!(
                        "cannot raise session to {:?}: completion code {code:#04x} ({name})",
                        cfg.privilege
                    ),
                },
                e => e,
            })?;
            // The answer carries the level now in force (22.18).
            let level = granted.first().map(|b| b & 0x0F).unwrap_or(0);
            if level < cfg.privilege.code() {
                return Err(Error::AuthenticationFailed {
                    reason: format!(
                        "BMC granted privilege level {level}, not {:?}",
                        cfg.privilege
                    ),
                });
            }
        }
        Ok(s)
    }

    /// The negotiated cipher suite.
    pub fn cipher_suite(&self) -> CipherSuite {
        self.core.cipher_suite()
    }

    // Raw access for drivers built on the session (SOL console).
    pub(crate) fn peer(&self) -> SocketAddr {
        self.link.peer
    }
    pub(crate) fn retry_policy(&self) -> (Duration, u32) {
        (self.link.timeout, self.link.tries)
    }
    pub(crate) fn seal(&mut self, pt: PayloadType, payload: &[u8]) -> Vec<u8> {
        self.core.seal(pt, payload)
    }
    pub(crate) fn open(&mut self, dg: &[u8]) -> Result<(PayloadType, Vec<u8>), wire::DecodeError> {
        self.core.open(dg)
    }
    pub(crate) fn next_rq_seq(&mut self) -> u8 {
        self.core.next_rq_seq()
    }
    pub(crate) fn encode_request(&mut self, req: &Request, rq_seq: u8) -> Vec<u8> {
        self.core.encode_request(req, rq_seq)
    }
    pub(crate) async fn send_raw(&self, pkt: &[u8]) -> Result<(), Error> {
        self.link.send(pkt).await.map_err(|e| self.link.io_error(e))
    }
    pub(crate) async fn recv_raw(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        match self.link.recv(buf).await {
            Ok(n) => Ok(n),
            Err(e) => Err(self.link.io_error(e)),
        }
    }

    /// Send a request and return the raw response, completion code included.
    pub async fn request(&mut self, req: &Request) -> Result<Response, Error> {
        if self.closed {
            return Err(Error::Closed);
        }
        let rq_seq = self.core.next_rq_seq();
        let mut step = RequestStep {
            core: &mut self.core,
            req,
            rq_seq,
        };
        self.link.run(&mut step).await
    }

    /// Run a typed command; a non-zero completion code becomes an error.
    pub async fn exec<C: Command>(&mut self, cmd: &C) -> Result<C::Output, Error> {
        let rsp = self.request(&cmd.request()).await?;
        if rsp.completion_code != 0 {
            let code = rsp.completion_code;
            return Err(Error::CompletionCode {
                command: C::NAME,
                code,
                name: cmd
                    .completion_code_name(code)
                    .unwrap_or_else(|| completion_code_name(code)),
            });
        }
        Ok(cmd.parse(&rsp.data)?)
    }

    pub async fn get_device_id(&mut self) -> Result<DeviceId, Error> {
        self.exec(&GetDeviceId).await
    }

    pub async fn chassis_status(&mut self) -> Result<ChassisStatus, Error> {
        self.exec(&GetChassisStatus).await
    }

    pub async fn chassis_control(&mut self, ctl: ChassisControl) -> Result<(), Error> {
        self.exec(&ctl).await
    }

    /// Boot override (boot flags parameter 5).
    pub async fn set_boot_device(&mut self, flags: BootFlags) -> Result<(), Error> {
        self.exec(&SetBootFlags(flags)).await
    }

    pub async fn boot_device(&mut self) -> Result<BootFlags, Error> {
        self.exec(&GetBootFlags).await
    }

    pub async fn bmc_reset(&mut self, kind: BmcReset) -> Result<(), Error> {
        self.exec(&kind).await
    }

    /// Read one SDR in chunks, re-reserving if the reservation is lost.
    async fn read_sdr(
        &mut self,
        reservation: &mut u16,
        id: u16,
        chunk: &mut u8,
    ) -> Result<(u16, Vec<u8>), Error> {
        let mut lost = 0;
        loop {
            match self.read_sdr_once(*reservation, id, chunk).await {
                Err(Error::CompletionCode { code: 0xC5, .. }) if lost < 3 => {
                    lost += 1;
                    *reservation = self.exec(&ReserveSdrRepository).await?;
                }
                r => return r,
            }
        }
    }

    async fn read_sdr_once(
        &mut self,
        reservation: u16,
        id: u16,
        chunk: &mut u8,
    ) -> Result<(u16, Vec<u8>), Error> {
        let hdr_cmd = GetSdr {
            reservation,
            record_id: id,
            offset: 0,
            count: SDR_HEADER_LEN as u8,
        };
        let (next, mut rec) = self.exec(&hdr_cmd).await?;
        let body_len = usize::from(*rec.get(4).ok_or(wire::DecodeError::Truncated {
            what: "SDR header",
            needed: 5usize.saturating_sub(rec.len()),
        })?);
        rec.truncate(SDR_HEADER_LEN);
        let total = SDR_HEADER_LEN + body_len;
        while rec.len() < total {
            let n = (total - rec.len()).min(usize::from(*chunk)) as u8;
            // Get SDR offsets are one byte; real records are < 100 bytes.
            let offset = u8::try_from(rec.len()).map_err(|_| wire::DecodeError::BadLength {
                what: "SDR record",
                len: total,
                available: 255,
            })?;
            let cmd = GetSdr {
                reservation,
                record_id: id,
                offset,
                count: n,
            };
            match self.exec(&cmd).await {
                Ok((_, b)) if !b.is_empty() => rec.extend_from_slice(&b),
                Ok(_) => {
                    return Err(wire::DecodeError::Truncated {
                        what: "SDR body",
                        needed: total - rec.len(),
                    }
                    .into());
                }
                // Too many bytes asked for this BMC's buffer: ask for fewer.
                Err(Error::CompletionCode {
                    code: 0xC7 | 0xC8 | 0xCA | 0xFF,
                    ..
                }) if *chunk > 8 => *chunk /= 2,
                Err(e) => return Err(e),
            }
        }
        Ok((next, rec))
    }

    /// Walk the SDR repository. Records that fail to parse are skipped
    /// with a warning.
    pub async fn sdr_list(&mut self) -> Result<Vec<SdrRecord>, Error> {
        let mut reservation = self.exec(&ReserveSdrRepository).await?;
        let mut chunk = 32u8;
        let mut id = 0u16;
        let mut out = Vec::new();
        while id != LAST_RECORD && out.len() < MAX_RECORDS {
            let (next, raw) = self.read_sdr(&mut reservation, id, &mut chunk).await?;
            match sdr::parse_sdr(&raw) {
                Ok(r) => out.push(r),
                Err(e) => tracing::warn!(record = id, error = %e, "bad SDR skipped"),
            }
            if next == id {
                break;
            }
            id = next;
        }
        Ok(out)
    }

    /// Every sensor in the SDR repository with its current reading.
    pub async fn sensor_readings(&mut self) -> Result<Vec<SensorValue>, Error> {
        let records = self.sdr_list().await?;
        let mut out = Vec::new();
        for rec in &records {
            let Some(common) = rec.sensor() else { continue };
            // Sensors owned by other controllers need IPMB bridging.
            let reading = if common.owner_id == wire::BMC_ADDR && common.owner_lun == 0 {
                match self.exec(&GetSensorReading(common.number)).await {
                    Ok(r) => Some(r),
                    Err(Error::CompletionCode { .. }) => None,
                    Err(e) => return Err(e),
                }
            } else {
                None
            };
            let reading = reading.filter(|r| !r.unavailable);
            let (value, unit) = match rec {
                SdrRecord::Full { conversion, .. } if common.units.analog_format != 3 => (
                    reading.and_then(|r| conversion.convert(r.raw, common.units.analog_format)),
                    common.units.name(),
                ),
                _ => (None, "discrete".to_string()),
            };
            out.push(SensorValue {
                name: common.name.clone(),
                number: common.number,
                sensor_type: common.sensor_type,
                value,
                unit,
                raw: reading.map(|r| r.raw),
                state: reading.map(|r| r.state).unwrap_or(0),
                threshold: common.event_reading_type == 0x01,
            });
        }
        Ok(out)
    }

    /// All SEL entries, oldest first.
    pub async fn sel_list(&mut self) -> Result<Vec<SelRecord>, Error> {
        let info = self.exec(&GetSelInfo).await?;
        let mut out = Vec::new();
        if info.entries == 0 {
            return Ok(out);
        }
        let mut id = 0u16;
        while id != LAST_RECORD && out.len() < MAX_RECORDS {
            let (next, rec) = self
                .exec(&GetSelEntry {
                    reservation: 0,
                    record_id: id,
                })
                .await?;
            out.push(rec);
            if next == id {
                break;
            }
            id = next;
        }
        Ok(out)
    }

    /// Erase the SEL and wait (up to ~5 s) for the BMC to finish.
    pub async fn sel_clear(&mut self) -> Result<(), Error> {
        let reservation = self.exec(&ReserveSel).await?;
        let mut done = self
            .exec(&ClearSel {
                reservation,
                initiate: true,
            })
            .await?;
        for _ in 0..50 {
            if done {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            done = self
                .exec(&ClearSel {
                    reservation,
                    initiate: false,
                })
                .await?;
        }
        Err(Error::Timeout { tries: 50 })
    }

    /// Raw FRU image of FRU device `device` (0 = the BMC's own FRU).
    pub async fn fru_data(&mut self, device: u8) -> Result<Vec<u8>, Error> {
        let info = self.exec(&GetFruInventoryAreaInfo(device)).await?;
        let unit = if info.by_words { 2 } else { 1 };
        let size = usize::from(info.size) * unit;
        let mut data = Vec::with_capacity(size);
        let mut chunk = 32usize;
        while data.len() < size {
            let n = (size - data.len()).min(chunk);
            let cmd = ReadFruData {
                device,
                offset: (data.len() / unit) as u16,
                count: (n / unit) as u8,
            };
            match self.exec(&cmd).await {
                Ok(b) if !b.is_empty() => data.extend_from_slice(&b),
                Ok(_) => break,
                Err(Error::CompletionCode {
                    code: 0xC7 | 0xC8 | 0xCA,
                    ..
                }) if chunk > 8 => chunk /= 2,
                Err(e) => return Err(e),
            }
        }
        Ok(data)
    }

    /// Parsed FRU inventory of device 0.
    pub async fn fru(&mut self) -> Result<Fru, Error> {
        let data = self.fru_data(0).await?;
        Ok(Fru::parse(&data)?)
    }

    /// IP, netmask, gateway, MAC and address source of the channel this
    /// session runs on.
    pub async fn lan_config(&mut self) -> Result<LanConfig, Error> {
        let mut get = async |param| {
            self.exec(&GetLanConfig {
                channel: lan::CURRENT_CHANNEL,
                param,
            })
            .await
        };
        let ip = lan::ipv4(&get(lan::param::IP_ADDRESS).await?)?;
        let mac = lan::mac(&get(lan::param::MAC_ADDRESS).await?)?;
        let netmask = lan::ipv4(&get(lan::param::SUBNET_MASK).await?)?;
        let gateway = lan::ipv4(&get(lan::param::DEFAULT_GATEWAY).await?)?;
        let ip_source = lan::ip_source(&get(lan::param::IP_SOURCE).await?)?;
        Ok(LanConfig {
            ip,
            netmask,
            gateway,
            mac,
            ip_source,
        })
    }

    /// Read LAN configuration parameters `params` of the channel this
    /// session runs on; those the BMC does not support are left out.
    pub async fn lan_params(&mut self, params: &[u8]) -> Result<lan::LanParams, Error> {
        let mut out = lan::LanParams::default();
        for &param in params {
            let got = self
                .exec(&GetLanConfig {
                    channel: lan::CURRENT_CHANNEL,
                    param,
                })
                .await;
            match got {
                Ok(data) => {
                    out.0.insert(param, data);
                }
                Err(Error::CompletionCode { code, .. }) if lan::is_unsupported_parameter(code) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Close the session on the BMC (22.19).
    pub async fn close(mut self) -> Result<(), Error> {
        let req = self.core.close_request();
        let r = self.exec(&Raw(req)).await.map(|_| ());
        self.closed = true;
        r
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        // Best effort, no runtime needed: try_send never blocks.
        let req = self.core.close_request();
        let seq = self.core.next_rq_seq();
        let pkt = self.core.encode_request(&req, seq);
        self.link.try_send(&pkt);
    }
}

/// ASF presence ping (13.2.3): is anything answering RMCP at this address?
pub async fn ping(host: &str, port: u16, timeout: Duration, tries: u32) -> Result<bool, Error> {
    let cfg = Config::new(host, "", "")
        .port(port)
        .timeout(timeout)
        .tries(tries);
    let mut link = Link::open(&cfg).await?;
    struct Ping;
    impl Exchange for Ping {
        type Out = bool;
        fn packet(&mut self, attempt: u32) -> Vec<u8> {
            wire::encode_asf_ping(attempt as u8)
        }
        fn receive(&mut self, dg: &[u8]) -> Result<Option<bool>, Error> {
            Ok(wire::decode_asf_pong(dg).ok().map(|p| p.ipmi_supported))
        }
    }
    link.run(&mut Ping).await
}
