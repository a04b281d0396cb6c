//! Persistence of ironrack: one `Store` over SQLite (the default) or
//! PostgreSQL, chosen by the URL at start.
//!
//! Invariants:
//! - One SQL text per query for both databases (`$N` placeholders, which
//!   SQLite accepts too); concrete pools, no `Any` driver. The `on_pool!`
//!   macro instantiates each query once per backend.
//! - Times are Unix milliseconds; ids are 64-bit integers.
//! - BMC passwords enter and leave only through `SecretBox`: the database
//!   never holds them in clear, and no listing returns them.
//! - On SQLite, the hottest reads (token lookup, server pages, single
//!   servers and tasks) go through
//!   read-only rusqlite connections (`sqlite_reads`) with the same SQL text;
//!   every write goes through sqlx.
//! - Writes that belong together (a task and its audit entry, a server and
//!   its sealed password) happen in one transaction.
//! - Batch statements on PostgreSQL lock task rows in id order (`ORDER BY
//!   id FOR UPDATE`), so two batches never wait on each other in a cycle.
//! - A remembered server row (`changes`, PostgreSQL) is served only
//!   while the change listener is connected; it never outlives a change.

use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

mod agents;
mod audit;
mod changes;
mod consoles;
mod invapi;
mod secret;
mod sensors;
mod servers;
mod sites;
mod sqlite_reads;
mod tasks;
mod tenants;
mod tokens;
mod users;

#[cfg(feature = "test-support")]
pub mod testing;

pub use agents::{AgentSeen, IdempotentResponse};
pub use audit::{AuditEntry, NewAudit};
pub use consoles::{ConsoleSession, NewConsoleSession, ServerConsole};
pub use invapi::InvapiCallback;
pub use secret::{SecretBox, SecretError};
pub use sensors::Observed;
pub use servers::{BmcRecord, NewServer, SealedAtRest, Server, ServerFilter, ServerUpdate};
pub use sites::Site;
pub use tasks::{NewTask, Task, TaskFilter, TaskMessage};
pub use tenants::Tenant;
pub use tokens::{CALLER_FRESH, NewToken, TokenKind, TokenRow};
pub use users::{NewUser, User, UserUpdate};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} already exists")]
    Duplicate(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0} is still in use")]
    InUse(&'static str),
    #[error("invalid task transition: {0}")]
    Transition(#[from] ironrack_core::TransitionError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("unsupported database URL `{0}`: use sqlite://PATH or postgres://...")]
    BadUrl(String),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database read: {0}")]
    Reader(String),
    /// A write shared with other requests (group commit) failed.
    #[error("database write: {0}")]
    Write(String),
    #[error("migrating the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// Maps constraint violations to what they mean for the caller.
    fn from_write(e: sqlx::Error, what: &'static str) -> StoreError {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Duplicate(what),
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::InUse(what),
            _ => StoreError::Db(e),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Clone, Debug)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$p` bound to the concrete pool. The body is expanded
/// once per backend, so each instance is type-checked against its driver.
macro_rules! on_pool {
    ($store:expr, $p:ident => $body:expr) => {
        match &$store.pool {
            $crate::Pool::Sqlite($p) => $body,
            $crate::Pool::Postgres($p) => $body,
        }
    };
}
pub(crate) use on_pool;

#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
    secrets: SecretBox,
    /// SQLite only: connections for hot reads (see `sqlite_reads`).
    readers: Option<std::sync::Arc<sqlite_reads::Readers>>,
    /// New tasks, and tasks the bus took, written together (`ironrack-group`).
    task_writes: std::sync::Arc<tasks::TaskWrites>,
    published: std::sync::Arc<tasks::PublishedMarks>,
    /// Recently authenticated tokens (`tokens.rs`).
    callers: std::sync::Arc<tokens::Callers>,
    /// PostgreSQL only: server rows for the task path, and the listener
    /// that keeps them and `callers` current (`changes.rs`).
    servers_for_tasks: Option<std::sync::Arc<changes::ServerCache>>,
    _server_changes: Option<std::sync::Arc<changes::Listening>>,
}

impl std::fmt::Debug for sqlite_reads::Readers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Readers")
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A page of results and the cursor for the next one, if any.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<i64>,
}

impl<T> Page<T> {
    /// `rows` were fetched with `limit + 1`: the extra row only says there is more.
    fn from_rows(mut rows: Vec<T>, limit: i64, id: impl Fn(&T) -> i64) -> Page<T> {
        let more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let next_cursor = if more { rows.last().map(id) } else { None };
        Page {
            items: rows,
            next_cursor,
        }
    }
}

impl Store {
    /// Opens (creating if needed) and migrates the database at `url`:
    /// `sqlite://path/to/file.db` or `postgres://user@host/db`.
    pub async fn connect(url: &str, secrets: SecretBox) -> Result<Store> {
        let mut readers = None;
        let mut servers_for_tasks = None;
        let callers = std::sync::Arc::new(tokens::Callers::default());
        let mut server_changes = None;
        let pool = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .connect_with(options.clone())
                .await?;
            sqlx::migrate!("migrations/sqlite").run(&pool).await?;
            let file = options.get_filename();
            if !file.as_os_str().is_empty() && file != std::path::Path::new(":memory:") {
                let n = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8));
                readers = Some(std::sync::Arc::new(sqlite_reads::Readers::open(file, n)?));
            }
            Pool::Sqlite(pool)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .connect(url)
                .await?;
            sqlx::migrate!("migrations/postgres").run(&pool).await?;
            let cache = std::sync::Arc::new(changes::ServerCache::default());
            let remembered = changes::Remembered {
                servers: cache.clone(),
                callers: callers.clone(),
            };
            server_changes = Some(std::sync::Arc::new(changes::listen(url, remembered)));
            servers_for_tasks = Some(cache);
            Pool::Postgres(pool)
        } else {
            return Err(StoreError::BadUrl(url.to_owned()));
        };
        Ok(Store {
            pool,
            secrets,
            readers,
            task_writes: Default::default(),
            published: Default::default(),
            callers,
            servers_for_tasks,
            _server_changes: server_changes,
        })
    }

    pub fn backend(&self) -> &'static str {
        match self.pool {
            Pool::Sqlite(_) => "sqlite",
            Pool::Postgres(_) => "postgres",
        }
    }

    /// A cheap round trip, for health checks.
    pub async fn ping(&self) -> Result<()> {
        on_pool!(self, p => sqlx::query("SELECT 1").execute(p).await.map(|_| ())?);
        Ok(())
    }

    pub async fn close(&self) {
        on_pool!(self, p => p.close().await)
    }
}

/// Transactions that write. On SQLite, `BEGIN IMMEDIATE` takes the write
/// lock up front: a transaction that reads before it writes then waits for
/// other writers (busy_timeout) instead of failing with SQLITE_BUSY when
/// its read lock cannot be upgraded.
pub(crate) trait BeginWrite {
    type Db: sqlx::Database;
    async fn begin_write(&self) -> sqlx::Result<sqlx::Transaction<'static, Self::Db>>;
}

impl BeginWrite for SqlitePool {
    type Db = sqlx::Sqlite;
    async fn begin_write(&self) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        self.begin_with("BEGIN IMMEDIATE").await
    }
}

impl BeginWrite for PgPool {
    type Db = sqlx::Postgres;
    async fn begin_write(&self) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Postgres>> {
        self.begin().await
    }
}

/// SQL put together from this crate's constant fragments (column lists,
/// joins), never from input: input always goes through `bind`.
fn trusted(sql: String) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(sql)
}
