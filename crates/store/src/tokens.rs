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

    /// The live token with this hash and its user; expired tokens and
    /// disabled users do not authenticate.
    pub async fn token_by_hash(&self, hash: &[u8]) -> Result<Option<(TokenRow, User)>> {
        let now = now_ms();
        let sql = format!(
            "SELECT {COLUMNS} FROM tokens WHERE hash = $1 AND (expires_at IS NULL OR expires_at > $2)"
        );
        let row: Option<Row> = on_pool!(self, p => sqlx::query_as(trusted(sql)).bind(hash).bind(now).fetch_optional(p).await?);
        let Some(row) = row else { return Ok(None) };
        let token = TokenRow::from(row);
        match self.user(token.user_id).await? {
            Some(user) if !user.disabled => Ok(Some((token, user))),
            _ => Ok(None),
        }
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
        if done == 0 {
            return Err(StoreError::NotFound("token"));
        }
        Ok(())
    }

    pub async fn revoke_token_by_hash(&self, hash: &[u8]) -> Result<()> {
        on_pool!(self, p => sqlx::query("DELETE FROM tokens WHERE hash = $1").bind(hash).execute(p).await.map(|_| ())?);
        Ok(())
    }

    /// Ends every session and token of a user (password change, disable).
    pub async fn revoke_all_tokens(&self, user_id: i64) -> Result<()> {
        on_pool!(self, p => sqlx::query("DELETE FROM tokens WHERE user_id = $1").bind(user_id).execute(p).await.map(|_| ())?);
        Ok(())
    }

    pub async fn touch_token(&self, token_id: i64) -> Result<()> {
        let now = now_ms();
        on_pool!(self, p => sqlx::query("UPDATE tokens SET last_used_at = $2 WHERE id = $1")
            .bind(token_id).bind(now).execute(p).await.map(|_| ())?);
        Ok(())
    }
}
