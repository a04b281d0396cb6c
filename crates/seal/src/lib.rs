//! Secrets sealed to a site agent's key.
//!
//! A site agent holds an X25519 private key ([`AgentKey`], in a file only it
//! reads); an admin registers the public half ([`PublicKey`]) on the site.
//! The controller seals each BMC secret to that public key before it goes
//! onto the broker, and only the agent can open it.
//!
//! The construction is HPKE (RFC 9180) in base mode with
//! DHKEM(X25519, HKDF-SHA256) and HKDF-SHA256, used export-only: one key
//! encapsulation gives, through HPKE's exporter (§5.3), a 32-byte key; each
//! secret is then an XChaCha20-Poly1305 box under that key with a random
//! 192-bit nonce and associated data that the caller uses to bind the
//! secret to where it may be used (task, server, BMC), so a sealed blob
//! copied into another message does not open. A [`Sealer`] (the
//! controller's, per site key) keeps one encapsulation for a while and the
//! agent remembers the keys it derived, so the X25519 work (two scalar
//! multiplications to seal, one to open: most of a task's CPU otherwise) is
//! paid once per encapsulation, not once per task. Against a stolen agent
//! key this is as strong as a fresh ephemeral per secret (neither has
//! forward secrecy towards the recipient's static key). Plaintexts are
//! padded to a multiple of [`PAD`] bytes so that ciphertexts do not tell a
//! password's length. Boxes of the first format (single-shot HPKE with
//! ChaCha20-Poly1305, no nonce) still open.
//!
//! Invariant: no I/O except in [`keyfile`]; nothing here logs.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chacha20poly1305::aead::{Aead as _, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

pub mod keyfile;

type Kem = hpke::kem::X25519HkdfSha256;
type Kdf = hpke::kdf::HkdfSha256;
type Cipher = hpke::aead::ChaCha20Poly1305;

/// HPKE's `info` of the first format (a single-shot box per secret).
const INFO: &[u8] = b"ironrack sealed secret v1";
/// HPKE's `info` of the current format: separates these keys from any
/// other use of the same agent key.
const INFO_V2: &[u8] = b"ironrack sealed secret v2";
/// The exporter context of the box key.
const BOX_KEY: &[u8] = b"ironrack secret box key";
/// Bytes of an XChaCha20-Poly1305 nonce.
const NONCE_LEN: usize = 24;
/// Encapsulations an agent keeps the derived key of (one per controller
/// process and period, so a handful is plenty).
const REMEMBERED: usize = 16;
/// Plaintexts are padded to a multiple of this many bytes.
pub const PAD: usize = 32;
/// Bytes of a raw X25519 key.
const KEY_LEN: usize = 32;

/// A registered site key: what the controller seals to. Not a secret.
#[derive(Clone)]
pub struct PublicKey {
    key: <Kem as hpke::Kem>::PublicKey,
    bytes: [u8; KEY_LEN],
    fingerprint: String,
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}
impl Eq for PublicKey {}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", self.fingerprint)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("not base64: expected the 44 characters `ironrack agent keygen` prints")]
    NotBase64,
    #[error("an X25519 public key is 32 bytes, this one is {0}")]
    Length(usize),
    #[error("not a usable X25519 public key (a low-order point)")]
    LowOrder,
}

impl PublicKey {
    /// Parses the base64 text `ironrack agent keygen` prints.
    pub fn parse(text: &str) -> Result<PublicKey, KeyError> {
        let raw = BASE64
            .decode(text.trim())
            .map_err(|_| KeyError::NotBase64)?;
        let bytes: [u8; KEY_LEN] = raw
            .as_slice()
            .try_into()
            .map_err(|_| KeyError::Length(raw.len()))?;
        let key = PublicKey::from_bytes(bytes);
        // A low-order point gives an all-zero shared secret, which HPKE
        // refuses: find out now rather than at the first task.
        key.seal("", b"").map_err(|_| KeyError::LowOrder)?;
        Ok(key)
    }

    /// The fingerprint of a key's base64 text, without the checks of
    /// [`PublicKey::parse`] (for listing keys already registered).
    pub fn fingerprint_of(text: &str) -> Option<String> {
        let raw = BASE64.decode(text.trim()).ok()?;
        let bytes: [u8; KEY_LEN] = raw.as_slice().try_into().ok()?;
        Some(fingerprint(&bytes))
    }

