//! WebSocket framing (RFC 6455), sans-IO: frame headers, masking, and the
//! server side's reader of a client's messages (fragments reassembled,
//! control frames interleaved, sizes bounded). The gateway writes its own
//! frames so the stream from a target goes out of the buffer it was read
//! into, header in front, without a copy; `wsconn` is the thin async layer.

/// The longest frame header: 2 bytes, 8 of length, 4 of mask.
pub const MAX_HEADER: usize = 14;
/// The longest header of a server frame (unmasked).
pub const MAX_SERVER_HEADER: usize = 10;
/// The longest payload of a control frame.
pub const MAX_CONTROL: usize = 125;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl Opcode {
    fn from_bits(b: u8) -> Option<Opcode> {
        Some(match b {
            0 => Opcode::Continuation,
            1 => Opcode::Text,
            2 => Opcode::Binary,
            8 => Opcode::Close,
            9 => Opcode::Ping,
            10 => Opcode::Pong,
            _ => return None,
        })
    }

    fn bits(self) -> u8 {
        match self {
            Opcode::Continuation => 0,
            Opcode::Text => 1,
            Opcode::Binary => 2,
            Opcode::Close => 8,
            Opcode::Ping => 9,
            Opcode::Pong => 10,
        }
    }

    pub fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WsError {
    #[error("reserved bits set in a WebSocket frame (no extension was negotiated)")]
    Reserved,
    #[error("unknown WebSocket opcode {0}")]
    Opcode(u8),
    #[error("a control frame must be whole and at most 125 bytes")]
    BadControl,
    #[error("a client's frame must be masked (RFC 6455 5.1)")]
    Unmasked,
    #[error("a server's frame must not be masked (RFC 6455 5.1)")]
    Masked,
    #[error("a continuation frame without a message to continue")]
    StrayContinuation,
    #[error("a new message began before the last one ended")]
    Interleaved,
    #[error("a WebSocket message of {0} bytes exceeds the limit")]
    TooBig(u64),
    #[error("a text message is not UTF-8")]
    NotUtf8,
    #[error("a close frame with a bad code or reason")]
    BadClose,
}

impl WsError {
    /// The close code to answer with (RFC 6455 7.4.1).
    pub fn close_code(&self) -> u16 {
        match self {
            WsError::TooBig(_) => 1009,
            WsError::NotUtf8 => 1007,
            _ => 1002,
        }
    }
}

/// A parsed frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub fin: bool,
    pub opcode: Opcode,
    pub mask: Option<[u8; 4]>,
    pub len: u64,
}

/// The header at the front of `buf` and its length in bytes, or `None` if
/// more bytes are needed.
pub fn parse_header(buf: &[u8]) -> Result<Option<(Header, usize)>, WsError> {
    let (Some(&b0), Some(&b1)) = (buf.first(), buf.get(1)) else {
        return Ok(None);
    };
    if b0 & 0x70 != 0 {
        return Err(WsError::Reserved);
    }
    let opcode = Opcode::from_bits(b0 & 0x0f).ok_or(WsError::Opcode(b0 & 0x0f))?;
    let fin = b0 & 0x80 != 0;
    let masked = b1 & 0x80 != 0;
    let (len, mut at) = match b1 & 0x7f {
        126 => match buf.get(2..4) {
            None => return Ok(None),
            Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
        },
        127 => match buf.get(2..10) {
            None => return Ok(None),
            Some(b) => {
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                (u64::from_be_bytes(a), 10)
            }
        },
        n => (u64::from(n), 2),
    };
    if opcode.is_control() && (!fin || len > MAX_CONTROL as u64) {
        return Err(WsError::BadControl);
    }
    let mask = if masked {
        let Some(m) = buf.get(at..at + 4) else {
            return Ok(None);
        };
        at += 4;
        Some([m[0], m[1], m[2], m[3]])
    } else {
        None
    };
    Ok(Some((
        Header {
            fin,
            opcode,
            mask,
            len,
        },
        at,
    )))
}

/// The length of an unmasked header for `len` payload bytes.
pub fn server_header_len(len: usize) -> usize {
    match len {
        0..=125 => 2,
        126..=0xffff => 4,
        _ => 10,
    }
}

/// A whole frame's header: the bytes and how many of them are used
/// (`server_header_len(len)`, plus 4 when masked).
pub fn header(opcode: Opcode, mask: Option<[u8; 4]>, len: usize) -> ([u8; MAX_HEADER], usize) {
    let mut h = [0u8; MAX_HEADER];
    h[0] = 0x80 | opcode.bits();
    let mut at = 2;
    match len {
        0..=125 => h[1] = len as u8,
        126..=0xffff => {
            h[1] = 126;
            h[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            at = 4;
        }
        _ => {
            h[1] = 127;
            h[2..10].copy_from_slice(&(len as u64).to_be_bytes());
            at = 10;
        }
    }
    if let Some(m) = mask {
        h[1] |= 0x80;
        h[at..at + 4].copy_from_slice(&m);
        at += 4;
    }
    (h, at)
}

/// A whole frame as bytes (control frames and small messages).
pub fn frame(opcode: Opcode, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let (h, hl) = header(opcode, mask, payload.len());
    let mut out = Vec::with_capacity(hl + payload.len());
    out.extend_from_slice(&h[..hl]);
    out.extend_from_slice(payload);
    if let Some(m) = mask {
        apply_mask(&mut out[hl..], m, 0);
    }
    out
}

/// A close frame's payload: the code and a reason cut to fit 125 bytes on
/// a character boundary.
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut end = reason.len().min(MAX_CONTROL - 2);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(&reason.as_bytes()[..end]);
    p
}

