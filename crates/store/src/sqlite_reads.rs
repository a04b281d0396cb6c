//! Read-only rusqlite connections for the hottest SQLite reads: the token
//! lookup every request makes, and server listings.
//!
//! Why: sqlx's SQLite driver runs each connection on a worker thread and
//! hands every row across a channel as an owned copy; a page of 100 servers
//! spent most of its time there. These connections run the same SQL text
//! (SQLite reads `$N` as numbered parameters) on tokio's blocking pool and
//! decode rows in place. WAL mode lets them read beside the sqlx writer; an
//! autocommit read sees every write committed before it started, so a
//! request still reads its own writes.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::{Result, StoreError};

pub(crate) struct Readers {
    conns: Vec<Mutex<Connection>>,
    next: AtomicUsize,
}

impl Readers {
    /// Opens `n` read-only connections to the (already migrated) file.
    pub(crate) fn open(path: &Path, n: usize) -> Result<Readers> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conns = (0..n.max(1))
            .map(|_| {
                let c = Connection::open_with_flags(path, flags)?;
                c.busy_timeout(Duration::from_secs(10))?;
                // Parsed once per connection, not per request.
                c.set_prepared_statement_cache_capacity(32);
                Ok(Mutex::new(c))
            })
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(reader_error)?;
        Ok(Readers {
            conns,
            next: AtomicUsize::new(0),
        })
    }

    /// A free connection, or the next one in turn when all are busy.
    fn connection(&self) -> MutexGuard<'_, Connection> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let n = self.conns.len();
        (0..n)
            .find_map(|i| self.conns[(start + i) % n].try_lock().ok())
            .unwrap_or_else(|| {
                self.conns[start % n]
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
            })
    }

    /// Runs `read` on a connection, off the async threads.
    pub(crate) async fn run<T, F>(self: &Arc<Self>, read: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let me = self.clone();
        tokio::task::spawn_blocking(move || read(&me.connection()))
            .await
            .map_err(|e| StoreError::Reader(format!("read task: {e}")))?
            .map_err(reader_error)
    }
}

fn reader_error(e: rusqlite::Error) -> StoreError {
    StoreError::Reader(e.to_string())
}
