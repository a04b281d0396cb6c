//! Who is calling: passwords, PINs, bearer tokens and session cookies, and
//! the counters that slow down guessing.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ironrack_core::Role;
use ironrack_store::{Server, TokenRow, User};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The name of the browser's session cookie.
pub const SESSION_COOKIE: &str = "ironrack_session";

pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .expect("argon2 hashing of an in-memory password cannot fail")
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash to verify against when the user does not exist, so that unknown
/// and known users take the same time to refuse.
pub fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_password("not-a-real-password"))
}

/// A new secret: a prefix that says what it is, then 256 random bits.
pub fn new_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Tokens are stored only as this digest; a high-entropy secret needs no
/// slow hash, and a fast one keeps every request cheap.
pub fn token_digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: User,
    pub token: TokenRow,
}

impl Caller {
    pub fn role(&self) -> Role {
        self.user.role
    }

    pub fn is_staff(&self) -> bool {
        self.user.role.is_staff()
    }

    /// The tenant a customer is confined to; `None` for staff.
    pub fn tenant_scope(&self) -> Option<i64> {
        if self.is_staff() {
            None
        } else {
            // A customer without a tenant sees nothing: -1 matches no row.
            Some(self.user.tenant_id.unwrap_or(-1))
        }
    }

    /// The servers a restricted API token is limited to.
    pub fn server_scope(&self) -> Option<&[i64]> {
        self.token.server_ids.as_deref()
    }

    /// Whether the caller may know this server exists.
    pub fn can_see_server(&self, server: &Server) -> bool {
        let tenant_ok = match self.tenant_scope() {
            None => true,
            Some(t) => server.tenant_id == Some(t),
        };
        let token_ok = self
            .server_scope()
            .is_none_or(|ids| ids.contains(&server.id));
        tenant_ok && token_ok
    }

    pub fn can_see_tenant_object(&self, tenant_id: Option<i64>, server_id: Option<i64>) -> bool {
        let tenant_ok = match self.tenant_scope() {
            None => true,
            Some(t) => tenant_id == Some(t),
        };
        let token_ok = match (self.server_scope(), server_id) {
            (None, _) => true,
            (Some(ids), Some(s)) => ids.contains(&s),
            (Some(_), None) => false,
        };
        tenant_ok && token_ok
    }
}

/// Counts failures per key in a sliding window; a key over the limit is
/// refused until its oldest failure leaves the window.
pub struct FailureLimiter {
    limit: usize,
    window: Duration,
    failures: Mutex<HashMap<String, Vec<Instant>>>,
}

impl FailureLimiter {
    pub fn new(limit: usize, window: Duration) -> FailureLimiter {
        FailureLimiter {
            limit,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(seconds to wait)` while the key is locked out.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let Some(list) = map.get_mut(key) else {
            return Ok(());
        };
        list.retain(|t| now.duration_since(*t) < self.window);
        if list.len() >= self.limit {
            let oldest = list.first().copied().unwrap_or(now);
            let wait = self.window.saturating_sub(now.duration_since(oldest));
            return Err(wait.as_secs().max(1));
        }
        Ok(())
    }

    pub fn fail(&self, key: &str) {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        // Forget idle keys now and then so the map cannot grow without bound.
        if map.len() > 10_000 {
            map.retain(|_, l| {
                l.last()
                    .is_some_and(|t| now.duration_since(*t) < self.window)
            });
        }
        map.entry(key.to_owned()).or_default().push(now);
    }

    pub fn clear(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_themselves() {
        let h = hash_password("correct horse");
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("Correct horse", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn tokens_are_random_and_digested() {
        let a = new_token("irk_");
        let b = new_token("irk_");
        assert_ne!(a, b);
        assert!(a.starts_with("irk_") && a.len() > 40);
        assert_eq!(token_digest(&a).len(), 32);
        assert_ne!(token_digest(&a), token_digest(&b));
    }

    #[test]
    fn limiter_locks_after_limit_and_clears() {
        let l = FailureLimiter::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            assert!(l.check("k").is_ok());
            l.fail("k");
        }
        let wait = l.check("k").unwrap_err();
        assert!((1..=60).contains(&wait));
        assert!(l.check("other").is_ok());
        l.clear("k");
        assert!(l.check("k").is_ok());
    }
}
