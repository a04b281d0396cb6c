//! Console sessions whose site agent died (`ironrack controller`): a
//! session lives in one agent process's gateway; if that process stops, the
//! session is gone but its row would stay `live`. Each session is tied to
//! the gateway instance that took it (the `console.open` result), and each
//! instance to the heartbeats that name it; a session whose instance was
//! replaced by a new one of the same agent, or went silent, is closed as
//! `agent_lost` and audited. Sessions opened before this controller started
//! are not tied to an instance: they are closed when no agent of their site
//! has been heard from for the silence time.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::AppState;

/// An agent this long without a heartbeat (every 10 s) is gone.
pub const SILENCE: Duration = Duration::from_secs(60);
/// How often the sessions are checked.
const SWEEP_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug)]
struct Beat {
    site: String,
    agent: String,
    last: Instant,
}

/// Which gateway instance holds which session, as plain state (`now` is
/// passed in).
#[derive(Debug)]
pub struct ConsoleHolders {
    started: Instant,
    sessions: HashMap<i64, String>,
    instances: HashMap<String, Beat>,
    /// (site, agent) → its latest instance.
    current: HashMap<(String, String), String>,
}

impl ConsoleHolders {
    pub fn new(now: Instant) -> ConsoleHolders {
        ConsoleHolders {
            started: now,
            sessions: HashMap::new(),
            instances: HashMap::new(),
            current: HashMap::new(),
        }
    }

    /// `instance` took `session`.
    pub fn opened(&mut self, session: i64, instance: &str) {
        self.sessions.insert(session, instance.to_owned());
    }

    pub fn closed(&mut self, session: i64) {
        self.sessions.remove(&session);
    }

    pub fn is_tracked(&self, session: i64) -> bool {
        self.sessions.contains_key(&session)
    }

    pub fn heartbeat(&mut self, site: &str, agent: &str, instance: &str, now: Instant) {
        let key = (site.to_owned(), agent.to_owned());
        if let Some(old) = self.current.insert(key, instance.to_owned())
            && old != instance
            && !self.sessions.values().any(|i| *i == old)
        {
            self.instances.remove(&old);
        }
        self.instances.insert(
            instance.to_owned(),
            Beat {
                site: site.to_owned(),
                agent: agent.to_owned(),
                last: now,
            },
        );
    }

    /// Sessions whose instance is gone, and why.
    pub fn orphaned(&self, now: Instant, silence: Duration) -> Vec<(i64, String)> {
        let mut out: Vec<(i64, String)> = self
            .sessions
            .iter()
            .filter_map(|(&session, instance)| {
                let why = match self.instances.get(instance) {
                    Some(b)
                        if self.current.get(&(b.site.clone(), b.agent.clone()))
                            != Some(instance) =>
                    {
                        format!("the agent `{}` of site `{}` restarted", b.agent, b.site)
                    }
                    Some(b) if now.saturating_duration_since(b.last) >= silence => format!(
                        "the agent `{}` of site `{}` has sent no heartbeat for {} s",
                        b.agent,
                        b.site,
                        silence.as_secs()
                    ),
                    Some(_) => return None,
                    None if now.saturating_duration_since(self.started) >= silence => {
                        "the agent that held it has not been heard from".to_owned()
                    }
                    None => return None,
                };
                Some((session, why))
            })
            .collect();
        out.sort();
        out
    }

    /// Whether this controller has run long enough to call an agent silent.
    fn settled(&self, now: Instant, silence: Duration) -> bool {
        now.saturating_duration_since(self.started) >= silence
    }
}

/// Closes orphaned sessions every few seconds (controller mode only: in
/// `ironrack serve` the agent lives and dies with the process).
pub async fn run_console_reaper(state: AppState) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = sweep(&state, Instant::now()).await {
            tracing::warn!(error = %e, "console session sweep stopped");
        }
    }
}

async fn sweep(state: &AppState, now: Instant) -> Result<(), ironrack_store::StoreError> {
    let (mut dead, settled) = {
        let h = state.console_holders();
        (h.orphaned(now, SILENCE), h.settled(now, SILENCE))
    };
    // Sessions from before this controller: by their site's silence.
    if settled {
        let since = ironrack_store::now_ms() - SILENCE.as_millis() as i64;
        let agents = state.store.agents().await?;
        let heard: HashSet<&str> = agents
            .iter()
            .filter(|a| a.last_seen >= since)
            .map(|a| a.site.as_str())
            .collect();
        let open = state.store.list_console_sessions(None, false, 1000).await?;
        let mut sites: HashMap<i64, Option<String>> = HashMap::new();
        for c in open {
            if c.created_at >= since || state.console_holders().is_tracked(c.id) {
                continue;
            }
            let site = match sites.get(&c.server_id) {
                Some(s) => s.clone(),
                None => {
                    let s = state.store.server(c.server_id).await?.map(|s| s.site_name);
                    sites.insert(c.server_id, s.clone());
                    s
                }
            };
            if let Some(site) = site
                && !heard.contains(site.as_str())
            {
                dead.push((
                    c.id,
                    format!(
                        "no agent of site `{site}` has sent a heartbeat for {} s",
                        SILENCE.as_secs()
                    ),
                ));
            }
        }
    }
    for (session, why) in dead {
        tracing::info!(session, reason = %why, "console session closed: its agent is gone");
        if let Some(c) = state
            .store
            .console_closed(session, ironrack_store::now_ms(), "agent_lost", Some(&why))
            .await?
        {
            crate::routes::audit_console_close(state, &c, "agent_lost").await?;
        }
        state.console_holders().closed(session);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn sessions_of_a_replaced_or_silent_instance_are_orphaned() {
        let t0 = Instant::now();
        let mut h = ConsoleHolders::new(t0);
        h.heartbeat("ams", "a1", "i1", t0);
        h.heartbeat("ams", "a2", "j1", t0);
        h.opened(1, "i1");
        h.opened(2, "j1");
        h.opened(3, "i1");
        assert!(h.orphaned(t0 + 30 * S, SILENCE).is_empty());
        // a1 restarted: its old instance's sessions are gone; a2's are not.
        h.heartbeat("ams", "a1", "i2", t0 + 31 * S);
        h.heartbeat("ams", "a2", "j1", t0 + 31 * S);
        let o = h.orphaned(t0 + 32 * S, SILENCE);
        assert_eq!(o.iter().map(|(s, _)| *s).collect::<Vec<_>>(), vec![1, 3]);
        assert!(o[0].1.contains("`a1` of site `ams` restarted"), "{o:?}");
        h.closed(1);
        h.closed(3);
        // a2 goes silent.
        h.heartbeat("ams", "a1", "i2", t0 + 90 * S);
        let o = h.orphaned(t0 + 91 * S, SILENCE);
        assert_eq!(o.len(), 1);
        assert_eq!(o[0].0, 2);
        assert!(o[0].1.contains("no heartbeat for 60 s"), "{o:?}");
        // A session of an instance never heard from: only once this
        // controller has run for the silence time.
        let mut h = ConsoleHolders::new(t0);
        h.opened(7, "ghost");
        assert!(h.orphaned(t0 + 59 * S, SILENCE).is_empty());
        assert_eq!(h.orphaned(t0 + 60 * S, SILENCE).len(), 1);
        assert!(!h.settled(t0 + 59 * S, SILENCE) && h.settled(t0 + 60 * S, SILENCE));
    }
}