/// XORs `data` with `mask`, `offset` bytes into the masked payload (so a
/// payload may be unmasked in pieces).
pub fn apply_mask(data: &mut [u8], mask: [u8; 4], offset: usize) {
    let mut m = [0u8; 4];
    for (i, b) in m.iter_mut().enumerate() {
        *b = mask[(offset + i) % 4];
    }
    let word = u32::from_ne_bytes(m);
    let mut chunks = data.chunks_exact_mut(4);
    for c in &mut chunks {
        let v = u32::from_ne_bytes([c[0], c[1], c[2], c[3]]) ^ word;
        c.copy_from_slice(&v.to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= m[i];
    }
}

/// A whole message from the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Binary(Vec<u8>),
    Text(String),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// The code (1005 when the frame had none) and the reason.
    Close(u16, String),
}

/// Reassembles the messages of one peer from its bytes. `masked`: the
/// peer is a client (its frames must be masked) or a server (must not be).
#[derive(Debug)]
pub struct Reader {
    masked: bool,
    max_message: usize,
    buf: Vec<u8>,
    /// The message being assembled from fragments.
    partial: Option<(Opcode, Vec<u8>)>,
}

impl Reader {
    pub fn new(masked: bool, max_message: usize) -> Reader {
        Reader {
            masked,
            max_message,
            buf: Vec::new(),
            partial: None,
        }
    }

