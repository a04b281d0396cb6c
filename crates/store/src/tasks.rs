use ironrack_core::{TaskEvent, TaskEventKind, TaskState};

use crate::audit::insert_audit;
use crate::{BeginWrite, NewAudit, Page, Result, Store, StoreError, now_ms, on_pool, trusted};
use ironrack_group::GroupCommit;

// Batch plans: PostgreSQL statements that look rows up by an array of ids
// are sent unprepared (`persistent(false)`), so each is planned for its own
// array and the table as it is now. Prepared, the generic plan made while
// the table was nearly empty (a sequential scan) stayed as the table grew:
// the task bench read ~125 rows of `tasks` per task that way.

#[derive(Debug, Clone)]
pub struct Task {
    pub id: i64,
    pub server_id: i64,
    pub server_name: String,
    pub tenant_id: Option<i64>,
    pub site_id: i64,
    pub kind: String,
    pub params: serde_json::Value,
    pub state: TaskState,
    pub result: Option<serde_json::Value>,
    pub error: Option<String>,
    pub created_by: Option<i64>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub last_seq: i64,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    server_id: i64,
    server_name: String,
    tenant_id: Option<i64>,
    site_id: i64,
    kind: String,
    params: String,
    state: String,
    result: Option<String>,
    error: Option<String>,
    created_by: Option<i64>,
    created_at: i64,
    started_at: Option<i64>,
    finished_at: Option<i64>,
    last_seq: i64,
}

impl From<Row> for Task {
    fn from(r: Row) -> Task {
        Task {
            id: r.id,
            server_id: r.server_id,
            server_name: r.server_name,
            tenant_id: r.tenant_id,
            site_id: r.site_id,
            kind: r.kind,
            params: serde_json::from_str(&r.params).unwrap_or_default(),
            state: TaskState::parse(&r.state).unwrap_or(TaskState::Failed),
            result: r.result.and_then(|s| serde_json::from_str(&s).ok()),
            error: r.error,
            created_by: r.created_by,
            created_at: r.created_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
            last_seq: r.last_seq,
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TaskMessage {
    pub seq: i64,
    pub at: i64,
    pub message: String,
}

pub struct NewTask<'a> {
    pub server_id: i64,
    /// Copied into the returned [`Task`] (saves reading the row back).
    pub server_name: &'a str,
    pub tenant_id: Option<i64>,
    pub site_id: i64,
    pub kind: &'a str,
    pub params: &'a serde_json::Value,
    pub created_by: Option<i64>,
}

#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub tenant_id: Option<i64>,
    pub server_id: Option<i64>,
    pub only_server_ids: Option<Vec<i64>>,
    pub state: Option<TaskState>,
    pub after_id: Option<i64>,
    pub limit: i64,
}

/// Tasks being created, written a batch per transaction.
pub(crate) type TaskWrites = GroupCommit<PendingTask, Result<Task>>;
/// Tasks the bus took, marked a batch per transaction.
pub(crate) type PublishedMarks = GroupCommit<i64, Result<()>>;

/// An owned [`NewTask`] with its audit entry, waiting for its batch.
pub(crate) struct PendingTask {
    task: Task,
    params: String,
    audit: OwnedAudit,
}

struct OwnedAudit {
    user_id: Option<i64>,
    username: String,
    tenant_id: Option<i64>,
    action: String,
    object_type: String,
    source: String,
    result: String,
    detail: Option<String>,
}

const SELECT: &str = "SELECT t.id, t.server_id, s.name AS server_name, t.tenant_id, t.site_id, t.kind, \
     t.params, t.state, t.result, t.error, t.created_by, t.created_at, t.started_at, t.finished_at, t.last_seq \
     FROM tasks t JOIN servers s ON s.id = t.server_id";

impl Store {
    /// Writes a queued task and its audit entry together. Concurrent calls
    /// share one write (group commit, `ironrack-group`): on SQLite one
    /// transaction, whose single writer serialises transactions anyway; on
    /// PostgreSQL one statement for the whole batch, so a burst costs one
    /// round trip and one commit instead of four round trips per task. A
    /// batch that fails is written again one task at a time, so each caller
    /// gets its own outcome.
    pub async fn create_task(&self, t: NewTask<'_>, audit: NewAudit<'_>) -> Result<Task> {
        let pending = PendingTask {
            task: Task {
                id: 0,
                server_id: t.server_id,
                server_name: t.server_name.to_owned(),
                tenant_id: t.tenant_id,
                site_id: t.site_id,
                kind: t.kind.to_owned(),
                params: t.params.clone(),
                state: TaskState::Queued,
                result: None,
                error: None,
                created_by: t.created_by,
                created_at: 0,
                started_at: None,
                finished_at: None,
                last_seq: 0,
            },
            params: t.params.to_string(),
            audit: OwnedAudit {
                user_id: audit.user_id,
                username: audit.username.to_owned(),
                tenant_id: audit.tenant_id,
                action: audit.action.to_owned(),
                object_type: audit.object_type.to_owned(),
                source: audit.source.to_owned(),
                result: audit.result.to_owned(),
                detail: audit.detail,
            },
        };
        let store = self.clone();
        self.task_writes
            .submit(pending, |batch| async move {
                let n = batch.len();
                match store.insert_tasks(&batch).await {
                    Ok(tasks) => tasks.into_iter().map(Ok).collect(),
                    Err(e) if n == 1 => vec![Err(e)],
                    Err(_) => {
                        let mut each = Vec::with_capacity(n);
                        for one in batch {
                            each.push(
                                store
                                    .insert_tasks(std::slice::from_ref(&one))
                                    .await
                                    .map(|mut t| t.pop().expect("one task written")),
                            );
                        }
                        each
                    }
                }
            })
            .await
            .unwrap_or_else(|| Err(StoreError::Write("the task writer stopped".into())))
    }