    fn from_bytes(bytes: [u8; KEY_LEN]) -> PublicKey {
        // Infallible for 32 bytes.
        let key = <Kem as hpke::Kem>::PublicKey::from_bytes(&bytes)
            .unwrap_or_else(|_| unreachable!("32 bytes are an X25519 public key"));
        PublicKey {
            key,
            bytes,
            fingerprint: fingerprint(&bytes),
        }
    }

    /// The key as base64 (what an admin registers).
    pub fn to_base64(&self) -> String {
        BASE64.encode(self.bytes)
    }

    /// A short name for the key (hex of the first 8 bytes of its SHA-256):
    /// enough to tell two keys apart in messages and listings.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Seals `secret` to this key, bound to `aad`, with an encapsulation
    /// of its own (for many secrets, keep a [`Sealer`]).
    pub fn seal(&self, secret: &str, aad: &[u8]) -> Result<Sealed, SealError> {
        self.sealer()?.seal(secret, aad)
    }

    /// A new encapsulation to this key, to seal many secrets with.
    pub fn sealer(&self) -> Result<Sealer, SealError> {
        let (enc, ctx) = hpke::setup_sender::<ExportOnly, Kdf, Kem, _>(
            &OpModeS::Base,
            &self.key,
            INFO_V2,
            &mut rand::rngs::OsRng,
        )
        .map_err(|_| SealError)?;
        let mut key = Zeroizing::new([0u8; 32]);
        ctx.export(BOX_KEY, key.as_mut_slice())
            .map_err(|_| SealError)?;
        Ok(Sealer {
            sealed_to: self.fingerprint.clone(),
            enc: enc.to_bytes().to_vec(),
            cipher: XChaCha20Poly1305::new(key.as_slice().into()),
        })
    }
}

type ExportOnly = hpke::aead::ExportOnlyAead;

/// What seals secrets: a [`PublicKey`] (a new encapsulation each time) or
/// a [`Sealer`] (one kept for many).
pub trait Seal {
    fn seal(&self, secret: &str, aad: &[u8]) -> Result<Sealed, SealError>;
}

impl Seal for PublicKey {
    fn seal(&self, secret: &str, aad: &[u8]) -> Result<Sealed, SealError> {
        PublicKey::seal(self, secret, aad)
    }
}

impl Seal for Sealer {
    fn seal(&self, secret: &str, aad: &[u8]) -> Result<Sealed, SealError> {
        Sealer::seal(self, secret, aad)
    }
}

/// One key encapsulation to a public key, sealing any number of secrets:
/// each gets its own random nonce. Renew it now and then (the controller
/// does every few minutes) so that one encapsulation does not live forever.
pub struct Sealer {
    sealed_to: String,
    enc: Vec<u8>,
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealer(to {})", self.sealed_to)
    }
}

impl Sealer {
    /// Seals `secret`, bound to `aad`.
    pub fn seal(&self, secret: &str, aad: &[u8]) -> Result<Sealed, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let padded = pad(secret.as_bytes());
        let ct = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: &padded, aad })
            .map_err(|_| SealError)?;
        Ok(Sealed {
            sealed_to: self.sealed_to.clone(),
            enc: self.enc.clone(),
            nonce: Some(nonce.to_vec()),
            ct,
        })
    }
}

fn fingerprint(bytes: &[u8; KEY_LEN]) -> String {
    hex::encode(&Sha256::digest(bytes)[..8])
}

#[derive(Debug, thiserror::Error)]
#[error("sealing failed: the site's key is not usable")]
pub struct SealError;

/// A site agent's private key. `Debug` shows only the fingerprint; the key
/// bytes are wiped on drop.
pub struct AgentKey {
    secret: <Kem as hpke::Kem>::PrivateKey,
    public: PublicKey,
    /// Box keys derived from recent encapsulations, newest last.
    derived: std::sync::Mutex<Vec<(Vec<u8>, XChaCha20Poly1305)>>,
}

impl std::fmt::Debug for AgentKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AgentKey({})", self.public.fingerprint)
    }
}

impl AgentKey {
    pub fn generate() -> AgentKey {
        let (secret, _) = Kem::gen_keypair(&mut rand::rngs::OsRng);
        AgentKey::from_secret(secret)
    }

