use ironrack_core::Role;

use crate::{Result, Store, StoreError, now_ms, on_pool, trusted};

#[derive(Debug, Clone)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
    pub role: Role,
    pub tenant_id: Option<i64>,
    pub tenant_name: Option<String>,
    pub pin_hash: Option<String>,
    pub disabled: bool,
    pub created_at: i64,
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: i64,
    username: String,
    password_hash: String,
    role: String,
    tenant_id: Option<i64>,
    tenant_name: Option<String>,
    pin_hash: Option<String>,
    disabled: bool,
    created_at: i64,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> User {
        User {
            id: r.id,
            username: r.username,
            password_hash: r.password_hash,
            // Only the API writes roles, always from `Role::as_str`.
            role: Role::parse(&r.role).unwrap_or(Role::Customer),
            tenant_id: r.tenant_id,
            tenant_name: r.tenant_name,
            pin_hash: r.pin_hash,
            disabled: r.disabled,
            created_at: r.created_at,
        }
    }
}

pub struct NewUser<'a> {
    pub username: &'a str,
    pub password_hash: &'a str,
    pub role: Role,
    pub tenant_id: Option<i64>,
}

#[derive(Default)]
pub struct UserUpdate {
    pub password_hash: Option<String>,
    pub role: Option<Role>,
    /// `Some(None)` clears the tenant.
    pub tenant_id: Option<Option<i64>>,
    pub disabled: Option<bool>,
}

pub(crate) const SELECT_USER: &str = "SELECT u.id, u.username, u.password_hash, u.role, u.tenant_id, \
     t.name AS tenant_name, u.pin_hash, u.disabled, u.created_at \
     FROM users u LEFT JOIN tenants t ON t.id = u.tenant_id";

impl Store {
    pub async fn count_users(&self) -> Result<i64> {
        let n: (i64,) =
            on_pool!(self, p => sqlx::query_as("SELECT COUNT(*) FROM users").fetch_one(p).await?);
        Ok(n.0)
    }

    pub async fn create_user(&self, u: NewUser<'_>) -> Result<User> {
        let now = now_ms();
        let id: (i64,) = on_pool!(self, p => sqlx::query_as(
            "INSERT INTO users (username, password_hash, role, tenant_id, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id")
            .bind(u.username).bind(u.password_hash).bind(u.role.as_str()).bind(u.tenant_id).bind(now)
            .fetch_one(p).await)
        .map_err(|e| StoreError::from_write(e, "user"))?;
        self.user(id.0).await?.ok_or(StoreError::NotFound("user"))
    }

    pub async fn user(&self, id: i64) -> Result<Option<User>> {
        let sql = format!("{SELECT_USER} WHERE u.id = $1");
        let row: Option<UserRow> =
            on_pool!(self, p => sqlx::query_as(trusted(sql)).bind(id).fetch_optional(p).await?);
        Ok(row.map(User::from))
    }

    pub async fn user_by_name(&self, username: &str) -> Result<Option<User>> {
        let sql = format!("{SELECT_USER} WHERE u.username = $1");
        let row: Option<UserRow> = on_pool!(self, p => sqlx::query_as(trusted(sql)).bind(username).fetch_optional(p).await?);
        Ok(row.map(User::from))
    }

    /// All users, or one tenant's.
    pub async fn list_users(&self, tenant_id: Option<i64>) -> Result<Vec<User>> {
        let sql =
            format!("{SELECT_USER} WHERE ($1 IS NULL OR u.tenant_id = $1) ORDER BY u.username");
        let rows: Vec<UserRow> =
            on_pool!(self, p => sqlx::query_as(trusted(sql)).bind(tenant_id).fetch_all(p).await?);
        Ok(rows.into_iter().map(User::from).collect())
    }

    pub async fn update_user(&self, id: i64, up: UserUpdate) -> Result<User> {
        let role = up.role.map(|r| r.as_str());
        let (set_tenant, tenant) = match up.tenant_id {
            Some(t) => (true, t),
            None => (false, None),
        };
        let done = on_pool!(self, p => sqlx::query(
            "UPDATE users SET password_hash = COALESCE($2, password_hash), role = COALESCE($3, role), \
             tenant_id = CASE WHEN $4 THEN $5 ELSE tenant_id END, disabled = COALESCE($6, disabled) WHERE id = $1")
            .bind(id).bind(up.password_hash).bind(role).bind(set_tenant).bind(tenant).bind(up.disabled)
            .execute(p).await.map(|r| r.rows_affected()))
        .map_err(|e| StoreError::from_write(e, "user"))?;
        self.forget_callers();
        if done == 0 {
            return Err(StoreError::NotFound("user"));
        }
        self.user(id).await?.ok_or(StoreError::NotFound("user"))
    }

    pub async fn set_pin_hash(&self, id: i64, pin_hash: &str) -> Result<()> {
        on_pool!(self, p => sqlx::query("UPDATE users SET pin_hash = $2 WHERE id = $1")
            .bind(id).bind(pin_hash).execute(p).await.map(|_| ())?);
        self.forget_callers();
        Ok(())
    }

    pub async fn delete_user(&self, id: i64) -> Result<()> {
        let done = on_pool!(self, p => sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id).execute(p).await.map(|r| r.rows_affected()))
        .map_err(|e| StoreError::from_write(e, "user"))?;
        self.forget_callers();
        if done == 0 {
            return Err(StoreError::NotFound("user"));
        }
        Ok(())
    }
}
