//! An in-memory BMC for unit tests: the managed-system side of RAKP, written
//! from the spec independently of [`crate::session::Handshake`], so suites
//! that ipmi_sim lacks (15–17) are exercised end to end.

use crate::config::Privilege;
use crate::crypto::CipherSuite;
use crate::session::SessionCore;
use crate::wire::{self, NetFn, PayloadType, Reader, V2Header};

pub struct FakeBmc {
    pub user: String,
    pub password: Vec<u8>,
    pub kg: Option<Vec<u8>>,
    pub suites: Vec<u8>,
    /// Answer Get Channel Cipher Suites (ipmi_sim does not, pre-session).
    pub list_suites: bool,
    pub guid: [u8; 16],
    bmc_sid: u32,
    console_sid: u32,
    suite: Option<CipherSuite>,
    rm: [u8; 16],
    rc: [u8; 16],
    role: u8,
    name: Vec<u8>,
    pub session: Option<SessionCore>,
    /// Canned responses for (netfn, cmd); default: cc 0 and empty data.
    pub answers: Vec<((u8, u8), u8, Vec<u8>)>,
}

fn v2(pt: PayloadType, p: &[u8]) -> Vec<u8> {
    wire::encode_v2(
        &V2Header {
            encrypted: false,
            authenticated: false,
            payload_type: pt,
            session_id: 0,
            session_seq: 0,
        },
        p,
    )
}

impl FakeBmc {
    pub fn new(user: &str, password: &[u8], suites: Vec<u8>) -> Self {
        FakeBmc {
            user: user.into(),
            password: password.to_vec(),
            kg: None,
            suites,
            list_suites: true,
            guid: *b"0123456789abcdef",
            bmc_sid: 0x0a0b_0c0d,
            console_sid: 0,
            suite: None,
            rm: [0; 16],
            rc: [0x5a; 16],
            role: 0,
            name: Vec::new(),
            session: None,
            answers: Vec::new(),
        }
    }

