use ironrack_core::PowerState;
use zeroize::Zeroizing;

use crate::{BeginWrite, Page, Result, Store, StoreError, now_ms, on_pool, trusted};

/// A server as everyone but its site agent sees it: the BMC password is
/// absent, only whether one is set.
#[derive(Debug, Clone)]
pub struct Server {
    pub id: i64,
    pub name: String,
    pub site_id: i64,
    pub site_name: String,
    pub tenant_id: Option<i64>,
    pub tenant_name: Option<String>,
    pub macs: Vec<String>,
    pub bmc: BmcRecord,
    pub power_state: PowerState,
    pub power_observed_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone)]
pub struct BmcRecord {
    pub driver: String,
    pub address: String,
    pub port: u16,
    pub username: String,
    pub has_password: bool,
    /// The password as stored (sealed at rest), read with the row so that
    /// a task needs no second query for it: [`Store::open_bmc_password`].
    pub sealed_password: Option<SealedAtRest>,
    pub options: serde_json::Value,
}

/// A BMC password sealed at rest (`SecretBox`); opaque outside the store.
#[derive(Clone)]
pub struct SealedAtRest(Vec<u8>);

impl std::fmt::Debug for SealedAtRest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<sealed>")
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    name: String,
    site_id: i64,
    site_name: String,
    tenant_id: Option<i64>,
    tenant_name: Option<String>,
    macs: String,
    bmc_driver: String,
    bmc_address: String,
    bmc_port: i64,
    bmc_username: String,
    bmc_password: Option<Vec<u8>>,
    bmc_options: String,
    power_state: String,
    power_observed_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl Row {
    /// Decodes a row of `SELECT` in place (the rusqlite read path).
    fn from_sqlite(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
        Ok(Row {
            id: r.get(0)?,
            name: r.get(1)?,
            site_id: r.get(2)?,
            site_name: r.get(3)?,
            tenant_id: r.get(4)?,
            tenant_name: r.get(5)?,
            macs: r.get(6)?,
            bmc_driver: r.get(7)?,
            bmc_address: r.get(8)?,
            bmc_port: r.get(9)?,
            bmc_username: r.get(10)?,
            bmc_password: r.get(11)?,
            bmc_options: r.get(12)?,
            power_state: r.get(13)?,
            power_observed_at: r.get(14)?,
            created_at: r.get(15)?,
            updated_at: r.get(16)?,
        })
    }
}

