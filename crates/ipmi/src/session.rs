//! Sans-IO RMCP+ session: the login handshake ([`Handshake`]) and the
//! established session that seals and opens packets ([`SessionCore`]).
//!
//! Neither type touches a socket. The driver sends [`Handshake::transmit`],
//! feeds every datagram received to [`Handshake::handle`], and retransmits
//! the same bytes on timeout; when the handshake yields a [`SessionCore`] it
//! uses that to encode requests and decode responses (spec 13.14–13.32).

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use zeroize::Zeroizing;

use crate::config::{Config, Privilege};
use crate::crypto::{self, AuthAlg, CipherSuite, ConfAlg, IntegrityAlg};
use crate::error::{Error, completion_code_name, rmcp_status_name};
use crate::wire::{self, DecodeError, NetFn, PayloadType, Reader, Request, Response, V2Header};

/// Maximum password (Kuid) length for IPMI 2.0 users (13.31).
pub const MAX_PASSWORD_LEN: usize = 20;
/// User names are at most 16 bytes (RAKP1, 13.20).
pub const MAX_USERNAME_LEN: usize = 16;
/// Minimum restarts of the RAKP exchange after lost RAKP 2/4 replies
/// (the configured number of tries, if larger).
const MAX_RAKP_RESTARTS: u32 = 4;
/// Name-only lookup (bit 4 of the RAKP1 role byte): the BMC looks up the
/// user by name and checks the requested privilege against its limit.
const ROLE_NAME_ONLY_LOOKUP: u8 = 0x10;

const CMD_GET_CHANNEL_AUTH_CAPS: u8 = 0x38;
const CMD_GET_CHANNEL_CIPHER_SUITES: u8 = 0x54;
/// "This channel" in channel-number fields (spec 6.3).
const CURRENT_CHANNEL: u8 = 0x0E;

/// What a datagram did to the handshake.
#[derive(Debug)]
pub enum HandshakeEvent {
    /// Not for the current step (stale duplicate, other traffic); keep waiting.
    Ignored,
    /// The handshake moved on; send [`Handshake::transmit`] now.
    Progress,
    /// RAKP4 verified: the session is up.
    Established(Box<SessionCore>),
}

#[derive(Debug)]
enum State {
    AuthCaps,
    CipherSuites {
        index: u8,
        records: Vec<u8>,
    },
    OpenSession {
        suite: CipherSuite,
    },
    Rakp1 {
        suite: CipherSuite,
        bmc_sid: u32,
        rm: [u8; 16],
    },
    Rakp3 {
        suite: CipherSuite,
        bmc_sid: u32,
        rm: [u8; 16],
        guid: [u8; 16],
        sik: Zeroizing<Vec<u8>>,
    },
    Done,
}

/// The pre-session exchange and RAKP login, as a state machine.
pub struct Handshake {
    username: Vec<u8>,
    password: Zeroizing<Vec<u8>>,
    kg: Option<Zeroizing<Vec<u8>>>,
    privilege: Privilege,
    fixed_suite: Option<CipherSuite>,
    insecure: bool,
    console_sid: u32,
    rng: StdRng,
    state: State,
    out: Vec<u8>,
    tag: u8,
    rq_seq: u8,
    /// Suites still to try when the BMC does not list its suites.
    fallback: Vec<CipherSuite>,
    /// Times the RAKP exchange may restart from Open Session.
    restarts_left: u32,
    /// A last datagram to send after a fatal error (see [`Handshake::abort_packet`]).
    abort: Option<Vec<u8>>,
}

impl std::fmt::Debug for Handshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handshake")
            .field("console_sid", &self.console_sid)
            .field("state", &self.step_name())
            .finish_non_exhaustive()
    }
}

/// Check a config against the security policy before any packet is sent.
pub fn validate(cfg: &Config) -> Result<Option<CipherSuite>, Error> {
    if cfg.password.len() > MAX_PASSWORD_LEN {
        return Err(Error::Config(format!(
            "password is {} bytes; IPMI 2.0 allows at most {MAX_PASSWORD_LEN}",
            cfg.password.len()
        )));
    }
    if cfg.username.len() > MAX_USERNAME_LEN {
        return Err(Error::Config(format!(
            "user name is {} bytes; IPMI allows at most {MAX_USERNAME_LEN}",
            cfg.username.len()
        )));
    }
    if let Some(kg) = &cfg.kg
        && kg.len() > MAX_PASSWORD_LEN
    {
        return Err(Error::Config(format!(
            "Kg is {} bytes; at most {MAX_PASSWORD_LEN}",
            kg.len()
        )));
    }
    if cfg.username.is_empty() && !cfg.insecure {
        return Err(Error::InsecureRefused("null user name"));
    }
    match cfg.cipher_suite {
        None => Ok(None),
        Some(0) if !cfg.insecure => Err(Error::InsecureRefused("cipher suite 0")),
        Some(id) => CipherSuite::from_id(id).map(Some).ok_or_else(|| {
            Error::UnsupportedCipherSuite(format!("cipher suite {id} is not implemented"))
        }),
    }
}

impl Handshake {
    /// Start a login. `console_sid` is our session id (the BMC puts it in
    /// every packet it sends us, so it is the demultiplexing key); it must
    /// not be 0.
    pub fn new(cfg: &Config, console_sid: u32) -> Result<Self, Error> {
        Self::with_rng(cfg, console_sid, StdRng::from_entropy())
    }

