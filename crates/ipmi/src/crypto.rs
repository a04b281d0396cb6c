//! RMCP+ algorithms and cipher suites (IPMI v2.0 spec 13.28–13.29, table 22-20).

use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit, block_padding::NoPadding};
use hmac::{Hmac, Mac};

/// RAKP authentication algorithm (13.28).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthAlg {
    None,
    HmacSha1,
    HmacMd5,
    HmacSha256,
}

/// Integrity (per-packet AuthCode) algorithm (13.28.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IntegrityAlg {
    None,
    HmacSha1_96,
    HmacMd5_128,
    HmacSha256_128,
}

/// Confidentiality algorithm (13.29). Only AES-CBC-128 is implemented; the
/// xRC4 suites are obsolete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfAlg {
    None,
    AesCbc128,
}

impl AuthAlg {
    pub fn id(self) -> u8 {
        match self {
            AuthAlg::None => 0,
            AuthAlg::HmacSha1 => 1,
            AuthAlg::HmacMd5 => 2,
            AuthAlg::HmacSha256 => 3,
        }
    }
    fn hash(self) -> Option<HashAlg> {
        match self {
            AuthAlg::None => None,
            AuthAlg::HmacSha1 => Some(HashAlg::Sha1),
            AuthAlg::HmacMd5 => Some(HashAlg::Md5),
            AuthAlg::HmacSha256 => Some(HashAlg::Sha256),
        }
    }
    /// Length of the RAKP4 integrity check value: the HMAC truncated to the
    /// size of the matching integrity algorithm (13.28.1–13.28.1b).
    pub fn icv_len(self) -> usize {
        match self {
            AuthAlg::None => 0,
            AuthAlg::HmacSha1 => 12,
            AuthAlg::HmacMd5 => 16,
            AuthAlg::HmacSha256 => 16,
        }
    }
    /// Length of the RAKP2/RAKP3 key exchange auth code (full HMAC).
    pub fn mac_len(self) -> usize {
        match self {
            AuthAlg::None => 0,
            AuthAlg::HmacSha1 => 20,
            AuthAlg::HmacMd5 => 16,
            AuthAlg::HmacSha256 => 32,
        }
    }
    /// HMAC keyed by `key` over the concatenation of `parts`; empty for None.
    pub fn mac(self, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        self.hash().map(|h| h.hmac(key, parts)).unwrap_or_default()
    }
}

impl IntegrityAlg {
    pub fn id(self) -> u8 {
        match self {
            IntegrityAlg::None => 0,
            IntegrityAlg::HmacSha1_96 => 1,
            IntegrityAlg::HmacMd5_128 => 2,
            IntegrityAlg::HmacSha256_128 => 4,
        }
    }
    /// Size of the AuthCode in the session trailer.
    pub fn auth_code_len(self) -> usize {
        match self {
            IntegrityAlg::None => 0,
            IntegrityAlg::HmacSha1_96 => 12,
            IntegrityAlg::HmacMd5_128 | IntegrityAlg::HmacSha256_128 => 16,
        }
    }
    /// AuthCode over `data` keyed with K1.
    pub fn auth_code(self, k1: &[u8], data: &[u8]) -> Vec<u8> {
        let h = match self {
            IntegrityAlg::None => return Vec::new(),
            IntegrityAlg::HmacSha1_96 => HashAlg::Sha1,
            IntegrityAlg::HmacMd5_128 => HashAlg::Md5,
            IntegrityAlg::HmacSha256_128 => HashAlg::Sha256,
        };
        let mut m = h.hmac(k1, &[data]);
        m.truncate(self.auth_code_len());
        m
    }
}

impl ConfAlg {
    pub fn id(self) -> u8 {
        match self {
            ConfAlg::None => 0,
            ConfAlg::AesCbc128 => 1,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum HashAlg {
    Sha1,
    Md5,
    Sha256,
}

impl HashAlg {
    fn hmac(self, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        // HMAC accepts keys of any length, so new_from_slice cannot fail.
        fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
            match <M as hmac::digest::KeyInit>::new_from_slice(key) {
                Ok(mut m) => {
                    for p in parts {
                        m.update(p);
                    }
                    m.finalize().into_bytes().to_vec()
                }
                Err(_) => Vec::new(),
            }
        }
        match self {
            HashAlg::Sha1 => run::<Hmac<sha1::Sha1>>(key, parts),
            HashAlg::Md5 => run::<Hmac<md5::Md5>>(key, parts),
            HashAlg::Sha256 => run::<Hmac<sha2::Sha256>>(key, parts),
        }
    }
}

/// A cipher suite: the triple of algorithms negotiated in Open Session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CipherSuite {
    pub id: u8,
    pub auth: AuthAlg,
    pub integrity: IntegrityAlg,
    pub conf: ConfAlg,
}

/// Suites we implement, strongest first: this is the preference order when
/// the BMC lists several (SHA-256 before SHA-1 before MD5; encryption first).
pub const PREFERENCE: [u8; 9] = [17, 3, 8, 16, 2, 7, 15, 1, 6];

impl CipherSuite {
    /// Look up a standard suite id (spec table 22-20). `None` for suites we do
    /// not implement (xRC4 and MD5-128 ones).
    pub fn from_id(id: u8) -> Option<Self> {
        use AuthAlg as A;
        use ConfAlg as C;
        use IntegrityAlg as I;
        let (auth, integrity, conf) = match id {
            0 => (A::None, I::None, C::None),
            1 => (A::HmacSha1, I::None, C::None),
            2 => (A::HmacSha1, I::HmacSha1_96, C::None),
            3 => (A::HmacSha1, I::HmacSha1_96, C::AesCbc128),
            6 => (A::HmacMd5, I::None, C::None),
            7 => (A::HmacMd5, I::HmacMd5_128, C::None),
            8 => (A::HmacMd5, I::HmacMd5_128, C::AesCbc128),
            15 => (A::HmacSha256, I::None, C::None),
            16 => (A::HmacSha256, I::HmacSha256_128, C::None),
            17 => (A::HmacSha256, I::HmacSha256_128, C::AesCbc128),
            _ => return None,
        };
        Some(CipherSuite {
            id,
            auth,
            integrity,
            conf,
        })
    }

