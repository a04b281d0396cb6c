//! Packet formats: RMCP, ASF ping/pong, IPMI 1.5 and 2.0 (RMCP+) session
//! wrappers and the IPMI LAN message (IPMI v2.0 spec sections 13.1–13.8).
//!
//! Every decoder takes untrusted bytes and returns `Result<_, DecodeError>`;
//! no decoder indexes or slices without a bounds check (see [`Reader`]).

use std::fmt;

/// Why a packet could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The buffer ended before a field did.
    #[error("truncated packet: needed {needed} more byte(s) for {what}")]
    Truncated { what: &'static str, needed: usize },
    /// A length field points past the end of the datagram.
    #[error("length field of {what} ({len}) exceeds the {available} byte(s) available")]
    BadLength {
        what: &'static str,
        len: usize,
        available: usize,
    },
    /// A checksum (IPMI message, FRU area) did not add up to zero.
    #[error("bad checksum in {0}")]
    Checksum(&'static str),
    /// A field holds a value this implementation does not accept.
    #[error("unexpected {what}: {value:#04x}")]
    Unexpected { what: &'static str, value: u32 },
}

/// Bounds-checked cursor over a byte slice; all decoders go through it.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }
    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if n > self.buf.len() {
            return Err(DecodeError::Truncated {
                what,
                needed: n - self.buf.len(),
            });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }
    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let s = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
    pub fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(what)?[0])
    }
    pub fn u16le(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }
    pub fn u32le(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    pub fn u32be(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }
    pub fn skip(&mut self, n: usize, what: &'static str) -> Result<(), DecodeError> {
        self.take(n, what).map(|_| ())
    }
}

// ---------------------------------------------------------------------------
// RMCP (spec 13.1.3) and ASF presence ping (13.2.3)

pub const RMCP_VERSION: u8 = 0x06;
/// Sequence number 0xFF means "no RMCP ACK wanted", as IPMI requires.
pub const RMCP_SEQ_NO_ACK: u8 = 0xFF;
pub const RMCP_CLASS_ASF: u8 = 0x06;
pub const RMCP_CLASS_IPMI: u8 = 0x07;
const ASF_IANA: u32 = 4542;
const ASF_PING: u8 = 0x80;
const ASF_PONG: u8 = 0x40;

/// Four-byte RMCP header in front of every datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RmcpHeader {
    pub seq: u8,
    pub class: u8,
}

impl RmcpHeader {
    pub const IPMI: RmcpHeader = RmcpHeader {
        seq: RMCP_SEQ_NO_ACK,
        class: RMCP_CLASS_IPMI,
    };
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[RMCP_VERSION, 0, self.seq, self.class]);
    }
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let version = r.u8("RMCP version")?;
        if version != RMCP_VERSION {
            return Err(DecodeError::Unexpected {
                what: "RMCP version",
                value: version.into(),
            });
        }
        r.skip(1, "RMCP reserved")?;
        let seq = r.u8("RMCP sequence")?;
        // Bit 7 of the class is the ACK flag; only the class bits matter here.
        let class = r.u8("RMCP class")? & 0x1F;
        Ok(RmcpHeader { seq, class })
    }
}

/// ASF Presence Ping: tells whether anything speaks RMCP at an address.
pub fn encode_asf_ping(tag: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(12);
    RmcpHeader {
        seq: RMCP_SEQ_NO_ACK,
        class: RMCP_CLASS_ASF,
    }
    .encode(&mut out);
    out.extend_from_slice(&ASF_IANA.to_be_bytes());
    out.extend_from_slice(&[ASF_PING, tag, 0, 0]);
    out
}

/// Decoded ASF Presence Pong (ASF 2.0 table 3.2.4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AsfPong {
    pub tag: u8,
    pub iana: u32,
    /// Bit 7 of "supported entities": IPMI is supported.
    pub ipmi_supported: bool,
}

