//! The managed-system side of IPMI 2.0: a virtual BMC.
//!
//! [`Bmc`] is sans-IO like the client: feed it datagrams (and serial-port
//! bytes for SOL), it returns [`Action`]s (datagrams to send, serial writes).
//! It answers session setup as the managed system (Get Channel Auth
//! Capabilities 22.13, Get Channel Cipher Suites 22.15, Open Session 13.17,
//! RAKP 1–4 13.20–13.23) for cipher suites 17 and 3, then seals sessions with
//! the crate's own [`SessionCore`] and answers commands from an in-memory
//! [`Chassis`]. [`Server`] is the thin tokio UDP front end.

mod chassis;
mod server;
pub mod telnet;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use zeroize::Zeroizing;

use crate::config::Privilege;
use crate::crypto::CipherSuite;
use crate::session::SessionCore;
use crate::sol::{OPERATION_GENERATE_BREAK, PAYLOAD_SOL, SolState};
use crate::wire::{self, NetFn, PayloadType, Reader, Request, V2Header};

pub use chassis::Chassis;
pub use server::{Server, serve};

/// Suites this BMC offers, strongest first.
pub const SUITES: [u8; 2] = [17, 3];
/// Sessions idle this long are dropped (6.12.15: 60 s ± 3 s).
const SESSION_TIMEOUT: Duration = Duration::from_secs(60);
/// Half-open sessions (Open Session without RAKP 3) are dropped sooner.
const SETUP_TIMEOUT: Duration = Duration::from_secs(10);
/// Concurrent sessions, as small BMCs have.
const MAX_SESSIONS: usize = 16;
/// SOL payload size offered in Activate Payload (24.1).
const SOL_PAYLOAD_SIZE: u16 = 255;

/// The host's serial port for SOL: a TCP address, spoken raw or as a
/// telnet client (`telnet:HOST:PORT`, e.g. QEMU's `-serial telnet:...`; only
/// telnet can carry a serial break).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SerialPort {
    pub addr: SocketAddr,
    pub telnet: bool,
}

impl std::str::FromStr for SerialPort {
    type Err = String;
    /// `HOST:PORT`, `tcp:HOST:PORT` or `telnet:HOST:PORT` (HOST an IP).
    fn from_str(s: &str) -> Result<Self, String> {
        let (telnet, rest) = match s.split_once(':') {
            Some(("telnet", rest)) => (true, rest),
            Some(("tcp", rest)) => (false, rest),
            _ => (false, s),
        };
        let addr = rest.parse().map_err(|_| {
            format!("serial port {s:?}: expected [tcp:|telnet:]IP:PORT, e.g. telnet:127.0.0.1:7001")
        })?;
        Ok(SerialPort { addr, telnet })
    }
}

/// Who may log in and what the BMC offers.
#[derive(Clone)]
pub struct BmcConfig {
    pub user: String,
    pub password: Zeroizing<Vec<u8>>,
    /// BMC key for two-key logins (13.31); the password when `None`.
    pub kg: Option<Zeroizing<Vec<u8>>>,
    pub guid: [u8; 16],
    /// The host's serial port for SOL; SOL is disabled without one.
    pub serial: Option<SerialPort>,
}

impl BmcConfig {
    pub fn new(user: &str, password: &[u8]) -> Self {
        let mut guid = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut guid);
        BmcConfig {
            user: user.into(),
            password: Zeroizing::new(password.to_vec()),
            kg: None,
            guid,
            serial: None,
        }
    }
}

impl std::fmt::Debug for BmcConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BmcConfig")
            .field("user", &self.user)
            .field("serial", &self.serial)
            .finish_non_exhaustive()
    }
}

/// What the BMC wants done after an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send a datagram.
    Send(Vec<u8>, SocketAddr),
    /// Connect the serial port for SOL on session `sid`.
    SerialOpen { sid: u32 },
    /// Write console keystrokes to session `sid`'s serial port.
    SerialWrite { sid: u32, data: Vec<u8> },
    /// Send a line break on session `sid`'s serial port.
    SerialBreak { sid: u32 },
    /// Disconnect session `sid`'s serial port.
    SerialClose { sid: u32 },
}

/// A session between Open Session and RAKP 4.
struct Setup {
    suite: CipherSuite,
    console_sid: u32,
    peer: SocketAddr,
    started: Instant,
    /// Set once RAKP 1 arrived.
    rakp: Option<Rakp>,
}

