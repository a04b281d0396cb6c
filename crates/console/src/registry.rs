//! Console sessions and their one-time tokens, as plain state: every method
//! takes `now`, so expiry, idle warnings and closes are tested without
//! sleeping. The gateway drives it with the real clock.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub type SessionId = i64;
/// SHA-256 of a token: only digests are kept.
pub type TokenHash = [u8; 32];

pub fn token_hash(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

/// A fresh 256-bit token (`irc_` + base64url) and its digest.
pub fn new_token() -> (String, TokenHash) {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    let token = format!(
        "irc_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let hash = token_hash(&token);
    (token, hash)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Vnc,
    Sol,
    /// A desktop session (Xvfb + browser or Java viewer) shown over RFB.
    Desktop,
    /// A BMC's own KVM WebSocket (RFB inside; OpenBMC style).
    Html5,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Vnc => "vnc",
            Kind::Sol => "sol",
            Kind::Desktop => "desktop",
            Kind::Html5 => "html5",
        }
    }
}

/// Time limits of a session (the controller's configuration travels with
/// each session).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// How long the first token may wait to be used.
    #[serde(with = "millis")]
    pub token_ttl: Duration,
    /// Close after this long without input.
    #[serde(with = "millis")]
    pub idle_timeout: Duration,
    /// Warn this long before the idle close, and before the maximum
    /// duration's.
    #[serde(with = "millis")]
    pub idle_warning: Duration,
    /// Close after this long whatever happens.
    #[serde(with = "millis")]
    pub max_duration: Duration,
    /// Close once no viewer has been connected for this long (a tab closed;
    /// a network blip reconnects within it).
    #[serde(with = "millis")]
    pub reconnect_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            token_ttl: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(15 * 60),
            idle_warning: Duration::from_secs(60),
            max_duration: Duration::from_secs(8 * 3600),
            reconnect_grace: Duration::from_secs(30),
        }
    }
}

mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    Idle,
    MaxDuration,
    Killed,
    TargetClosed,
    Error,
    /// The token was never used.
    Expired,
    /// Every viewer left and none came back within the grace time.
    Disconnected,
}

impl CloseReason {
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::Idle => "idle",
            CloseReason::MaxDuration => "max_duration",
            CloseReason::Killed => "killed",
            CloseReason::TargetClosed => "target_closed",
            CloseReason::Error => "error",
            CloseReason::Expired => "expired",
            CloseReason::Disconnected => "disconnected",
        }
    }

    /// The WebSocket close code (the contract's 4xxx codes).
    pub fn close_code(self) -> u16 {
        match self {
            CloseReason::Idle => 4008,
            CloseReason::MaxDuration => 4009,
            CloseReason::Killed => 4010,
            CloseReason::Expired => 4001,
            CloseReason::Error => 1011,
            CloseReason::TargetClosed | CloseReason::Disconnected => 1000,
        }
    }
}

/// A session to register.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: SessionId,
    pub server_id: i64,
    pub user_id: i64,
    pub kind: Kind,
    /// The owner's token gives a view-only connection.
    pub view_only: bool,
    /// Sessions to the same BMC count against `max_sessions`.
    pub bmc_key: String,
    pub max_sessions: usize,
    pub limits: Limits,
    pub token_hash: TokenHash,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    #[error(
        "this BMC already has {open} console session(s) open, its limit (bmc.options.console_max_sessions = {max}); close one first"
    )]
    Full { open: usize, max: usize },
    #[error("console session {0} already exists")]
    Duplicate(SessionId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RedeemError {
    #[error("the console token is invalid or was already used")]
    Invalid,
    #[error("the console token has expired; open the console again")]
    Expired,
}

/// What a redeemed token admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    pub session: SessionId,
    pub kind: Kind,
    pub view_only: bool,
}

/// What the clock made due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The session closes in `closes_in` for `reason` (idle, or its
    /// maximum duration) unless input comes (idle only).
    Warn {
        session: SessionId,
        closes_in: Duration,
        reason: CloseReason,
    },
    Close {
        session: SessionId,
        reason: CloseReason,
    },
}

