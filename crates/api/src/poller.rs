//! The controller's half of the power poller: every interval it publishes
//! one power poll per server on the task queue of the server's site (see
//! `ironrack_bus::POWER_POLL`; the agent's half is `ironrack_agent`'s
//! poller). The agent has no database, so the controller tells it what to
//! poll; the agent decides when (jitter), how many at once, and whether a
//! state is worth reporting.

use std::collections::HashSet;
use std::time::Duration;

use ironrack_bus::{PowerPoll, TaskRequest};
use ironrack_store::{ServerFilter, StoreError, now_ms};

use crate::AppState;
use crate::sealing::{Unsealed, no_key_text};

/// Settings of the power poller.
#[derive(Debug, Clone)]
pub struct PowerPollConfig {
    /// How often each server's power state is read.
    pub interval: Duration,
    /// Polls of one round spread over this window (at most `interval`).
    pub jitter: Duration,
    /// An unchanged state is reported again after this long.
    pub report_every: Duration,
    /// Poll the servers of every site (`ironrack serve`, whose one agent
    /// serves all sites); otherwise only sites whose agent was heard from
    /// lately, so polls do not pile up in the queue of a site with no agent.
    pub every_site: bool,
}

impl PowerPollConfig {
    pub fn new(interval: Duration, every_site: bool) -> PowerPollConfig {
        PowerPollConfig {
            interval,
            jitter: interval / 2,
            report_every: (interval * 10).max(Duration::from_secs(600)),
            every_site,
        }
    }
}

/// An agent heard from within this long counts as live (agents beat every 10 s).
const AGENT_LIVE: Duration = Duration::from_secs(60);

