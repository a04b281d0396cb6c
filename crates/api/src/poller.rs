//! The controller's half of the power poller: every interval it publishes
//! one power poll per server on the task queue of the server's site (see
//! `ironrack_bus::POWER_POLL`; the agent's half is `ironrack_agent`'s
//! poller). The agent has no database, so the controller tells it what to
//! poll; the agent decides when (jitter), how many at once, and whether a
//! state is worth reporting.

use std::collections::HashSet;
use std::time::Duration;

use ironrack_bus::{BmcTarget, PowerPoll, TaskRequest};
use ironrack_store::{Server, ServerFilter, StoreError, now_ms};

use crate::AppState;

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
    let mut published = 0;
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
            if live
                .as_ref()
                .is_some_and(|l| !l.contains(&server.site_name))
            {
                continue;
            }
            let bmc = bmc_target(state, server).await?;
            let req = TaskRequest::power_poll(server.id, server.site_name.clone(), bmc, poll);
            state.tasks.publish(req).await?;
            published += 1;
        }
        match page.next_cursor {
            Some(c) => after_id = Some(c),
            None => return Ok(published),
        }
    }
}

/// How the agent reaches the server's BMC, password included (it travels
/// only to the site's agent, like a task's).
async fn bmc_target(state: &AppState, server: &Server) -> Result<BmcTarget, StoreError> {
    let password = state.store.bmc_password(server.id).await?;
    Ok(BmcTarget {
        driver: server.bmc.driver.clone(),
        address: server.bmc.address.clone(),
        port: server.bmc.port,
        username: server.bmc.username.clone(),
        password: password.map(|p| p.to_string()),
        options: server.bmc.options.clone(),
    })
}