/// A session as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub id: SessionId,
    pub server_id: i64,
    pub user_id: i64,
    pub kind: Kind,
    pub viewers: usize,
    pub opened: Option<Instant>,
    pub last_input: Option<Instant>,
    /// When the idle timer or the maximum duration closes it (for a pending
    /// session: when its token expires).
    pub closes_at: Instant,
}

#[derive(Debug)]
struct Entry {
    s: NewSession,
    created: Instant,
    opened: Option<Instant>,
    last_input: Option<Instant>,
    warned: bool,
    max_warned: bool,
    viewers: usize,
    empty_since: Option<Instant>,
}

impl Entry {
    fn idle_from(&self) -> Instant {
        self.last_input.or(self.opened).unwrap_or(self.created)
    }

    fn closes_at(&self) -> Instant {
        match self.opened {
            None => self.created + self.s.limits.token_ttl,
            Some(o) => {
                (self.idle_from() + self.s.limits.idle_timeout).min(o + self.s.limits.max_duration)
            }
        }
    }

    fn info(&self) -> SessionInfo {
        SessionInfo {
            id: self.s.id,
            server_id: self.s.server_id,
            user_id: self.s.user_id,
            kind: self.s.kind,
            viewers: self.viewers,
            opened: self.opened,
            last_input: self.last_input,
            closes_at: self.closes_at(),
        }
    }
}

#[derive(Debug)]
struct Token {
    session: SessionId,
    view_only: bool,
    /// `None`: valid while the session lives (reconnect tokens).
    expires: Option<Instant>,
}

#[derive(Debug, Default)]
pub struct Registry {
    sessions: HashMap<SessionId, Entry>,
    tokens: HashMap<TokenHash, Token>,
}

impl Registry {
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Adds a pending session whose owner token is `s.token_hash`.
    pub fn register(&mut self, s: NewSession, now: Instant) -> Result<(), RegisterError> {
        if self.sessions.contains_key(&s.id) {
            return Err(RegisterError::Duplicate(s.id));
        }
        let open = self
            .sessions
            .values()
            .filter(|e| e.s.bmc_key == s.bmc_key)
            .count();
        let max = s.max_sessions.max(1);
        if open >= max {
            return Err(RegisterError::Full { open, max });
        }
        self.tokens.insert(
            s.token_hash,
            Token {
                session: s.id,
                view_only: s.view_only,
                expires: Some(now + s.limits.token_ttl),
            },
        );
        self.sessions.insert(
            s.id,
            Entry {
                s,
                created: now,
                opened: None,
                last_input: None,
                warned: false,
                max_warned: false,
                viewers: 0,
                empty_since: None,
            },
        );
        Ok(())
    }

    /// Adds a token to a live or pending session: a view-only join token
    /// (with an expiry) or a reconnect token (`expires: None`).
    pub fn add_token(
        &mut self,
        session: SessionId,
        hash: TokenHash,
        view_only: bool,
        expires: Option<Instant>,
    ) -> bool {
        if !self.sessions.contains_key(&session) {
            return false;
        }
        self.tokens.insert(
            hash,
            Token {
                session,
                view_only,
                expires,
            },
        );
        true
    }

    /// Whether `hash` is an unused, unexpired one-time token of `session`
    /// with the owner's rights; does not use it.
    pub fn owner_token_unused(&self, session: SessionId, hash: &TokenHash, now: Instant) -> bool {
        let (Some(t), Some(e)) = (self.tokens.get(hash), self.sessions.get(&session)) else {
            return false;
        };
        t.session == session && t.view_only == e.s.view_only && t.expires.is_some_and(|x| now < x)
    }

    /// Uses a token once. A token for another session is refused and stays
    /// unused (it was not the holder who erred).
    pub fn redeem(
        &mut self,
        session: SessionId,
        hash: &TokenHash,
        now: Instant,
    ) -> Result<Admission, RedeemError> {
        let t = self.tokens.get(hash).ok_or(RedeemError::Invalid)?;
        if t.session != session {
            return Err(RedeemError::Invalid);
        }
        let Some(t) = self.tokens.remove(hash) else {
            return Err(RedeemError::Invalid);
        };
        if t.expires.is_some_and(|e| now >= e) {
            return Err(RedeemError::Expired);
        }
        let e = self.sessions.get(&session).ok_or(RedeemError::Invalid)?;
        Ok(Admission {
            session,
            kind: e.s.kind,
            view_only: t.view_only,
        })
    }