    /// Every task of the batch with its audit entry, all or nothing.
    async fn insert_tasks(&self, batch: &[PendingTask]) -> Result<Vec<Task>> {
        let now = now_ms();
        let ids = match &self.pool {
            crate::Pool::Postgres(p) => insert_tasks_pg(p, batch, now).await?,
            crate::Pool::Sqlite(p) => insert_tasks_one_by_one(p, batch, now).await?,
        };
        Ok(batch
            .iter()
            .zip(ids)
            .map(|(one, id)| Task {
                id,
                created_at: now,
                ..one.task.clone()
            })
            .collect())
    }

    pub async fn task(&self, id: i64) -> Result<Option<Task>> {
        let sql = format!("{SELECT} WHERE t.id = $1");
        if let Some(readers) = &self.readers {
            let row = readers
                .run(move |c| {
                    use rusqlite::OptionalExtension;
                    c.prepare_cached(&sql)?
                        .query_row([id], |r| {
                            Ok(Row {
                                id: r.get(0)?,
                                server_id: r.get(1)?,
                                server_name: r.get(2)?,
                                tenant_id: r.get(3)?,
                                site_id: r.get(4)?,
                                kind: r.get(5)?,
                                params: r.get(6)?,
                                state: r.get(7)?,
                                result: r.get(8)?,
                                error: r.get(9)?,
                                created_by: r.get(10)?,
                                created_at: r.get(11)?,
                                started_at: r.get(12)?,
                                finished_at: r.get(13)?,
                                last_seq: r.get(14)?,
                            })
                        })
                        .optional()
                })
                .await?;
            return Ok(row.map(Task::from));
        }
        let row: Option<Row> =
            on_pool!(self, p => sqlx::query_as(trusted(sql)).bind(id).fetch_optional(p).await?);
        Ok(row.map(Task::from))
    }