pub fn decode_asf_pong(buf: &[u8]) -> Result<AsfPong, DecodeError> {
    let mut r = Reader::new(buf);
    let h = RmcpHeader::decode(&mut r)?;
    if h.class != RMCP_CLASS_ASF {
        return Err(DecodeError::Unexpected {
            what: "RMCP class (wanted ASF)",
            value: h.class.into(),
        });
    }
    let iana = r.u32be("ASF IANA")?;
    let typ = r.u8("ASF message type")?;
    if typ != ASF_PONG {
        return Err(DecodeError::Unexpected {
            what: "ASF message type",
            value: typ.into(),
        });
    }
    let tag = r.u8("ASF tag")?;
    r.skip(1, "ASF reserved")?;
    let len = usize::from(r.u8("ASF data length")?);
    let data = r.take(len, "ASF pong data")?;
    let mut d = Reader::new(data);
    let _oem_iana = d.u32be("pong OEM IANA")?;
    let _oem = d.u32be("pong OEM defined")?;
    let entities = d.u8("pong supported entities")?;
    Ok(AsfPong {
        tag,
        iana,
        ipmi_supported: entities & 0x80 != 0,
    })
}

// ---------------------------------------------------------------------------
// Session wrappers (spec 13.6, table 13-8)

/// Authentication type byte; 0x06 marks an IPMI 2.0 / RMCP+ packet.
pub const AUTH_TYPE_NONE: u8 = 0x00;
pub const AUTH_TYPE_RMCP_PLUS: u8 = 0x06;

/// RMCP+ payload types (spec 13.27.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PayloadType {
    Ipmi,
    Sol,
    OpenSessionRequest,
    OpenSessionResponse,
    Rakp1,
    Rakp2,
    Rakp3,
    Rakp4,
    Other(u8),
}

impl PayloadType {
    pub fn to_u8(self) -> u8 {
        match self {
            PayloadType::Ipmi => 0x00,
            PayloadType::Sol => 0x01,
            PayloadType::OpenSessionRequest => 0x10,
            PayloadType::OpenSessionResponse => 0x11,
            PayloadType::Rakp1 => 0x12,
            PayloadType::Rakp2 => 0x13,
            PayloadType::Rakp3 => 0x14,
            PayloadType::Rakp4 => 0x15,
            PayloadType::Other(v) => v & 0x3F,
        }
    }
    pub fn from_u8(v: u8) -> Self {
        match v & 0x3F {
            0x00 => PayloadType::Ipmi,
            0x01 => PayloadType::Sol,
            0x10 => PayloadType::OpenSessionRequest,
            0x11 => PayloadType::OpenSessionResponse,
            0x12 => PayloadType::Rakp1,
            0x13 => PayloadType::Rakp2,
            0x14 => PayloadType::Rakp3,
            0x15 => PayloadType::Rakp4,
            o => PayloadType::Other(o),
        }
    }
}

/// The fixed part of an IPMI 2.0 session header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct V2Header {
    pub encrypted: bool,
    pub authenticated: bool,
    pub payload_type: PayloadType,
    pub session_id: u32,
    pub session_seq: u32,
}

/// A decoded RMCP+ packet. `payload` is still encrypted if `header.encrypted`;
/// `integrity` holds what the authcode covers plus the authcode itself so the
/// session layer can verify it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V2Packet<'a> {
    pub header: V2Header,
    pub payload: &'a [u8],
    /// Bytes from the AuthType field through Next Header (integrity input).
    pub signed: &'a [u8],
    /// Trailer bytes after Next Header (the AuthCode), empty if none.
    pub auth_code: &'a [u8],
}

/// Offset of the AuthType byte: the integrity HMAC starts there (13.28.4).
pub const SESSION_HEADER_OFFSET: usize = 4;
/// RMCP (4) + authtype, payload type, session id, seq, length (12).
pub const V2_HEADER_LEN: usize = 16;

