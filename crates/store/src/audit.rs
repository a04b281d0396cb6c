use crate::{Page, Result, Store, now_ms, on_pool};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditEntry {
    pub id: i64,
    pub at: i64,
    pub user_id: Option<i64>,
    pub username: String,
    pub tenant_id: Option<i64>,
    pub action: String,
    pub object_type: String,
    pub object_id: Option<String>,
    pub source: String,
    pub result: String,
    pub detail: Option<String>,
}

/// One state-changing request: who, on which tenant's object, what, from
/// where, and how it ended.
#[derive(Debug, Clone)]
pub struct NewAudit<'a> {
    pub user_id: Option<i64>,
    pub username: &'a str,
    pub tenant_id: Option<i64>,
    pub action: &'a str,
    pub object_type: &'a str,
    pub object_id: Option<String>,
    pub source: &'a str,
    pub result: &'a str,
    pub detail: Option<String>,
}

/// The insert of one audit entry, as a query to run on a pool or inside a
/// transaction. A macro rather than a generic function: the query type is
/// then concrete per backend, which keeps the callers' futures `Send`.
macro_rules! insert_audit {
    ($a:expr, $at:expr) => {
        sqlx::query(
            "INSERT INTO audit (at, user_id, username, tenant_id, action, object_type, object_id, source, result, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind($at)
        .bind($a.user_id)
        .bind($a.username)
        .bind($a.tenant_id)
        .bind($a.action)
        .bind($a.object_type)
        .bind($a.object_id.clone())
        .bind($a.source)
        .bind($a.result)
        .bind($a.detail.clone())
    };
}
pub(crate) use insert_audit;

impl Store {
    pub async fn record_audit(&self, a: &NewAudit<'_>) -> Result<()> {
        let now = now_ms();
        on_pool!(self, p => insert_audit!(a, now).execute(p).await.map(|_| ())?);
        Ok(())
    }

    /// Newest first; `tenant_id` scopes a customer to its own tenant.
    pub async fn list_audit(
        &self,
        tenant_id: Option<i64>,
        after_id: Option<i64>,
        limit: i64,
    ) -> Result<Page<AuditEntry>> {
        let limit = limit.clamp(1, 1000);
        let rows: Vec<AuditEntry> = on_pool!(self, p => sqlx::query_as(
            "SELECT id, at, user_id, username, tenant_id, action, object_type, object_id, source, result, detail \
             FROM audit WHERE id < $1 AND ($2 IS NULL OR tenant_id = $2) ORDER BY id DESC LIMIT $3")
            .bind(after_id.unwrap_or(i64::MAX)).bind(tenant_id).bind(limit + 1).fetch_all(p).await?);
        Ok(Page::from_rows(rows, limit, |a| a.id))
    }

    pub async fn audit_entry(&self, id: i64) -> Result<Option<AuditEntry>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT id, at, user_id, username, tenant_id, action, object_type, object_id, source, result, detail \
             FROM audit WHERE id = $1").bind(id).fetch_optional(p).await?))
    }
}