    /// A viewer connected. True when this opened the session.
    pub fn connect(&mut self, session: SessionId, now: Instant) -> bool {
        let Some(e) = self.sessions.get_mut(&session) else {
            return false;
        };
        e.viewers += 1;
        e.empty_since = None;
        if e.opened.is_none() {
            e.opened = Some(now);
            return true;
        }
        false
    }

    pub fn disconnect(&mut self, session: SessionId, now: Instant) {
        if let Some(e) = self.sessions.get_mut(&session) {
            e.viewers = e.viewers.saturating_sub(1);
            if e.viewers == 0 {
                e.empty_since = Some(now);
            }
        }
    }

    /// Input from a viewer allowed to give it: restarts the idle timer.
    pub fn input(&mut self, session: SessionId, now: Instant) {
        if let Some(e) = self.sessions.get_mut(&session) {
            e.last_input = Some(now);
            e.warned = false;
        }
    }

    /// Warnings and closes due at `now`; an idle warning is given once per
    /// idle stretch, the maximum duration's once, and only the warning of
    /// whichever close comes first. Expired unused tokens are forgotten.
    pub fn tick(&mut self, now: Instant) -> Vec<Action> {
        self.tokens.retain(|_, t| t.expires.is_none_or(|e| now < e));
        let mut out = Vec::new();
        for e in self.sessions.values_mut() {
            let id = e.s.id;
            let l = e.s.limits;
            let Some(opened) = e.opened else {
                if now >= e.created + l.token_ttl {
                    out.push(Action::Close {
                        session: id,
                        reason: CloseReason::Expired,
                    });
                }
                continue;
            };
            let idle_at = e.idle_from() + l.idle_timeout;
            let max_at = opened + l.max_duration;
            if now >= max_at {
                out.push(Action::Close {
                    session: id,
                    reason: CloseReason::MaxDuration,
                });
            } else if now >= idle_at {
                out.push(Action::Close {
                    session: id,
                    reason: CloseReason::Idle,
                });
            } else if e.empty_since.is_some_and(|t| now >= t + l.reconnect_grace) {
                out.push(Action::Close {
                    session: id,
                    reason: CloseReason::Disconnected,
                });
            } else if idle_at < max_at {
                if !e.warned && now + l.idle_warning >= idle_at {
                    e.warned = true;
                    out.push(Action::Warn {
                        session: id,
                        closes_in: idle_at.saturating_duration_since(now),
                        reason: CloseReason::Idle,
                    });
                }
            } else if !e.max_warned && now + l.idle_warning >= max_at {
                e.max_warned = true;
                out.push(Action::Warn {
                    session: id,
                    closes_in: max_at.saturating_duration_since(now),
                    reason: CloseReason::MaxDuration,
                });
            }
        }
        out.sort_by_key(|a| match a {
            Action::Warn { session, .. } | Action::Close { session, .. } => *session,
        });
        out
    }

    /// Ends a session and forgets its tokens.
    pub fn remove(&mut self, session: SessionId) -> Option<SessionInfo> {
        let e = self.sessions.remove(&session)?;
        self.tokens.retain(|_, t| t.session != session);
        Some(e.info())
    }

    pub fn get(&self, session: SessionId) -> Option<SessionInfo> {
        self.sessions.get(&session).map(Entry::info)
    }

    pub fn limits(&self, session: SessionId) -> Option<Limits> {
        self.sessions.get(&session).map(|e| e.s.limits)
    }