    /// Like [`Handshake::new`] with a given random generator (for tests).
    pub fn with_rng(cfg: &Config, console_sid: u32, rng: StdRng) -> Result<Self, Error> {
        let fixed_suite = validate(cfg)?;
        if console_sid == 0 {
            return Err(Error::Config("console session id must not be 0".into()));
        }
        let mut hs = Handshake {
            username: cfg.username.as_bytes().to_vec(),
            password: cfg.password.clone(),
            kg: cfg.kg.clone(),
            privilege: cfg.privilege,
            fixed_suite,
            insecure: cfg.insecure,
            console_sid,
            rng,
            state: State::AuthCaps,
            out: Vec::new(),
            tag: 0,
            rq_seq: 0,
            fallback: Vec::new(),
            restarts_left: cfg.tries.max(MAX_RAKP_RESTARTS),
            abort: None,
        };
        // Random start, so concurrent logins to one BMC differ in rqSeq.
        hs.rq_seq = (hs.rng.next_u32() & 0x3F) as u8;
        hs.out = hs.auth_caps_packet();
        Ok(hs)
    }

    /// The datagram to send now (and to resend on timeout).
    pub fn transmit(&self) -> &[u8] {
        &self.out
    }

    /// After [`Handshake::handle`] failed: a datagram to send once, without
    /// waiting for an answer, so the BMC releases the session early.
    pub fn abort_packet(&self) -> Option<&[u8]> {
        self.abort.as_deref()
    }

    /// Our session id.
    pub fn console_session_id(&self) -> u32 {
        self.console_sid
    }