    pub async fn task_messages(&self, id: i64) -> Result<Vec<TaskMessage>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT seq, at, message FROM task_messages WHERE task_id = $1 ORDER BY seq")
            .bind(id).fetch_all(p).await?))
    }

    pub async fn list_tasks(&self, f: &TaskFilter) -> Result<Page<Task>> {
        let limit = f.limit.clamp(1, 1000);
        let rows: Vec<Row> = on_pool!(self, p => {
            let mut q = sqlx::QueryBuilder::new(SELECT);
            // Newest first: the cursor walks down the ids.
            q.push(" WHERE t.id < ").push_bind(f.after_id.unwrap_or(i64::MAX));
            if let Some(tenant) = f.tenant_id {
                q.push(" AND t.tenant_id = ").push_bind(tenant);
            }
            if let Some(server) = f.server_id {
                q.push(" AND t.server_id = ").push_bind(server);
            }
            if let Some(state) = f.state {
                q.push(" AND t.state = ").push_bind(state.as_str());
            }
            if let Some(ids) = &f.only_server_ids {
                q.push(" AND t.server_id IN (");
                let mut list = q.separated(", ");
                list.push_bind(-1i64);
                for id in ids {
                    list.push_bind(*id);
                }
                q.push(")");
            }
            q.push(" ORDER BY t.id DESC LIMIT ").push_bind(limit + 1);
            q.build_query_as().fetch_all(p).await?
        });
        Ok(Page::from_rows(
            rows.into_iter().map(Task::from).collect(),
            limit,
            |t| t.id,
        ))
    }

    /// Tasks not yet finished, oldest first: what to hand to agents again
    /// after a controller restart. `only_unpublished` leaves out those a
    /// durable bus already holds.
    pub async fn unfinished_tasks(&self, only_unpublished: bool) -> Result<Vec<Task>> {
        let filter = if only_unpublished {
            " AND t.published_at IS NULL"
        } else {
            ""
        };
        let sql = format!("{SELECT} WHERE t.state IN ('queued', 'running'){filter} ORDER BY t.id");
        let rows: Vec<Row> = on_pool!(self, p => sqlx::query_as(trusted(sql)).fetch_all(p).await?);
        Ok(rows.into_iter().map(Task::from).collect())
    }

    /// Applies an agent's event. Returns the task as it is afterwards, and
    /// whether the event changed anything (false for a redelivered event).
    pub async fn apply_task_event(&self, ev: &TaskEvent) -> Result<(Task, bool)> {
        let changed = self.apply_task_events(std::slice::from_ref(ev)).await?;
        let task = self
            .task(ev.task_id)
            .await?
            .ok_or(StoreError::NotFound("task"))?;
        Ok((task, changed.first().copied().unwrap_or(false)))
    }

    /// Applies agents' task events in one transaction, so a burst costs one
    /// commit. Says per event whether it changed its task: a repeated or
    /// stale event (seq already seen, task finished), one for a task that no
    /// longer exists, or one the state machine refuses changes nothing.
    pub async fn apply_task_events(&self, evs: &[TaskEvent]) -> Result<Vec<bool>> {
        let now = now_ms();
        let mut ids: Vec<i64> = evs.iter().map(|e| e.task_id).collect();
        ids.sort_unstable();
        ids.dedup();
        // One read for the whole batch, then one write per table: on
        // PostgreSQL each statement is a round trip, so the batch's updates
        // go as arrays (unprepared: see "Batch plans" above). The rows are locked
        // so that a cancel in between cannot be overwritten.
        let plan = match &self.pool {
            crate::Pool::Postgres(p) => {
                let mut tx = p.begin().await?;
                let rows: Vec<(i64, String, i64)> = sqlx::query_as(
                    "SELECT id, state, last_seq FROM tasks WHERE id = ANY($1) ORDER BY id FOR UPDATE",
                )
                .persistent(false)
                .bind(&ids)
                .fetch_all(&mut *tx)
                .await?;
                let plan = TaskEventPlan::new(evs, rows);
                let u = &plan.updates;
                sqlx::query(
                    "UPDATE tasks t SET state = u.state, last_seq = u.seq, \
                     result = COALESCE(u.result, t.result), error = COALESCE(u.error, t.error), \
                     started_at = COALESCE(t.started_at, $8), \
                     finished_at = CASE WHEN u.terminal THEN $8 ELSE t.finished_at END \
                     FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::bool[]) \
                       AS u(id, state, seq, result, error, terminal) \
                     WHERE t.id = u.id AND $7",
                )
                .persistent(false)
                .bind(u.iter().map(|u| u.task_id).collect::<Vec<_>>())
                .bind(u.iter().map(|u| u.to.as_str()).collect::<Vec<_>>())
                .bind(u.iter().map(|u| u.seq).collect::<Vec<_>>())
                .bind(u.iter().map(|u| u.result.clone()).collect::<Vec<_>>())
                .bind(u.iter().map(|u| u.error.clone()).collect::<Vec<_>>())
                .bind(u.iter().map(|u| u.to.is_terminal()).collect::<Vec<_>>())
                .bind(!u.is_empty())
                .bind(now)
                .execute(&mut *tx)
                .await?;
                if !plan.messages.is_empty() {
                    let m = &plan.messages;
                    sqlx::query(
                        "INSERT INTO task_messages (task_id, seq, at, message) \
                         SELECT id, seq, $4, message FROM unnest($1::bigint[], $2::bigint[], $3::text[]) AS m(id, seq, message)",
                    )
                    .bind(m.iter().map(|m| m.0).collect::<Vec<_>>())
                    .bind(m.iter().map(|m| m.1).collect::<Vec<_>>())
                    .bind(m.iter().map(|m| m.2.clone()).collect::<Vec<_>>())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                plan
            }
            crate::Pool::Sqlite(p) => {
                let mut tx = p.begin_write().await?;
                let list = (1..=ids.len())
                    .map(|i| format!("${i}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let sql = format!("SELECT id, state, last_seq FROM tasks WHERE id IN ({list})");
                let mut q = sqlx::query_as(trusted(sql));
                for id in &ids {
                    q = q.bind(*id);
                }
                let rows: Vec<(i64, String, i64)> = q.fetch_all(&mut *tx).await?;
                let plan = TaskEventPlan::new(evs, rows);
                for u in &plan.updates {
                    sqlx::query(
                        "UPDATE tasks SET state = $2, last_seq = $3, result = COALESCE($4, result), \
                         error = COALESCE($5, error), \
                         started_at = COALESCE(started_at, $6), \
                         finished_at = CASE WHEN $7 THEN $6 ELSE finished_at END WHERE id = $1",
                    )
                    .bind(u.task_id)
                    .bind(u.to.as_str())
                    .bind(u.seq)
                    .bind(&u.result)
                    .bind(&u.error)
                    .bind(now)
                    .bind(u.to.is_terminal())
                    .execute(&mut *tx)
                    .await?;
                }
                for (task_id, seq, message) in &plan.messages {
                    sqlx::query("INSERT INTO task_messages (task_id, seq, at, message) VALUES ($1, $2, $3, $4)")
                        .bind(task_id)
                        .bind(seq)
                        .bind(now)
                        .bind(message)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                plan
            }
        };
        Ok(plan.changed)
    }

    /// The tasks with these ids that exist, in id order.
    pub async fn tasks_by_ids(&self, ids: &[i64]) -> Result<Vec<Task>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let list = (1..=ids.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!("{SELECT} WHERE t.id IN ({list}) ORDER BY t.id");
        let rows: Vec<Row> = on_pool!(self, p => {
            let mut q = sqlx::query_as(trusted(sql));
            for id in ids {
                q = q.bind(*id);
            }
            q.fetch_all(p).await?
        });
        Ok(rows.into_iter().map(Task::from).collect())
    }

    /// Records that the bus took the task. Concurrent calls share one
    /// transaction (group commit, `ironrack-group`).
    pub async fn mark_task_published(&self, id: i64) -> Result<()> {
        let store = self.clone();
        self.published
            .submit(id, |ids| async move {
                let n = ids.len();
                match store.mark_published(&ids).await {
                    Ok(()) => (0..n).map(|_| Ok(())).collect(),
                    Err(e) => {
                        // Not lost: unmarked tasks are published again at
                        // restart, which the bus tolerates.
                        let detail = e.to_string();
                        (0..n)
                            .map(|_| Err(StoreError::Write(detail.clone())))
                            .collect()
                    }
                }
            })
            .await
            .unwrap_or_else(|| Err(StoreError::Write("the task writer stopped".into())))
    }

    async fn mark_published(&self, ids: &[i64]) -> Result<()> {
        let now = now_ms();
        match &self.pool {
            crate::Pool::Postgres(p) => {
                // Rows are locked in id order, as `apply_task_events` locks
                // them: in scan order (physical, which updates shuffle) two
                // batches could each hold a row the other waits for, a
                // deadlock PostgreSQL breaks only after deadlock_timeout
                // (1 s), failing one batch. Unprepared: see "Batch plans".
                sqlx::query(
                    "WITH locked AS (SELECT id FROM tasks WHERE id = ANY($1) AND published_at IS NULL \
                     ORDER BY id FOR UPDATE) \
                     UPDATE tasks t SET published_at = $2 FROM locked WHERE t.id = locked.id",
                )
                    .persistent(false)
                    .bind(ids)
                    .bind(now)
                    .execute(p)
                    .await?;
            }
            crate::Pool::Sqlite(p) => {
                let mut tx = p.begin_write().await?;
                for id in ids {
                    sqlx::query(
                        "UPDATE tasks SET published_at = $2 WHERE id = $1 AND published_at IS NULL",
                    )
                    .bind(id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// Cancels a task that has not finished; agents skip cancelled tasks.
    pub async fn cancel_task(&self, id: i64) -> Result<Task> {
        let now = now_ms();
        let task = self.task(id).await?.ok_or(StoreError::NotFound("task"))?;
        task.state.transition(TaskState::Cancelled)?;
        on_pool!(self, p => sqlx::query(
            "UPDATE tasks SET state = 'cancelled', finished_at = $2, last_seq = last_seq + 1 \
             WHERE id = $1 AND state IN ('queued', 'running')")
            .bind(id).bind(now).execute(p).await.map(|_| ())?);
        self.task(id).await?.ok_or(StoreError::NotFound("task"))
    }
}

/// SQLite: one transaction, a statement pair per task (SQLite runs them
/// in-process, so there is no round trip to save).
async fn insert_tasks_one_by_one(
    p: &sqlx::SqlitePool,
    batch: &[PendingTask],
    now: i64,
) -> Result<Vec<i64>> {
    let mut tx = p.begin_write().await?;
    let mut ids = Vec::with_capacity(batch.len());
    for one in batch {
        let t = &one.task;
        let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO tasks (server_id, tenant_id, site_id, kind, params, state, created_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5, 'queued', $6, $7) RETURNING id")
                .bind(t.server_id).bind(t.tenant_id).bind(t.site_id).bind(&t.kind).bind(&one.params)
                .bind(t.created_by).bind(now)
                .fetch_one(&mut *tx).await
                .map_err(|e| StoreError::from_write(e, "task"))?;
        let a = &one.audit;
        let audit = NewAudit {
            user_id: a.user_id,
            username: &a.username,
            tenant_id: a.tenant_id,
            action: &a.action,
            object_type: &a.object_type,
            object_id: Some(format!("task:{id}")),
            source: &a.source,
            result: &a.result,
            detail: a.detail.clone(),
        };
        insert_audit!(audit, now).execute(&mut *tx).await?;
        ids.push(id);
    }
    tx.commit().await?;
    Ok(ids)
}

/// PostgreSQL: the whole batch in one statement. Ids are drawn from the
/// tasks' sequence first so that each audit entry can name its task.
async fn insert_tasks_pg(p: &sqlx::PgPool, batch: &[PendingTask], now: i64) -> Result<Vec<i64>> {
    let col = |f: fn(&PendingTask) -> Option<i64>| batch.iter().map(f).collect::<Vec<_>>();
    let text =
        |f: fn(&PendingTask) -> &str| batch.iter().map(|t| f(t).to_owned()).collect::<Vec<_>>();
    let ids: Vec<(i64,)> = sqlx::query_as(
        "WITH input AS ( \
           SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::bigint[], \
                                $7::bigint[], $8::text[], $9::bigint[], $10::text[], $11::text[], $12::text[], \
                                $13::text[], $14::text[]) WITH ORDINALITY \
             AS i(server_id, tenant_id, site_id, kind, params, created_by, \
                  a_user, a_username, a_tenant, a_action, a_object_type, a_source, a_result, a_detail, ord)), \
         ids AS MATERIALIZED ( \
           SELECT ord, nextval(pg_get_serial_sequence('tasks', 'id')) AS id FROM input ORDER BY ord), \
         t AS (INSERT INTO tasks (id, server_id, tenant_id, site_id, kind, params, state, created_by, created_at) \
           SELECT ids.id, i.server_id, i.tenant_id, i.site_id, i.kind, i.params, 'queued', i.created_by, $15 \
           FROM input i JOIN ids USING (ord)), \
         a AS (INSERT INTO audit (at, user_id, username, tenant_id, action, object_type, object_id, source, result, detail) \
           SELECT $15, i.a_user, i.a_username, i.a_tenant, i.a_action, i.a_object_type, 'task:' || ids.id, \
                  i.a_source, i.a_result, i.a_detail \
           FROM input i JOIN ids USING (ord) ORDER BY ord) \
         SELECT id FROM ids ORDER BY ord",
    )
    .bind(col(|t| Some(t.task.server_id)))
    .bind(col(|t| t.task.tenant_id))
    .bind(col(|t| Some(t.task.site_id)))
    .bind(text(|t| &t.task.kind))
    .bind(text(|t| &t.params))
    .bind(col(|t| t.task.created_by))
    .bind(col(|t| t.audit.user_id))
    .bind(text(|t| &t.audit.username))
    .bind(col(|t| t.audit.tenant_id))
    .bind(text(|t| &t.audit.action))
    .bind(text(|t| &t.audit.object_type))
    .bind(text(|t| &t.audit.source))
    .bind(text(|t| &t.audit.result))
    .bind(batch.iter().map(|t| t.audit.detail.clone()).collect::<Vec<_>>())
    .bind(now)
    .fetch_all(p)
    .await
    .map_err(|e| StoreError::from_write(e, "task"))?;
    Ok(ids.into_iter().map(|(id,)| id).collect())
}

/// What a batch of task events does to the tasks it names, worked out in
/// memory from their current states: per event whether it changes its
/// task, the last state each task reaches, and the progress messages.
struct TaskEventPlan {
    changed: Vec<bool>,
    /// One per changed task, in the order tasks first changed.
    updates: Vec<TaskUpdate>,
    /// (task, seq, message) of every applied progress event.
    messages: Vec<(i64, i64, String)>,
}

struct TaskUpdate {
    task_id: i64,
    to: TaskState,
    seq: i64,
    result: Option<String>,
    error: Option<String>,
}

impl TaskEventPlan {
    fn new(evs: &[TaskEvent], rows: Vec<(i64, String, i64)>) -> TaskEventPlan {
        // `current` follows the batch's own changes (a start and a result
        // of one task).
        let mut current: std::collections::HashMap<i64, (TaskState, i64, Option<usize>)> = rows
            .into_iter()
            .map(|(id, state, seq)| {
                (
                    id,
                    (
                        TaskState::parse(&state).unwrap_or(TaskState::Failed),
                        seq,
                        None,
                    ),
                )
            })
            .collect();
        let mut plan = TaskEventPlan {
            changed: Vec::with_capacity(evs.len()),
            updates: Vec::new(),
            messages: Vec::new(),
        };
        for ev in evs {
            let Some(&mut (state, last_seq, ref mut slot)) = current.get_mut(&ev.task_id) else {
                plan.changed.push(false);
                continue;
            };
            if ev.seq <= last_seq || state.is_terminal() {
                plan.changed.push(false);
                continue;
            }
            let (to, result, error) = match &ev.what {
                TaskEventKind::Started | TaskEventKind::Progress { .. } => {
                    (TaskState::Running, None, None)
                }
                TaskEventKind::Succeeded { result } => {
                    (TaskState::Succeeded, Some(result.to_string()), None)
                }
                TaskEventKind::Failed { error } => (TaskState::Failed, None, Some(error.clone())),
            };
            // A result may arrive for a task that never reported its
            // start: agents skip "started" for quick tasks, and a failure
            // can come before any start (e.g. no driver). A result
            // implies the start; everything else follows the state machine.
            let to = match state.transition(to).or_else(|e| {
                if state == TaskState::Queued && to.is_terminal() {
                    TaskState::Running.transition(to)
                } else {
                    Err(e)
                }
            }) {
                Ok(to) => to,
                Err(e) => {
                    tracing::warn!(task = ev.task_id, seq = ev.seq, error = %e, "task event ignored");
                    plan.changed.push(false);
                    continue;
                }
            };
            let index = *slot.get_or_insert_with(|| {
                plan.updates.push(TaskUpdate {
                    task_id: ev.task_id,
                    to,
                    seq: ev.seq,
                    result: None,
                    error: None,
                });
                plan.updates.len() - 1
            });
            let update = &mut plan.updates[index];
            update.to = to;
            update.seq = ev.seq;
            update.result = result.or(update.result.take());
            update.error = error.or(update.error.take());
            if let Some(entry) = current.get_mut(&ev.task_id) {
                entry.0 = to;
                entry.1 = ev.seq;
            }
            if let TaskEventKind::Progress { message } = &ev.what {
                plan.messages.push((ev.task_id, ev.seq, message.clone()));
            }
            plan.changed.push(true);
        }
        plan
    }
}
