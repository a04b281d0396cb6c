//! RFB (the VNC protocol, RFC 6143), sans-IO: the handshake toward the
//! target as a client, the handshake toward the browser as a server, and a
//! parser that splits the browser's message stream into messages so input
//! can be told apart (view-only viewers, idle timer).
//!
//! Nothing here reads a socket: callers feed bytes in and send what comes
//! out. Every decoder returns an error for bad input, never panics.

use des::Des;
use des::cipher::{BlockEncrypt, KeyInit, generic_array::GenericArray};
use zeroize::Zeroizing;

/// Longest reason string or cut text accepted from a peer.
pub const MAX_TEXT: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RfbError {
    #[error("not an RFB peer: bad ProtocolVersion {0:?}")]
    BadVersion(String),
    #[error("the VNC server refused the connection: {0}")]
    Refused(String),
    #[error("the VNC server offers no security type we support (offered: {0:?})")]
    NoSecurityType(Vec<u8>),
    #[error("the VNC server requires a password and none is stored for this console")]
    PasswordNeeded,
    #[error("VNC authentication failed: {0}")]
    AuthFailed(String),
    #[error("the viewer chose security type {0}; only None (1) is offered")]
    ViewerSecurity(u8),
    #[error("unknown client message type {0}")]
    UnknownMessage(u8),
    #[error("unknown QEMU client message subtype {0}")]
    UnknownQemuMessage(u8),
    #[error("a {what} of {len} bytes exceeds the limit of {MAX_TEXT}")]
    TooLong { what: &'static str, len: usize },
}

/// An RFB protocol version we speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Version {
    V3_3,
    V3_7,
    V3_8,
}

impl Version {
    fn wire(self) -> &'static [u8; 12] {
        match self {
            Version::V3_3 => b"RFB 003.003\n",
            Version::V3_7 => b"RFB 003.007\n",
            Version::V3_8 => b"RFB 003.008\n",
        }
    }

    /// Parses a 12-byte ProtocolVersion. Versions above 3.8 speak 3.8
    /// (RFC 6143 7.1.1); unknown minors below 3.7 fall back to 3.3.
    fn parse(b: &[u8]) -> Result<Version, RfbError> {
        let bad = || RfbError::BadVersion(String::from_utf8_lossy(b).into_owned());
        let text = std::str::from_utf8(b).map_err(|_| bad())?;
        let rest = text.strip_prefix("RFB ").ok_or_else(bad)?;
        let rest = rest.strip_suffix('\n').ok_or_else(bad)?;
        let (major, minor) = rest.split_once('.').ok_or_else(bad)?;
        if major.len() != 3 || minor.len() != 3 {
            return Err(bad());
        }
        let major: u32 = major.parse().map_err(|_| bad())?;
        let minor: u32 = minor.parse().map_err(|_| bad())?;
        Ok(match (major, minor) {
            (3, 0..=6) => Version::V3_3,
            (3, 7) => Version::V3_7,
            (3, _) => Version::V3_8,
            (m, _) if m > 3 => Version::V3_8,
            _ => return Err(bad()),
        })
    }
}

/// Takes `n` bytes from the front of `buf` if there are that many.
fn take(buf: &mut Vec<u8>, n: usize) -> Option<Vec<u8>> {
    if buf.len() < n {
        return None;
    }
    let rest = buf.split_off(n);
    Some(std::mem::replace(buf, rest))
}

fn be32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(b.get(..4).unwrap_or(&[0; 4]));
    u32::from_be_bytes(a)
}

/// The VNC Authentication response (RFC 6143 7.2.2): the 16-byte challenge
/// encrypted with DES, keyed by the password's first 8 bytes (zero padded)
/// with each byte's bits reversed, the historical quirk every VNC server
/// expects.
pub fn vnc_auth_response(password: &[u8], challenge: &[u8; 16]) -> [u8; 16] {
    let mut key = Zeroizing::new([0u8; 8]);
    for (k, p) in key.iter_mut().zip(password.iter()) {
        *k = p.reverse_bits();
    }
    let des = Des::new(GenericArray::from_slice(key.as_ref()));
    let mut out = *challenge;
    for block in out.chunks_exact_mut(8) {
        des.encrypt_block(GenericArray::from_mut_slice(block));
    }
    out
}