    fn from_secret(secret: <Kem as hpke::Kem>::PrivateKey) -> AgentKey {
        let mut bytes = [0u8; KEY_LEN];
        bytes.copy_from_slice(&Kem::sk_to_pk(&secret).to_bytes());
        AgentKey {
            secret,
            public: PublicKey::from_bytes(bytes),
            derived: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// The private key from its base64 text (the key file's content).
    pub fn from_base64(text: &str) -> Option<AgentKey> {
        let raw = Zeroizing::new(BASE64.decode(text.trim()).ok()?);
        if raw.len() != KEY_LEN {
            return None;
        }
        let secret = <Kem as hpke::Kem>::PrivateKey::from_bytes(&raw).ok()?;
        Some(AgentKey::from_secret(secret))
    }

    /// The private key as base64 (for the key file only).
    pub fn to_base64(&self) -> Zeroizing<String> {
        let raw = Zeroizing::new(self.secret.to_bytes().to_vec());
        Zeroizing::new(BASE64.encode(raw.as_slice()))
    }

    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// Opens a secret sealed to this key with the same `aad`.
    pub fn open(&self, sealed: &Sealed, aad: &[u8]) -> Result<Zeroizing<String>, OpenError> {
        if sealed.sealed_to != self.public.fingerprint {
            return Err(OpenError::OtherKey {
                sealed_to: sealed.sealed_to.clone(),
                ours: self.public.fingerprint.clone(),
            });
        }
        let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(&sealed.enc)
            .map_err(|_| OpenError::Invalid)?;
        let padded = Zeroizing::new(match &sealed.nonce {
            Some(nonce) => self.open_box(&enc, &sealed.enc, nonce, &sealed.ct, aad)?,
            None => hpke::single_shot_open::<Cipher, Kdf, Kem>(
                &OpModeR::Base,
                &self.secret,
                &enc,
                INFO,
                &sealed.ct,
                aad,
            )
            .map_err(|_| OpenError::Invalid)?,
        });
        let plain = unpad(&padded).ok_or(OpenError::Invalid)?;
        let text = std::str::from_utf8(plain).map_err(|_| OpenError::Invalid)?;
        Ok(Zeroizing::new(text.to_owned()))
    }

    /// Opens a box of the current format, deriving its encapsulation's key
    /// only the first time that encapsulation is seen.
    fn open_box(
        &self,
        enc: &<Kem as hpke::Kem>::EncappedKey,
        enc_bytes: &[u8],
        nonce: &[u8],
        ct: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, OpenError> {
        if nonce.len() != NONCE_LEN {
            return Err(OpenError::Invalid);
        }
        let open = |cipher: &XChaCha20Poly1305| {
            cipher
                .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad })
                .map_err(|_| OpenError::Invalid)
        };
        let mut derived = self.derived.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, cipher)) = derived.iter().find(|(e, _)| e == enc_bytes) {
            return open(cipher);
        }
        let ctx = hpke::setup_receiver::<ExportOnly, Kdf, Kem>(
            &OpModeR::Base,
            &self.secret,
            enc,
            INFO_V2,
        )
        .map_err(|_| OpenError::Invalid)?;
        let mut key = Zeroizing::new([0u8; 32]);
        ctx.export(BOX_KEY, key.as_mut_slice())
            .map_err(|_| OpenError::Invalid)?;
        let cipher = XChaCha20Poly1305::new(key.as_slice().into());
        let plain = open(&cipher)?;
        // Only an encapsulation that opened a box is remembered, so forged
        // ones cannot push out the real.
        if derived.len() >= REMEMBERED {
            derived.remove(0);
        }
        derived.push((enc_bytes.to_vec(), cipher));
        Ok(plain)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OpenError {
    /// Sealed to another key than this agent's (not registered, or rotated).
    #[error("sealed to key {sealed_to}, this agent has key {ours}")]
    OtherKey { sealed_to: String, ours: String },
    /// Right key, but the box was altered or belongs to another message.
    #[error("the sealed secret does not open: altered, or sealed for another task, server or BMC")]
    Invalid,
}

/// A secret sealed to one public key, as it travels.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sealed {
    /// Fingerprint of the key it is sealed to (so that a wrong key can be
    /// named rather than reported as a failed decryption).
    pub sealed_to: String,
    /// HPKE's encapsulated (ephemeral public) key.
    #[serde(with = "b64")]
    pub enc: Vec<u8>,
    /// The box's nonce (absent in the first format, whose box is HPKE's own).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "b64_opt")]
    pub nonce: Option<Vec<u8>>,
    /// The padded secret, encrypted and authenticated.
    #[serde(with = "b64")]
    pub ct: Vec<u8>,
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealed(to {})", self.sealed_to)
    }
}