    /// Name of the step waiting for an answer (for logs and timeouts).
    pub fn step_name(&self) -> &'static str {
        match self.state {
            State::AuthCaps => "Get Channel Authentication Capabilities",
            State::CipherSuites { .. } => "Get Channel Cipher Suites",
            State::OpenSession { .. } => "Open Session",
            State::Rakp1 { .. } => "RAKP 1",
            State::Rakp3 { .. } => "RAKP 3",
            State::Done => "done",
        }
    }

    fn next_rq_seq(&mut self) -> u8 {
        self.rq_seq = (self.rq_seq + 1) & 0x3F;
        self.rq_seq
    }

    fn next_tag(&mut self) -> u8 {
        self.tag = self.tag.wrapping_add(1);
        self.tag
    }

    fn auth_caps_packet(&mut self) -> Vec<u8> {
        // Bit 7 of the channel byte asks for IPMI 2.0 extended data (22.13).
        let req = Request::new(
            NetFn::APP,
            CMD_GET_CHANNEL_AUTH_CAPS,
            vec![0x80 | CURRENT_CHANNEL, self.privilege.code()],
        );
        let seq = self.next_rq_seq();
        wire::encode_v15_sessionless(&wire::encode_request(&req, seq))
    }

    fn cipher_suites_packet(&mut self, index: u8) -> Vec<u8> {
        // Payload type 0 (IPMI), bit 7 = list by cipher suite (22.15).
        let req = Request::new(
            NetFn::APP,
            CMD_GET_CHANNEL_CIPHER_SUITES,
            vec![CURRENT_CHANNEL, 0x00, 0x80 | (index & 0x3F)],
        );
        let seq = self.next_rq_seq();
        sessionless_v2(PayloadType::Ipmi, &wire::encode_request(&req, seq))
    }

    fn open_session_packet(&mut self, suite: CipherSuite) -> Vec<u8> {
        // Open Session Request (13.17): three 8-byte algorithm payloads.
        let tag = self.next_tag();
        // Max privilege 0 = "highest the algorithms allow" for Administrator,
        // as ipmitool does (some BMCs reject an explicit 4 here); RAKP 1
        // still names the role we want.
        let max_priv = match self.privilege {
            Privilege::Administrator => 0,
            p => p.code(),
        };
        let mut p = vec![tag, max_priv, 0, 0];
        p.extend_from_slice(&self.console_sid.to_le_bytes());
        p.extend_from_slice(&[0x00, 0, 0, 0x08, suite.auth.id(), 0, 0, 0]);
        p.extend_from_slice(&[0x01, 0, 0, 0x08, suite.integrity.id(), 0, 0, 0]);
        p.extend_from_slice(&[0x02, 0, 0, 0x08, suite.conf.id(), 0, 0, 0]);
        sessionless_v2(PayloadType::OpenSessionRequest, &p)
    }

    fn role(&self) -> u8 {
        self.privilege.code() | ROLE_NAME_ONLY_LOOKUP
    }

    fn rakp1_packet(&mut self, bmc_sid: u32, rm: &[u8; 16]) -> Vec<u8> {
        // RAKP Message 1 (13.20).
        let tag = self.next_tag();
        let mut p = vec![tag, 0, 0, 0];
        p.extend_from_slice(&bmc_sid.to_le_bytes());
        p.extend_from_slice(rm);
        p.extend_from_slice(&[self.role(), 0, 0, self.username.len() as u8]);
        p.extend_from_slice(&self.username);
        sessionless_v2(PayloadType::Rakp1, &p)
    }

    /// Feed one received datagram.
    pub fn handle(&mut self, datagram: &[u8]) -> Result<HandshakeEvent, Error> {
        let state = std::mem::replace(&mut self.state, State::Done);
        let (next, ev) = match self.step(state, datagram) {
            Ok(v) => v,
            Err(StepError::Ignore(state)) => {
                self.state = state;
                return Ok(HandshakeEvent::Ignored);
            }
            Err(StepError::Fatal(e)) => return Err(e),
        };
        self.state = next;
        Ok(ev)
    }

    fn step(&mut self, state: State, dg: &[u8]) -> Result<(State, HandshakeEvent), StepError> {
        match state {
            State::AuthCaps => {
                let Some(rsp) = ipmi_reply(dg, CMD_GET_CHANNEL_AUTH_CAPS, self.rq_seq) else {
                    return Err(StepError::Ignore(State::AuthCaps));
                };
                check_cc(&rsp, "Get Channel Authentication Capabilities")?;
                let mut r = Reader::new(&rsp.data);
                let _channel = r.u8("channel").map_err(fatal)?;
                let auth_support = r.u8("auth type support").map_err(fatal)?;
                let _status = r.u8("auth status").map_err(fatal)?;
                let ext = r.u8("extended capabilities").map_err(fatal)?;
                if auth_support & 0x80 == 0 || ext & 0x02 == 0 {
                    return Err(StepError::Fatal(Error::SessionRefused {
                        reason: "BMC does not support IPMI 2.0 / RMCP+".into(),
                    }));
                }
                Ok(self.after_auth_caps())
            }
            State::CipherSuites { index, mut records } => {
                let Some(rsp) = ipmi_reply(dg, CMD_GET_CHANNEL_CIPHER_SUITES, self.rq_seq) else {
                    return Err(StepError::Ignore(State::CipherSuites { index, records }));
                };
                if rsp.completion_code != 0 {
                    // Pre-2.0-errata BMCs lack this command; suite 3 is the
                    // one every RMCP+ BMC must implement.
                    tracing::debug!(
                        cc = rsp.completion_code,
                        "no cipher suite list; trying suite 3"
                    );
                    return Ok(self.open_with(CipherSuite::from_id(3).ok_or_else(no_suite)?));
                }
                let chunk = rsp.data.get(1..).unwrap_or_default();
                records.extend_from_slice(chunk);
                if chunk.len() == 16 && index < 0x3F {
                    let index = index + 1;
                    self.out = self.cipher_suites_packet(index);
                    return Ok((
                        State::CipherSuites { index, records },
                        HandshakeEvent::Progress,
                    ));
                }
                let listed = parse_cipher_suite_records(&records);
                tracing::debug!(?listed, "BMC cipher suites");
                let suite = match CipherSuite::strongest_of(&listed) {
                    Some(s) => s,
                    None if listed.contains(&0) && !self.insecure => {
                        return Err(StepError::Fatal(Error::InsecureRefused(
                            "the BMC offers only cipher suite 0",
                        )));
                    }
                    None if listed.contains(&0) => CipherSuite::from_id(0).ok_or_else(no_suite)?,
                    None => {
                        return Err(StepError::Fatal(Error::UnsupportedCipherSuite(format!(
                            "BMC lists cipher suites {listed:?}; none is implemented here"
                        ))));
                    }
                };
                Ok(self.open_with(suite))
            }
            State::OpenSession { suite } => {
                let Some(p) = sessionless_reply(dg, PayloadType::OpenSessionResponse, self.tag)
                else {
                    return Err(StepError::Ignore(State::OpenSession { suite }));
                };
                let mut r = Reader::new(p);
                r.skip(1, "tag").map_err(fatal)?;
                let status = r.u8("status").map_err(fatal)?;
                if matches!(status, 0x04..=0x07 | 0x10 | 0x11)
                    && let Some(next) = self.fallback.pop()
                {
                    tracing::debug!(refused = suite.id, next = next.id, "BMC refused suite");
                    return Ok(self.open_with(next));
                }
                if status != 0 {
                    let reason = format!(
                        "Open Session status {status:#04x}: {}",
                        rmcp_status_name(status)
                    );
                    return Err(StepError::Fatal(match status {
                        0x04..=0x07 | 0x10 | 0x11 => Error::UnsupportedCipherSuite(format!(
                            "cipher suite {}: {reason}",
                            suite.id
                        )),
                        0x09 | 0x0A => Error::AuthenticationFailed { reason },
                        _ => Error::SessionRefused { reason },
                    }));
                }
                r.skip(2, "max privilege / reserved").map_err(fatal)?;
                let console_sid = r.u32le("console session id").map_err(fatal)?;
                let bmc_sid = r.u32le("managed system session id").map_err(fatal)?;
                if console_sid != self.console_sid {
                    return Err(StepError::Ignore(State::OpenSession { suite }));
                }
                let mut rm = [0u8; 16];
                self.rng.fill_bytes(&mut rm);
                self.out = self.rakp1_packet(bmc_sid, &rm);
                Ok((
                    State::Rakp1 { suite, bmc_sid, rm },
                    HandshakeEvent::Progress,
                ))
            }
            State::Rakp1 { suite, bmc_sid, rm } => {
                let Some(p) = sessionless_reply(dg, PayloadType::Rakp2, self.tag) else {
                    return Err(StepError::Ignore(State::Rakp1 { suite, bmc_sid, rm }));
                };
                let mut r = Reader::new(p);
                r.skip(1, "tag").map_err(fatal)?;
                let status = r.u8("status").map_err(fatal)?;
                if status != 0 {
                    return Err(StepError::Fatal(Error::AuthenticationFailed {
                        reason: format!(
                            "BMC answered RAKP 2 with status {status:#04x}: {}",
                            rmcp_status_name(status)
                        ),
                    }));
                }
                r.skip(2, "reserved").map_err(fatal)?;
                let console_sid = r.u32le("console session id").map_err(fatal)?;
                if console_sid != self.console_sid {
                    return Err(StepError::Ignore(State::Rakp1 { suite, bmc_sid, rm }));
                }
                let rc: [u8; 16] = r.array("managed system random").map_err(fatal)?;
                let guid: [u8; 16] = r.array("managed system GUID").map_err(fatal)?;
                let code = r
                    .take(suite.auth.mac_len(), "key exchange auth code")
                    .map_err(fatal)?;
                let (role, ulen) = (self.role(), self.username.len() as u8);
                // 13.31: HMAC_Kuid(SIDm, SIDc, Rm, Rc, GUIDc, ROLEm, ULENGTHm, UNAMEm).
                let expect = suite.auth.mac(
                    &self.password,
                    &[
                        &self.console_sid.to_le_bytes(),
                        &bmc_sid.to_le_bytes(),
                        &rm,
                        &rc,
                        &guid,
                        &[role, ulen],
                        &self.username,
                    ],
                );
                if !ct_eq(&expect, code) {
                    // Tell the BMC (RAKP 3 with an error status, 13.22) so it
                    // frees the half-open session now instead of at timeout.
                    let tag = self.next_tag();
                    let mut p3 = vec![tag, 0x0F, 0, 0];
                    p3.extend_from_slice(&bmc_sid.to_le_bytes());
                    self.abort = Some(sessionless_v2(PayloadType::Rakp3, &p3));
                    return Err(StepError::Fatal(Error::AuthenticationFailed {
                        reason: "RAKP 2 key exchange auth code mismatch (wrong password?)".into(),
                    }));
                }
                // SIK = HMAC_Kg(Rm, Rc, ROLEm, ULENGTHm, UNAMEm), Kg = Kuid if unset.
                let kg: &[u8] = self.kg.as_deref().map(|v| &v[..]).unwrap_or(&self.password);
                let sik = Zeroizing::new(
                    suite
                        .auth
                        .mac(kg, &[&rm, &rc, &[role, ulen], &self.username]),
                );
                // RAKP 3 (13.22): HMAC_Kuid(Rc, SIDm, ROLEm, ULENGTHm, UNAMEm).
                let code3 = suite.auth.mac(
                    &self.password,
                    &[
                        &rc,
                        &self.console_sid.to_le_bytes(),
                        &[role, ulen],
                        &self.username,
                    ],
                );
                let tag = self.next_tag();
                let mut p3 = vec![tag, 0, 0, 0];
                p3.extend_from_slice(&bmc_sid.to_le_bytes());
                p3.extend_from_slice(&code3);
                self.out = sessionless_v2(PayloadType::Rakp3, &p3);
                Ok((
                    State::Rakp3 {
                        suite,
                        bmc_sid,
                        rm,
                        guid,
                        sik,
                    },
                    HandshakeEvent::Progress,
                ))
            }
            State::Rakp3 {
                suite,
                bmc_sid,
                rm,
                guid,
                sik,
            } => {
                let Some(p) = sessionless_reply(dg, PayloadType::Rakp4, self.tag) else {
                    return Err(StepError::Ignore(State::Rakp3 {
                        suite,
                        bmc_sid,
                        rm,
                        guid,
                        sik,
                    }));
                };
                let mut r = Reader::new(p);
                r.skip(1, "tag").map_err(fatal)?;
                let status = r.u8("status").map_err(fatal)?;
                // RAKP 2 already proved the password, so a BMC rejecting our
                // RAKP 3 means it answered a duplicate RAKP 1 with a new Rc
                // (we used the first): start over rather than fail.
                if matches!(status, 0x02 | 0x0F) && self.restarts_left > 0 {
                    self.restarts_left -= 1;
                    tracing::debug!(status, "RAKP 3 rejected; restarting at Open Session");
                    return Ok(self.open_with(suite));
                }
                if status != 0 {
                    return Err(StepError::Fatal(Error::AuthenticationFailed {
                        reason: format!(
                            "BMC answered RAKP 4 with status {status:#04x}: {}",
                            rmcp_status_name(status)
                        ),
                    }));
                }
                r.skip(6, "reserved / console session id").map_err(fatal)?;
                let icv = r
                    .take(suite.auth.icv_len(), "integrity check value")
                    .map_err(fatal)?;
                // 13.23: ICV = HMAC_SIK(Rm, SIDc, GUIDc), truncated.
                let mut expect = suite.auth.mac(&sik, &[&rm, &bmc_sid.to_le_bytes(), &guid]);
                expect.truncate(suite.auth.icv_len());
                if !ct_eq(&expect, icv) {
                    return Err(StepError::Fatal(Error::AuthenticationFailed {
                        reason: "RAKP 4 integrity check value mismatch (wrong Kg?)".into(),
                    }));
                }
                let core = SessionCore::new(
                    suite,
                    bmc_sid,
                    self.console_sid,
                    &sik,
                    self.privilege,
                    StdRng::from_rng(&mut self.rng).unwrap_or_else(|_| StdRng::from_entropy()),
                );
                self.out.clear();
                Ok((State::Done, HandshakeEvent::Established(Box::new(core))))
            }
            State::Done => Err(StepError::Ignore(State::Done)),
        }
    }

    fn after_auth_caps(&mut self) -> (State, HandshakeEvent) {
        match self.fixed_suite {
            Some(s) => self.open_with(s),
            None => {
                self.out = self.cipher_suites_packet(0);
                (
                    State::CipherSuites {
                        index: 0,
                        records: Vec::new(),
                    },
                    HandshakeEvent::Progress,
                )
            }
        }
    }

    /// No suite list (command unsupported or unanswered, as with ipmi_sim):
    /// propose suites strongest first; Open Session rejects those the BMC
    /// lacks with an algorithm status, one round trip each.
    fn probe_suites(&mut self) -> (State, HandshakeEvent) {
        self.fallback = crypto::PREFERENCE
            .iter()
            .rev()
            .filter_map(|id| CipherSuite::from_id(*id))
            .collect();
        match self.fallback.pop() {
            Some(first) => self.open_with(first),
            None => (State::Done, HandshakeEvent::Ignored),
        }
    }

    /// The driver gave up waiting for the current step. Returns true if the
    /// handshake has another way forward (send [`Handshake::transmit`]).
    pub fn on_timeout(&mut self) -> bool {
        if matches!(self.state, State::CipherSuites { .. }) {
            tracing::debug!("Get Channel Cipher Suites unanswered");
            let (state, _) = self.probe_suites();
            self.state = state;
            return true;
        }
        // BMCs drop a repeated RAKP 1 or RAKP 3 once they moved on (ipmi_sim
        // does), so a lost RAKP 2/4 can only be recovered by a new session.
        let suite = match &self.state {
            State::Rakp1 { suite, .. } | State::Rakp3 { suite, .. } => *suite,
            _ => return false,
        };
        if self.restarts_left == 0 {
            return false;
        }
        self.restarts_left -= 1;
        tracing::debug!(step = self.step_name(), "restarting at Open Session");
        let (state, _) = self.open_with(suite);
        self.state = state;
        true
    }

    /// How many transmissions the current step deserves: the cipher suite
    /// list is optional, so one try; RAKP messages two, since a repeat is
    /// often ignored (then [`Handshake::on_timeout`] restarts).
    pub fn step_tries(&self, default: u32) -> u32 {
        match self.state {
            State::CipherSuites { .. } => 1,
            State::Rakp1 { .. } | State::Rakp3 { .. } => default.min(2),
            _ => default,
        }
    }

    fn open_with(&mut self, suite: CipherSuite) -> (State, HandshakeEvent) {
        self.out = self.open_session_packet(suite);
        (State::OpenSession { suite }, HandshakeEvent::Progress)
    }
}

