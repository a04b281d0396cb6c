//! Browser consoles: a server's console endpoints (with the VNC password
//! sealed like the BMC password) and the console sessions the site agents
//! report on.

use zeroize::Zeroizing;

use crate::{BeginWrite, Result, Store, StoreError, on_pool, trusted};

/// A server's console endpoints as everyone but its site agent sees them.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConsole {
    /// `vnc`, `html5`, `template`, ... (never the password).
    pub config: serde_json::Value,
    pub vnc_password_set: bool,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConsoleSession {
    pub id: i64,
    pub server_id: i64,
    pub server_name: String,
    pub tenant_id: Option<i64>,
    pub user_id: Option<i64>,
    pub username: String,
    pub kind: String,
    pub view_only: bool,
    pub bmc_key: String,
    /// `pending`, `live` or `closed`.
    pub state: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub opened_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub close_reason: Option<String>,
    pub close_detail: Option<String>,
    pub viewers: i64,
    pub last_input_at: Option<i64>,
    pub closes_at: Option<i64>,
}

pub struct NewConsoleSession<'a> {
    pub server_id: i64,
    pub tenant_id: Option<i64>,
    pub user_id: i64,
    pub username: &'a str,
    pub kind: &'a str,
    pub view_only: bool,
    /// Sessions with the same key share the BMC's session cap.
    pub bmc_key: &'a str,
    pub expires_at: i64,
}

const SELECT: &str = "SELECT c.id, c.server_id, s.name AS server_name, c.tenant_id, c.user_id, c.username, \
     c.kind, c.view_only, c.bmc_key, c.state, c.created_at, c.expires_at, c.opened_at, c.closed_at, \
     c.close_reason, c.close_detail, c.viewers, c.last_input_at, c.closes_at \
     FROM console_sessions c JOIN servers s ON s.id = c.server_id";

fn vnc_password_aad(server_id: i64) -> Vec<u8> {
    format!("ironrack.vnc_password.server:{server_id}").into_bytes()
}

impl Store {
    /// Sets a server's console endpoints. `vnc_password`: `None` keeps the
    /// stored one, `Some(None)` removes it.
    pub async fn set_server_console(
        &self,
        server_id: i64,
        config: &serde_json::Value,
        vnc_password: Option<Option<&str>>,
    ) -> Result<()> {
        let (set_pw, sealed) = match vnc_password {
            Some(Some(pw)) => (
                true,
                Some(
                    self.secrets
                        .seal(pw.as_bytes(), &vnc_password_aad(server_id)),
                ),
            ),
            Some(None) => (true, None),
            None => (false, None),
        };
        let config = config.to_string();
        on_pool!(self, p => sqlx::query(
            "INSERT INTO server_consoles (server_id, config, vnc_password) VALUES ($1, $2, $3) \
             ON CONFLICT (server_id) DO UPDATE SET config = excluded.config, \
             vnc_password = CASE WHEN $4 THEN excluded.vnc_password ELSE server_consoles.vnc_password END")
            .bind(server_id).bind(&config).bind(sealed).bind(set_pw)
            .execute(p).await.map(|_| ()))
        .map_err(|e| StoreError::from_write(e, "server"))?;
        Ok(())
    }

    pub async fn delete_server_console(&self, server_id: i64) -> Result<()> {
        on_pool!(self, p => sqlx::query("DELETE FROM server_consoles WHERE server_id = $1")
            .bind(server_id).execute(p).await.map(|_| ())?);
        Ok(())
    }

    pub async fn server_console(&self, server_id: i64) -> Result<Option<ServerConsole>> {
        let row: Option<(String, bool)> = on_pool!(self, p => sqlx::query_as(
            "SELECT config, (vnc_password IS NOT NULL) FROM server_consoles WHERE server_id = $1")
            .bind(server_id).fetch_optional(p).await?);
        Ok(row.map(|(config, vnc_password_set)| ServerConsole {
            config: serde_json::from_str(&config).unwrap_or_default(),
            vnc_password_set,
        }))
    }

    /// The VNC password in clear, for the site agent's gateway.
    pub async fn console_vnc_password(&self, server_id: i64) -> Result<Option<Zeroizing<String>>> {
        let row: Option<(Option<Vec<u8>>,)> = on_pool!(self, p => sqlx::query_as(
            "SELECT vnc_password FROM server_consoles WHERE server_id = $1")
            .bind(server_id).fetch_optional(p).await?);
        let Some((Some(sealed),)) = row else {
            return Ok(None);
        };
        let plain = self.secrets.open(&sealed, &vnc_password_aad(server_id))?;
        let text = String::from_utf8(plain.to_vec()).map_err(|_| crate::SecretError::Decrypt)?;
        Ok(Some(Zeroizing::new(text)))
    }

