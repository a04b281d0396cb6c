//! What BMCs last reported about the hardware: sensor readings and the
//! System Event Log, one bounded set per server, replaced on each refresh.

use ironrack_core::{SEL_KEEP, SelEntry, SensorReading, SensorStatus};

use crate::{BeginWrite, Result, Store, on_pool};

/// A server's stored set and when it was read (`None`: never).
#[derive(Debug, Clone, PartialEq)]
pub struct Observed<T> {
    pub read_at: Option<i64>,
    pub items: Vec<T>,
}

#[derive(sqlx::FromRow)]
struct SensorRow {
    name: String,
    sensor_type: String,
    reading: Option<f64>,
    unit: Option<String>,
    status: String,
}

#[derive(sqlx::FromRow)]
struct SelRow {
    record_id: i64,
    at: Option<i64>,
    text: String,
}

impl Store {
    /// Replaces the server's sensor readings with a set read at `read_at`.
    /// `false` (nothing changed): the server is gone, or a newer set is
    /// already stored (events may arrive out of order).
    pub async fn replace_sensors(
        &self,
        server_id: i64,
        read_at: i64,
        readings: &[SensorReading],
    ) -> Result<bool> {
        on_pool!(self, p => {
            let mut tx = p.begin_write().await?;
            let claimed = sqlx::query(
                "UPDATE servers SET sensors_read_at = $2 WHERE id = $1 \
                 AND (sensors_read_at IS NULL OR sensors_read_at <= $2)")
                .bind(server_id).bind(read_at).execute(&mut *tx).await?.rows_affected();
            if claimed == 0 {
                return Ok(false);
            }
            sqlx::query("DELETE FROM sensor_readings WHERE server_id = $1")
                .bind(server_id).execute(&mut *tx).await?;
            for (position, r) in readings.iter().enumerate() {
                // Two sensors of one name (on different controllers): the
                // later one wins rather than failing the whole set.
                sqlx::query(
                    "INSERT INTO sensor_readings (server_id, name, position, sensor_type, reading, unit, status) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (server_id, name) DO UPDATE SET \
                     position = $3, sensor_type = $4, reading = $5, unit = $6, status = $7")
                    .bind(server_id).bind(&r.name).bind(position as i64).bind(&r.sensor_type)
                    .bind(r.reading.filter(|v| v.is_finite())).bind(r.unit.as_deref())
                    .bind(r.status.as_str())
                    .execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(true)
    }

    pub async fn sensors(&self, server_id: i64) -> Result<Observed<SensorReading>> {
        let read_at = self
            .read_at(
                server_id,
                "SELECT sensors_read_at FROM servers WHERE id = $1",
            )
            .await?;
        let rows: Vec<SensorRow> = on_pool!(self, p => sqlx::query_as(
            "SELECT name, sensor_type, reading, unit, status FROM sensor_readings \
             WHERE server_id = $1 ORDER BY position")
            .bind(server_id).fetch_all(p).await?);
        Ok(Observed {
            read_at,
            items: rows
                .into_iter()
                .map(|r| SensorReading {
                    name: r.name,
                    sensor_type: r.sensor_type,
                    reading: r.reading,
                    unit: r.unit,
                    status: SensorStatus::parse(&r.status),
                })
                .collect(),
        })
    }

    /// Replaces the server's SEL with a set read at `read_at` (oldest
    /// first; only the newest [`SEL_KEEP`] are kept). `false` as for
    /// [`Store::replace_sensors`].
    pub async fn replace_sel(
        &self,
        server_id: i64,
        read_at: i64,
        entries: &[SelEntry],
    ) -> Result<bool> {
        let kept = &entries[entries.len().saturating_sub(SEL_KEEP)..];
        on_pool!(self, p => {
            let mut tx = p.begin_write().await?;
            let claimed = sqlx::query(
                "UPDATE servers SET sel_read_at = $2 WHERE id = $1 \
                 AND (sel_read_at IS NULL OR sel_read_at <= $2)")
                .bind(server_id).bind(read_at).execute(&mut *tx).await?.rows_affected();
            if claimed == 0 {
                return Ok(false);
            }
            sqlx::query("DELETE FROM sel_entries WHERE server_id = $1")
                .bind(server_id).execute(&mut *tx).await?;
            for (position, e) in kept.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO sel_entries (server_id, position, record_id, at, text) \
                     VALUES ($1, $2, $3, $4, $5)")
                    .bind(server_id).bind(position as i64).bind(e.id).bind(e.at).bind(&e.text)
                    .execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(true)
    }

    pub async fn sel(&self, server_id: i64) -> Result<Observed<SelEntry>> {
        let read_at = self
            .read_at(server_id, "SELECT sel_read_at FROM servers WHERE id = $1")
            .await?;
        let rows: Vec<SelRow> = on_pool!(self, p => sqlx::query_as(
            "SELECT record_id, at, text FROM sel_entries WHERE server_id = $1 ORDER BY position")
            .bind(server_id).fetch_all(p).await?);
        Ok(Observed {
            read_at,
            items: rows
                .into_iter()
                .map(|r| SelEntry {
                    id: r.record_id,
                    at: r.at,
                    text: r.text,
                })
                .collect(),
        })
    }

    /// `sql` selects one time column of the server `$1`.
    async fn read_at(&self, server_id: i64, sql: &'static str) -> Result<Option<i64>> {
        let row: Option<(Option<i64>,)> =
            on_pool!(self, p => sqlx::query_as(sql).bind(server_id).fetch_optional(p).await?);
        Ok(row.and_then(|(t,)| t))
    }
}