enum StepError {
    Ignore(State),
    Fatal(Error),
}

impl From<Error> for StepError {
    fn from(e: Error) -> Self {
        StepError::Fatal(e)
    }
}

fn fatal(e: DecodeError) -> StepError {
    StepError::Fatal(Error::Decode(e))
}

fn no_suite() -> StepError {
    StepError::Fatal(Error::UnsupportedCipherSuite("internal".into()))
}

fn check_cc(rsp: &Response, command: &'static str) -> Result<(), StepError> {
    if rsp.completion_code != 0 {
        return Err(StepError::Fatal(Error::CompletionCode {
            command,
            code: rsp.completion_code,
            name: completion_code_name(rsp.completion_code),
        }));
    }
    Ok(())
}

/// Constant-time comparison of MACs; lengths are public.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn sessionless_v2(pt: PayloadType, payload: &[u8]) -> Vec<u8> {
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

/// A pre-session IPMI response (v1.5 or v2.0 framing) to our request `cmd`
/// with sequence number `rq_seq`, if it is one. The rqSeq check matters when
/// several logins to one BMC share a socket ([`crate::Engine`]).
fn ipmi_reply(dg: &[u8], cmd: u8, rq_seq: u8) -> Option<Response> {
    let msg = match wire::decode_v15(dg) {
        Ok(m) => m,
        Err(_) => {
            let p = wire::decode_v2(dg, 0).ok()?;
            if p.header.payload_type != PayloadType::Ipmi || p.header.session_id != 0 {
                return None;
            }
            p.payload
        }
    };
    let rsp = wire::decode_response(msg).ok()?;
    (rsp.cmd == cmd && rsp.netfn == NetFn::APP.0 | 1 && rsp.rq_seq == rq_seq).then_some(rsp)
}