/// Publishes a round of power polls every interval, forever.
pub async fn run_power_poller(state: AppState, cfg: PowerPollConfig) {
    let mut tick = tokio::time::interval(cfg.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match poll_round(&state, &cfg).await {
            Ok(n) => tracing::debug!(servers = n, "power polls published"),
            Err(e) => tracing::warn!(error = %e, "power poll round stopped"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum RoundError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the task bus refused a poll: {0}")]
    Bus(#[from] ironrack_bus::BusError),
}

async fn poll_round(state: &AppState, cfg: &PowerPollConfig) -> Result<usize, RoundError> {
    let live: Option<HashSet<String>> = if cfg.every_site {
        None
    } else {
        let since = now_ms() - AGENT_LIVE.as_millis() as i64;
        let agents = state.store.agents().await?;
        Some(
            agents
                .into_iter()
                .filter(|a| a.last_seen >= since)
                .map(|a| a.site)
                .collect(),
        )
    };
    let poll = PowerPoll {
        sent_at: now_ms(),
        max_age_ms: cfg.interval.as_millis() as i64,
        jitter_ms: cfg.jitter.min(cfg.interval).as_millis() as u64,
        report_every_ms: cfg.report_every.as_millis() as u64,
    };
    // Spread the round over the jitter window, page by page, so neither
    // the bus nor the agents hold a whole round's polls at once.
    let total = state.store.count_servers().await?.max(1);
    let started = tokio::time::Instant::now();
    let mut published = 0;
    let mut seen = 0;
    // Sites without an agent key, warned about once per round.
    let mut keyless = HashSet::new();
    let mut after_id = None;
    loop {
        let page = state
            .store
            .list_servers(&ServerFilter {
                after_id,
                limit: 500,
                ..ServerFilter::default()
            })
            .await?;
        for server in &page.items {
            seen += 1;
            if live
                .as_ref()
                .is_some_and(|l| !l.contains(&server.site_name))
            {
                continue;
            }
            // A fake machine changes only through our own tasks: polling it
            // would observe nothing.
            if server.bmc.driver == "fake" {
                continue;
            }
            let bmc = crate::routes::bmc_target(state, server).await?;
            let mut req = TaskRequest::power_poll(server.id, server.site_name.clone(), bmc, poll);
            match state.seal_secrets(&mut req).await {
                Ok(()) => {}
                Err(Unsealed::NoKey(site)) => {
                    if keyless.insert(site.clone()) {
                        tracing::warn!(%site, "servers with a BMC password are not polled: {}", no_key_text(&site));
                    }
                    continue;
                }
                Err(Unsealed::Store(e)) => return Err(e.into()),
                Err(Unsealed::Seal(e)) => {
                    tracing::error!(server = server.id, error = %e, "power poll not sealed");
                    continue;
                }
            }
            state.tasks.publish(req).await?;
            published += 1;
        }
        match page.next_cursor {
            Some(c) => after_id = Some(c),
            None => return Ok(published),
        }
        let due = cfg
            .jitter
            .min(cfg.interval)
            .mul_f64(seen as f64 / total as f64);
        tokio::time::sleep_until(started + due).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use ironrack_bus::{BusError, TaskPublisher};
    use ironrack_store::{NewServer, SecretBox, Store};

    use super::*;

    /// Records what would go on the bus (the real bus is exercised end to
    /// end in crates/cli/tests/sensors.rs).
    #[derive(Default)]
    struct Recorder(Mutex<Vec<TaskRequest>>);

    impl TaskPublisher for Recorder {
        fn publish(
            &self,
            task: TaskRequest,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), BusError>> + Send + '_>>
        {
            self.0.lock().unwrap().push(task);
            Box::pin(std::future::ready(Ok(())))
        }
    }

    #[tokio::test]
    async fn polls_go_to_sites_with_a_live_agent_unless_every_site() {
        let dir = std::env::temp_dir().join(format!(
            "ironrack-poller-{}-{}",
            std::process::id(),
            now_ms()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}/t.db", dir.display());
        let store = Store::connect(&url, SecretBox::from_key(&[7; 32]))
            .await
            .unwrap();
        let mut ids = Vec::new();
        // ams has a registered agent key, fra has none but no password to
        // seal either, ber has a password and no key: it is not polled.
        for (site, password) in [
            ("ams", Some("ams-pw")),
            ("fra", None),
            ("ber", Some("ber-pw")),
        ] {
            let site = store.create_site(site, "").await.unwrap();
            let server = store
                .create_server(NewServer {
                    name: &format!("{}-1", site.name),
                    site_id: site.id,
                    tenant_id: None,
                    macs: &[],
                    bmc_driver: "ipmi",
                    bmc_address: "10.0.0.1",
                    bmc_port: 623,
                    bmc_username: "ADMIN",
                    bmc_password: password,
                    bmc_options: &serde_json::json!({}),
                })
                .await
                .unwrap();
            ids.push(server.id);
        }
        // A fake machine at the live site: nothing to observe, not polled.
        let ams = store.site_by_name("ams").await.unwrap().unwrap();
        store
            .create_server(NewServer {
                name: "ams-fake",
                site_id: ams.id,
                tenant_id: None,
                macs: &[],
                bmc_driver: "fake",
                bmc_address: "10.0.0.2",
                bmc_port: 623,
                bmc_username: "u",
                bmc_password: None,
                bmc_options: &serde_json::json!({}),
            })
            .await
            .unwrap();
        store
            .agent_heartbeat("ams", "a1", "0.1.0", None)
            .await
            .unwrap();
        let agent_key = ironrack_seal::AgentKey::generate();
        store
            .set_site_agent_key(ams.id, &agent_key.public().to_base64())
            .await
            .unwrap();
        let bus = Arc::new(Recorder::default());
        let state = AppState::new(store, bus.clone(), crate::ApiConfig::default());

        let cfg = PowerPollConfig::new(Duration::from_secs(2), false);
        assert_eq!(poll_round(&state, &cfg).await.unwrap(), 1);
        let sent = std::mem::take(&mut *bus.0.lock().unwrap());
        assert_eq!(sent[0].server_id, ids[0], "only ams has a live agent");
        assert_eq!(sent[0].site, "ams");
        assert_eq!(sent[0].task_id, 0);
        // Sealed to the site's key, bound to this poll.
        assert_eq!(sent[0].bmc.plain_password(), None);
        let mut opened = sent[0].clone();
        opened.open_secrets(Some(&agent_key)).unwrap();
        assert_eq!(opened.bmc.plain_password(), Some("ams-pw"));
        let poll = sent[0].as_power_poll().unwrap().unwrap();
        assert_eq!((poll.max_age_ms, poll.jitter_ms), (2000, 1000));
        assert_eq!(poll.report_every_ms, 600_000);

        let every = PowerPollConfig::new(Duration::from_secs(2), true);
        assert_eq!(poll_round(&state, &every).await.unwrap(), 2);
        let sites: Vec<String> = bus
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|t| t.site.clone())
            .collect();
        assert_eq!(sites, ["ams", "fra"], "ber has no key for its password");
        state.store.close().await;
        std::fs::remove_dir_all(&dir).ok();
    }
}
