use crate::{Result, Store, StoreError, User, now_ms, on_pool, trusted};

/// Browser/CLI login sessions and named API tokens share one table: both are
/// random secrets stored only as their SHA-256.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Session,
    Api,
}

impl TokenKind {
    fn as_str(self) -> &'static str {
        match self {
            TokenKind::Session => "session",
            TokenKind::Api => "api",
        }
    }
}

#[derive(Debug, Clone)]
pub struct TokenRow {
    pub id: i64,
    pub user_id: i64,
    pub kind: TokenKind,
    pub name: String,
    /// When set, the token sees only these servers.
    pub server_ids: Option<Vec<i64>>,
    pub expires_at: Option<i64>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    user_id: i64,
    kind: String,
    name: String,
    server_ids: Option<String>,
    expires_at: Option<i64>,
    created_at: i64,
    last_used_at: Option<i64>,
}

impl From<Row> for TokenRow {
    fn from(r: Row) -> TokenRow {
        TokenRow {
            id: r.id,
            user_id: r.user_id,
            kind: if r.kind == "api" {
                TokenKind::Api
            } else {
                TokenKind::Session
            },
            name: r.name,
            server_ids: r.server_ids.and_then(|s| serde_json::from_str(&s).ok()),
            expires_at: r.expires_at,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
        }
    }
}

/// A token joined with its user (`TOKEN_USER`).
#[derive(sqlx::FromRow)]
struct TokenUserRow {
    id: i64,
    user_id: i64,
    kind: String,
    name: String,
    server_ids: Option<String>,
    expires_at: Option<i64>,
    created_at: i64,
    last_used_at: Option<i64>,
    u_username: String,
    u_password_hash: String,
    u_role: String,
    u_tenant_id: Option<i64>,
    u_tenant_name: Option<String>,
    u_pin_hash: Option<String>,
    u_created_at: i64,
}

const TOKEN_USER: &str = "SELECT t.id, t.user_id, t.kind, t.name, t.server_ids, t.expires_at, \
     t.created_at, t.last_used_at, u.username AS u_username, u.password_hash AS u_password_hash, \
     u.role AS u_role, u.tenant_id AS u_tenant_id, tn.name AS u_tenant_name, u.pin_hash AS u_pin_hash, \
     u.created_at AS u_created_at \
     FROM tokens t JOIN users u ON u.id = t.user_id LEFT JOIN tenants tn ON tn.id = u.tenant_id \
     WHERE t.hash = $1 AND (t.expires_at IS NULL OR t.expires_at > $2) AND NOT u.disabled";

impl TokenUserRow {
    fn split(self) -> (TokenRow, User) {
        let user = User {
            id: self.user_id,
            username: self.u_username,
            password_hash: self.u_password_hash,
            role: ironrack_core::Role::parse(&self.u_role).unwrap_or(ironrack_core::Role::Customer),
            tenant_id: self.u_tenant_id,
            tenant_name: self.u_tenant_name,
            pin_hash: self.u_pin_hash,
            disabled: false,
            created_at: self.u_created_at,
        };
        let token = TokenRow::from(Row {
            id: self.id,
            user_id: self.user_id,
            kind: self.kind,
            name: self.name,
            server_ids: self.server_ids,
            expires_at: self.expires_at,
            created_at: self.created_at,
            last_used_at: self.last_used_at,
        });
        (token, user)
    }
}

pub struct NewToken<'a> {
    pub user_id: i64,
    pub kind: TokenKind,
    pub name: &'a str,
    pub hash: &'a [u8],
    pub server_ids: Option<&'a [i64]>,
    pub expires_at: Option<i64>,
}

const COLUMNS: &str = "id, user_id, kind, name, server_ids, expires_at, created_at, last_used_at";

impl Store {
    pub async fn create_token(&self, t: NewToken<'_>) -> Result<TokenRow> {
        let now = now_ms();
        let ids = t
            .server_ids
            .map(|ids| serde_json::to_string(ids).unwrap_or_default());
        let sql = format!(
            "INSERT INTO tokens (user_id, kind, name, hash, server_ids, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
        );
        let row: Row = on_pool!(self, p => sqlx::query_as(trusted(sql))
            .bind(t.user_id).bind(t.kind.as_str()).bind(t.name).bind(t.hash).bind(ids)
            .bind(t.expires_at).bind(now).fetch_one(p).await)
        .map_err(|e| StoreError::from_write(e, "token"))?;
        Ok(row.into())
    }

    /// The live token with this hash and its enabled user: every
    /// authenticated request starts here. Expired tokens and disabled users
    /// do not authenticate. Answers are remembered for [`CALLER_FRESH`];
    /// this store's own changes to tokens and users forget them at once.
    pub async fn token_by_hash(&self, hash: &[u8]) -> Result<Option<(TokenRow, User)>> {
        let now = now_ms();
        if let Some(hit) = self.callers.get(hash, now) {
            return Ok(Some(hit));
        }
        let found = self.read_token_by_hash(hash, now).await?;
        if let Some(found) = &found {
            self.callers.put(hash, found.clone());
        }
        Ok(found)
    }