/// The payload of a session-setup reply of type `pt` carrying message tag `tag`.
fn sessionless_reply(dg: &[u8], pt: PayloadType, tag: u8) -> Option<&[u8]> {
    let p = wire::decode_v2(dg, 0).ok()?;
    if p.header.payload_type != pt || p.payload.first() != Some(&tag) {
        return None;
    }
    Some(p.payload)
}

/// Cipher suite ids from Get Channel Cipher Suites record data (22.15.2):
/// each standard record starts with 0xC0, id; OEM ones with 0xC1, id, IANA.
pub fn parse_cipher_suite_records(records: &[u8]) -> Vec<u8> {
    let mut ids = Vec::new();
    let mut it = records.iter();
    while let Some(&b) = it.next() {
        match b {
            0xC0 => {
                if let Some(&id) = it.next() {
                    ids.push(id);
                }
            }
            0xC1 => {
                // OEM suite: id + 3-byte IANA; we implement none of them.
                for _ in 0..4 {
                    it.next();
                }
            }
            _ => {} // algorithm bytes (tags 00b/01b/10b in bits 7:6)
        }
    }
    ids
}

/// An established RMCP+ session: keys, sequence numbers, packet sealing.
pub struct SessionCore {
    suite: CipherSuite,
    bmc_sid: u32,
    console_sid: u32,
    k1: Zeroizing<Vec<u8>>,
    k2: Zeroizing<Vec<u8>>,
    privilege: Privilege,
    out_seq: u32,
    rq_seq: u8,
    /// Highest inbound session sequence number seen and a bitmap of the 32
    /// below it, to drop replays (6.12.13 sliding window).
    in_high: u32,
    in_seen: u32,
    rng: StdRng,
}

