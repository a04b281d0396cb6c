use crate::{Result, Store, StoreError, now_ms, on_pool};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Tenant {
    pub id: i64,
    pub name: String,
    pub created_at: i64,
}

impl Store {
    pub async fn create_tenant(&self, name: &str) -> Result<Tenant> {
        let now = now_ms();
        on_pool!(self, p => sqlx::query_as(
            "INSERT INTO tenants (name, created_at) VALUES ($1, $2) RETURNING id, name, created_at")
            .bind(name).bind(now).fetch_one(p).await)
        .map_err(|e| StoreError::from_write(e, "tenant"))
    }

    pub async fn list_tenants(&self) -> Result<Vec<Tenant>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT id, name, created_at FROM tenants ORDER BY name")
            .fetch_all(p).await?))
    }

    pub async fn tenant(&self, id: i64) -> Result<Option<Tenant>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT id, name, created_at FROM tenants WHERE id = $1")
            .bind(id).fetch_optional(p).await?))
    }

    pub async fn tenant_by_name(&self, name: &str) -> Result<Option<Tenant>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT id, name, created_at FROM tenants WHERE name = $1")
            .bind(name).fetch_optional(p).await?))
    }

    /// Refuses while users or servers still belong to the tenant.
    pub async fn delete_tenant(&self, id: i64) -> Result<()> {
        let done = on_pool!(self, p => sqlx::query("DELETE FROM tenants WHERE id = $1")
            .bind(id).execute(p).await.map(|r| r.rows_affected()))
        .map_err(|e| StoreError::from_write(e, "tenant"))?;
        if done == 0 {
            return Err(StoreError::NotFound("tenant"));
        }
        Ok(())
    }
}