    pub fn handle(&mut self, dg: &[u8]) -> Option<Vec<u8>> {
        if let Ok(msg) = wire::decode_v15(dg) {
            let (req, seq) = wire::decode_request(msg).ok()?;
            // Auth caps: IPMI 2.0 extended data, v2.0 supported.
            let rsp =
                wire::encode_response(&req, seq, 0, &[1, 0x80 | 0x14, 0x04, 0x02, 0, 0, 0, 0]);
            return Some(wire::encode_v15_sessionless(&rsp));
        }
        if let Some(s) = self.session.as_mut()
            && wire::peek_session_id(dg) == Some(self.bmc_sid)
        {
            let (_, payload) = s.open(dg).ok()?;
            let (req, seq) = wire::decode_request(&payload).ok()?;
            let (cc, data) = self
                .answers
                .iter()
                .find(|((n, c), _, _)| *n == req.netfn.0 && *c == req.cmd)
                .map(|(_, cc, d)| (*cc, d.clone()))
                .unwrap_or((0, vec![]));
            let rsp = wire::encode_response(&req, seq, cc, &data);
            return Some(s.seal(PayloadType::Ipmi, &rsp));
        }
        let p = wire::decode_v2(dg, 0).ok()?;
        let mut r = Reader::new(p.payload);
        match p.header.payload_type {
            PayloadType::Ipmi => {
                let (req, seq) = wire::decode_request(p.payload).ok()?;
                if req.netfn != NetFn::APP || req.cmd != 0x54 || !self.list_suites {
                    return None;
                }
                let mut recs = Vec::new();
                for id in &self.suites {
                    let s = CipherSuite::from_id(*id)?;
                    recs.extend_from_slice(&[
                        0xC0,
                        *id,
                        s.auth.id(),
                        0x40 | s.integrity.id(),
                        0x80 | s.conf.id(),
                    ]);
                }
                let index = usize::from(req.data.get(2)? & 0x3F);
                let chunk = recs.chunks(16).nth(index).unwrap_or_default();
                let mut data = vec![1];
                data.extend_from_slice(chunk);
                Some(v2(
                    PayloadType::Ipmi,
                    &wire::encode_response(&req, seq, 0, &data),
                ))
            }
            PayloadType::OpenSessionRequest => {
                let tag = r.u8("").ok()?;
                r.skip(3, "").ok()?;
                self.console_sid = r.u32le("").ok()?;
                let a = r.array::<8>("").ok()?[4];
                let i = r.array::<8>("").ok()?[4];
                let c = r.array::<8>("").ok()?[4];
                let found = self
                    .suites
                    .iter()
                    .filter_map(|id| CipherSuite::from_id(*id))
                    .find(|s| s.auth.id() == a && s.integrity.id() == i && s.conf.id() == c);
                let mut out = vec![tag, if found.is_some() { 0 } else { 0x11 }, 4, 0];
                out.extend_from_slice(&self.console_sid.to_le_bytes());
                out.extend_from_slice(&self.bmc_sid.to_le_bytes());
                self.suite = found;
                Some(v2(PayloadType::OpenSessionResponse, &out))
            }
            PayloadType::Rakp1 => {
                let tag = r.u8("").ok()?;
                r.skip(7, "").ok()?;
                self.rm = r.array("").ok()?;
                self.role = r.u8("").ok()?;
                r.skip(2, "").ok()?;
                let n = usize::from(r.u8("").ok()?);
                self.name = r.take(n, "").ok()?.to_vec();
                let suite = self.suite?;
                let status = if self.name != self.user.as_bytes() {
                    0x0D
                } else {
                    0
                };
                let mut out = vec![tag, status, 0, 0];
                out.extend_from_slice(&self.console_sid.to_le_bytes());
                out.extend_from_slice(&self.rc);
                out.extend_from_slice(&self.guid);
                let mut d = Vec::new();
                d.extend_from_slice(&self.console_sid.to_le_bytes());
                d.extend_from_slice(&self.bmc_sid.to_le_bytes());
                d.extend_from_slice(&self.rm);
                d.extend_from_slice(&self.rc);
                d.extend_from_slice(&self.guid);
                d.push(self.role);
                d.push(self.name.len() as u8);
                d.extend_from_slice(&self.name);
                out.extend_from_slice(&suite.auth.mac(&self.password, &[&d]));
                Some(v2(PayloadType::Rakp2, &out))
            }
            PayloadType::Rakp3 => {
                let tag = r.u8("").ok()?;
                r.skip(7, "").ok()?;
                let code = r.rest();
                let suite = self.suite?;
                let mut d = self.rc.to_vec();
                d.extend_from_slice(&self.console_sid.to_le_bytes());
                d.push(self.role);
                d.push(self.name.len() as u8);
                d.extend_from_slice(&self.name);
                let ok = suite.auth.mac(&self.password, &[&d]) == code;
                let mut s = self.rm.to_vec();
                s.extend_from_slice(&self.rc);
                s.push(self.role);
                s.push(self.name.len() as u8);
                s.extend_from_slice(&self.name);
                let kg = self.kg.clone().unwrap_or_else(|| self.password.clone());
                let sik = suite.auth.mac(&kg, &[&s]);
                let mut icv = suite
                    .auth
                    .mac(&sik, &[&self.rm, &self.bmc_sid.to_le_bytes(), &self.guid]);
                icv.truncate(suite.auth.icv_len());
                let mut out = vec![tag, if ok { 0 } else { 0x0F }, 0, 0];
                out.extend_from_slice(&self.console_sid.to_le_bytes());
                out.extend_from_slice(&icv);
                if ok {
                    // The BMC's view of the session: ids swapped.
                    self.session = Some(SessionCore::new_for_test(
                        suite,
                        self.console_sid,
                        self.bmc_sid,
                        &sik,
                        Privilege::Administrator,
                    ));
                }
                Some(v2(PayloadType::Rakp4, &out))
            }
            _ => None,
        }
    }
}