/// ISO/IEC 7816-4 padding: 0x80 then zeros up to a multiple of [`PAD`].
fn pad(secret: &[u8]) -> Zeroizing<Vec<u8>> {
    let len = (secret.len() / PAD + 1) * PAD;
    let mut out = Zeroizing::new(Vec::with_capacity(len));
    out.extend_from_slice(secret);
    out.push(0x80);
    out.resize(len, 0);
    out
}

fn unpad(padded: &[u8]) -> Option<&[u8]> {
    let end = padded.iter().rposition(|&b| b != 0)?;
    (padded[end] == 0x80).then(|| &padded[..end])
}

mod b64 {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = <&str>::deserialize(d)?;
        STANDARD
            .decode(text)
            .map_err(|_| serde::de::Error::custom("not base64"))
    }
}

mod b64_opt {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(b) => super::b64::serialize(b, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        #[derive(Deserialize)]
        struct Wrapped(#[serde(with = "super::b64")] Vec<u8>);
        Option::<Wrapped>::deserialize(d).map(|w| w.map(|Wrapped(b)| b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_with_the_same_aad_only() {
        let key = AgentKey::generate();
        let sealed = key.public().seal("s3cret-pw", b"task 1").unwrap();
        assert_eq!(*key.open(&sealed, b"task 1").unwrap(), "s3cret-pw");
        assert_eq!(key.open(&sealed, b"task 2"), Err(OpenError::Invalid));
        assert_eq!(key.open(&sealed, b""), Err(OpenError::Invalid));
    }

    #[test]
    fn tampering_is_detected() {
        let key = AgentKey::generate();
        let sealed = key.public().seal("s3cret-pw", b"aad").unwrap();
        for i in 0..sealed.ct.len() {
            let mut bad = sealed.clone();
            bad.ct[i] ^= 1;
            assert_eq!(key.open(&bad, b"aad"), Err(OpenError::Invalid), "ct[{i}]");
        }
        let mut bad = sealed.clone();
        bad.enc[0] ^= 1;
        assert_eq!(key.open(&bad, b"aad"), Err(OpenError::Invalid));
        let mut bad = sealed.clone();
        bad.ct.truncate(10);
        assert_eq!(key.open(&bad, b"aad"), Err(OpenError::Invalid));
        let mut bad = sealed;
        bad.enc.pop();
        assert_eq!(key.open(&bad, b"aad"), Err(OpenError::Invalid));
    }

    #[test]
    fn one_sealer_seals_many_boxes_that_open_alone() {
        let key = AgentKey::generate();
        let sealer = key.public().sealer().unwrap();
        let a = sealer.seal("pw-a", b"task 1").unwrap();
        let b = sealer.seal("pw-b", b"task 2").unwrap();
        assert_eq!(a.enc, b.enc, "one encapsulation");
        assert_ne!(a.nonce, b.nonce, "a fresh nonce per box");
        // A second agent process (nothing derived yet) opens them too.
        let again = AgentKey::from_base64(&key.to_base64()).unwrap();
        assert_eq!(*again.open(&b, b"task 2").unwrap(), "pw-b");
        assert_eq!(*again.open(&a, b"task 1").unwrap(), "pw-a");
        assert_eq!(again.open(&a, b"task 2"), Err(OpenError::Invalid));
        let mut bad = a.clone();
        if let Some(n) = bad.nonce.as_mut() {
            n[0] ^= 1;
        }
        assert_eq!(key.open(&bad, b"task 1"), Err(OpenError::Invalid));
        let mut bad = a.clone();
        bad.nonce = Some(vec![0; 12]);
        assert_eq!(key.open(&bad, b"task 1"), Err(OpenError::Invalid));
        // A box re-labelled as the first format does not open either.
        let mut bad = a;
        bad.nonce = None;
        assert_eq!(key.open(&bad, b"task 1"), Err(OpenError::Invalid));
    }

    #[test]
    fn boxes_of_the_first_format_still_open() {
        let key = AgentKey::generate();
        let padded = pad(b"old-pw");
        let (enc, ct) = hpke::single_shot_seal::<Cipher, Kdf, Kem, _>(
            &OpModeS::Base,
            &key.public().key,
            INFO,
            &padded,
            b"aad",
            &mut rand::rngs::OsRng,
        )
        .unwrap();
        let json = format!(
            r#"{{"sealed_to":"{}","enc":"{}","ct":"{}"}}"#,
            key.public().fingerprint(),
            BASE64.encode(enc.to_bytes()),
            BASE64.encode(&ct)
        );
        let sealed: Sealed = serde_json::from_str(&json).unwrap();
        assert_eq!(sealed.nonce, None);
        assert_eq!(*key.open(&sealed, b"aad").unwrap(), "old-pw");
    }

    #[test]
    fn another_agents_key_is_named() {
        let (ours, theirs) = (AgentKey::generate(), AgentKey::generate());
        let sealed = theirs.public().seal("pw", b"").unwrap();
        let err = ours.open(&sealed, b"").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "sealed to key {}, this agent has key {}",
                theirs.public().fingerprint(),
                ours.public().fingerprint()
            )
        );
        // A forged label does not help: the box still does not open.
        let mut forged = sealed;
        forged.sealed_to = ours.public().fingerprint().to_owned();
        assert_eq!(ours.open(&forged, b""), Err(OpenError::Invalid));
    }

    #[test]
    fn every_box_is_fresh_and_lengths_are_padded() {
        let key = AgentKey::generate();
        let a = key.public().seal("pw", b"").unwrap();
        let b = key.public().seal("pw", b"").unwrap();
        assert_ne!(a.enc, b.enc, "a fresh ephemeral key per box");
        assert_ne!(a.ct, b.ct);
        let long = key.public().seal("a-much-longer-password", b"").unwrap();
        assert_eq!(a.ct.len(), long.ct.len(), "length is not revealed");
        for secret in ["", "x", &"y".repeat(PAD - 1), &"z".repeat(PAD), "pä\u{0}ss"] {
            let sealed = key.public().seal(secret, b"").unwrap();
            assert_eq!(*key.open(&sealed, b"").unwrap(), secret);
        }
    }

    #[test]
    fn the_wire_form_round_trips_and_holds_no_plaintext() {
        let key = AgentKey::generate();
        let sealed = key.public().seal("hunter22", b"aad").unwrap();
        let json = serde_json::to_string(&sealed).unwrap();
        assert!(!json.contains("hunter22"), "{json}");
        assert!(json.contains(key.public().fingerprint()));
        let back: Sealed = serde_json::from_str(&json).unwrap();
        assert_eq!(*key.open(&back, b"aad").unwrap(), "hunter22");
        assert!(serde_json::from_str::<Sealed>(r#"{"sealed_to":"x","enc":"!!","ct":""}"#).is_err());
        assert_eq!(
            format!("{sealed:?}"),
            format!("Sealed(to {})", key.public().fingerprint())
        );
    }

    #[test]
    fn public_keys_parse_from_their_text_only() {
        let key = AgentKey::generate();
        let text = key.public().to_base64();
        assert_eq!(text.len(), 44);
        let parsed = PublicKey::parse(&format!(" {text}\n")).unwrap();
        assert_eq!(&parsed, key.public());
        assert_eq!(parsed.fingerprint().len(), 16);
        assert_eq!(
            PublicKey::fingerprint_of(&text).as_deref(),
            Some(parsed.fingerprint())
        );
        assert_eq!(PublicKey::fingerprint_of("AAAA"), None);
        assert_eq!(
            PublicKey::parse("not base64!").unwrap_err(),
            KeyError::NotBase64
        );
        assert_eq!(
            PublicKey::parse(&BASE64.encode([1u8; 31])).unwrap_err(),
            KeyError::Length(31)
        );
        // Small-order points (here u = 0 and u = 1) give all-zero shared secrets.
        assert_eq!(
            PublicKey::parse(&BASE64.encode([0u8; 32])).unwrap_err(),
            KeyError::LowOrder
        );
        let mut small = [0u8; 32];
        small[0] = 1;
        assert_eq!(
            PublicKey::parse(&BASE64.encode(small)).unwrap_err(),
            KeyError::LowOrder
        );
    }

    #[test]
    fn private_keys_round_trip_through_text() {
        let key = AgentKey::generate();
        let again = AgentKey::from_base64(&key.to_base64()).unwrap();
        assert_eq!(again.public(), key.public());
        assert!(AgentKey::from_base64("short").is_none());
        assert!(!format!("{key:?}").contains(key.to_base64().as_str()));
    }
}
