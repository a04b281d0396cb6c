use crate::{Result, Store, StoreError, now_ms, on_pool, trusted};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Site {
    pub id: i64,
    pub name: String,
    pub location: String,
    pub created_at: i64,
    /// The site agent's public key (base64), if registered.
    pub agent_key: Option<String>,
    pub agent_key_set_at: Option<i64>,
}

const COLUMNS: &str = "id, name, location, created_at, agent_key, agent_key_set_at";

impl Store {
    pub async fn create_site(&self, name: &str, location: &str) -> Result<Site> {
        let now = now_ms();
        let sql = format!(
            "INSERT INTO sites (name, location, created_at) VALUES ($1, $2, $3) RETURNING {COLUMNS}"
        );
        on_pool!(self, p => sqlx::query_as(trusted(sql))
            .bind(name).bind(location).bind(now).fetch_one(p).await)
        .map_err(|e| StoreError::from_write(e, "site"))
    }

    pub async fn list_sites(&self) -> Result<Vec<Site>> {
        let sql = format!("SELECT {COLUMNS} FROM sites ORDER BY name");
        Ok(on_pool!(self, p => sqlx::query_as(trusted(sql)).fetch_all(p).await?))
    }

    pub async fn site(&self, id: i64) -> Result<Option<Site>> {
        let sql = format!("SELECT {COLUMNS} FROM sites WHERE id = $1");
        Ok(on_pool!(self, p => sqlx::query_as(trusted(sql)).bind(id).fetch_optional(p).await?))
    }

    pub async fn site_by_name(&self, name: &str) -> Result<Option<Site>> {
        let sql = format!("SELECT {COLUMNS} FROM sites WHERE name = $1");
        Ok(on_pool!(self, p => sqlx::query_as(trusted(sql)).bind(name).fetch_optional(p).await?))
    }

    /// Registers (or replaces) the public key of the site's agent.
    pub async fn set_site_agent_key(&self, id: i64, public_key: &str) -> Result<Site> {
        let now = now_ms();
        let sql = format!(
            "UPDATE sites SET agent_key = $2, agent_key_set_at = $3 WHERE id = $1 RETURNING {COLUMNS}"
        );
        let site: Option<Site> = on_pool!(self, p => sqlx::query_as(trusted(sql))
            .bind(id).bind(public_key).bind(now).fetch_optional(p).await)
        .map_err(|e| StoreError::from_write(e, "site"))?;
        site.ok_or(StoreError::NotFound("site"))
    }

    /// Forgets the site's agent key (a compromised or retired agent): no
    /// secret is sealed to the site until a new one is registered.
    pub async fn clear_site_agent_key(&self, id: i64) -> Result<Site> {
        let now = now_ms();
        let sql = format!(
            "UPDATE sites SET agent_key = NULL, agent_key_set_at = $2 WHERE id = $1 RETURNING {COLUMNS}"
        );
        let site: Option<Site> = on_pool!(self, p => sqlx::query_as(trusted(sql))
            .bind(id).bind(now).fetch_optional(p).await)
        .map_err(|e| StoreError::from_write(e, "site"))?;
        site.ok_or(StoreError::NotFound("site"))
    }

    /// Refuses while servers are still at the site.
    pub async fn delete_site(&self, id: i64) -> Result<()> {
        let done = on_pool!(self, p => sqlx::query("DELETE FROM sites WHERE id = $1")
            .bind(id).execute(p).await.map(|r| r.rows_affected()))
        .map_err(|e| StoreError::from_write(e, "site"))?;
        if done == 0 {
            return Err(StoreError::NotFound("site"));
        }
        Ok(())
    }
}