    pub fn list(&self) -> Vec<SessionInfo> {
        let mut v: Vec<_> = self.sessions.values().map(Entry::info).collect();
        v.sort_by_key(|s| s.id);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            token_ttl: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(900),
            idle_warning: Duration::from_secs(60),
            max_duration: Duration::from_secs(8 * 3600),
            reconnect_grace: Duration::from_secs(30),
        }
    }

    fn session(id: SessionId, token: &str, bmc: &str) -> NewSession {
        NewSession {
            id,
            server_id: 10 + id,
            user_id: 1,
            kind: Kind::Sol,
            view_only: false,
            bmc_key: bmc.into(),
            max_sessions: 2,
            limits: limits(),
            token_hash: token_hash(token),
        }
    }

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn a_token_works_once_and_only_for_its_session() {
        let t0 = Instant::now();
        let mut r = Registry::new();
        r.register(session(1, "tok", "bmc1"), t0).unwrap();
        r.register(session(2, "other", "bmc1"), t0).unwrap();
        let h = token_hash("tok");
        assert_eq!(r.redeem(2, &h, t0), Err(RedeemError::Invalid));
        let a = r.redeem(1, &h, t0 + S).unwrap();
        assert_eq!(
            a,
            Admission {
                session: 1,
                kind: Kind::Sol,
                view_only: false
            }
        );
        assert_eq!(r.redeem(1, &h, t0 + S), Err(RedeemError::Invalid));
    }

    #[test]
    fn owner_token_check_does_not_use_the_token() {
        let t0 = Instant::now();
        let mut r = Registry::new();
        r.register(session(1, "tok", "bmc1"), t0).unwrap();
        r.register(session(2, "other", "bmc1"), t0).unwrap();
        let h = token_hash("tok");
        assert!(r.owner_token_unused(1, &h, t0));
        assert!(!r.owner_token_unused(2, &h, t0), "another session's token");
        assert!(!r.owner_token_unused(1, &token_hash("nope"), t0));
        assert!(!r.owner_token_unused(1, &h, t0 + 61 * S), "expired");
        // A view-only join token is not the owner's.
        assert!(r.add_token(1, token_hash("viewer"), true, Some(t0 + 60 * S)));
        assert!(!r.owner_token_unused(1, &token_hash("viewer"), t0));
        // Checking left it usable; once used it is gone.
        r.redeem(1, &h, t0 + S).unwrap();
        assert!(!r.owner_token_unused(1, &h, t0 + S));
    }

    #[test]
    fn an_unused_token_expires_and_its_session_closes() {
        let t0 = Instant::now();
        let mut r = Registry::new();
        r.register(session(1, "tok", "b"), t0).unwrap();
        assert!(r.tick(t0 + 59 * S).is_empty());
        assert_eq!(
            r.redeem(1, &token_hash("tok"), t0 + 60 * S),
            Err(RedeemError::Expired)
        );
        assert_eq!(
            r.tick(t0 + 60 * S),
            vec![Action::Close {
                session: 1,
                reason: CloseReason::Expired
            }]
        );
    }

    #[test]
    fn idle_warns_once_then_closes_and_input_resets() {
        let t0 = Instant::now();
        let mut r = Registry::new();
        r.register(session(1, "tok", "b"), t0).unwrap();
        r.redeem(1, &token_hash("tok"), t0).unwrap();
        assert!(r.connect(1, t0));
        assert!(r.tick(t0 + 839 * S).is_empty());
        assert_eq!(
            r.tick(t0 + 840 * S),
            vec![Action::Warn {
                session: 1,
                closes_in: 60 * S,
                reason: CloseReason::Idle,
            }]
        );
        assert!(r.tick(t0 + 841 * S).is_empty(), "warned once");
        // Input: the timer starts again, and so does the warning.
        r.input(1, t0 + 850 * S);
        assert!(r.tick(t0 + 900 * S).is_empty());
        assert_eq!(r.get(1).unwrap().closes_at, t0 + 1750 * S);
        assert!(matches!(r.tick(t0 + 1690 * S)[..], [Action::Warn { .. }]));
        assert_eq!(
            r.tick(t0 + 1750 * S),
            vec![Action::Close {
                session: 1,
                reason: CloseReason::Idle
            }]
        );
        assert!(r.remove(1).is_some());
        assert!(r.tick(t0 + 1751 * S).is_empty());
    }

    #[test]
    fn the_maximum_duration_is_warned_once_whatever_the_input() {
        let t0 = Instant::now();
        let mut r = Registry::new();
        let mut s = session(1, "tok", "b");
        s.limits.max_duration = 1000 * S;
        r.register(s, t0).unwrap();
        r.connect(1, t0);
        // Input keeps the idle close (900 s after it) beyond the maximum.
        r.input(1, t0 + 800 * S);
        assert!(r.tick(t0 + 939 * S).is_empty());
        assert_eq!(
            r.tick(t0 + 940 * S),
            vec![Action::Warn {
                session: 1,
                closes_in: 60 * S,
                reason: CloseReason::MaxDuration,
            }]
        );
        r.input(1, t0 + 950 * S);
        assert!(
            r.tick(t0 + 960 * S).is_empty(),
            "warned once; input does not help"
        );
        assert_eq!(
            r.tick(t0 + 1000 * S),
            vec![Action::Close {
                session: 1,
                reason: CloseReason::MaxDuration
            }]
        );
        // Idle before the maximum: only the idle warning.
        let mut r = Registry::new();
        let mut s = session(2, "tok2", "b");
        s.limits.max_duration = 1000 * S;
        r.register(s, t0).unwrap();
        r.connect(2, t0);
        assert!(matches!(
            r.tick(t0 + 840 * S)[..],
            [Action::Warn {
                reason: CloseReason::Idle,
                ..
            }]
        ));
        assert!(r.tick(t0 + 899 * S).is_empty());
    }

    #[test]
    fn max_duration_wins_over_activity() {
        let t0 = Instant::now();
        let mut r = Registry::new();
        let mut s = session(1, "tok", "b");
        s.limits.max_duration = 100 * S;
        r.register(s, t0).unwrap();
        r.connect(1, t0);
        r.input(1, t0 + 99 * S);
        assert_eq!(
            r.tick(t0 + 100 * S),
            vec![Action::Close {
                session: 1,
                reason: CloseReason::MaxDuration
            }]
        );
    }

    #[test]
    fn a_session_without_viewers_closes_after_the_grace_time() {
        let t0 = Instant::now();
        let mut r = Registry::new();
        r.register(session(1, "tok", "b"), t0).unwrap();
        r.connect(1, t0);
        r.disconnect(1, t0 + S);
        assert!(r.tick(t0 + 30 * S).is_empty());
        // A reconnect within the grace time keeps it.
        r.connect(1, t0 + 30 * S);
        assert!(r.tick(t0 + 40 * S).is_empty());
        r.disconnect(1, t0 + 40 * S);
        assert_eq!(
            r.tick(t0 + 70 * S),
            vec![Action::Close {
                session: 1,
                reason: CloseReason::Disconnected
            }]
        );
    }

    #[test]
    fn per_bmc_cap_and_view_only_and_reconnect_tokens() {
        let t0 = Instant::now();
        let mut r = Registry::new();
        r.register(session(1, "a", "bmc1"), t0).unwrap();
        r.register(session(2, "b", "bmc1"), t0).unwrap();
        assert_eq!(
            r.register(session(3, "c", "bmc1"), t0),
            Err(RegisterError::Full { open: 2, max: 2 })
        );
        r.register(session(4, "d", "bmc2"), t0).unwrap();
        assert_eq!(
            r.register(session(4, "e", "bmc3"), t0),
            Err(RegisterError::Duplicate(4))
        );
        // View-only join token with its own expiry.
        assert!(r.add_token(1, token_hash("viewer"), true, Some(t0 + 10 * S)));
        assert!(!r.add_token(99, token_hash("x"), true, None));
        assert!(r.redeem(1, &token_hash("viewer"), t0).unwrap().view_only);
        // Reconnect tokens live as long as the session.
        assert!(r.add_token(1, token_hash("again"), false, None));
        r.tick(t0 + 3600 * S);
        r.remove(1);
        assert_eq!(
            r.redeem(1, &token_hash("again"), t0),
            Err(RedeemError::Invalid)
        );
        assert!(
            r.register(session(3, "c", "bmc1"), t0).is_ok(),
            "room again"
        );
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let (a, ha) = new_token();
        let (b, _) = new_token();
        assert_ne!(a, b);
        assert!(a.starts_with("irc_") && a.len() > 40);
        assert_eq!(token_hash(&a), ha);
    }
}