impl From<Row> for Server {
    fn from(r: Row) -> Server {
        Server {
            id: r.id,
            name: r.name,
            site_id: r.site_id,
            site_name: r.site_name,
            tenant_id: r.tenant_id,
            tenant_name: r.tenant_name,
            macs: serde_json::from_str(&r.macs).unwrap_or_default(),
            bmc: BmcRecord {
                driver: r.bmc_driver,
                address: r.bmc_address,
                port: u16::try_from(r.bmc_port).unwrap_or(0),
                username: r.bmc_username,
                has_password: r.bmc_password.is_some(),
                sealed_password: r.bmc_password.map(SealedAtRest),
                options: serde_json::from_str(&r.bmc_options).unwrap_or_default(),
            },
            power_state: PowerState::parse(&r.power_state),
            power_observed_at: r.power_observed_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// Input for a new server; the caller has validated every field.
pub struct NewServer<'a> {
    pub name: &'a str,
    pub site_id: i64,
    pub tenant_id: Option<i64>,
    pub macs: &'a [String],
    pub bmc_driver: &'a str,
    pub bmc_address: &'a str,
    pub bmc_port: u16,
    pub bmc_username: &'a str,
    pub bmc_password: Option<&'a str>,
    pub bmc_options: &'a serde_json::Value,
}

/// A partial change; `None` leaves a field as it is.
#[derive(Default)]
pub struct ServerUpdate {
    pub name: Option<String>,
    pub site_id: Option<i64>,
    /// `Some(None)` takes the server away from its tenant.
    pub tenant_id: Option<Option<i64>>,
    pub macs: Option<Vec<String>>,
    pub bmc_driver: Option<String>,
    pub bmc_address: Option<String>,
    pub bmc_port: Option<u16>,
    pub bmc_username: Option<String>,
    /// `Some(None)` removes the password.
    pub bmc_password: Option<Option<String>>,
    pub bmc_options: Option<serde_json::Value>,
}

/// Which servers a listing returns. `tenant_id` and `only_ids` are scopes set
/// by the API from the caller's rights, not by the caller.
#[derive(Debug, Clone, Default)]
pub struct ServerFilter {
    pub site_id: Option<i64>,
    pub tenant_id: Option<i64>,
    pub name_prefix: Option<String>,
    pub only_ids: Option<Vec<i64>>,
    pub after_id: Option<i64>,
    pub limit: i64,
}

const SELECT: &str = "SELECT s.id, s.name, s.site_id, si.name AS site_name, s.tenant_id, t.name AS tenant_name, \
     s.macs, s.bmc_driver, s.bmc_address, s.bmc_port, s.bmc_username, \
     s.bmc_password, s.bmc_options, s.power_state, s.power_observed_at, \
     s.created_at, s.updated_at \
     FROM servers s JOIN sites si ON si.id = s.site_id LEFT JOIN tenants t ON t.id = s.tenant_id";

/// A value bound to a `$N` placeholder of a built query.
enum Bind {
    Int(i64),
    Text(String),
}

/// The listing's SQL and its parameters, in `$N` order. The name prefix is
/// a range on the name (so the unique index on `name` serves it) plus an
/// exact prefix test; PostgreSQL compares in byte order (`COLLATE "C"`, with
/// an index of its own) so the range means the same as in SQLite.
fn list_query(f: &ServerFilter, backend: &str, limit: i64) -> (String, Vec<Bind>) {
    let mut sql = String::from(SELECT);
    let mut binds = Vec::new();
    let mut push = |sql: &mut String, clause: &str, b: Bind| {
        binds.push(b);
        sql.push_str(&clause.replace('?', &format!("${}", binds.len())));
    };
    push(
        &mut sql,
        " WHERE s.id > ?",
        Bind::Int(f.after_id.unwrap_or(0)),
    );
    if let Some(site) = f.site_id {
        push(&mut sql, " AND s.site_id = ?", Bind::Int(site));
    }
    if let Some(tenant) = f.tenant_id {
        push(&mut sql, " AND s.tenant_id = ?", Bind::Int(tenant));
    }
    if let Some(prefix) = f.name_prefix.as_ref().filter(|p| !p.is_empty()) {
        let collate = if backend == "postgres" {
            " COLLATE \"C\""
        } else {
            ""
        };
        push(
            &mut sql,
            &format!(" AND s.name{collate} >= ?"),
            Bind::Text(prefix.clone()),
        );
        // Every name that starts with the prefix sorts below prefix + U+10FFFF.
        push(
            &mut sql,
            &format!(" AND s.name{collate} < ?"),
            Bind::Text(format!("{prefix}\u{10FFFF}")),
        );
        let chars = i64::try_from(prefix.chars().count()).unwrap_or(i64::MAX);
        push(
            &mut sql,
            " AND substr(s.name, 1, CAST(? AS INTEGER)",
            Bind::Int(chars),
        );
        push(&mut sql, ") = ?", Bind::Text(prefix.clone()));
    }
    if let Some(ids) = &f.only_ids {
        // -1 keeps `IN (...)` valid when the list is empty.
        push(&mut sql, " AND s.id IN (?", Bind::Int(-1));
        for id in ids {
            push(&mut sql, ", ?", Bind::Int(*id));
        }
        sql.push(')');
    }
    push(&mut sql, " ORDER BY s.id LIMIT ?", Bind::Int(limit + 1));
    (sql, binds)
}

/// Binds the password's ciphertext to its row.
fn password_aad(server_id: i64) -> Vec<u8> {
    format!("ironrack.bmc_password.server:{server_id}").into_bytes()
}

impl Store {
    pub async fn create_server(&self, s: NewServer<'_>) -> Result<Server> {
        let now = now_ms();
        let macs = serde_json::to_string(s.macs).unwrap_or_else(|_| "[]".into());
        let options = s.bmc_options.to_string();
        let secrets = &self.secrets;
        // Insert, then seal the password with the new id as associated data,
        // in one transaction: nothing half-written, nothing in clear.
        let id = on_pool!(self, p => {
            let mut tx = p.begin_write().await?;
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO servers (name, site_id, tenant_id, macs, bmc_driver, bmc_address, bmc_port, \
                 bmc_username, bmc_options, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING id")
                .bind(s.name).bind(s.site_id).bind(s.tenant_id).bind(&macs).bind(s.bmc_driver)
                .bind(s.bmc_address).bind(i64::from(s.bmc_port)).bind(s.bmc_username).bind(&options).bind(now)
                .fetch_one(&mut *tx).await
                .map_err(|e| StoreError::from_write(e, "server"))?;
            if let Some(pw) = s.bmc_password {
                let sealed = secrets.seal(pw.as_bytes(), &password_aad(id));
                sqlx::query("UPDATE servers SET bmc_password = $2 WHERE id = $1")
                    .bind(id).bind(sealed).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            id
        });
        self.server(id).await?.ok_or(StoreError::NotFound("server"))
    }

    pub async fn server(&self, id: i64) -> Result<Option<Server>> {
        let sql = format!("{SELECT} WHERE s.id = $1");
        if let Some(readers) = &self.readers {
            let row = readers
                .run(move |c| {
                    use rusqlite::OptionalExtension;
                    c.prepare_cached(&sql)?
                        .query_row([id], Row::from_sqlite)
                        .optional()
                })
                .await?;
            return Ok(row.map(Server::from));
        }
        let row: Option<Row> =
            on_pool!(self, p => sqlx::query_as(trusted(sql)).bind(id).fetch_optional(p).await?);
        Ok(row.map(Server::from))
    }

    /// The server as a task needs it: tenant, site, BMC target. On
    /// PostgreSQL it may come from memory (`changes.rs`, kept current
    /// across controllers), so its power state and observation time can be
    /// old: [`Store::server`] is the read for showing those.
    pub async fn server_for_task(&self, id: i64) -> Result<Option<Server>> {
        let Some(cache) = &self.servers_for_tasks else {
            return self.server(id).await;
        };
        if let Some(server) = cache.get(id) {
            return Ok(Some(server));
        }
        let epoch = cache.epoch();
        let server = self.server(id).await?;
        if let Some(s) = &server {
            cache.remember(epoch, s);
        }
        Ok(server)
    }

    /// This process changed the server: its next task must not use the old
    /// row, even before the database's notification arrives.
    fn server_changed(&self, id: i64) {
        if let Some(cache) = &self.servers_for_tasks {
            cache.forget(id);
        }
    }

    pub async fn count_servers(&self) -> Result<i64> {
        let n: (i64,) =
            on_pool!(self, p => sqlx::query_as("SELECT COUNT(*) FROM servers").fetch_one(p).await?);
        Ok(n.0)
    }

    pub async fn list_servers(&self, f: &ServerFilter) -> Result<Page<Server>> {
        let limit = f.limit.clamp(1, 1000);
        let (sql, binds) = list_query(f, self.backend(), limit);
        let rows: Vec<Row> = if let Some(readers) = &self.readers {
            readers
                .run(move |c| {
                    let mut stmt = c.prepare_cached(&sql)?;
                    for (i, b) in binds.iter().enumerate() {
                        match b {
                            Bind::Int(v) => stmt.raw_bind_parameter(i + 1, v)?,
                            Bind::Text(v) => stmt.raw_bind_parameter(i + 1, v)?,
                        }
                    }
                    let mut rows = stmt.raw_query();
                    let mut out = Vec::with_capacity(limit as usize + 1);
                    while let Some(r) = rows.next()? {
                        out.push(Row::from_sqlite(r)?);
                    }
                    Ok(out)
                })
                .await?
        } else {
            on_pool!(self, p => {
                let mut q = sqlx::query_as(trusted(sql));
                for b in binds {
                    q = match b {
                        Bind::Int(v) => q.bind(v),
                        Bind::Text(v) => q.bind(v),
                    };
                }
                q.fetch_all(p).await?
            })
        };
        Ok(Page::from_rows(
            rows.into_iter().map(Server::from).collect(),
            limit,
            |s| s.id,
        ))
    }

    pub async fn update_server(&self, id: i64, up: ServerUpdate) -> Result<Server> {
        let now = now_ms();
        let macs = up
            .macs
            .map(|m| serde_json::to_string(&m).unwrap_or_else(|_| "[]".into()));
        let options = up.bmc_options.map(|o| o.to_string());
        let (set_tenant, tenant) = match up.tenant_id {
            Some(t) => (true, t),
            None => (false, None),
        };
        let (set_pw, sealed) = match &up.bmc_password {
            Some(Some(pw)) => (
                true,
                Some(self.secrets.seal(pw.as_bytes(), &password_aad(id))),
            ),
            Some(None) => (true, None),
            None => (false, None),
        };
        let port = up.bmc_port.map(i64::from);
        let done = on_pool!(self, p => sqlx::query(
            "UPDATE servers SET name = COALESCE($2, name), site_id = COALESCE($3, site_id), \
             tenant_id = CASE WHEN $4 THEN $5 ELSE tenant_id END, macs = COALESCE($6, macs), \
             bmc_driver = COALESCE($7, bmc_driver), bmc_address = COALESCE($8, bmc_address), \
             bmc_port = COALESCE($9, bmc_port), bmc_username = COALESCE($10, bmc_username), \
             bmc_password = CASE WHEN $11 THEN $12 ELSE bmc_password END, \
             bmc_options = COALESCE($13, bmc_options), updated_at = $14 WHERE id = $1")
            .bind(id).bind(up.name).bind(up.site_id).bind(set_tenant).bind(tenant).bind(macs)
            .bind(up.bmc_driver).bind(up.bmc_address).bind(port).bind(up.bmc_username)
            .bind(set_pw).bind(sealed).bind(options).bind(now)
            .execute(p).await.map(|r| r.rows_affected()))
        .map_err(|e| StoreError::from_write(e, "server"));
        self.server_changed(id);
        if done? == 0 {
            return Err(StoreError::NotFound("server"));
        }
        self.server(id).await?.ok_or(StoreError::NotFound("server"))
    }

    pub async fn delete_server(&self, id: i64) -> Result<()> {
        let done = on_pool!(self, p => sqlx::query("DELETE FROM servers WHERE id = $1")
            .bind(id).execute(p).await.map(|r| r.rows_affected()));
        self.server_changed(id);
        if done? == 0 {
            return Err(StoreError::NotFound("server"));
        }
        Ok(())
    }

    /// The BMC password in clear, for the site agent that drives the BMC.
    pub async fn bmc_password(&self, server_id: i64) -> Result<Option<Zeroizing<String>>> {
        const SQL: &str = "SELECT bmc_password FROM servers WHERE id = $1";
        let row: Option<(Option<Vec<u8>>,)> = match &self.readers {
            Some(readers) => {
                readers
                    .run(move |c| {
                        use rusqlite::OptionalExtension;
                        c.prepare_cached(SQL)?
                            .query_row([server_id], |r| Ok((r.get(0)?,)))
                            .optional()
                    })
                    .await?
            }
            None => {
                on_pool!(self, p => sqlx::query_as(SQL).bind(server_id).fetch_optional(p).await?)
            }
        };
        let Some((Some(sealed),)) = row else {
            return Ok(None);
        };
        self.open_password(server_id, &sealed).map(Some)
    }

    /// The BMC password of a server as read with it (no query).
    pub fn open_bmc_password(&self, server: &Server) -> Result<Option<Zeroizing<String>>> {
        match &server.bmc.sealed_password {
            Some(SealedAtRest(sealed)) => self.open_password(server.id, sealed).map(Some),
            None => Ok(None),
        }
    }

    fn open_password(&self, server_id: i64, sealed: &[u8]) -> Result<Zeroizing<String>> {
        let plain = self.secrets.open(sealed, &password_aad(server_id))?;
        let text = String::from_utf8(plain.to_vec()).map_err(|_| crate::SecretError::Decrypt)?;
        Ok(Zeroizing::new(text))
    }

    /// Records observed power states in one transaction (a burst of
    /// results costs one commit); later entries for a server win.
    /// Stores observed power states in one transaction; of several for one
    /// server, the last counts.
    pub async fn set_power_states(&self, states: &[(i64, PowerState)]) -> Result<()> {
        let now = now_ms();
        let last: std::collections::BTreeMap<i64, PowerState> = states.iter().copied().collect();
        match &self.pool {
            // One statement: a round trip per server would cost as much as
            // the tasks that observed them.
            crate::Pool::Postgres(p) => {
                sqlx::query(
                    "UPDATE servers s SET power_state = u.state, power_observed_at = $3 \
                     FROM unnest($1::bigint[], $2::text[]) AS u(id, state) WHERE s.id = u.id",
                )
                // Planned for each batch (see "Batch plans" in tasks.rs).
                .persistent(false)
                .bind(last.keys().copied().collect::<Vec<i64>>())
                .bind(last.values().map(|s| s.as_str()).collect::<Vec<&str>>())
                .bind(now)
                .execute(p)
                .await?;
            }
            crate::Pool::Sqlite(p) => {
                let mut tx = p.begin_write().await?;
                for (server_id, state) in &last {
                    sqlx::query(
                        "UPDATE servers SET power_state = $2, power_observed_at = $3 WHERE id = $1",
                    )
                    .bind(server_id)
                    .bind(state.as_str())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
            }
        }
        Ok(())
    }

    pub async fn set_power_state(&self, server_id: i64, state: PowerState) -> Result<()> {
        let now = now_ms();
        on_pool!(self, p => sqlx::query(
            "UPDATE servers SET power_state = $2, power_observed_at = $3 WHERE id = $1")
            .bind(server_id).bind(state.as_str()).bind(now).execute(p).await.map(|_| ())?);
        Ok(())
    }
}
