//! What a controller remembers across requests on PostgreSQL, and the
//! listener that makes it forget what changed elsewhere.
//!
//! Server rows for the task path (`ServerCache`):
//! Every task a caller queues needs its server's row (tenant, site, BMC
//! target): at thousands of tasks per second that read was the busiest
//! statement PostgreSQL ran. Several controllers may share the database, so
//! a remembered row must not outlive a change made anywhere: triggers
//! (migration 0008) `NOTIFY ironrack_servers` with the changed server's id
//! (or `*`) and a listener here forgets it. While the listener is not
//! connected nothing is served from memory, and a reconnect starts empty,
//! since notifications sent meanwhile are lost.
//!
//! Authenticated callers (`tokens::Callers`, kept `CALLER_FRESH`): a revoked
//! token or a changed user (migration 0009, `ironrack_callers`) empties
//! that cache on every controller, so a revocation takes effect everywhere
//! at once; while the listener is away the few seconds' bound applies.
//!
//! Invariants:
//! - An entry is only added if no change was heard between the start of the
//!   read that produced it and its insertion (the epoch), so a read racing
//!   with a change cannot leave the old row behind.
//! - This process's own writes forget the row at once, before returning, so
//!   its next request cannot see the old row while the notification travels.
//! - Power state and observation times of a remembered row are whatever they
//!   were when it was read: the triggers ignore those columns on purpose.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::postgres::PgListener;

use crate::Server;

/// The channel the triggers of migration 0008 notify (a server's id, or `*`).
const SERVERS: &str = "ironrack_servers";
/// The channel the triggers of migration 0009 notify.
const CALLERS: &str = "ironrack_callers";
/// Bounds memory; when full the cache starts over.
const MAX_ROWS: usize = 50_000;
const RECONNECT_MIN: Duration = Duration::from_millis(200);
const RECONNECT_MAX: Duration = Duration::from_secs(5);

#[derive(Default)]
pub(crate) struct ServerCache {
    rows: Mutex<HashMap<i64, Server>>,
    /// Bumped by every change heard or made.
    epoch: AtomicU64,
    /// The listener is connected: what is remembered is current.
    live: AtomicBool,
}

impl std::fmt::Debug for ServerCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerCache")
    }
}

impl ServerCache {
    fn rows(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Server>> {
        self.rows.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn get(&self, id: i64) -> Option<Server> {
        if !self.live.load(Ordering::Acquire) {
            return None;
        }
        self.rows().get(&id).cloned()
    }

    /// Taken before reading a row that may then be remembered.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Remembers `server` unless a change was heard since `epoch`.
    pub(crate) fn remember(&self, epoch: u64, server: &Server) {
        if !self.live.load(Ordering::Acquire) {
            return;
        }
        let mut rows = self.rows();
        // Checked under the lock that `forget` bumps the epoch under.
        if self.epoch.load(Ordering::Acquire) != epoch {
            return;
        }
        if rows.len() >= MAX_ROWS {
            rows.clear();
        }
        rows.insert(server.id, server.clone());
    }

    pub(crate) fn forget(&self, id: i64) {
        let mut rows = self.rows();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        rows.remove(&id);
    }

    fn forget_all(&self) {
        let mut rows = self.rows();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        rows.clear();
    }

    /// What a notification's payload says changed.
    fn heard(&self, payload: &str) {
        match payload.parse::<i64>() {
            Ok(id) => self.forget(id),
            // `*`, or anything unexpected: forget everything rather than guess.
            Err(_) => self.forget_all(),
        }
    }

    fn set_live(&self, live: bool) {
        // Either way the rows may be stale: notifications were not heard
        // before the connection, nor after its loss.
        self.forget_all();
        self.live.store(live, Ordering::Release);
    }
}

/// Stops the listener when the last `Store` clone goes.
pub(crate) struct Listening(tokio::task::JoinHandle<()>);

impl Drop for Listening {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl std::fmt::Debug for Listening {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Listening")
    }
}

/// What the listener keeps current.
pub(crate) struct Remembered {
    pub servers: Arc<ServerCache>,
    pub callers: Arc<crate::tokens::Callers>,
}

/// Starts the listener that keeps `remembered` current; it runs until the
/// returned guard is dropped.
pub(crate) fn listen(url: &str, remembered: Remembered) -> Listening {
    let url = url.to_owned();
    Listening(tokio::spawn(async move {
        let cache = &remembered.servers;
        let mut pause = RECONNECT_MIN;
        loop {
            match follow(&url, &remembered).await {
                Ok(()) => pause = RECONNECT_MIN,
                Err(e) => {
                    tracing::warn!(error = %e, "server change listener lost; reading servers from the database until it is back");
                }
            }
            cache.set_live(false);
            remembered.callers.forget_all();
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(RECONNECT_MAX);
        }
    }))
}

/// Connects, listens, and applies notifications until the connection ends.
async fn follow(url: &str, remembered: &Remembered) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen(SERVERS).await?;
    listener.listen(CALLERS).await?;
    remembered.servers.set_live(true);
    remembered.callers.forget_all();
    tracing::debug!("listening for server and caller changes");
    while let Some(notification) = listener.try_recv().await? {
        match notification.channel() {
            SERVERS => remembered.servers.heard(notification.payload()),
            _ => remembered.callers.forget_all(),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(id: i64) -> Server {
        Server {
            id,
            name: format!("s{id}"),
            site_id: 1,
            site_name: "lab".into(),
            tenant_id: None,
            tenant_name: None,
            macs: Vec::new(),
            bmc: crate::BmcRecord {
                driver: "fake".into(),
                address: "127.0.0.1".into(),
                port: 623,
                username: "u".into(),
                has_password: false,
                sealed_password: None,
                options: serde_json::json!({}),
            },
            power_state: ironrack_core::PowerState::Unknown,
            power_observed_at: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn nothing_is_served_while_not_listening() {
        let cache = ServerCache::default();
        cache.remember(cache.epoch(), &server(1));
        assert!(cache.get(1).is_none());
        cache.set_live(true);
        cache.remember(cache.epoch(), &server(1));
        assert_eq!(cache.get(1).map(|s| s.id), Some(1));
        cache.set_live(false);
        assert!(cache.get(1).is_none(), "a lost listener empties the cache");
    }

    #[test]
    fn a_read_that_raced_with_a_change_is_not_remembered() {
        let cache = ServerCache::default();
        cache.set_live(true);
        let before = cache.epoch();
        // The row is read, then a change is heard, then the read returns.
        cache.heard("7");
        cache.remember(before, &server(3));
        assert!(cache.get(3).is_none());
        cache.remember(cache.epoch(), &server(3));
        assert!(cache.get(3).is_some());
    }

    #[test]
    fn notifications_forget_one_row_or_all() {
        let cache = ServerCache::default();
        cache.set_live(true);
        for id in 1..=3 {
            cache.remember(cache.epoch(), &server(id));
        }
        cache.heard("2");
        assert!(cache.get(2).is_none());
        assert!(cache.get(1).is_some() && cache.get(3).is_some());
        cache.heard("*");
        assert!(cache.get(1).is_none() && cache.get(3).is_none());
    }
}