impl std::fmt::Debug for SessionCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCore")
            .field("suite", &self.suite.id)
            .field("bmc_sid", &format_args!("{:#010x}", self.bmc_sid))
            .field("console_sid", &format_args!("{:#010x}", self.console_sid))
            .finish_non_exhaustive()
    }
}

impl SessionCore {
    /// Keys and counters for a session. The console passes (BMC's id, its
    /// own id); the managed system ([`crate::bmc`]) passes them swapped, as
    /// each side addresses packets with the other's id (13.17).
    pub(crate) fn new(
        suite: CipherSuite,
        bmc_sid: u32,
        console_sid: u32,
        sik: &[u8],
        privilege: Privilege,
        rng: StdRng,
    ) -> Self {
        // K1 = HMAC_SIK(0x01 x 20), K2 = HMAC_SIK(0x02 x 20) (13.32); the
        // constant is 20 bytes for every algorithm (ipmitool agrees).
        let (k1, k2) = if suite.auth == AuthAlg::None {
            (vec![1u8; 20], vec![2u8; 20])
        } else {
            (
                suite.auth.mac(sik, &[&[1u8; 20]]),
                suite.auth.mac(sik, &[&[2u8; 20]]),
            )
        };
        SessionCore {
            suite,
            bmc_sid,
            console_sid,
            k1: Zeroizing::new(k1),
            k2: Zeroizing::new(k2),
            privilege,
            out_seq: 0,
            rq_seq: 0,
            in_high: 0,
            in_seen: 0,
            rng,
        }
    }

    #[cfg(test)]
    pub(crate) fn new_for_test(
        suite: CipherSuite,
        remote_sid: u32,
        local_sid: u32,
        sik: &[u8],
        privilege: Privilege,
    ) -> Self {
        Self::new(
            suite,
            remote_sid,
            local_sid,
            sik,
            privilege,
            StdRng::seed_from_u64(9),
        )
    }

    /// The cipher suite in use.
    pub fn cipher_suite(&self) -> CipherSuite {
        self.suite
    }
    /// Our session id (the BMC addresses its packets with it).
    pub fn console_session_id(&self) -> u32 {
        self.console_sid
    }
    /// The BMC's session id (we address our packets with it).
    pub fn bmc_session_id(&self) -> u32 {
        self.bmc_sid
    }
    /// Privilege requested at login.
    pub fn privilege(&self) -> Privilege {
        self.privilege
    }

    /// Allocate the next 6-bit request sequence number (never 0, so a stale
    /// pre-session reply cannot match).
    pub fn next_rq_seq(&mut self) -> u8 {
        self.rq_seq = (self.rq_seq % 63) + 1;
        self.rq_seq
    }

    /// Wrap a payload in an authenticated/encrypted packet for the BMC.
    pub fn seal(&mut self, pt: PayloadType, payload: &[u8]) -> Vec<u8> {
        // Session sequence numbers start at 1 and skip 0 on wrap (6.12.13).
        self.out_seq = self.out_seq.wrapping_add(1).max(1);
        let (encrypted, body) = match self.suite.conf {
            ConfAlg::AesCbc128 => {
                let mut iv = [0u8; 16];
                self.rng.fill_bytes(&mut iv);
                (true, crypto::aes_encrypt(&self.k2, iv, payload))
            }
            ConfAlg::None => (false, payload.to_vec()),
        };
        let authenticated = self.suite.integrity != IntegrityAlg::None;
        let h = V2Header {
            encrypted,
            authenticated,
            payload_type: pt,
            session_id: self.bmc_sid,
            session_seq: self.out_seq,
        };
        let mut pkt = wire::encode_v2(&h, &body);
        if authenticated {
            // Integrity pad (13.28.4): 0xFF bytes so that AuthType..NextHeader
            // is a multiple of 4, then pad length, next header 0x07, AuthCode.
            let covered = pkt.len() - wire::SESSION_HEADER_OFFSET + 2;
            let pad = (4 - covered % 4) % 4;
            pkt.extend(std::iter::repeat_n(0xFF, pad));
            pkt.push(pad as u8);
            pkt.push(0x07);
            let code = self.suite.integrity.auth_code(
                &self.k1,
                pkt.get(wire::SESSION_HEADER_OFFSET..).unwrap_or_default(),
            );
            pkt.extend_from_slice(&code);
        }
        pkt
    }