/// Encode an IPMI 2.0 packet up to and including the payload. The caller
/// appends the integrity trailer when the session has one.
pub fn encode_v2(h: &V2Header, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(V2_HEADER_LEN + payload.len() + 32);
    RmcpHeader::IPMI.encode(&mut out);
    out.push(AUTH_TYPE_RMCP_PLUS);
    let mut pt = h.payload_type.to_u8();
    if h.encrypted {
        pt |= 0x80;
    }
    if h.authenticated {
        pt |= 0x40;
    }
    out.push(pt);
    out.extend_from_slice(&h.session_id.to_le_bytes());
    out.extend_from_slice(&h.session_seq.to_le_bytes());
    // The payload length is 16 bits; IPMI payloads are far below that.
    let len = u16::try_from(payload.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// Decode an IPMI 2.0 packet (after checking the RMCP header). The integrity
/// trailer is located, not verified: `auth_code_len` is the trailer's AuthCode
/// size for the session's integrity algorithm (0 if none).
pub fn decode_v2(buf: &[u8], auth_code_len: usize) -> Result<V2Packet<'_>, DecodeError> {
    let mut r = Reader::new(buf);
    let rmcp = RmcpHeader::decode(&mut r)?;
    if rmcp.class != RMCP_CLASS_IPMI {
        return Err(DecodeError::Unexpected {
            what: "RMCP class (wanted IPMI)",
            value: rmcp.class.into(),
        });
    }
    let auth = r.u8("auth type")?;
    if auth != AUTH_TYPE_RMCP_PLUS {
        return Err(DecodeError::Unexpected {
            what: "auth type (wanted RMCP+)",
            value: auth.into(),
        });
    }
    let pt = r.u8("payload type")?;
    let payload_type = PayloadType::from_u8(pt);
    if payload_type == PayloadType::Other(0x02) {
        // OEM explicit payloads carry 6 more header bytes (13.27.3).
        r.skip(6, "OEM IANA / payload id")?;
    }
    let session_id = r.u32le("session id")?;
    let session_seq = r.u32le("session sequence")?;
    let len = usize::from(r.u16le("payload length")?);
    let avail = r.remaining();
    if len > avail {
        return Err(DecodeError::BadLength {
            what: "RMCP+ payload",
            len,
            available: avail,
        });
    }
    let payload = r.take(len, "payload")?;
    let header = V2Header {
        encrypted: pt & 0x80 != 0,
        authenticated: pt & 0x40 != 0,
        payload_type,
        session_id,
        session_seq,
    };
    let trailer = r.rest();
    let (signed, auth_code) = if header.authenticated && header.session_id != 0 {
        // Trailer: pad (0..3 x 0xFF), pad length, next header 0x07, AuthCode.
        if trailer.len() < auth_code_len + 2 {
            return Err(DecodeError::Truncated {
                what: "integrity trailer",
                needed: auth_code_len + 2 - trailer.len(),
            });
        }
        let total = buf.len() - auth_code_len;
        let signed = buf
            .get(SESSION_HEADER_OFFSET..total)
            .ok_or(DecodeError::Truncated {
                what: "integrity data",
                needed: 1,
            })?;
        let code = buf.get(total..).unwrap_or_default();
        let next = signed.last().copied().unwrap_or(0);
        if next != 0x07 {
            return Err(DecodeError::Unexpected {
                what: "next header",
                value: next.into(),
            });
        }
        (signed, code)
    } else {
        (&[][..], &[][..])
    };
    Ok(V2Packet {
        header,
        payload,
        signed,
        auth_code,
    })
}

/// Encode an IPMI 1.5 session-less packet (auth type none, session id 0):
/// only used for Get Channel Authentication Capabilities (13.14), so a BMC
/// that speaks only 1.5 can still answer.
pub fn encode_v15_sessionless(msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(14 + msg.len());
    RmcpHeader::IPMI.encode(&mut out);
    out.push(AUTH_TYPE_NONE);
    out.extend_from_slice(&0u32.to_le_bytes()); // session seq
    out.extend_from_slice(&0u32.to_le_bytes()); // session id
    out.push(u8::try_from(msg.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(msg);
    out
}

/// Decode an IPMI 1.5 packet and return its IPMI message bytes.
pub fn decode_v15(buf: &[u8]) -> Result<&[u8], DecodeError> {
    let mut r = Reader::new(buf);
    let rmcp = RmcpHeader::decode(&mut r)?;
    if rmcp.class != RMCP_CLASS_IPMI {
        return Err(DecodeError::Unexpected {
            what: "RMCP class (wanted IPMI)",
            value: rmcp.class.into(),
        });
    }
    let auth = r.u8("auth type")?;
    if auth == AUTH_TYPE_RMCP_PLUS {
        return Err(DecodeError::Unexpected {
            what: "auth type (wanted IPMI 1.5)",
            value: auth.into(),
        });
    }
    r.skip(8, "session seq / id")?;
    if auth != AUTH_TYPE_NONE {
        r.skip(16, "auth code")?;
    }
    let len = usize::from(r.u8("message length")?);
    let avail = r.remaining();
    if len > avail {
        return Err(DecodeError::BadLength {
            what: "IPMI 1.5 message",
            len,
            available: avail,
        });
    }
    r.take(len, "IPMI message")
}

/// Peek at a datagram: is it an RMCP+ packet, and for which session id?
/// Used to demultiplex many sessions over one socket.
pub fn peek_session_id(buf: &[u8]) -> Option<u32> {
    let mut r = Reader::new(buf);
    let rmcp = RmcpHeader::decode(&mut r).ok()?;
    if rmcp.class != RMCP_CLASS_IPMI || r.u8("auth").ok()? != AUTH_TYPE_RMCP_PLUS {
        return None;
    }
    let pt = r.u8("pt").ok()?;
    if pt & 0x3F == 0x02 {
        r.skip(6, "oem").ok()?;
    }
    r.u32le("sid").ok()
}

/// The console session id a datagram from the BMC is meant for: the session
/// id of an in-session packet, or the console session id carried in the
/// payload of Open Session Response and RAKP 2/4 (13.18, 13.21, 13.23).
/// `None` for session-less IPMI replies (auth capabilities, cipher suites),
/// which can only be matched by peer address.
pub fn demux_id(buf: &[u8]) -> Option<u32> {
    let mut r = Reader::new(buf);
    let rmcp = RmcpHeader::decode(&mut r).ok()?;
    if rmcp.class != RMCP_CLASS_IPMI || r.u8("auth").ok()? != AUTH_TYPE_RMCP_PLUS {
        return None;
    }
    let pt = r.u8("pt").ok()?;
    if pt & 0x3F == 0x02 {
        r.skip(6, "oem").ok()?;
    }
    let sid = r.u32le("sid").ok()?;
    if sid != 0 {
        return Some(sid);
    }
    match PayloadType::from_u8(pt) {
        PayloadType::OpenSessionResponse | PayloadType::Rakp2 | PayloadType::Rakp4 => {
            r.skip(6, "seq / length").ok()?;
            r.skip(4, "tag / status / reserved").ok()?;
            r.u32le("console session id").ok()
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// IPMI LAN message (spec 13.8)

/// Network functions used by this crate (spec table 5-1). Requests use the
/// even value; responses come back with netFn + 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NetFn(pub u8);

impl NetFn {
    pub const CHASSIS: NetFn = NetFn(0x00);
    pub const SENSOR_EVENT: NetFn = NetFn(0x04);
    pub const APP: NetFn = NetFn(0x06);
    pub const STORAGE: NetFn = NetFn(0x0A);
    pub const TRANSPORT: NetFn = NetFn(0x0C);
}

/// Slave address of the BMC and the software ID we use as requester (0x81,
/// "remote console software 1", spec 5.5).
pub const BMC_ADDR: u8 = 0x20;
pub const CONSOLE_SWID: u8 = 0x81;

/// An IPMI request as it goes on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub netfn: NetFn,
    pub cmd: u8,
    pub data: Vec<u8>,
}

impl Request {
    pub fn new(netfn: NetFn, cmd: u8, data: impl Into<Vec<u8>>) -> Self {
        Request {
            netfn,
            cmd,
            data: data.into(),
        }
    }
}

/// A decoded IPMI response message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The response netFn (request netFn | 1).
    pub netfn: u8,
    pub cmd: u8,
    pub rq_seq: u8,
    pub completion_code: u8,
    pub data: Vec<u8>,
}

/// Two's-complement checksum: the covered bytes plus it sum to zero (13.8).
pub fn checksum(bytes: &[u8]) -> u8 {
    bytes
        .iter()
        .fold(0u8, |a, b| a.wrapping_add(*b))
        .wrapping_neg()
}

/// Encode a request message (rsAddr, netFn/LUN, chk1, rqAddr, rqSeq/LUN,
/// cmd, data, chk2). `rq_seq` is 6 bits.
pub fn encode_request(req: &Request, rq_seq: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(7 + req.data.len());
    out.push(BMC_ADDR);
    out.push(req.netfn.0 << 2);
    out.push(checksum(&out[0..2]));
    out.push(CONSOLE_SWID);
    out.push((rq_seq & 0x3F) << 2);
    out.push(req.cmd);
    out.extend_from_slice(&req.data);
    out.push(checksum(&out[3..]));
    out
}

/// Decode a response message and verify both checksums.
pub fn decode_response(buf: &[u8]) -> Result<Response, DecodeError> {
    if buf.len() < 8 {
        return Err(DecodeError::Truncated {
            what: "IPMI response message",
            needed: 8 - buf.len(),
        });
    }
    let (head, body) = buf.split_at(3);
    if checksum(head) != 0 {
        return Err(DecodeError::Checksum("IPMI message header"));
    }
    if checksum(body) != 0 {
        return Err(DecodeError::Checksum("IPMI message body"));
    }
    let mut r = Reader::new(buf);
    let _rq_addr = r.u8("rqAddr")?;
    let netfn = r.u8("netFn")? >> 2;
    r.skip(1, "checksum")?;
    let _rs_addr = r.u8("rsAddr")?;
    let rq_seq = r.u8("rqSeq")? >> 2;
    let cmd = r.u8("cmd")?;
    let completion_code = r.u8("completion code")?;
    let rest = r.rest();
    let data = rest.get(..rest.len().saturating_sub(1)).unwrap_or_default();
    Ok(Response {
        netfn,
        cmd,
        rq_seq,
        completion_code,
        data: data.to_vec(),
    })
}

/// Encode the request side as a BMC would receive it; handy for tests and
/// for a future BMC implementation.
pub fn decode_request(buf: &[u8]) -> Result<(Request, u8), DecodeError> {
    if buf.len() < 7 {
        return Err(DecodeError::Truncated {
            what: "IPMI request message",
            needed: 7 - buf.len(),
        });
    }
    let (head, body) = buf.split_at(3);
    if checksum(head) != 0 || checksum(body) != 0 {
        return Err(DecodeError::Checksum("IPMI request"));
    }
    let mut r = Reader::new(buf);
    r.skip(1, "rsAddr")?;
    let netfn = NetFn(r.u8("netFn")? >> 2);
    r.skip(2, "chk1/rqAddr")?;
    let rq_seq = r.u8("rqSeq")? >> 2;
    let cmd = r.u8("cmd")?;
    let rest = r.rest();
    let data = rest.get(..rest.len().saturating_sub(1)).unwrap_or_default();
    Ok((Request::new(netfn, cmd, data), rq_seq))
}

/// Encode a response message (the BMC side; used by tests).
pub fn encode_response(req: &Request, rq_seq: u8, cc: u8, data: &[u8]) -> Vec<u8> {
    let mut out = vec![CONSOLE_SWID, (req.netfn.0 | 1) << 2];
    out.push(checksum(&out));
    out.push(BMC_ADDR);
    out.push((rq_seq & 0x3F) << 2);
    out.push(req.cmd);
    out.push(cc);
    out.extend_from_slice(data);
    out.push(checksum(&out[3..]));
    out
}

impl fmt::Display for NetFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "netfn {:#04x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_roundtrip_and_checksums() {
        // Get Device ID as ipmitool sends it: 20 18 c8 81 04 01 7a
        let req = Request::new(NetFn::APP, 0x01, vec![]);
        let bytes = encode_request(&req, 1);
        assert_eq!(bytes, [0x20, 0x18, 0xc8, 0x81, 0x04, 0x01, 0x7a]);
        let (back, seq) = decode_request(&bytes).unwrap();
        assert_eq!((back, seq), (req.clone(), 1));
        let resp = encode_response(&req, 1, 0, &[1, 2, 3]);
        let r = decode_response(&resp).unwrap();
        assert_eq!(r.netfn, 0x07);
        assert_eq!(r.rq_seq, 1);
        assert_eq!(r.data, vec![1, 2, 3]);
        let mut bad = resp.clone();
        bad[4] ^= 1;
        assert!(matches!(
            decode_response(&bad),
            Err(DecodeError::Checksum(_))
        ));
    }

    #[test]
    fn v2_roundtrip() {
        let h = V2Header {
            encrypted: false,
            authenticated: false,
            payload_type: PayloadType::OpenSessionRequest,
            session_id: 0,
            session_seq: 0,
        };
        let pkt = encode_v2(&h, &[1, 2, 3]);
        assert_eq!(&pkt[..6], &[6, 0, 0xff, 7, 6, 0x10]);
        let d = decode_v2(&pkt, 0).unwrap();
        assert_eq!(d.header, h);
        assert_eq!(d.payload, &[1, 2, 3]);
        assert_eq!(peek_session_id(&pkt), Some(0));
        // Length field larger than the datagram.
        let mut bad = pkt.clone();
        bad[14] = 200;
        assert!(matches!(
            decode_v2(&bad, 0),
            Err(DecodeError::BadLength { .. })
        ));
    }

    #[test]
    fn demux_by_console_session_id() {
        let h = |pt, sid| V2Header {
            encrypted: false,
            authenticated: false,
            payload_type: pt,
            session_id: sid,
            session_seq: 0,
        };
        // Open Session Response: tag, status, priv, reserved, console sid.
        let p = encode_v2(
            &h(PayloadType::OpenSessionResponse, 0),
            &[1, 0, 4, 0, 0x78, 0x56, 0x34, 0x12, 9, 9, 9, 9],
        );
        assert_eq!(demux_id(&p), Some(0x1234_5678));
        let p = encode_v2(&h(PayloadType::Ipmi, 0xAABB), &[0; 8]);
        assert_eq!(demux_id(&p), Some(0xAABB));
        // Session-less IPMI reply: only the peer address can tell.
        assert_eq!(
            demux_id(&encode_v2(&h(PayloadType::Ipmi, 0), &[0; 8])),
            None
        );
        assert_eq!(demux_id(&p[..9]), None);
    }

    #[test]
    fn v15_and_asf() {
        let msg = encode_request(&Request::new(NetFn::APP, 0x38, vec![0x8e, 4]), 0);
        let pkt = encode_v15_sessionless(&msg);
        assert_eq!(decode_v15(&pkt).unwrap(), &msg[..]);
        let ping = encode_asf_ping(7);
        assert_eq!(ping, [6, 0, 0xff, 6, 0, 0, 0x11, 0xbe, 0x80, 7, 0, 0]);
        let pong = [
            6, 0, 0xff, 6, 0, 0, 0x11, 0xbe, 0x40, 7, 0, 16, 0, 0, 0x11, 0xbe, 0, 0, 0, 0, 0x81, 0,
            0, 0, 0, 0, 0, 0,
        ];
        let p = decode_asf_pong(&pong).unwrap();
        assert_eq!(p.tag, 7);
        assert!(p.ipmi_supported);
    }
}
