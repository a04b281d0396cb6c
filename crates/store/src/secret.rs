//! BMC passwords at rest: XChaCha20-Poly1305 with a random 192-bit nonce
//! (large enough that random nonces never collide in practice), bound by the
//! associated data to the row they belong to, so a ciphertext copied to
//! another server's row does not decrypt.

use std::fs;
use std::io::Write;
use std::path::Path;

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret key: {0}")]
    Key(String),
    #[error("a stored secret could not be decrypted (wrong key or tampered row)")]
    Decrypt,
}

/// The key that seals BMC passwords. Cloning shares the same key.
#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

impl SecretBox {
    pub fn from_key(key: &[u8; 32]) -> SecretBox {
        SecretBox {
            cipher: XChaCha20Poly1305::new(key.into()),
        }
    }

    /// A key given as 64 hex digits (e.g. from `IRONRACK_SECRET_KEY`).
    pub fn from_hex(hex_key: &str) -> Result<SecretBox, SecretError> {
        let bytes = Zeroizing::new(
            hex::decode(hex_key.trim())
                .map_err(|_| SecretError::Key("the key must be 64 hex digits".into()))?,
        );
        let key: &[u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| SecretError::Key("the key must be 32 bytes (64 hex digits)".into()))?;
        Ok(SecretBox::from_key(key))
    }

    /// Reads the key file, creating it (mode 0600) with a fresh random key
    /// the first time.
    pub fn from_key_file(path: &Path) -> Result<SecretBox, SecretError> {
        let err = |what: &str, e: std::io::Error| {
            SecretError::Key(format!("{what} {}: {e}", path.display()))
        };
        if path.exists() {
            let text = Zeroizing::new(fs::read_to_string(path).map_err(|e| err("reading", e))?);
            return SecretBox::from_hex(&text);
        }
        let key = XChaCha20Poly1305::generate_key(&mut OsRng);
        let text = Zeroizing::new(hex::encode(key));
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(|e| err("creating", e))?;
        file.write_all(text.as_bytes())
            .map_err(|e| err("writing", e))?;
        SecretBox::from_hex(&text)
    }

    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .expect("XChaCha20-Poly1305 encryption cannot fail for in-memory buffers");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, SecretError> {
        let (version, rest) = sealed.split_first().ok_or(SecretError::Decrypt)?;
        if *version != VERSION || rest.len() < NONCE_LEN {
            return Err(SecretError::Decrypt);
        }
        let (nonce, msg) = rest.split_at(NONCE_LEN);
        self.cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg, aad })
            .map(Zeroizing::new)
            .map_err(|_| SecretError::Decrypt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binding() {
        let b = SecretBox::from_key(&[7; 32]);
        let sealed = b.seal(b"hunter2", b"server:1");
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(b.open(&sealed, b"server:1").unwrap().as_slice(), b"hunter2");
        assert!(b.open(&sealed, b"server:2").is_err(), "bound to its row");
        let other = SecretBox::from_key(&[8; 32]);
        assert!(other.open(&sealed, b"server:1").is_err());
        assert!(b.open(&[], b"").is_err());
        assert!(b.open(&[1, 2, 3], b"").is_err());
    }

    #[test]
    fn key_file_is_created_once_and_private() {
        let dir = std::env::temp_dir().join(format!("ironrack-key-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("secret.key");
        let a = SecretBox::from_key_file(&path).unwrap();
        let b = SecretBox::from_key_file(&path).unwrap();
        assert_eq!(b.open(&a.seal(b"x", b""), b"").unwrap().as_slice(), b"x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        assert!(SecretBox::from_hex("abcd").is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