/// What a handshake step produced.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Bytes to send to the peer, in order.
    pub send: Vec<u8>,
    /// The handshake is over; bytes received beyond it are in `leftover`.
    pub done: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TargetStep {
    Version,
    SecurityType33,
    SecurityCount,
    SecurityTypes(usize),
    Challenge,
    Result,
    FailureReason(usize),
    RefusedReason(usize, bool),
    Done,
}

/// The client side of the handshake, toward the VNC target: version,
/// security (None or VNC Authentication with the stored password), and the
/// security result. After it, the caller sends ClientInit.
pub struct TargetHandshake {
    password: Option<Zeroizing<String>>,
    step: TargetStep,
    buf: Vec<u8>,
    version: Version,
    chosen: u8,
}

impl std::fmt::Debug for TargetHandshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TargetHandshake")
            .field("step", &self.step)
            .field("version", &self.version)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl TargetHandshake {
    pub fn new(password: Option<&str>) -> TargetHandshake {
        TargetHandshake {
            password: password.map(|p| Zeroizing::new(p.to_owned())),
            step: TargetStep::Version,
            buf: Vec::new(),
            version: Version::V3_8,
            chosen: 0,
        }
    }

    /// The version agreed with the target.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The security type used (1 None, 2 VNC Authentication).
    pub fn security_type(&self) -> u8 {
        self.chosen
    }

    /// Bytes received after the handshake (none from a conforming server,
    /// which waits for ClientInit).
    pub fn leftover(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    /// Feeds bytes from the target.
    pub fn receive(&mut self, data: &[u8]) -> Result<Progress, RfbError> {
        self.buf.extend_from_slice(data);
        let mut out = Progress::default();
        loop {
            match self.step {
                TargetStep::Done => {
                    out.done = true;
                    return Ok(out);
                }
                TargetStep::Version => {
                    let Some(v) = take(&mut self.buf, 12) else {
                        return Ok(out);
                    };
                    self.version = Version::parse(&v)?;
                    out.send.extend_from_slice(self.version.wire());
                    self.step = if self.version == Version::V3_3 {
                        TargetStep::SecurityType33
                    } else {
                        TargetStep::SecurityCount
                    };
                }
                TargetStep::SecurityType33 => {
                    let Some(t) = take(&mut self.buf, 4) else {
                        return Ok(out);
                    };
                    match be32(&t) {
                        0 => self.step = TargetStep::RefusedReason(0, false),
                        1 => {
                            self.chosen = 1;
                            self.step = TargetStep::Done;
                        }
                        2 => {
                            if self.password.is_none() {
                                return Err(RfbError::PasswordNeeded);
                            }
                            self.chosen = 2;
                            self.step = TargetStep::Challenge;
                        }
                        other => {
                            return Err(RfbError::NoSecurityType(vec![
                                u8::try_from(other).unwrap_or(u8::MAX),
                            ]));
                        }
                    }
                }
                TargetStep::SecurityCount => {
                    let Some(n) = take(&mut self.buf, 1) else {
                        return Ok(out);
                    };
                    let n = usize::from(n.first().copied().unwrap_or(0));
                    self.step = if n == 0 {
                        TargetStep::RefusedReason(0, false)
                    } else {
                        TargetStep::SecurityTypes(n)
                    };
                }
                TargetStep::SecurityTypes(n) => {
                    let Some(types) = take(&mut self.buf, n) else {
                        return Ok(out);
                    };
                    // VNC Authentication when we hold a password (the target
                    // may also allow None, but then it asked for nothing).
                    let chosen = if types.contains(&1) {
                        1
                    } else if types.contains(&2) {
                        if self.password.is_none() {
                            return Err(RfbError::PasswordNeeded);
                        }
                        2
                    } else {
                        return Err(RfbError::NoSecurityType(types));
                    };
                    self.chosen = chosen;
                    out.send.push(chosen);
                    self.step = match (chosen, self.version) {
                        (2, _) => TargetStep::Challenge,
                        // 3.7 sends no SecurityResult after None.
                        (_, Version::V3_7) => TargetStep::Done,
                        _ => TargetStep::Result,
                    };
                }
                TargetStep::Challenge => {
                    let Some(c) = take(&mut self.buf, 16) else {
                        return Ok(out);
                    };
                    let mut challenge = [0u8; 16];
                    challenge.copy_from_slice(&c);
                    let pw = self
                        .password
                        .as_deref()
                        .map(String::as_bytes)
                        .unwrap_or(b"");
                    out.send
                        .extend_from_slice(&vnc_auth_response(pw, &challenge));
                    self.step = TargetStep::Result;
                }
                TargetStep::Result => {
                    let Some(r) = take(&mut self.buf, 4) else {
                        return Ok(out);
                    };
                    match be32(&r) {
                        0 => self.step = TargetStep::Done,
                        // Only 3.8 explains a failure.
                        _ if self.version == Version::V3_8 => {
                            self.step = TargetStep::FailureReason(0)
                        }
                        _ => {
                            return Err(RfbError::AuthFailed(
                                "the server said no (RFB 3.3/3.7 give no reason); check the stored VNC password".into(),
                            ));
                        }
                    }
                }
                TargetStep::FailureReason(0) | TargetStep::RefusedReason(0, false) => {
                    let Some(l) = take(&mut self.buf, 4) else {
                        return Ok(out);
                    };
                    let len = be32(&l) as usize;
                    if len > MAX_TEXT {
                        return Err(RfbError::TooLong {
                            what: "failure reason",
                            len,
                        });
                    }
                    self.step = match self.step {
                        TargetStep::FailureReason(_) => TargetStep::FailureReason(len.max(1)),
                        _ => TargetStep::RefusedReason(len, true),
                    };
                    if len == 0 {
                        let reason = "(no reason given)".to_owned();
                        return Err(match self.step {
                            TargetStep::FailureReason(_) => RfbError::AuthFailed(reason),
                            _ => RfbError::Refused(reason),
                        });
                    }
                }
                TargetStep::FailureReason(len) => {
                    let Some(r) = take(&mut self.buf, len) else {
                        return Ok(out);
                    };
                    return Err(RfbError::AuthFailed(
                        String::from_utf8_lossy(&r).into_owned(),
                    ));
                }
                TargetStep::RefusedReason(len, _) => {
                    let Some(r) = take(&mut self.buf, len) else {
                        return Ok(out);
                    };
                    return Err(RfbError::Refused(String::from_utf8_lossy(&r).into_owned()));
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ViewerStep {
    Version,
    SecurityChoice,
    ClientInit,
    Done,
}

/// The server side of the handshake, toward the browser: RFB 3.8 (or what
/// the viewer asks for below it) with security None only, then ClientInit.
#[derive(Debug)]
pub struct ViewerHandshake {
    step: ViewerStep,
    buf: Vec<u8>,
    version: Version,
    shared: bool,
}

impl Default for ViewerHandshake {
    fn default() -> Self {
        Self::new()
    }
}

impl ViewerHandshake {
    pub fn new() -> ViewerHandshake {
        ViewerHandshake {
            step: ViewerStep::Version,
            buf: Vec::new(),
            version: Version::V3_8,
            shared: true,
        }
    }

    /// What the server says first.
    pub fn greeting() -> &'static [u8] {
        Version::V3_8.wire()
    }

    /// The viewer's ClientInit shared flag.
    pub fn shared(&self) -> bool {
        self.shared
    }

    /// Bytes received after ClientInit: the first client messages.
    pub fn leftover(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    pub fn receive(&mut self, data: &[u8]) -> Result<Progress, RfbError> {
        self.buf.extend_from_slice(data);
        let mut out = Progress::default();
        loop {
            match self.step {
                ViewerStep::Done => {
                    out.done = true;
                    return Ok(out);
                }
                ViewerStep::Version => {
                    let Some(v) = take(&mut self.buf, 12) else {
                        return Ok(out);
                    };
                    self.version = Version::parse(&v)?;
                    if self.version == Version::V3_3 {
                        // 3.3: the server decides; None, no result.
                        out.send.extend_from_slice(&1u32.to_be_bytes());
                        self.step = ViewerStep::ClientInit;
                    } else {
                        out.send.extend_from_slice(&[1, 1]);
                        self.step = ViewerStep::SecurityChoice;
                    }
                }
                ViewerStep::SecurityChoice => {
                    let Some(c) = take(&mut self.buf, 1) else {
                        return Ok(out);
                    };
                    let chosen = c.first().copied().unwrap_or(0);
                    if chosen != 1 {
                        if self.version == Version::V3_8 {
                            let reason = b"only security type None is offered";
                            out.send.extend_from_slice(&1u32.to_be_bytes());
                            out.send
                                .extend_from_slice(&(reason.len() as u32).to_be_bytes());
                            out.send.extend_from_slice(reason);
                        }
                        return Err(RfbError::ViewerSecurity(chosen));
                    }
                    if self.version == Version::V3_8 {
                        out.send.extend_from_slice(&0u32.to_be_bytes());
                    }
                    self.step = ViewerStep::ClientInit;
                }
                ViewerStep::ClientInit => {
                    let Some(c) = take(&mut self.buf, 1) else {
                        return Ok(out);
                    };
                    self.shared = c.first().copied().unwrap_or(1) != 0;
                    self.step = ViewerStep::Done;
                }
            }
        }
    }
}

/// What a client→server message is, as far as the gateway cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientMessage {
    SetPixelFormat,
    SetEncodings,
    FramebufferUpdateRequest,
    KeyEvent,
    PointerEvent,
    ClientCutText,
    EnableContinuousUpdates,
    ClientFence,
    Xvp,
    SetDesktopSize,
    QemuKeyEvent,
    QemuAudio,
}

impl ClientMessage {
    /// Input or control of the machine: a view-only viewer may not send it,
    /// and it counts as activity for the idle timer. (xvp can reboot the
    /// machine; SetDesktopSize changes it for everyone.)
    pub fn is_input(self) -> bool {
        matches!(
            self,
            ClientMessage::KeyEvent
                | ClientMessage::PointerEvent
                | ClientMessage::ClientCutText
                | ClientMessage::QemuKeyEvent
                | ClientMessage::Xvp
                | ClientMessage::SetDesktopSize
        )
    }
}

fn be16(b: &[u8], at: usize) -> Option<usize> {
    let s = b.get(at..at + 2)?;
    Some(usize::from(u16::from_be_bytes([s[0], s[1]])))
}

/// The first message in `buf`: its kind and length, or `None` if more
/// bytes are needed. Unknown message types are an error: without knowing a
/// message's length the stream cannot be followed.
pub fn next_client_message(buf: &[u8]) -> Result<Option<(ClientMessage, usize)>, RfbError> {
    let Some(&kind) = buf.first() else {
        return Ok(None);
    };
    let fixed = |m, n: usize| Ok((buf.len() >= n).then_some((m, n)));
    match kind {
        0 => fixed(ClientMessage::SetPixelFormat, 20),
        2 => match be16(buf, 2) {
            None => Ok(None),
            Some(n) => fixed(ClientMessage::SetEncodings, 4 + 4 * n),
        },
        3 => fixed(ClientMessage::FramebufferUpdateRequest, 10),
        4 => fixed(ClientMessage::KeyEvent, 8),
        5 => fixed(ClientMessage::PointerEvent, 6),
        6 => {
            let Some(l) = buf.get(4..8) else {
                return Ok(None);
            };
            // A negative length is the extended clipboard (its size is the
            // absolute value).
            let len = i32::from_be_bytes([l[0], l[1], l[2], l[3]]).unsigned_abs() as usize;
            if len > MAX_TEXT {
                return Err(RfbError::TooLong {
                    what: "ClientCutText",
                    len,
                });
            }
            fixed(ClientMessage::ClientCutText, 8 + len)
        }
        150 => fixed(ClientMessage::EnableContinuousUpdates, 10),
        248 => match buf.get(8) {
            None => Ok(None),
            Some(&n) => fixed(ClientMessage::ClientFence, 9 + usize::from(n)),
        },
        250 => fixed(ClientMessage::Xvp, 4),
        251 => match buf.get(6) {
            None => Ok(None),
            Some(&n) => fixed(ClientMessage::SetDesktopSize, 8 + 16 * usize::from(n)),
        },
        255 => match buf.get(1) {
            None => Ok(None),
            Some(0) => fixed(ClientMessage::QemuKeyEvent, 12),
            Some(1) => match be16(buf, 2) {
                None => Ok(None),
                Some(0 | 1) => fixed(ClientMessage::QemuAudio, 4),
                Some(2) => fixed(ClientMessage::QemuAudio, 10),
                Some(op) => Err(RfbError::UnknownQemuMessage(
                    u8::try_from(op).unwrap_or(u8::MAX),
                )),
            },
            Some(&sub) => Err(RfbError::UnknownQemuMessage(sub)),
        },
        other => Err(RfbError::UnknownMessage(other)),
    }
}

/// Splits the browser's byte stream into whole messages.
#[derive(Debug, Default)]
pub struct ClientStream {
    buf: Vec<u8>,
}

impl ClientStream {
    pub fn new() -> ClientStream {
        ClientStream::default()
    }

    /// Adds bytes and returns the whole messages now available, in order.
    pub fn feed(&mut self, data: &[u8]) -> Result<Vec<(ClientMessage, Vec<u8>)>, RfbError> {
        self.buf.extend_from_slice(data);
        let mut out = Vec::new();
        let mut at = 0;
        while let Some((m, n)) = next_client_message(self.buf.get(at..).unwrap_or_default())? {
            out.push((m, self.buf.get(at..at + n).unwrap_or_default().to_vec()));
            at += n;
        }
        self.buf.drain(..at);
        Ok(out)
    }

    /// Bytes held waiting for the rest of a message.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn des_response_matches_a_known_vector() {
        // From `openssl enc -des-ecb -K 0e86ceceeef64e26 -nopad` (the key is
        // "password" with each byte's bits reversed).
        let challenge: [u8; 16] = *b"0123456789abcdef";
        let got = vnc_auth_response(b"password", &challenge);
        assert_eq!(hex::encode(got), "5645abeb5f1e6475e8feb11beb66ea19");
        // Only the first 8 bytes of the password count.
        assert_eq!(vnc_auth_response(b"password-longer", &challenge), got);
        assert_ne!(vnc_auth_response(b"passwore", &challenge), got);
    }

    #[test]
    fn target_38_with_vnc_auth() {
        let mut h = TargetHandshake::new(Some("secret"));
        let p = h.receive(b"RFB 003.008\n").unwrap();
        assert_eq!(p.send, b"RFB 003.008\n");
        assert!(!p.done);
        // Offers VNC auth only (QEMU with password=on).
        let p = h.receive(&[1, 2]).unwrap();
        assert_eq!(p.send, vec![2]);
        let challenge = [7u8; 16];
        let p = h.receive(&challenge).unwrap();
        assert_eq!(p.send, vnc_auth_response(b"secret", &challenge).to_vec());
        let p = h.receive(&[0, 0, 0, 0]).unwrap();
        assert!(p.done && p.send.is_empty());
        assert_eq!(h.security_type(), 2);
        assert!(h.leftover().is_empty());
    }

    #[test]
    fn target_38_failure_reason_is_reported() {
        let mut h = TargetHandshake::new(Some("wrong"));
        h.receive(b"RFB 003.008\n").unwrap();
        h.receive(&[1, 2]).unwrap();
        h.receive(&[0u8; 16]).unwrap();
        let mut msg = vec![0, 0, 0, 1, 0, 0, 0, 20];
        msg.extend_from_slice(b"Authentication failed");
        // Reason arrives in two pieces; the length said 20, so 20 are read.
        assert_eq!(h.receive(&msg[..10]).unwrap(), Progress::default());
        let e = h.receive(&msg[10..]).unwrap_err();
        assert_eq!(e, RfbError::AuthFailed("Authentication faile".into()));
    }

    #[test]
    fn target_37_none_has_no_security_result_and_33_server_decides() {
        let mut h = TargetHandshake::new(None);
        let mut all = b"RFB 003.007\n".to_vec();
        all.extend_from_slice(&[2, 2, 1]);
        let p = h.receive(&all).unwrap();
        assert_eq!(p.send, b"RFB 003.007\n\x01".to_vec());
        assert!(p.done);

        let mut h = TargetHandshake::new(Some("pw"));
        let p = h.receive(b"RFB 003.003\n\0\0\0\x02").unwrap();
        assert_eq!(p.send, b"RFB 003.003\n".to_vec());
        assert_eq!(h.version(), Version::V3_3);
        h.receive(&[1u8; 16]).unwrap();
        let e = h.receive(&[0, 0, 0, 1]).unwrap_err();
        assert!(matches!(e, RfbError::AuthFailed(_)), "{e}");
    }

    #[test]
    fn target_refusals_and_missing_password() {
        let mut h = TargetHandshake::new(None);
        let mut m = b"RFB 003.008\n\0\0\0\0\x05".to_vec();
        m.extend_from_slice(b"busy!");
        assert_eq!(
            h.receive(&m).unwrap_err(),
            RfbError::Refused("busy!".into())
        );
        let mut h = TargetHandshake::new(None);
        assert_eq!(
            h.receive(b"RFB 003.008\n\x01\x02").unwrap_err(),
            RfbError::PasswordNeeded
        );
        let mut h = TargetHandshake::new(Some("x"));
        assert_eq!(
            h.receive(b"RFB 003.008\n\x02\x10\x13").unwrap_err(),
            RfbError::NoSecurityType(vec![16, 19])
        );
        let mut h = TargetHandshake::new(None);
        assert!(matches!(
            h.receive(b"HTTP/1.1 400").unwrap_err(),
            RfbError::BadVersion(_)
        ));
        // Apple's 3.889 and a future 4.0 speak 3.8.
        let mut h = TargetHandshake::new(None);
        assert_eq!(h.receive(b"RFB 003.889\n").unwrap().send, b"RFB 003.008\n");
    }

    #[test]
    fn viewer_38_gets_none_only() {
        assert_eq!(ViewerHandshake::greeting(), b"RFB 003.008\n");
        let mut v = ViewerHandshake::new();
        let p = v.receive(b"RFB 003.008\n").unwrap();
        assert_eq!(p.send, vec![1, 1]);
        let p = v.receive(&[1]).unwrap();
        assert_eq!(p.send, vec![0, 0, 0, 0]);
        assert!(!p.done);
        // ClientInit (not shared) and the first messages in one frame.
        let p = v.receive(&[0, 3, 0, 0, 0, 0, 0, 0, 10, 0, 10]).unwrap();
        assert!(p.done);
        assert!(!v.shared());
        assert_eq!(v.leftover(), vec![3, 0, 0, 0, 0, 0, 0, 10, 0, 10]);
    }

    #[test]
    fn viewer_picking_vnc_auth_is_refused_with_a_reason() {
        let mut v = ViewerHandshake::new();
        v.receive(b"RFB 003.008\n").unwrap();
        assert_eq!(v.receive(&[2]).unwrap_err(), RfbError::ViewerSecurity(2));
        let mut v = ViewerHandshake::new();
        let p = v.receive(b"RFB 003.003\n").unwrap();
        assert_eq!(p.send, vec![0, 0, 0, 1]);
        assert!(v.receive(&[1]).unwrap().done);
    }

    #[test]
    fn client_messages_are_split_and_classified() {
        let mut s = ClientStream::new();
        let mut bytes = vec![0u8; 20]; // SetPixelFormat
        bytes.extend_from_slice(&[2, 0, 0, 2, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x21]); // SetEncodings
        bytes.extend_from_slice(&[4, 1, 0, 0, 0, 0, 0, 0x61]); // KeyEvent 'a'
        bytes.extend_from_slice(&[5, 0, 0, 10, 0, 20]); // PointerEvent
        bytes.extend_from_slice(&[6, 0, 0, 0, 0, 0, 0, 2, b'h', b'i']); // ClientCutText
        bytes.extend_from_slice(&[255, 0, 0, 1, 0, 0, 0, 0x61, 0, 0, 0, 0x1e]); // QEMU key
        bytes.extend_from_slice(&[255, 1, 0, 2, 3, 2, 0, 0, 0xac, 0x44]); // QEMU audio format
        bytes.extend_from_slice(&[3, 1, 0, 0, 0, 0, 1, 0]); // partial FBUR
        let got = s.feed(&bytes).unwrap();
        let kinds: Vec<_> = got.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            kinds,
            vec![
                ClientMessage::SetPixelFormat,
                ClientMessage::SetEncodings,
                ClientMessage::KeyEvent,
                ClientMessage::PointerEvent,
                ClientMessage::ClientCutText,
                ClientMessage::QemuKeyEvent,
                ClientMessage::QemuAudio,
            ]
        );
        assert_eq!(got[4].1, vec![6, 0, 0, 0, 0, 0, 0, 2, b'h', b'i']);
        assert_eq!(s.pending(), 8);
        let got = s.feed(&[0, 1]).unwrap();
        assert_eq!(
            got,
            vec![(
                ClientMessage::FramebufferUpdateRequest,
                vec![3, 1, 0, 0, 0, 0, 1, 0, 0, 1]
            )]
        );
        assert!(ClientMessage::KeyEvent.is_input());
        assert!(!ClientMessage::FramebufferUpdateRequest.is_input());
    }

    #[test]
    fn unknown_and_oversized_messages_are_errors() {
        assert_eq!(
            next_client_message(&[7]).unwrap_err(),
            RfbError::UnknownMessage(7)
        );
        assert_eq!(
            next_client_message(&[255, 9]).unwrap_err(),
            RfbError::UnknownQemuMessage(9)
        );
        assert!(matches!(
            next_client_message(&[6, 0, 0, 0, 0x7f, 0, 0, 0]).unwrap_err(),
            RfbError::TooLong { .. }
        ));
        // Extended clipboard: negative length.
        let mut m = vec![6, 0, 0, 0];
        m.extend_from_slice(&(-4i32).to_be_bytes());
        m.extend_from_slice(&[0, 0, 0, 1]);
        assert_eq!(
            next_client_message(&m).unwrap(),
            Some((ClientMessage::ClientCutText, 12))
        );
    }

    /// Random bytes through every decoder: errors are fine, panics are not.
    #[test]
    fn random_input_never_panics() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
        for round in 0..20_000 {
            let len = rng.gen_range(0..64);
            let mut data: Vec<u8> = (0..len).map(|_| rng.r#gen()).collect();
            // Half the time, start from a valid version so deeper states run.
            if round % 2 == 0 {
                let mut v = b"RFB 003.008\n".to_vec();
                v.append(&mut data);
                data = v;
            }
            let cut = rng.gen_range(0..=data.len());
            let mut t = TargetHandshake::new(if round % 3 == 0 { None } else { Some("pw") });
            if t.receive(&data[..cut]).is_ok() {
                let _ = t.receive(&data[cut..]);
            }
            let mut v = ViewerHandshake::new();
            if v.receive(&data[..cut]).is_ok() {
                let _ = v.receive(&data[cut..]);
            }
            let mut s = ClientStream::new();
            if s.feed(data.get(12..).unwrap_or_default()).is_ok() {
                let _ = s.feed(&data[..cut]);
            }
        }
    }
}
