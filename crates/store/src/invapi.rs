//! INVAPI callback keys: which task an `eq_callback.php` key stands for.

use crate::{Result, Store, now_ms, on_pool};

/// A callback key's task and the INVAPI action that queued it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InvapiCallback {
    pub task_id: i64,
    pub action: String,
}

impl Store {
    /// Remembers a key (by its digest only) for a task.
    pub async fn create_invapi_callback(
        &self,
        key_hash: &[u8],
        task_id: i64,
        action: &str,
    ) -> Result<()> {
        let now = now_ms();
        on_pool!(self, p => sqlx::query(
            "INSERT INTO invapi_callbacks (key_hash, task_id, action, created_at) VALUES ($1, $2, $3, $4)")
            .bind(key_hash).bind(task_id).bind(action).bind(now)
            .execute(p).await.map(|_| ())?);
        Ok(())
    }

    pub async fn invapi_callback(&self, key_hash: &[u8]) -> Result<Option<InvapiCallback>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT task_id, action FROM invapi_callbacks WHERE key_hash = $1")
            .bind(key_hash).fetch_optional(p).await?))
    }

    /// Deletes a key; true only for the one caller that deleted it, so two
    /// concurrent checks cannot both get the final answer.
    pub async fn take_invapi_callback(&self, key_hash: &[u8]) -> Result<bool> {
        Ok(
            on_pool!(self, p => sqlx::query("DELETE FROM invapi_callbacks WHERE key_hash = $1")
            .bind(key_hash).execute(p).await?.rows_affected())
                == 1,
        )
    }
}
