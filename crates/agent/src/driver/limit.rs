//! At most N requests in flight per BMC (address and port), whatever the
//! driver: BMCs have few session slots and small CPUs, and a burst of tasks
//! for one chassis or PDU should queue here rather than fail there.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Above this many known BMCs, idle entries are dropped when a new one
/// comes (they are recreated on demand).
const PRUNE_ABOVE: usize = 4096;

/// A BMC as the limiter knows it: address (lowercase) and port.
type BmcAddr = (String, u16);

#[derive(Default)]
pub struct BmcLimiter {
    /// Each BMC's limit and the semaphore enforcing it.
    slots: Mutex<HashMap<BmcAddr, (usize, Arc<Semaphore>)>>,
}

impl BmcLimiter {
    fn semaphore(&self, address: &str, port: u16, limit: usize) -> Arc<Semaphore> {
        let limit = limit.max(1);
        let key = (address.trim().to_ascii_lowercase(), port);
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((n, sem)) = slots.get(&key)
            && *n == limit
        {
            return sem.clone();
        }
        // New BMC, or its limit changed: requests already in flight keep
        // their permits on the old semaphore and finish normally.
        if slots.len() >= PRUNE_ABOVE {
            slots.retain(|_, (_, sem)| Arc::strong_count(sem) > 1);
        }
        let sem = Arc::new(Semaphore::new(limit));
        slots.insert(key, (limit, sem.clone()));
        sem
    }

    /// Wait for one of `limit` slots of this BMC; held until dropped.
    pub async fn acquire(&self, address: &str, port: u16, limit: usize) -> OwnedSemaphorePermit {
        self.semaphore(address, port, limit)
            .acquire_owned()
            .await
            .expect("BMC semaphores are never closed")
    }

    /// A slot if one is free now.
    pub fn try_acquire(
        &self,
        address: &str,
        port: u16,
        limit: usize,
    ) -> Option<OwnedSemaphorePermit> {
        self.semaphore(address, port, limit)
            .try_acquire_owned()
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn limits_requests_per_bmc() {
        let l = BmcLimiter::default();
        let a = l.acquire("10.0.0.1", 623, 2).await;
        let b = l.acquire("10.0.0.1", 623, 2).await;
        assert!(
            l.try_acquire("10.0.0.1", 623, 2).is_none(),
            "third request waits"
        );
        // Another port or address is another BMC; case does not matter.
        assert!(l.try_acquire("10.0.0.1", 443, 2).is_some());
        assert!(l.try_acquire("10.0.0.2", 623, 2).is_some());
        assert!(l.try_acquire("BMC.example", 623, 1).is_some());
        let c = l.try_acquire("bmc.example", 623, 1);
        assert!(c.is_some());
        assert!(l.try_acquire("BMC.EXAMPLE", 623, 1).is_none());
        drop(a);
        let a2 = l.try_acquire("10.0.0.1", 623, 2);
        assert!(a2.is_some(), "a freed slot is reusable");
        assert!(l.try_acquire("10.0.0.1", 623, 2).is_none());
        drop((b, a2, c));

        // A waiting request proceeds once a slot frees up.
        let held = l.acquire("10.0.0.3", 623, 1).await;
        let l = Arc::new(l);
        let waiter = tokio::spawn({
            let l = l.clone();
            async move {
                let _p = l.acquire("10.0.0.3", 623, 1).await;
            }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(held);
        waiter.await.unwrap();

        // Limit 0 is read as 1.
        let z = l.try_acquire("10.0.0.4", 1, 0);
        assert!(z.is_some() && l.try_acquire("10.0.0.4", 1, 0).is_none());
    }
}