    async fn read_token_by_hash(&self, hash: &[u8], now: i64) -> Result<Option<(TokenRow, User)>> {
        if let Some(readers) = &self.readers {
            let hash = hash.to_vec();
            return readers
                .run(move |c| {
                    use rusqlite::OptionalExtension;
                    c.prepare_cached(TOKEN_USER)?
                        .query_row(rusqlite::params![hash, now], |r| {
                            Ok(TokenUserRow {
                                id: r.get(0)?,
                                user_id: r.get(1)?,
                                kind: r.get(2)?,
                                name: r.get(3)?,
                                server_ids: r.get(4)?,
                                expires_at: r.get(5)?,
                                created_at: r.get(6)?,
                                last_used_at: r.get(7)?,
                                u_username: r.get(8)?,
                                u_password_hash: r.get(9)?,
                                u_role: r.get(10)?,
                                u_tenant_id: r.get(11)?,
                                u_tenant_name: r.get(12)?,
                                u_pin_hash: r.get(13)?,
                                u_created_at: r.get(14)?,
                            })
                        })
                        .optional()
                })
                .await
                .map(|row| row.map(TokenUserRow::split));
        }
        let row: Option<TokenUserRow> = on_pool!(self, p => sqlx::query_as(TOKEN_USER).bind(hash).bind(now).fetch_optional(p).await?);
        Ok(row.map(TokenUserRow::split))
    }

    pub async fn list_tokens(&self, user_id: i64, kind: TokenKind) -> Result<Vec<TokenRow>> {
        let sql =
            format!("SELECT {COLUMNS} FROM tokens WHERE user_id = $1 AND kind = $2 ORDER BY id");
        let rows: Vec<Row> = on_pool!(self, p => sqlx::query_as(trusted(sql)).bind(user_id).bind(kind.as_str()).fetch_all(p).await?);
        Ok(rows.into_iter().map(TokenRow::from).collect())
    }

    /// Revokes one of the user's tokens; someone else's token is "not found".
    pub async fn revoke_token(&self, user_id: i64, token_id: i64) -> Result<()> {
        let done = on_pool!(self, p => sqlx::query("DELETE FROM tokens WHERE id = $1 AND user_id = $2")
            .bind(token_id).bind(user_id).execute(p).await?.rows_affected());
        self.callers.forget_all();
        if done == 0 {
            return Err(StoreError::NotFound("token"));
        }
        Ok(())
    }

    pub async fn revoke_token_by_hash(&self, hash: &[u8]) -> Result<()> {
        on_pool!(self, p => sqlx::query("DELETE FROM tokens WHERE hash = $1").bind(hash).execute(p).await.map(|_| ())?);
        self.callers.forget_all();
        Ok(())
    }

    /// Ends every session and token of a user (password change, disable).
    pub async fn revoke_all_tokens(&self, user_id: i64) -> Result<()> {
        on_pool!(self, p => sqlx::query("DELETE FROM tokens WHERE user_id = $1").bind(user_id).execute(p).await.map(|_| ())?);
        self.callers.forget_all();
        Ok(())
    }

    pub async fn touch_token(&self, token_id: i64) -> Result<()> {
        let now = now_ms();
        on_pool!(self, p => sqlx::query("UPDATE tokens SET last_used_at = $2 WHERE id = $1")
            .bind(token_id).bind(now).execute(p).await.map(|_| ())?);
        self.callers.touched(token_id, now);
        Ok(())
    }

    /// Forgets every remembered caller: a user changed (role, tenant, PIN,
    /// password, disabled) or went.
    pub(crate) fn forget_callers(&self) {
        self.callers.forget_all();
    }
}

/// How long an authenticated token is taken without reading it again.
/// This process forgets it at once when it changes tokens or users, and on
/// PostgreSQL when another controller does (`changes.rs`); the bound is for
/// changes made while that listener is not connected.
pub const CALLER_FRESH: std::time::Duration = std::time::Duration::from_secs(5);

/// Remembered answers of `token_by_hash`, by token hash.
#[derive(Default)]
pub(crate) struct Callers {
    map: std::sync::Mutex<std::collections::HashMap<Vec<u8>, (std::time::Instant, TokenRow, User)>>,
}

impl std::fmt::Debug for Callers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Callers")
    }
}

/// Bounds the memory a flood of distinct valid tokens could take.
const CALLERS_MAX: usize = 10_000;

impl Callers {
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<
        '_,
        std::collections::HashMap<Vec<u8>, (std::time::Instant, TokenRow, User)>,
    > {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, hash: &[u8], now_ms: i64) -> Option<(TokenRow, User)> {
        let map = self.lock();
        let (at, token, user) = map.get(hash)?;
        let live = at.elapsed() < CALLER_FRESH && token.expires_at.is_none_or(|t| t > now_ms);
        live.then(|| (token.clone(), user.clone()))
    }

    fn put(&self, hash: &[u8], (token, user): (TokenRow, User)) {
        let mut map = self.lock();
        if map.len() >= CALLERS_MAX {
            map.retain(|_, (at, _, _)| at.elapsed() < CALLER_FRESH);
            if map.len() >= CALLERS_MAX {
                map.clear();
            }
        }
        map.insert(hash.to_vec(), (std::time::Instant::now(), token, user));
    }

    fn touched(&self, token_id: i64, now_ms: i64) {
        for (_, token, _) in self.lock().values_mut() {
            if token.id == token_id {
                token.last_used_at = Some(now_ms);
            }
        }
    }

    pub(crate) fn forget_all(&self) {
        self.lock().clear();
    }
}
