//! The power poller: keeps each server's stored power state fresh.
//!
//! The controller publishes a power poll per server and interval on the
//! site's task queue (`ironrack_bus::POWER_POLL`); the agent takes it at
//! once (it is no task: nothing to report about it), waits a random part of
//! the jitter window, and reads the power state through the driver (the
//! ipmi driver's cached session, if one is fresh). It reports an
//! `Event::Power` only when the state changed since it last reported, or
//! when that report is older than `report_every_ms`. Polls are bounded: at
//! most `limit` at once, at most one pending per server, and one that
//! arrives too late is dropped.

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ironrack_bus::{Delivery, Event, EventSender, TaskRequest};
use ironrack_core::{PowerAction, PowerState};
use tokio::sync::Semaphore;

use crate::driver::Drivers;
use crate::observe::now_ms;

/// How many BMCs one agent polls at the same time by default.
pub const DEFAULT_POLL_LIMIT: usize = 8;

pub(crate) struct PowerPoller {
    drivers: Arc<Drivers>,
    events: EventSender,
    slots: Semaphore,
    pending: Mutex<HashSet<i64>>,
    reported: Mutex<HashMap<i64, (PowerState, Instant)>>,
}

impl PowerPoller {
    pub(crate) fn new(drivers: Arc<Drivers>, events: EventSender, limit: usize) -> PowerPoller {
        PowerPoller {
            drivers,
            events,
            slots: Semaphore::new(limit.max(1)),
            pending: Mutex::default(),
            reported: Mutex::default(),
        }
    }

    /// Takes a power poll off the queue (acknowledged at once: a lost poll
    /// is replaced by the next) and schedules it; hands anything else back.
    pub(crate) async fn take(
        self: &Arc<Self>,
        delivery: Delivery<TaskRequest>,
    ) -> Option<Delivery<TaskRequest>> {
        let Some(poll) = delivery.message.as_power_poll() else {
            return Some(delivery);
        };
        let Delivery { message, settler } = delivery;
        if let Err(e) = settler.ack().await {
            tracing::debug!(error = %e, "could not acknowledge a power poll");
        }
        match poll {
            Ok(poll) if now_ms() - poll.sent_at <= poll.max_age_ms => {
                self.schedule(message, poll.jitter_ms, poll.report_every_ms)
            }
            Ok(_) => tracing::debug!(server = message.server_id, "stale power poll dropped"),
            Err(e) => {
                tracing::warn!(server = message.server_id, error = %e, "bad power poll dropped")
            }
        }
        None
    }

    fn schedule(self: &Arc<Self>, task: TaskRequest, jitter_ms: u64, report_every_ms: u64) {
        let server_id = task.server_id;
        if !lock(&self.pending).insert(server_id) {
            return; // the previous poll of this server has not run yet
        }
        let this = self.clone();
        tokio::spawn(async move {
            let wait = match jitter_ms {
                0 => 0,
                j => std::hash::RandomState::new().hash_one((server_id, now_ms())) % j,
            };
            tokio::time::sleep(Duration::from_millis(wait)).await;
            let read = match this.slots.acquire().await {
                Ok(_permit) => {
                    this.drivers
                        .power(server_id, &task.bmc, PowerAction::Status)
                        .await
                }
                Err(_) => return,
            };
            match read {
                Ok(state) => {
                    this.report(server_id, state, Duration::from_millis(report_every_ms))
                        .await
                }
                Err(e) => tracing::debug!(server = server_id, error = %e, "power poll failed"),
            }
            lock(&this.pending).remove(&server_id);
        });
    }

    async fn report(&self, server_id: i64, state: PowerState, every: Duration) {
        let due = match lock(&self.reported).get(&server_id) {
            Some((last, at)) => *last != state || at.elapsed() >= every,
            None => true,
        };
        if !due {
            return;
        }
        match self.events.send(Event::Power { server_id, state }).await {
            Ok(()) => {
                lock(&self.reported).insert(server_id, (state, Instant::now()));
            }
            Err(e) => tracing::warn!(server = server_id, error = %e, "power observation not sent"),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ironrack_bus::{BmcTarget, InProcessBus, PowerPoll};

    fn poll(server_id: i64, sent_at: i64, report_every_ms: u64) -> Delivery<TaskRequest> {
        let bmc = BmcTarget {
            driver: "fake".into(),
            address: "127.0.0.1".into(),
            port: 623,
            username: "u".into(),
            password: None,
            options: serde_json::json!({}),
            secrets: Default::default(),
        };
        Delivery::unacked(TaskRequest::power_poll(
            server_id,
            "lab".into(),
            bmc,
            PowerPoll {
                sent_at,
                max_age_ms: 60_000,
                jitter_ms: 0,
                report_every_ms,
            },
        ))
    }

    /// Unit test of the reporting rule with the fake driver; the poller
    /// against real BMCs is tested end to end in crates/cli/tests.
    #[tokio::test]
    async fn reports_changes_and_drops_stale_polls() {
        let bus = InProcessBus::new();
        let mut events = bus.take_events().unwrap();
        let drivers = Arc::new(Drivers::default());
        let poller = Arc::new(PowerPoller::new(drivers.clone(), bus.event_sender(), 2));
        // Takes a poll and waits until it has run (and reported, if due).
        let run = async |d: Delivery<TaskRequest>| {
            assert!(poller.take(d).await.is_none(), "a poll is not handed back");
            while !lock(&poller.pending).is_empty() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        run(poll(7, now_ms(), 600_000)).await;
        let first = events.recv().await.unwrap();
        assert_eq!(
            first,
            Event::Power {
                server_id: 7,
                state: PowerState::Off
            }
        );
        // Unchanged: nothing is reported.
        run(poll(7, now_ms(), 600_000)).await;
        assert!(events.try_recv().is_err());
        // Stale: dropped unread, though a report would be due.
        run(poll(7, now_ms() - 120_000, 0)).await;
        assert!(events.try_recv().is_err());
        // Changed behind the poller's back: reported.
        let bmc = poll(7, 0, 0).message.bmc;
        drivers.power(7, &bmc, PowerAction::On).await.unwrap();
        run(poll(7, now_ms(), 600_000)).await;
        assert_eq!(
            events.recv().await.unwrap(),
            Event::Power {
                server_id: 7,
                state: PowerState::On
            }
        );
        // Unchanged but due again (report_every 0): reported.
        run(poll(7, now_ms(), 0)).await;
        assert_eq!(
            events.recv().await.unwrap(),
            Event::Power {
                server_id: 7,
                state: PowerState::On
            }
        );
        assert!(events.try_recv().is_err(), "nothing else was reported");
        // A task is handed back untouched.
        let mut task = poll(7, now_ms(), 0);
        task.message.kind = "power".into();
        assert!(poller.take(task).await.is_some());
    }
}