    /// Writes a pending session unless the BMC already has `max` open ones
    /// (then `Err(open)`), in one transaction.
    pub async fn create_console_session(
        &self,
        n: NewConsoleSession<'_>,
        max: i64,
    ) -> Result<std::result::Result<ConsoleSession, i64>> {
        let now = crate::now_ms();
        let id = on_pool!(self, p => {
            let mut tx = p.begin_write().await?;
            // Sessions past their token expiry or their last reported
            // close time do not count: their agent may be gone without a word
            // (its gateway keeps its own count and refuses beyond the cap).
            let (open,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM console_sessions WHERE bmc_key = $1 AND \
                 ((state = 'pending' AND expires_at > $2) OR \
                  (state = 'live' AND (closes_at IS NULL OR closes_at > $2)))")
                .bind(n.bmc_key).bind(now).fetch_one(&mut *tx).await?;
            if open >= max {
                return Ok(Err(open));
            }
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO console_sessions (server_id, tenant_id, user_id, username, kind, view_only, \
                 bmc_key, state, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9) \
                 RETURNING id")
                .bind(n.server_id).bind(n.tenant_id).bind(n.user_id).bind(n.username).bind(n.kind)
                .bind(n.view_only).bind(n.bmc_key).bind(now).bind(n.expires_at)
                .fetch_one(&mut *tx).await
                .map_err(|e| StoreError::from_write(e, "console session"))?;
            tx.commit().await?;
            id
        });
        let s = self
            .console_session(id)
            .await?
            .ok_or(StoreError::NotFound("console session"))?;
        Ok(Ok(s))
    }

    pub async fn console_session(&self, id: i64) -> Result<Option<ConsoleSession>> {
        let sql = format!("{SELECT} WHERE c.id = $1");
        Ok(on_pool!(self, p => sqlx::query_as(trusted(sql)).bind(id).fetch_optional(p).await?))
    }

    /// Sessions not closed (or every one with `include_closed`), newest
    /// first, of one tenant if given.
    pub async fn list_console_sessions(
        &self,
        tenant_id: Option<i64>,
        include_closed: bool,
        limit: i64,
    ) -> Result<Vec<ConsoleSession>> {
        let rows = on_pool!(self, p => {
            let mut q = sqlx::QueryBuilder::new(SELECT);
            q.push(" WHERE 1 = 1");
            if !include_closed {
                q.push(" AND c.state <> 'closed'");
            }
            if let Some(t) = tenant_id {
                q.push(" AND c.tenant_id = ").push_bind(t);
            }
            q.push(" ORDER BY c.id DESC LIMIT ").push_bind(limit.clamp(1, 1000));
            q.build_query_as().fetch_all(p).await?
        });
        Ok(rows)
    }

    /// Closes every session not closed yet (at start of a process whose
    /// gateway held them all: they did not survive it). Returns how many.
    pub async fn close_open_consoles(&self, reason: &str) -> Result<u64> {
        let now = crate::now_ms();
        Ok(on_pool!(self, p => sqlx::query(
            "UPDATE console_sessions SET state = 'closed', closed_at = $1, close_reason = $2, viewers = 0 \
             WHERE state <> 'closed'")
            .bind(now).bind(reason).execute(p).await?.rows_affected()))
    }

    /// Marks a pending session live. The session if this changed it.
    pub async fn console_opened(&self, id: i64, at: i64) -> Result<Option<ConsoleSession>> {
        let n = on_pool!(self, p => sqlx::query(
            "UPDATE console_sessions SET state = 'live', opened_at = $2 WHERE id = $1 AND state = 'pending'")
            .bind(id).bind(at).execute(p).await?.rows_affected());
        if n == 0 {
            return Ok(None);
        }
        self.console_session(id).await
    }

    pub async fn console_status(
        &self,
        id: i64,
        viewers: i64,
        last_input_at: Option<i64>,
        closes_at: i64,
    ) -> Result<()> {
        on_pool!(self, p => sqlx::query(
            "UPDATE console_sessions SET viewers = $2, last_input_at = $3, closes_at = $4 \
             WHERE id = $1 AND state <> 'closed'")
            .bind(id).bind(viewers).bind(last_input_at).bind(closes_at).execute(p).await.map(|_| ())?);
        Ok(())
    }

    /// Marks a session closed. The session if this changed it.
    pub async fn console_closed(
        &self,
        id: i64,
        at: i64,
        reason: &str,
        detail: Option<&str>,
    ) -> Result<Option<ConsoleSession>> {
        let n = on_pool!(self, p => sqlx::query(
            "UPDATE console_sessions SET state = 'closed', closed_at = $2, close_reason = $3, \
             close_detail = $4, viewers = 0 WHERE id = $1 AND state <> 'closed'")
            .bind(id).bind(at).bind(reason).bind(detail).execute(p).await?.rows_affected());
        if n == 0 {
            return Ok(None);
        }
        self.console_session(id).await
    }
}
