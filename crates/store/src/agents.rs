use crate::{Result, Store, now_ms, on_pool};

/// A site agent as last heard from.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AgentSeen {
    pub site: String,
    pub name: String,
    pub version: String,
    pub last_seen: i64,
    /// Fingerprint of the key the agent holds (from its heartbeat).
    pub key_fingerprint: Option<String>,
}

/// A stored response to a request with an Idempotency-Key.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct IdempotentResponse {
    pub request: String,
    /// 0 while the first request is still running.
    pub status: i64,
    pub body: String,
}

impl Store {
    pub async fn agent_heartbeat(
        &self,
        site: &str,
        name: &str,
        version: &str,
        key_fingerprint: Option<&str>,
    ) -> Result<()> {
        let now = now_ms();
        on_pool!(self, p => sqlx::query(
            "INSERT INTO agents (site, name, version, last_seen, key_fingerprint) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (site, name) DO UPDATE SET version = $3, last_seen = $4, key_fingerprint = $5")
            .bind(site).bind(name).bind(version).bind(now).bind(key_fingerprint).execute(p).await.map(|_| ())?);
        Ok(())
    }

    pub async fn agents(&self) -> Result<Vec<AgentSeen>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT site, name, version, last_seen, key_fingerprint FROM agents ORDER BY site, name").fetch_all(p).await?))
    }

    /// Claims `key` for a request. `None`: claimed, go ahead. `Some`: the key
    /// was used before; its stored response (or "in progress").
    pub async fn claim_idempotency_key(
        &self,
        user_id: i64,
        key: &str,
        request: &str,
    ) -> Result<Option<IdempotentResponse>> {
        let now = now_ms();
        let inserted = on_pool!(self, p => sqlx::query(
            "INSERT INTO idempotency (user_id, key, request, status, body, created_at) VALUES ($1, $2, $3, 0, '', $4) \
             ON CONFLICT (user_id, key) DO NOTHING")
            .bind(user_id).bind(key).bind(request).bind(now).execute(p).await?.rows_affected());
        if inserted == 1 {
            return Ok(None);
        }
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT request, status, body FROM idempotency WHERE user_id = $1 AND key = $2")
            .bind(user_id).bind(key).fetch_optional(p).await?))
    }

    pub async fn finish_idempotency_key(
        &self,
        user_id: i64,
        key: &str,
        status: u16,
        body: &str,
    ) -> Result<()> {
        on_pool!(self, p => sqlx::query(
            "UPDATE idempotency SET status = $3, body = $4 WHERE user_id = $1 AND key = $2")
            .bind(user_id).bind(key).bind(i64::from(status)).bind(body).execute(p).await.map(|_| ())?);
        Ok(())
    }

    /// Forgets a claim whose request failed, so that a retry runs again.
    pub async fn release_idempotency_key(&self, user_id: i64, key: &str) -> Result<()> {
        on_pool!(self, p => sqlx::query("DELETE FROM idempotency WHERE user_id = $1 AND key = $2")
            .bind(user_id).bind(key).execute(p).await.map(|_| ())?);
        Ok(())
    }

    /// Drops stored responses older than `max_age_ms`.
    pub async fn expire_idempotency_keys(&self, max_age_ms: i64) -> Result<u64> {
        let cutoff = now_ms() - max_age_ms;
        Ok(
            on_pool!(self, p => sqlx::query("DELETE FROM idempotency WHERE created_at < $1 AND status <> 0")
            .bind(cutoff).execute(p).await?.rows_affected()),
        )
    }
}