    /// Pick the strongest suite we implement among those a BMC lists.
    pub fn strongest_of(listed: &[u8]) -> Option<Self> {
        PREFERENCE
            .iter()
            .find(|id| listed.contains(id))
            .and_then(|id| Self::from_id(*id))
    }
}

type Aes128CbcEnc = cbc::Encryptor<aes::Aes128>;
type Aes128CbcDec = cbc::Decryptor<aes::Aes128>;

/// AES-CBC-128 payload encryption (13.29): IV || E(payload || 1,2,..,n || n),
/// padded to a multiple of 16. The key is the first 16 bytes of K2.
pub fn aes_encrypt(k2: &[u8], iv: [u8; 16], payload: &[u8]) -> Vec<u8> {
    let mut key = [0u8; 16];
    for (d, s) in key.iter_mut().zip(k2) {
        *d = *s;
    }
    let pad = (16 - (payload.len() + 1) % 16) % 16;
    let mut buf = Vec::with_capacity(payload.len() + pad + 1);
    buf.extend_from_slice(payload);
    // Pad bytes count up from 1 (13.29.1); pad length comes last.
    buf.extend((1..=pad).map(|i| i as u8));
    buf.push(pad as u8);
    let len = buf.len();
    let enc = Aes128CbcEnc::new(&key.into(), &iv.into());
    let mut out = Vec::with_capacity(16 + len);
    out.extend_from_slice(&iv);
    // `len` is a multiple of 16, so NoPadding cannot fail here.
    match enc.encrypt_padded_mut::<NoPadding>(&mut buf, len) {
        Ok(ct) => out.extend_from_slice(ct),
        Err(_) => out.extend_from_slice(&buf),
    }
    out
}

/// Reverse of [`aes_encrypt`]; `None` if the data is not a whole number of
/// blocks or the confidentiality trailer is malformed.
pub fn aes_decrypt(k2: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    if data.len() < 32 || !data.len().is_multiple_of(16) {
        return None;
    }
    let mut key = [0u8; 16];
    for (d, s) in key.iter_mut().zip(k2) {
        *d = *s;
    }
    let (iv, ct) = data.split_at(16);
    let iv: [u8; 16] = iv.try_into().ok()?;
    let mut buf = ct.to_vec();
    let dec = Aes128CbcDec::new(&key.into(), &iv.into());
    let pt = dec.decrypt_padded_mut::<NoPadding>(&mut buf).ok()?;
    let (&pad_len, body) = pt.split_last()?;
    let pad_len = usize::from(pad_len);
    if pad_len > 15 || pad_len > body.len() {
        return None;
    }
    Some(body.get(..body.len() - pad_len)?.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aes_roundtrip_all_lengths() {
        let k2 = [7u8; 20];
        for n in 0..40 {
            let p: Vec<u8> = (0..n as u8).collect();
            let c = aes_encrypt(&k2, [3; 16], &p);
            assert_eq!(c.len() % 16, 0);
            assert_eq!(aes_decrypt(&k2, &c).unwrap(), p);
        }
        assert!(aes_decrypt(&k2, &[0u8; 33]).is_none());
    }

    #[test]
    fn hmac_known_answers() {
        // RFC 2202 test case 2 (HMAC-SHA1) and RFC 4231 test case 2 (SHA-256).
        let m = AuthAlg::HmacSha1.mac(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            m,
            [
                0xef, 0xfc, 0xdf, 0x6a, 0xe5, 0xeb, 0x2f, 0xa2, 0xd2, 0x74, 0x16, 0xd5, 0xf1, 0x84,
                0xdf, 0x9c, 0x25, 0x9a, 0x7c, 0x79
            ]
        );
        let m = AuthAlg::HmacSha256.mac(b"Jefe", &[b"what do ya want for nothing?"]);
        assert_eq!(&m[..4], &[0x5b, 0xdc, 0xc1, 0x46]);
        let m = AuthAlg::HmacMd5.mac(b"Jefe", &[b"what do ya want for nothing?"]);
        assert_eq!(&m[..4], &[0x75, 0x0c, 0x78, 0x3e]);
    }

    #[test]
    fn preference() {
        assert_eq!(CipherSuite::strongest_of(&[0, 1, 2, 3]).unwrap().id, 3);
        assert_eq!(CipherSuite::strongest_of(&[3, 17]).unwrap().id, 17);
        assert!(CipherSuite::strongest_of(&[0, 4]).is_none());
    }
}