    /// Bytes from the peer.
    pub fn feed(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The buffer bytes from the peer are appended to: a read may put them
    /// straight into it.
    pub fn buffer(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Gives back the buffer's memory when it holds nothing (beyond
    /// `keep` bytes of capacity).
    pub fn shrink(&mut self, keep: usize) {
        if self.buf.is_empty() && self.partial.is_none() && self.buf.capacity() > keep {
            self.buf = Vec::new();
        }
    }

    /// The next whole message, or `None` until more bytes arrive.
    pub fn message(&mut self) -> Result<Option<Message>, WsError> {
        loop {
            let Some((h, hl)) = parse_header(&self.buf)? else {
                return Ok(None);
            };
            match (h.mask.is_some(), self.masked) {
                (false, true) => return Err(WsError::Unmasked),
                (true, false) => return Err(WsError::Masked),
                _ => {}
            }
            let held = self.partial.as_ref().map_or(0, |(_, p)| p.len() as u64);
            if !h.opcode.is_control() && h.len.saturating_add(held) > self.max_message as u64 {
                return Err(WsError::TooBig(h.len.saturating_add(held)));
            }
            let len = h.len as usize;
            if self.buf.len() < hl + len {
                return Ok(None);
            }
            let mut payload: Vec<u8> = self.buf.drain(..hl + len).skip(hl).collect();
            if let Some(m) = h.mask {
                apply_mask(&mut payload, m, 0);
            }
            let whole = match h.opcode {
                Opcode::Ping => return Ok(Some(Message::Ping(payload))),
                Opcode::Pong => return Ok(Some(Message::Pong(payload))),
                Opcode::Close => return close(&payload).map(Some),
                Opcode::Continuation => {
                    let Some((op, mut acc)) = self.partial.take() else {
                        return Err(WsError::StrayContinuation);
                    };
                    acc.extend_from_slice(&payload);
                    if !h.fin {
                        self.partial = Some((op, acc));
                        continue;
                    }
                    (op, acc)
                }
                op => {
                    if self.partial.is_some() {
                        return Err(WsError::Interleaved);
                    }
                    if !h.fin {
                        self.partial = Some((op, payload));
                        continue;
                    }
                    (op, payload)
                }
            };
            return match whole {
                (Opcode::Text, p) => String::from_utf8(p)
                    .map(|t| Some(Message::Text(t)))
                    .map_err(|_| WsError::NotUtf8),
                (_, p) => Ok(Some(Message::Binary(p))),
            };
        }
    }
}

fn close(payload: &[u8]) -> Result<Message, WsError> {
    match payload {
        [] => Ok(Message::Close(1005, String::new())),
        [_] => Err(WsError::BadClose),
        [a, b, rest @ ..] => {
            let code = u16::from_be_bytes([*a, *b]);
            let valid = matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999);
            let reason = std::str::from_utf8(rest).map_err(|_| WsError::BadClose)?;
            if !valid {
                return Err(WsError::BadClose);
            }
            Ok(Message::Close(code, reason.to_owned()))
        }
    }
}

/// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`.
pub fn accept_key(key: &[u8]) -> String {
    use base64::Engine;
    use sha1::{Digest, Sha1};
    let mut h = Sha1::new();
    h.update(key);
    h.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6455_examples() {
        // 5.7: an unmasked and a masked text frame "Hello".
        assert_eq!(
            frame(Opcode::Text, None, b"Hello"),
            [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]
        );
        let masked = frame(Opcode::Text, Some([0x37, 0xfa, 0x21, 0x3d]), b"Hello");
        assert_eq!(
            masked,
            [
                0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58
            ]
        );
        let mut r = Reader::new(true, 1 << 20);
        r.feed(&masked);
        assert_eq!(r.message(), Ok(Some(Message::Text("Hello".into()))));
        // 256 bytes and 64 KiB: 16- and 64-bit lengths.
        assert_eq!(
            &frame(Opcode::Binary, None, &[0; 256])[..4],
            [0x82, 0x7e, 1, 0]
        );
        assert_eq!(
            &frame(Opcode::Binary, None, &[0; 65536])[..10],
            [0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0]
        );
        // 1.3: the handshake's accept key.
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn fragments_byte_by_byte_with_a_ping_between() {
        let m = Some([1, 2, 3, 4]);
        let mut bytes = Vec::new();
        let mut first = frame(Opcode::Text, m, "Hél".as_bytes());
        first[0] &= 0x7f; // not FIN
        bytes.extend_from_slice(&first);
        bytes.extend_from_slice(&frame(Opcode::Ping, m, b"p"));
        bytes.extend_from_slice(&frame(Opcode::Continuation, m, "lo".as_bytes()));
        let mut r = Reader::new(true, 1 << 20);
        let mut got = Vec::new();
        for b in bytes {
            r.feed(&[b]);
            while let Some(msg) = r.message().unwrap() {
                got.push(msg);
            }
        }
        assert_eq!(
            got,
            vec![Message::Ping(b"p".to_vec()), Message::Text("Héllo".into())]
        );
    }

    #[test]
    fn refuses_what_it_must() {
        let cases: Vec<(Vec<u8>, WsError)> = vec![
            (frame(Opcode::Binary, None, b"x"), WsError::Unmasked),
            (vec![0x92, 0x80, 0, 0, 0, 0], WsError::Reserved),
            (vec![0x83, 0x80, 0, 0, 0, 0], WsError::Opcode(3)),
            (vec![0x09, 0x80, 0, 0, 0, 0], WsError::BadControl),
            (vec![0x80, 0x80, 0, 0, 0, 0], WsError::StrayContinuation),
            (
                vec![0x82, 0xff, 0, 0, 0, 0, 0, 0x10, 0, 0, 1, 2, 3, 4],
                WsError::TooBig(1 << 20),
            ),
            (frame(Opcode::Text, Some([9; 4]), &[0xff]), WsError::NotUtf8),
            (
                frame(Opcode::Close, Some([9; 4]), &[3, 0xe8 - 1]),
                WsError::BadClose,
            ),
        ];
        for (bytes, want) in cases {
            let mut r = Reader::new(true, 1 << 19);
            r.feed(&bytes);
            assert_eq!(r.message(), Err(want.clone()), "{bytes:?}");
        }
        let mut r = Reader::new(false, 1 << 20);
        r.feed(&frame(Opcode::Binary, Some([1; 4]), b"x"));
        assert_eq!(r.message(), Err(WsError::Masked));
    }

    #[test]
    fn close_frames_and_masking_in_pieces() {
        let mut r = Reader::new(true, 1 << 20);
        r.feed(&frame(
            Opcode::Close,
            Some([5; 4]),
            &close_payload(4001, "gone"),
        ));
        r.feed(&frame(Opcode::Close, Some([5; 4]), &[]));
        assert_eq!(r.message(), Ok(Some(Message::Close(4001, "gone".into()))));
        assert_eq!(r.message(), Ok(Some(Message::Close(1005, String::new()))));
        // A long reason is cut on a character boundary.
        let p = close_payload(1000, &"é".repeat(100));
        assert!(p.len() <= MAX_CONTROL && std::str::from_utf8(&p[2..]).is_ok());
        // Unmasking in pieces equals unmasking at once.
        let data: Vec<u8> = (0..=255).collect();
        let mask = [0xde, 0xad, 0xbe, 0xef];
        let mut whole = data.clone();
        apply_mask(&mut whole, mask, 0);
        let mut pieces = data.clone();
        let (a, b) = pieces.split_at_mut(7);
        apply_mask(a, mask, 0);
        apply_mask(b, mask, 7);
        assert_eq!(whole, pieces);
    }

    #[test]
    fn random_input_never_panics() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 40) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|i| (seed >> ((i % 8) * 8)) as u8 ^ i as u8)
                .collect();
            let mut r = Reader::new(seed & 1 == 0, 64);
            r.feed(&bytes);
            while let Ok(Some(_)) = r.message() {}
        }
    }
}