    /// Verify, decrypt and unwrap a packet from the BMC. Errors mean "drop
    /// this datagram", never "the session is dead".
    pub fn open(&mut self, dg: &[u8]) -> Result<(PayloadType, Vec<u8>), DecodeError> {
        let p = wire::decode_v2(dg, self.suite.integrity.auth_code_len())?;
        if p.header.session_id != self.console_sid {
            return Err(DecodeError::Unexpected {
                what: "session id",
                value: p.header.session_id,
            });
        }
        if self.suite.integrity != IntegrityAlg::None {
            if !p.header.authenticated {
                return Err(DecodeError::Unexpected {
                    what: "unauthenticated packet in an integrity session",
                    value: 0,
                });
            }
            let expect = self.suite.integrity.auth_code(&self.k1, p.signed);
            if !ct_eq(&expect, p.auth_code) {
                return Err(DecodeError::Unexpected {
                    what: "integrity AuthCode mismatch",
                    value: p.header.session_seq,
                });
            }
        }
        self.check_replay(p.header.session_seq)?;
        let payload = match (self.suite.conf, p.header.encrypted) {
            (ConfAlg::AesCbc128, true) => {
                crypto::aes_decrypt(&self.k2, p.payload).ok_or(DecodeError::Unexpected {
                    what: "AES-CBC payload",
                    value: p.payload.len() as u32,
                })?
            }
            (ConfAlg::None, false) => p.payload.to_vec(),
            (_, enc) => {
                return Err(DecodeError::Unexpected {
                    what: "encryption flag",
                    value: u32::from(enc),
                });
            }
        };
        Ok((p.header.payload_type, payload))
    }

    fn check_replay(&mut self, seq: u32) -> Result<(), DecodeError> {
        if self.suite.integrity == IntegrityAlg::None {
            return Ok(()); // nothing stops a forger anyway; accept as-is
        }
        if seq > self.in_high {
            let shift = seq - self.in_high;
            self.in_seen = if shift >= 32 {
                0
            } else {
                self.in_seen << shift
            };
            self.in_seen |= 1;
            self.in_high = seq;
            return Ok(());
        }
        let back = self.in_high - seq;
        if back >= 32 || self.in_seen & (1 << back) != 0 {
            return Err(DecodeError::Unexpected {
                what: "replayed session sequence number",
                value: seq,
            });
        }
        self.in_seen |= 1 << back;
        Ok(())
    }

    /// Encode an IPMI request with the given request sequence number (a
    /// retransmit reuses rqSeq but gets a fresh session sequence number).
    pub fn encode_request(&mut self, req: &Request, rq_seq: u8) -> Vec<u8> {
        let msg = wire::encode_request(req, rq_seq);
        self.seal(PayloadType::Ipmi, &msg)
    }

    /// Open a datagram and decode it as an IPMI response.
    pub fn decode_response(&mut self, dg: &[u8]) -> Result<Response, DecodeError> {
        let (pt, payload) = self.open(dg)?;
        if pt != PayloadType::Ipmi {
            return Err(DecodeError::Unexpected {
                what: "payload type",
                value: pt.to_u8().into(),
            });
        }
        wire::decode_response(&payload)
    }

    /// Close Session request for this session (22.19).
    pub fn close_request(&self) -> Request {
        Request::new(NetFn::APP, 0x3C, self.bmc_sid.to_le_bytes().to_vec())
    }

