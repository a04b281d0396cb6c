//! Group commit: writes that many requests make at the same moment share
//! one flush: one store transaction, or one broker publish and confirm.
//!
//! Each caller queues its item and waits for the flush lock. Whoever holds
//! it takes every item queued at that moment and writes them together; the
//! others find their item already written and only read their answer. Under
//! load a burst of N writes costs a few commits instead of N (and on SQLite,
//! a few waits for the single writer lock instead of N); alone, a write
//! costs what it did before.

use std::future::Future;
use std::sync::Mutex;

use tokio::sync::oneshot;

pub struct GroupCommit<T, R> {
    pending: Mutex<Vec<(T, oneshot::Sender<R>)>>,
    flush: tokio::sync::Mutex<()>,
}

impl<T, R> Default for GroupCommit<T, R> {
    fn default() -> Self {
        GroupCommit {
            pending: Mutex::new(Vec::new()),
            flush: tokio::sync::Mutex::new(()),
        }
    }
}

impl<T, R> std::fmt::Debug for GroupCommit<T, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GroupCommit")
    }
}

impl<T: Send + 'static, R: Send + 'static> GroupCommit<T, R> {
    /// Queues `item` and returns its answer once written. `write` gets the
    /// batch in queue order and must answer each item, in the same order.
    /// The write runs in its own task, so a caller that goes away mid-flush
    /// (an HTTP client hanging up) does not abort the others' writes.
    /// `None` only if the write task panicked.
    pub async fn submit<F, Fut>(&self, item: T, write: F) -> Option<R>
    where
        F: FnOnce(Vec<T>) -> Fut,
        Fut: Future<Output = Vec<R>> + Send + 'static,
    {
        let (tx, mut rx) = oneshot::channel();
        self.lock_pending().push((item, tx));
        // Wait for our answer or for the flush lock, whichever comes first:
        // a caller whose item an earlier flush wrote must not queue for the
        // lock (FIFO) and then flush newcomers one by one.
        let flushing = tokio::select! {
            biased;
            answer = &mut rx => return answer.ok(),
            flushing = self.flush.lock() => flushing,
        };
        // Holding the lock, no flush is under way: our item was written
        // (answer on its way) or is still pending and goes in this batch.
        let batch = std::mem::take(&mut *self.lock_pending());
        if !batch.is_empty() {
            let (items, replies): (Vec<T>, Vec<oneshot::Sender<R>>) = batch.into_iter().unzip();
            let written = write(items);
            let job = tokio::spawn(async move {
                for (reply, answer) in replies.into_iter().zip(written.await) {
                    let _ = reply.send(answer);
                }
            });
            let _ = job.await;
        }
        drop(flushing);
        rx.await.ok()
    }

    fn lock_pending(&self) -> std::sync::MutexGuard<'_, Vec<(T, oneshot::Sender<R>)>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn concurrent_items_share_writes_and_get_their_own_answers() {
        let group = Arc::new(GroupCommit::<u32, u32>::default());
        let writes = Arc::new(AtomicUsize::new(0));
        let mut callers = Vec::new();
        for i in 0..50u32 {
            let (group, writes) = (group.clone(), writes.clone());
            callers.push(tokio::spawn(async move {
                group
                    .submit(i, |items| {
                        writes.fetch_add(1, Ordering::SeqCst);
                        async move {
                            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                            items.into_iter().map(|x| x * 10).collect()
                        }
                    })
                    .await
            }));
        }
        for (i, c) in callers.into_iter().enumerate() {
            assert_eq!(c.await.unwrap(), Some(i as u32 * 10));
        }
        let n = writes.load(Ordering::SeqCst);
        // The first write runs alone or nearly; the rest queue behind it
        // and go together (a FIFO hand-over would make ~50 writes).
        assert!(n <= 4, "50 concurrent items took {n} writes");
    }

    #[tokio::test]
    async fn a_caller_that_goes_away_does_not_lose_the_batch() {
        let group = Arc::new(GroupCommit::<u32, u32>::default());
        let (open0, gate0) = tokio::sync::watch::channel(false);
        let (open1, gate1) = tokio::sync::watch::channel(false);
        let pause = || tokio::time::sleep(std::time::Duration::from_millis(20));
        let submit = |item: u32, factor: u32, mut gate: tokio::sync::watch::Receiver<bool>| {
            let group = group.clone();
            tokio::spawn(async move {
                group
                    .submit(item, move |items| async move {
                        let _ = gate.wait_for(|open| *open).await;
                        items.into_iter().map(|x| x * factor).collect()
                    })
                    .await
            })
        };
        // A flush is under way; A and then B queue behind it.
        let first = submit(0, 1, gate0.clone());
        pause().await;
        let a = submit(1, 10, gate1.clone());
        pause().await;
        let b = submit(2, 100, gate0);
        pause().await;
        // A takes the lock and both items; its write waits; A goes away.
        open0.send_replace(true);
        assert_eq!(first.await.unwrap(), Some(0));
        pause().await;
        a.abort();
        open1.send_replace(true);
        // B's item was in A's batch: A's write still answers it.
        assert_eq!(b.await.unwrap(), Some(20));
    }
}