/// What RAKP 1/2 fixed: both random numbers, the role byte, the user name.
#[derive(Clone)]
struct Rakp {
    rm: [u8; 16],
    rc: [u8; 16],
    role: u8,
    name: Vec<u8>,
}

/// An established session.
struct Active {
    core: SessionCore,
    peer: SocketAddr,
    last: Instant,
    /// Highest privilege RAKP 1 asked for; Set Session Privilege may go up
    /// to it (22.18).
    max_privilege: u8,
    privilege: u8,
    sol: Option<SolState>,
}

/// The virtual BMC's protocol state (no sockets).
pub struct Bmc {
    cfg: BmcConfig,
    pub chassis: Chassis,
    setups: HashMap<u32, Setup>,
    sessions: HashMap<u32, Active>,
    rng: StdRng,
    /// UDP port we answer on (Activate Payload reports it).
    pub port: u16,
}

/// SOL send state: stop-and-wait, 500 ms retransmit, 8 tries (15.9).
fn new_sol() -> SolState {
    SolState::new(SOL_PAYLOAD_SIZE, Duration::from_millis(500), 8)
}

fn sessionless(pt: PayloadType, payload: &[u8]) -> Vec<u8> {
    wire::encode_v2(
        &V2Header {
            encrypted: false,
            authenticated: false,
            payload_type: pt,
            session_id: 0,
            session_seq: 0,
        },
        payload,
    )
}

/// The three algorithm payloads of Open Session (13.17): type, length 8, id.
fn algorithm_payloads(suite: CipherSuite) -> Vec<u8> {
    let mut p = Vec::with_capacity(24);
    for (t, id) in [
        (0u8, suite.auth.id()),
        (1, suite.integrity.id()),
        (2, suite.conf.id()),
    ] {
        p.extend_from_slice(&[t, 0, 0, 0x08, id, 0, 0, 0]);
    }
    p
}

/// Get SOL Configuration Parameters (26.3) as this BMC has them: request
/// [channel | 80h revision only, parameter, set, block].
fn sol_config(d: &[u8], port: u16, enabled: bool) -> (u8, Vec<u8>) {
    /// Parameter revision 1.1 (table 26-5).
    const REVISION: u8 = 0x11;
    let [chan, param, ..] = d else {
        return (0xC7, vec![]);
    };
    let data = match param {
        0 => vec![0x00],              // set in progress: set complete
        1 => vec![u8::from(enabled)], // SOL enable
        // Authentication: encryption and integrity not forced, User level.
        2 => vec![Privilege::User.code()],
        // Character accumulate interval (5 ms units) and send threshold:
        // serial bytes are sent as they come.
        3 => vec![1, 1],
        // Retry count and interval (10 ms units): 7 retries 500 ms apart.
        4 => vec![7, 50],
        5 | 6 => vec![0x0A], // bit rate: 115.2 kbps
        7 => vec![0x01],     // payload channel
        8 => port.to_le_bytes().to_vec(),
        _ => return (0x80, vec![]), // parameter not supported
    };
    let mut v = vec![REVISION];
    if chan & 0x80 == 0 {
        v.extend_from_slice(&data);
    }
    (0, v)
}

impl Bmc {
    pub fn new(cfg: BmcConfig) -> Bmc {
        Bmc {
            cfg,
            chassis: Chassis::default(),
            setups: HashMap::new(),
            sessions: HashMap::new(),
            rng: StdRng::from_entropy(),
            port: 623,
        }
    }

