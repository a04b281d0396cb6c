//! Which desktop templates a site's agents know, from their heartbeats
//! (in `ironrack serve`, from the one local agent directly), so that an
//! unknown template is the caller's 422, said before a session or a task
//! is written, instead of a task that fails at the agent.
//!
//! Plain state: `now` is passed in. A site whose live agents sent no list
//! (older agents, agents without desktop sessions, or none heard from) is
//! not checked here; the agent still refuses an unknown template.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use crate::console_reaper::SILENCE;

#[derive(Debug, Default)]
pub struct AgentTemplates {
    /// `serve`: the local agent, serving every site.
    local: Option<BTreeSet<String>>,
    /// (site, agent) → its templates and when it said so.
    beats: HashMap<(String, String), (BTreeSet<String>, Instant)>,
}

impl AgentTemplates {
    pub fn set_local(&mut self, names: impl IntoIterator<Item = String>) {
        self.local = Some(names.into_iter().collect());
    }

    pub fn heartbeat(&mut self, site: &str, agent: &str, names: Option<&[String]>, now: Instant) {
        let key = (site.to_owned(), agent.to_owned());
        match names {
            Some(n) => {
                self.beats.insert(key, (n.iter().cloned().collect(), now));
            }
            None => {
                self.beats.remove(&key);
            }
        }
    }

    /// What the live agents of `site` know together (a session goes to
    /// any of them), or None when none of them said.
    pub fn known(&self, site: &str, now: Instant) -> Option<BTreeSet<String>> {
        self.known_within(site, now, SILENCE)
    }

    fn known_within(
        &self,
        site: &str,
        now: Instant,
        silence: Duration,
    ) -> Option<BTreeSet<String>> {
        if let Some(l) = &self.local {
            return Some(l.clone());
        }
        let mut out: Option<BTreeSet<String>> = None;
        for ((s, _), (names, at)) in &self.beats {
            if s == site && now.saturating_duration_since(*at) < silence {
                out.get_or_insert_with(BTreeSet::new)
                    .extend(names.iter().cloned());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_live_agents_of_a_site_together() {
        let t0 = Instant::now();
        let mut t = AgentTemplates::default();
        assert_eq!(t.known("ams", t0), None, "nobody said");
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        t.heartbeat("ams", "a1", Some(&names(&["x", "y"])), t0);
        t.heartbeat("ams", "a2", Some(&names(&["z"])), t0);
        t.heartbeat("fra", "f1", Some(&names(&["w"])), t0);
        let known = t.known("ams", t0 + Duration::from_secs(1)).unwrap();
        assert_eq!(
            known.into_iter().collect::<Vec<_>>(),
            names(&["x", "y", "z"])
        );
        // An agent that stopped running desktops, and one gone silent.
        t.heartbeat("ams", "a2", None, t0 + Duration::from_secs(2));
        assert_eq!(
            t.known("ams", t0 + Duration::from_secs(2)).unwrap().len(),
            2
        );
        assert_eq!(t.known("ams", t0 + SILENCE), None);
        // `serve`'s one agent serves every site.
        t.set_local(names(&["local-only"]));
        assert!(t.known("nowhere", t0).unwrap().contains("local-only"));
    }
}