    /// Set Session Privilege Level request (22.18): sessions start at User.
    pub fn set_privilege_request(&self) -> Request {
        Request::new(NetFn::APP, 0x3B, vec![self.privilege.code()])
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::testbmc::FakeBmc;

    fn cfg(pw: &str) -> Config {
        Config::new("127.0.0.1", "ADMIN", pw)
    }

    /// Run a handshake against the in-memory BMC; returns the session or error.
    pub(crate) fn login(cfg: &Config, bmc: &mut FakeBmc) -> Result<Box<SessionCore>, Error> {
        let mut hs = Handshake::with_rng(cfg, 0x1122_3344, StdRng::seed_from_u64(1))?;
        for _ in 0..100 {
            let reply = bmc.handle(hs.transmit()).expect("fake BMC answers");
            match hs.handle(&reply)? {
                HandshakeEvent::Established(s) => return Ok(s),
                HandshakeEvent::Progress => {}
                HandshakeEvent::Ignored => panic!("ignored reply at {}", hs.step_name()),
            }
        }
        panic!("handshake did not finish")
    }

    #[test]
    fn login_every_suite_and_exchange() {
        for id in [1u8, 2, 3, 6, 7, 8, 15, 16, 17] {
            let mut bmc = FakeBmc::new("ADMIN", b"secret", vec![id]);
            let mut s =
                login(&cfg("secret"), &mut bmc).unwrap_or_else(|e| panic!("suite {id}: {e}"));
            assert_eq!(s.cipher_suite().id, id);
            for _ in 0..3 {
                let seq = s.next_rq_seq();
                let pkt = s.encode_request(&Request::new(NetFn::APP, 0x01, vec![]), seq);
                let reply = bmc.handle(&pkt).expect("reply");
                let rsp = s.decode_response(&reply).unwrap();
                assert_eq!(rsp.rq_seq, seq);
                assert_eq!(rsp.completion_code, 0);
                // Replaying the same datagram must be rejected where integrity is on.
                if s.cipher_suite().integrity != IntegrityAlg::None {
                    assert!(s.decode_response(&reply).is_err());
                }
            }
        }
    }

    #[test]
    fn picks_strongest_listed() {
        let mut bmc = FakeBmc::new("ADMIN", b"secret", vec![0, 1, 2, 3, 17]);
        let s = login(&cfg("secret"), &mut bmc).unwrap();
        assert_eq!(s.cipher_suite().id, 17);
        let mut bmc = FakeBmc::new("ADMIN", b"secret", vec![0, 1, 2, 3, 6, 7, 8]);
        let s = login(&cfg("secret"), &mut bmc).unwrap();
        assert_eq!(s.cipher_suite().id, 3);
    }

    #[test]
    fn kg_two_key_login() {
        let mut bmc = FakeBmc::new("ADMIN", b"secret", vec![3]);
        bmc.kg = Some(b"bmckey".to_vec());
        assert!(login(&cfg("secret").kg("bmckey"), &mut bmc).is_ok());
        let mut bmc = FakeBmc::new("ADMIN", b"secret", vec![3]);
        bmc.kg = Some(b"bmckey".to_vec());
        let e = login(&cfg("secret").kg("other"), &mut bmc).unwrap_err();
        assert!(e.to_string().contains("RAKP 4"), "{e}");
    }

    #[test]
    fn wrong_password_is_rakp2_mismatch() {
        let mut bmc = FakeBmc::new("ADMIN", b"secret", vec![17]);
        let e = login(&cfg("nope"), &mut bmc).unwrap_err();
        assert!(matches!(e, Error::AuthenticationFailed { .. }), "{e}");
        assert!(e.to_string().contains("RAKP 2"), "{e}");
        // The handshake leaves a RAKP 3 with status 0Fh for the BMC.
        let mut bmc = FakeBmc::new("ADMIN", b"secret", vec![3]);
        let mut hs = Handshake::with_rng(&cfg("nope"), 9, StdRng::seed_from_u64(1)).unwrap();
        assert!(hs.abort_packet().is_none());
        let err = loop {
            let reply = bmc.handle(hs.transmit()).expect("reply");
            if let Err(e) = hs.handle(&reply) {
                break e;
            }
        };
        assert!(matches!(err, Error::AuthenticationFailed { .. }));
        let abort = wire::decode_v2(hs.abort_packet().expect("abort packet"), 0).unwrap();
        assert_eq!(abort.header.payload_type, PayloadType::Rakp3);
        assert_eq!(abort.payload.get(1), Some(&0x0F));
    }

    #[test]
    fn unknown_user_names_status() {
        let mut bmc = FakeBmc::new("root", b"secret", vec![3]);
        let e = login(&cfg("secret"), &mut bmc).unwrap_err();
        assert!(e.to_string().contains("unauthorized name"), "{e}");
    }

    #[test]
    fn policy_refusals() {
        let e = Handshake::new(&cfg("x").cipher_suite(0), 1).unwrap_err();
        assert!(matches!(e, Error::InsecureRefused(_)));
        assert!(e.to_string().contains("CVE-2013-4782"));
        let e = Handshake::new(&Config::new("h", "", "x"), 1).unwrap_err();
        assert!(e.to_string().contains("CVE-2013-4782"));
        assert!(Handshake::new(&cfg("x").cipher_suite(0).insecure(true), 1).is_ok());
        let e = Handshake::new(&cfg("123456789012345678901"), 1).unwrap_err();
        assert!(matches!(e, Error::Config(_)));
        assert!(Handshake::new(&cfg("12345678901234567890"), 1).is_ok());
        let e = Handshake::new(&cfg("x").cipher_suite(4), 1).unwrap_err();
        assert!(matches!(e, Error::UnsupportedCipherSuite(_)));
        // A BMC that offers only suite 0.
        let mut bmc = FakeBmc::new("ADMIN", b"secret", vec![0]);
        let e = login(&cfg("secret"), &mut bmc).unwrap_err();
        assert!(matches!(e, Error::InsecureRefused(_)), "{e}");
    }

    #[test]
    fn no_suite_list_probes_strongest_first() {
        // Like ipmi_sim: no answer to Get Channel Cipher Suites, suites 0-3.
        let mut bmc = FakeBmc::new("ADMIN", b"secret", vec![0, 1, 2, 3]);
        bmc.list_suites = false;
        let mut hs = Handshake::with_rng(&cfg("secret"), 7, StdRng::seed_from_u64(2)).unwrap();
        let mut proposed = Vec::new();
        let core = loop {
            if hs.step_name() == "Open Session" {
                proposed.push(hs.transmit()[16 + 12]); // auth algorithm byte
            }
            let Some(reply) = bmc.handle(hs.transmit()) else {
                assert!(hs.on_timeout(), "no fallback at {}", hs.step_name());
                continue;
            };
            if let HandshakeEvent::Established(c) = hs.handle(&reply).unwrap() {
                break c;
            }
        };
        assert_eq!(core.cipher_suite().id, 3);
        // 17 (SHA-256) was refused first, then 3 (SHA-1) accepted.
        assert_eq!(proposed, vec![3, 1]);
        // A fixed suite the BMC lacks is an error, not a fallback.
        let mut bmc = FakeBmc::new("ADMIN", b"secret", vec![3]);
        let e = login(&cfg("secret").cipher_suite(17), &mut bmc).unwrap_err();
        assert!(matches!(e, Error::UnsupportedCipherSuite(_)), "{e}");
    }

    #[test]
    fn cipher_record_parsing() {
        let recs = [
            0xC0, 0x00, 0x00, 0x40, 0x80, 0xC0, 0x03, 0x01, 0x41, 0x81, 0xC1, 0x80, 1, 2, 3, 0x01,
            0xC0, 0x11, 0x03, 0x44, 0x81,
        ];
        assert_eq!(parse_cipher_suite_records(&recs), vec![0, 3, 17]);
    }
}