    /// Number of established sessions.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    fn new_sid(&mut self) -> u32 {
        loop {
            let v = self.rng.next_u32();
            if v != 0 && !self.sessions.contains_key(&v) && !self.setups.contains_key(&v) {
                return v;
            }
        }
    }

    /// Feed one datagram from `peer`.
    pub fn handle_datagram(&mut self, dg: &[u8], peer: SocketAddr, now: Instant) -> Vec<Action> {
        // IPMI 1.5 session-less: only Get Channel Auth Capabilities (13.14).
        if let Ok(msg) = wire::decode_v15(dg) {
            let Ok((req, seq)) = wire::decode_request(msg) else {
                return vec![];
            };
            let (cc, data) = self.sessionless_command(&req);
            let rsp = wire::encode_response(&req, seq, cc, &data);
            return vec![Action::Send(wire::encode_v15_sessionless(&rsp), peer)];
        }
        let sid = wire::peek_session_id(dg);
        match sid {
            Some(0) => self.setup_packet(dg, peer, now),
            Some(sid) => self.session_packet(sid, dg, peer, now),
            None => vec![],
        }
    }

    /// Commands allowed outside a session.
    fn sessionless_command(&self, req: &Request) -> (u8, Vec<u8>) {
        match (req.netfn, req.cmd) {
            // Get Channel Authentication Capabilities (22.13): channel 1,
            // IPMI 2.0 extended data, non-null user names, RMCP+ supported.
            (NetFn::APP, 0x38) => (0, vec![0x01, 0x80, 0x04, 0x02, 0, 0, 0, 0]),
            // Get Channel Cipher Suites (22.15): records for 17 and 3.
            (NetFn::APP, 0x54) => {
                let mut recs = Vec::new();
                for id in SUITES {
                    if let Some(s) = CipherSuite::from_id(id) {
                        recs.extend_from_slice(&[
                            0xC0,
                            id,
                            s.auth.id(),
                            0x40 | s.integrity.id(),
                            0x80 | s.conf.id(),
                        ]);
                    }
                }
                let index = usize::from(req.data.get(2).copied().unwrap_or(0) & 0x3F);
                let mut data = vec![0x01];
                data.extend_from_slice(recs.chunks(16).nth(index).unwrap_or_default());
                (0, data)
            }
            _ => (0xD4, vec![]), // insufficient privilege: log in first
        }
    }

    fn setup_packet(&mut self, dg: &[u8], peer: SocketAddr, now: Instant) -> Vec<Action> {
        let Ok(p) = wire::decode_v2(dg, 0) else {
            return vec![];
        };
        let reply = match p.header.payload_type {
            PayloadType::Ipmi => wire::decode_request(p.payload).ok().map(|(req, seq)| {
                let (cc, data) = self.sessionless_command(&req);
                sessionless(
                    PayloadType::Ipmi,
                    &wire::encode_response(&req, seq, cc, &data),
                )
            }),
            PayloadType::OpenSessionRequest => self.open_session(p.payload, peer, now),
            PayloadType::Rakp1 => self.rakp1(p.payload),
            PayloadType::Rakp3 => self.rakp3(p.payload, now),
            _ => None,
        };
        reply.map(|r| Action::Send(r, peer)).into_iter().collect()
    }

    /// Open Session Request → Response (13.17, 13.18).
    fn open_session(&mut self, payload: &[u8], peer: SocketAddr, now: Instant) -> Option<Vec<u8>> {
        let mut r = Reader::new(payload);
        let tag = r.u8("tag").ok()?;
        let req_priv = r.u8("max privilege").ok()? & 0x0F;
        r.skip(2, "reserved").ok()?;
        let console_sid = r.u32le("console session id").ok()?;
        let auth = r.array::<8>("auth payload").ok()?[4];
        let integ = r.array::<8>("integrity payload").ok()?[4];
        let conf = r.array::<8>("confidentiality payload").ok()?[4];
        let suite = SUITES
            .iter()
            .filter_map(|id| CipherSuite::from_id(*id))
            .find(|s| s.auth.id() == auth && s.integrity.id() == integ && s.conf.id() == conf);
        self.expire(now);
        let status = match suite {
            None => 0x11, // no cipher suite match (13.24)
            Some(_) if self.setups.len() + self.sessions.len() >= MAX_SESSIONS => 0x01,
            Some(_) if req_priv > Privilege::Administrator.code() => 0x09,
            Some(_) => 0,
        };
        let mut out = vec![tag, status, 0, 0];
        out.extend_from_slice(&console_sid.to_le_bytes());
        let Some(suite) = suite.filter(|_| status == 0) else {
            return Some(sessionless(PayloadType::OpenSessionResponse, &out));
        };
        let sid = self.new_sid();
        // Maximum privilege granted: what was asked, or Administrator for 0.
        out[2] = if req_priv == 0 {
            Privilege::Administrator.code()
        } else {
            req_priv
        };
        out.extend_from_slice(&sid.to_le_bytes());
        out.extend_from_slice(&algorithm_payloads(suite));
        self.setups.insert(
            sid,
            Setup {
                suite,
                console_sid,
                peer,
                started: now,
                rakp: None,
            },
        );
        Some(sessionless(PayloadType::OpenSessionResponse, &out))
    }

    /// RAKP 1 → RAKP 2 (13.20, 13.21).
    fn rakp1(&mut self, payload: &[u8]) -> Option<Vec<u8>> {
        let mut r = Reader::new(payload);
        let tag = r.u8("tag").ok()?;
        r.skip(3, "reserved").ok()?;
        let sid = r.u32le("managed system session id").ok()?;
        let rm: [u8; 16] = r.array("Rm").ok()?;
        let role = r.u8("role").ok()?;
        r.skip(2, "reserved").ok()?;
        let n = usize::from(r.u8("user name length").ok()?);
        let name = r.take(n, "user name").ok()?.to_vec();
        let guid = self.cfg.guid;
        let mut rc = [0u8; 16];
        self.rng.fill_bytes(&mut rc);
        let setup = self.setups.get_mut(&sid)?;
        let mut out = vec![tag, 0, 0, 0];
        out.extend_from_slice(&setup.console_sid.to_le_bytes());
        let status = if name != self.cfg.user.as_bytes() {
            0x0D // unauthorized name
        } else if role & 0x0F > Privilege::Administrator.code() || role & 0x0F == 0 {
            0x09 // invalid role
        } else {
            0
        };
        if status != 0 {
            out[1] = status;
            self.setups.remove(&sid);
            return Some(sessionless(PayloadType::Rakp2, &out));
        }
        // 13.31: HMAC_Kuid(SIDm, SIDc, Rm, Rc, GUIDc, ROLEm, ULENGTHm, UNAMEm)
        // where SIDm is the console's id and SIDc ours.
        let code = setup.suite.auth.mac(
            &self.cfg.password,
            &[
                &setup.console_sid.to_le_bytes(),
                &sid.to_le_bytes(),
                &rm,
                &rc,
                &guid,
                &[role, name.len() as u8],
                &name,
            ],
        );
        out.extend_from_slice(&rc);
        out.extend_from_slice(&guid);
        out.extend_from_slice(&code);
        setup.rakp = Some(Rakp { rm, rc, role, name });
        Some(sessionless(PayloadType::Rakp2, &out))
    }

    /// RAKP 3 → RAKP 4 (13.22, 13.23); the session is up after RAKP 4.
    fn rakp3(&mut self, payload: &[u8], now: Instant) -> Option<Vec<u8>> {
        let mut r = Reader::new(payload);
        let tag = r.u8("tag").ok()?;
        let status = r.u8("status").ok()?;
        r.skip(2, "reserved").ok()?;
        let sid = r.u32le("managed system session id").ok()?;
        let code = r.rest();
        let setup = self.setups.remove(&sid)?;
        let Rakp { rm, rc, role, name } = setup.rakp.clone()?;
        let mut out = vec![tag, 0, 0, 0];
        out.extend_from_slice(&setup.console_sid.to_le_bytes());
        if status != 0 {
            // The console gave up (e.g. our RAKP 2 did not verify): no reply.
            return None;
        }
        let suite = setup.suite;
        let ulen = name.len() as u8;
        // HMAC_Kuid(Rc, SIDm, ROLEm, ULENGTHm, UNAMEm).
        let expect = suite.auth.mac(
            &self.cfg.password,
            &[&rc, &setup.console_sid.to_le_bytes(), &[role, ulen], &name],
        );
        if !crate::session::ct_eq(&expect, code) {
            out[1] = 0x0F; // invalid integrity check value
            return Some(sessionless(PayloadType::Rakp4, &out));
        }
        // SIK = HMAC_Kg(Rm, Rc, ROLEm, ULENGTHm, UNAMEm) (13.31).
        let kg: &[u8] = self.cfg.kg.as_deref().unwrap_or(&self.cfg.password);
        let sik = Zeroizing::new(suite.auth.mac(kg, &[&rm, &rc, &[role, ulen], &name]));
        // ICV = HMAC_SIK(Rm, SIDc, GUIDc), truncated (13.28.1).
        let mut icv = suite
            .auth
            .mac(&sik, &[&rm, &sid.to_le_bytes(), &self.cfg.guid]);
        icv.truncate(suite.auth.icv_len());
        out.extend_from_slice(&icv);
        let rng = StdRng::from_rng(&mut self.rng).unwrap_or_else(|_| StdRng::from_entropy());
        self.sessions.insert(
            sid,
            Active {
                // Ids swapped: we address the console with its id.
                core: SessionCore::new(suite, setup.console_sid, sid, &sik, Privilege::User, rng),
                peer: setup.peer,
                last: now,
                max_privilege: role & 0x0F,
                privilege: Privilege::User.code(),
                sol: None,
            },
        );
        Some(sessionless(PayloadType::Rakp4, &out))
    }

    fn session_packet(
        &mut self,
        sid: u32,
        dg: &[u8],
        peer: SocketAddr,
        now: Instant,
    ) -> Vec<Action> {
        let Some(s) = self.sessions.get_mut(&sid) else {
            return vec![];
        };
        // Integrity, replay window and decryption: the client's own code.
        let Ok((pt, payload)) = s.core.open(dg) else {
            return vec![];
        };
        s.last = now;
        s.peer = peer;
        match pt {
            PayloadType::Ipmi => {
                let Ok((req, seq)) = wire::decode_request(&payload) else {
                    return vec![];
                };
                self.command(sid, &req, seq, now)
            }
            PayloadType::Sol => {
                let mut out = Vec::new();
                if let Some(sol) = s.sol.as_mut()
                    && let Ok(input) = sol.handle(&payload)
                {
                    if let Some(ack) = input.ack {
                        out.push(Action::Send(s.core.seal(PayloadType::Sol, &ack), peer));
                    }
                    // The break first, as ipmi_sim does: SolState sends it
                    // with the keys typed after it.
                    if input.operation & OPERATION_GENERATE_BREAK != 0 {
                        out.push(Action::SerialBreak { sid });
                    }
                    if !input.data.is_empty() {
                        out.push(Action::SerialWrite {
                            sid,
                            data: input.data,
                        });
                    }
                }
                out.extend(self.poll_sol(sid, now));
                out
            }
            _ => vec![],
        }
    }

    /// Answer an in-session command; session commands here, the rest by
    /// the chassis.
    fn command(&mut self, sid: u32, req: &Request, seq: u8, now: Instant) -> Vec<Action> {
        let mut extra = Vec::new();
        let port = self.port;
        let serial = self.cfg.serial.is_some();
        // One SOL console for the BMC, whichever session holds it.
        let sol_owner = self
            .sessions
            .iter()
            .find(|(_, a)| a.sol.is_some())
            .map(|(id, _)| *id);
        let mut deactivate = None;
        let Some(s) = self.sessions.get_mut(&sid) else {
            return vec![];
        };
        let mut close = false;
        let (cc, data) = match (req.netfn, req.cmd) {
            // Set Session Privilege Level (22.18).
            (NetFn::APP, 0x3B) => match req.data.first().map(|b| b & 0x0F) {
                Some(0) => (0, vec![s.privilege]),
                Some(p) if p >= Privilege::User.code() && p <= s.max_privilege => {
                    s.privilege = p;
                    (0, vec![p])
                }
                Some(p) if p > s.max_privilege && p <= 5 => (0x81, vec![]),
                _ => (0xCC, vec![]),
            },
            // Close Session (22.19).
            (NetFn::APP, 0x3C) => {
                close = true;
                if s.sol.is_some() {
                    extra.push(Action::SerialClose { sid });
                }
                (0, vec![])
            }
            // Activate Payload (24.1), SOL instance 1 only.
            (NetFn::APP, 0x48) => match req.data.as_slice() {
                [1, 1, ..] if !serial => (0x81, vec![]), // payload type disabled
                [1, 1, ..] if sol_owner.is_some() => (0x80, vec![]),
                [1, 1, ..] if s.privilege < Privilege::User.code() => (0xD4, vec![]),
                [1, 1, ..] => {
                    s.sol = Some(new_sol());
                    extra.push(Action::SerialOpen { sid });
                    let mut d = vec![0, 0, 0, 0];
                    d.extend_from_slice(&SOL_PAYLOAD_SIZE.to_le_bytes());
                    d.extend_from_slice(&SOL_PAYLOAD_SIZE.to_le_bytes());
                    d.extend_from_slice(&port.to_le_bytes());
                    d.extend_from_slice(&0xFFFFu16.to_le_bytes()); // no VLAN
                    (0, d)
                }
                [1, _, ..] => (0x82, vec![]), // activation limit reached
                _ => (0xCC, vec![]),
            },
            // Deactivate Payload (24.2), also another session's (how a
            // console left behind by a dead client is freed).
            (NetFn::APP, 0x49) => match (req.data.as_slice(), sol_owner) {
                ([1, 1, ..], Some(owner)) => {
                    deactivate = Some(owner);
                    (0, vec![])
                }
                ([1, ..], _) => (0x80, vec![]), // already deactivated
                _ => (0xCC, vec![]),
            },
            // Get Payload Activation Status (24.4): one SOL instance.
            (NetFn::APP, 0x4A) => match req.data.first() {
                Some(&PAYLOAD_SOL) => (0, vec![1, u8::from(sol_owner.is_some()), 0]),
                Some(0) => (0, vec![1, 0, 0]),
                Some(_) => (0x80, vec![]), // payload type not supported
                None => (0xC7, vec![]),
            },
            // Get Channel Payload Support (24.8): IPMI and SOL, the six
            // session setup payloads, no OEM payloads.
            (NetFn::APP, 0x4E) => (0, vec![0x03, 0, 0x3F, 0, 0, 0, 0, 0]),
            // Get SOL Configuration Parameters (26.3).
            (NetFn::TRANSPORT, 0x22) => sol_config(&req.data, port, serial),
            _ => {
                let operator = s.privilege >= Privilege::Operator.code();
                self.chassis.command(req, operator)
            }
        };
        let Some(s) = self.sessions.get_mut(&sid) else {
            return vec![];
        };
        let rsp = wire::encode_response(req, seq, cc, &data);
        let mut out = vec![Action::Send(s.core.seal(PayloadType::Ipmi, &rsp), s.peer)];
        out.extend(extra);
        if let Some(owner) = deactivate {
            // Tell another holder its console ended; ours knows.
            out.extend(self.end_sol(owner, owner != sid));
        }
        if close {
            self.sessions.remove(&sid);
        } else {
            out.extend(self.poll_sol(sid, now));
        }
        out
    }

    /// Bytes from session `sid`'s serial port, for the console.
    pub fn serial_input(&mut self, sid: u32, data: &[u8], now: Instant) -> Vec<Action> {
        if let Some(sol) = self.sessions.get_mut(&sid).and_then(|s| s.sol.as_mut()) {
            sol.write(data);
        }
        self.poll_sol(sid, now)
    }

    /// The serial port of session `sid` closed or failed: end SOL (15.9
    /// status "SOL deactivating").
    pub fn serial_closed(&mut self, sid: u32) -> Vec<Action> {
        self.end_sol(sid, true)
    }

    /// End session `sid`'s SOL: hang up its serial port and, if `notify`,
    /// send its console a packet with status "SOL deactivating".
    fn end_sol(&mut self, sid: u32, notify: bool) -> Vec<Action> {
        let Some(s) = self.sessions.get_mut(&sid) else {
            return vec![];
        };
        if s.sol.take().is_none() {
            return vec![];
        }
        let mut out = vec![Action::SerialClose { sid }];
        if notify {
            let pkt = s.core.seal(PayloadType::Sol, &[0, 0, 0, 0x10]);
            out.push(Action::Send(pkt, s.peer));
        }
        out
    }

    fn poll_sol(&mut self, sid: u32, now: Instant) -> Vec<Action> {
        let Some(s) = self.sessions.get_mut(&sid) else {
            return vec![];
        };
        let Some(sol) = s.sol.as_mut() else {
            return vec![];
        };
        let mut out = Vec::new();
        loop {
            match sol.poll_transmit(now) {
                Ok(Some(p)) => out.push(Action::Send(s.core.seal(PayloadType::Sol, &p), s.peer)),
                Ok(None) => break,
                // The console stopped acknowledging: drop what is queued.
                Err(_) => {
                    s.sol = Some(new_sol());
                    break;
                }
            }
        }
        out
    }

    /// Timers: SOL retransmits and session expiry. Call every ~100 ms.
    pub fn poll(&mut self, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        for sid in self.expire(now) {
            out.push(Action::SerialClose { sid });
        }
        let sids: Vec<u32> = self.sessions.keys().copied().collect();
        for sid in sids {
            out.extend(self.poll_sol(sid, now));
        }
        out
    }

    /// Drop idle sessions; returns those that had SOL active.
    fn expire(&mut self, now: Instant) -> Vec<u32> {
        self.setups
            .retain(|_, s| now.duration_since(s.started) < SETUP_TIMEOUT);
        let mut had_sol = Vec::new();
        self.sessions.retain(|sid, s| {
            let keep = now.duration_since(s.last) < SESSION_TIMEOUT;
            if !keep && s.sol.is_some() {
                had_sol.push(*sid);
            }
            keep
        });
        had_sol
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::session::{Handshake, HandshakeEvent};

    fn peer() -> SocketAddr {
        "127.0.0.1:5000".parse().unwrap()
    }

    fn send(bmc: &mut Bmc, dg: &[u8]) -> Vec<u8> {
        match bmc.handle_datagram(dg, peer(), Instant::now()).as_slice() {
            [Action::Send(d, _), ..] => d.clone(),
            other => panic!("no datagram: {other:?}"),
        }
    }

    fn login(bmc: &mut Bmc, cfg: &Config) -> Result<Box<SessionCore>, crate::Error> {
        let mut hs = Handshake::new(cfg, 0x5566_7788)?;
        loop {
            let reply = send(bmc, hs.transmit());
            if let HandshakeEvent::Established(c) = hs.handle(&reply)? {
                return Ok(c);
            }
        }
    }

    #[test]
    fn client_logs_in_with_17_and_3_and_runs_commands() {
        for suite in [None, Some(17), Some(3)] {
            let mut bmc = Bmc::new(BmcConfig::new("ADMIN", b"secret"));
            let mut cfg = Config::new("h", "ADMIN", "secret");
            cfg.cipher_suite = suite;
            let mut core = login(&mut bmc, &cfg).unwrap();
            assert_eq!(core.cipher_suite().id, suite.unwrap_or(17));
            let req = Request::new(NetFn::CHASSIS, 0x02, vec![1]);
            let pkt = core.encode_request(&req, 1);
            let rsp = core.decode_response(&send(&mut bmc, &pkt)).unwrap();
            assert_eq!(rsp.completion_code, 0xD4, "User may not power on");
            let pkt = core.encode_request(&core.set_privilege_request(), 2);
            let rsp = core.decode_response(&send(&mut bmc, &pkt)).unwrap();
            assert_eq!((rsp.completion_code, rsp.data.clone()), (0, vec![4]));
            let pkt = core.encode_request(&req, 3);
            assert_eq!(
                core.decode_response(&send(&mut bmc, &pkt))
                    .unwrap()
                    .completion_code,
                0
            );
            assert!(bmc.chassis.power_on);
            // A replayed request is dropped.
            assert!(bmc.handle_datagram(&pkt, peer(), Instant::now()).is_empty());
            let pkt = core.encode_request(&core.close_request(), 4);
            send(&mut bmc, &pkt);
            assert_eq!(bmc.session_count(), 0);
        }
    }

    #[test]
    fn wrong_password_and_user_fail() {
        let mut bmc = Bmc::new(BmcConfig::new("ADMIN", b"secret"));
        let e = login(&mut bmc, &Config::new("h", "ADMIN", "nope")).unwrap_err();
        assert!(e.to_string().contains("RAKP 2"), "{e}");
        let e = login(&mut bmc, &Config::new("h", "root", "secret")).unwrap_err();
        assert!(e.to_string().contains("unauthorized name"), "{e}");
        let e = login(
            &mut bmc,
            &Config::new("h", "ADMIN", "secret").cipher_suite(2),
        )
        .unwrap_err();
        assert!(matches!(e, crate::Error::UnsupportedCipherSuite(_)), "{e}");
        assert_eq!(bmc.session_count(), 0);
    }

    #[test]
    fn kg_login() {
        let mut cfg = BmcConfig::new("ADMIN", b"secret");
        cfg.kg = Some(Zeroizing::new(b"key".to_vec()));
        let mut bmc = Bmc::new(cfg);
        assert!(login(&mut bmc, &Config::new("h", "ADMIN", "secret").kg("key")).is_ok());
        let e = login(&mut bmc, &Config::new("h", "ADMIN", "secret")).unwrap_err();
        assert!(e.to_string().contains("RAKP 4"), "{e}");
    }
}
