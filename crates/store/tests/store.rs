//! The store's behaviour, checked on SQLite and on PostgreSQL alike.

use ironrack_core::{
    PowerState, Role, SEL_KEEP, SelEntry, SensorReading, SensorStatus, TaskEvent, TaskEventKind,
    TaskState,
};
use ironrack_store::testing::{fresh_postgres_url, fresh_sqlite_url};
use ironrack_store::*;

async fn open(url: &str) -> Store {
    Store::connect(url, SecretBox::from_key(&[42; 32]))
        .await
        .unwrap_or_else(|e| panic!("connect {url}: {e}"))
}

/// Runs one scenario against both backends.
macro_rules! both {
    ($name:ident, $scenario:ident) => {
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$scenario(super::open(&super::fresh_sqlite_url()).await).await;
            }
            #[tokio::test]
            async fn postgres() {
                super::$scenario(super::open(&super::fresh_postgres_url().await).await).await;
            }
        }
    };
}

both!(tenants_sites_and_duplicates, tenants_sites_and_duplicates);
both!(
    servers_paginate_filter_and_hide_passwords,
    servers_paginate_filter_and_hide_passwords
);
both!(
    tasks_follow_the_state_machine_idempotently,
    tasks_follow_the_state_machine_idempotently
);
both!(
    concurrent_tasks_share_writes_but_keep_their_own_rows,
    concurrent_tasks_share_writes_but_keep_their_own_rows
);
both!(tokens_and_users, tokens_and_users);
both!(
    sensors_and_sel_replace_their_set,
    sensors_and_sel_replace_their_set
);

fn audit<'a>(action: &'a str) -> NewAudit<'a> {
    NewAudit {
        user_id: None,
        username: "test",
        tenant_id: None,
        action,
        object_type: "server",
        object_id: None,
        source: "127.0.0.1",
        result: "accepted",
        detail: None,
    }
}

async fn site_and_server(store: &Store, name: &str, tenant: Option<i64>) -> Server {
    let site = match store.site_by_name("ams1").await.unwrap() {
        Some(s) => s,
        None => store.create_site("ams1", "Amsterdam").await.unwrap(),
    };
    store
        .create_server(NewServer {
            name,
            site_id: site.id,
            tenant_id: tenant,
            macs: &["52:54:00:00:00:01".to_owned()],
            bmc_driver: "fake",
            bmc_address: "10.0.0.1",
            bmc_port: 623,
            bmc_username: "ADMIN",
            bmc_password: Some("s3cret-bmc-pass"),
            bmc_options: &serde_json::json!({}),
        })
        .await
        .unwrap()
}

async fn tenants_sites_and_duplicates(store: Store) {
    let t = store.create_tenant("acme").await.unwrap();
    assert!(matches!(
        store.create_tenant("acme").await,
        Err(StoreError::Duplicate("tenant"))
    ));
    assert_eq!(
        store.tenant_by_name("acme").await.unwrap().unwrap().id,
        t.id
    );
    let s = store.create_site("fra1", "Frankfurt").await.unwrap();
    assert!(matches!(
        store.create_site("fra1", "").await,
        Err(StoreError::Duplicate("site"))
    ));
    // The agent key: absent, registered, replaced; heartbeats keep the
    // fingerprint each agent reports.
    assert_eq!(s.agent_key, None);
    let k = store.set_site_agent_key(s.id, "key-one").await.unwrap();
    assert_eq!(k.agent_key.as_deref(), Some("key-one"));
    assert!(k.agent_key_set_at.is_some());
    store.set_site_agent_key(s.id, "key-two").await.unwrap();
    let again = store.site_by_name("fra1").await.unwrap().unwrap();
    assert_eq!(again.agent_key.as_deref(), Some("key-two"));
    assert!(matches!(
        store.set_site_agent_key(s.id + 1000, "k").await,
        Err(StoreError::NotFound("site"))
    ));
    store
        .agent_heartbeat("fra1", "a1", "0.1.0", Some("fp1"))
        .await
        .unwrap();
    store
        .agent_heartbeat("fra1", "a2", "0.1.0", None)
        .await
        .unwrap();
    store
        .agent_heartbeat("fra1", "a1", "0.1.1", Some("fp2"))
        .await
        .unwrap();
    let agents = store.agents().await.unwrap();
    let fps: Vec<_> = agents
        .iter()
        .map(|a| (a.name.as_str(), a.key_fingerprint.as_deref()))
        .collect();
    assert_eq!(fps, vec![("a1", Some("fp2")), ("a2", None)]);
    let server = site_and_server(&store, "web1", Some(t.id)).await;
    assert_ne!(server.site_id, s.id);
    // A tenant or site still in use cannot go away.
    assert!(matches!(
        store.delete_tenant(t.id).await,
        Err(StoreError::InUse("tenant"))
    ));
    assert!(matches!(
        store.delete_site(server.site_id).await,
        Err(StoreError::InUse("site"))
    ));
    store.delete_site(s.id).await.unwrap();
    assert!(matches!(
        store.delete_site(s.id).await,
        Err(StoreError::NotFound("site"))
    ));
}

async fn servers_paginate_filter_and_hide_passwords(store: Store) {
    let acme = store.create_tenant("acme").await.unwrap();
    for i in 0..25 {
        let tenant = if i % 2 == 0 { Some(acme.id) } else { None };
        site_and_server(&store, &format!("node{i:02}"), tenant).await;
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .list_servers(&ServerFilter {
                after_id: cursor,
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        seen.extend(page.items.iter().map(|s| s.name.clone()));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen.len(), 25);
    assert_eq!(seen.first().unwrap(), "node00");

    let acme_only = store
        .list_servers(&ServerFilter {
            tenant_id: Some(acme.id),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(acme_only.items.len(), 13);
    assert!(
        acme_only
            .items
            .iter()
            .all(|s| s.tenant_name.as_deref() == Some("acme"))
    );

    let prefixed = store
        .list_servers(&ServerFilter {
            name_prefix: Some("node1".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(prefixed.items.len(), 10);

    let first = &acme_only.items[0];
    let restricted = store
        .list_servers(&ServerFilter {
            only_ids: Some(vec![first.id]),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(restricted.items.len(), 1);
    let none = store
        .list_servers(&ServerFilter {
            only_ids: Some(vec![]),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(none.items.is_empty());

    assert!(first.bmc.has_password);
    assert_eq!(
        store
            .bmc_password(first.id)
            .await
            .unwrap()
            .unwrap()
            .as_str(),
        "s3cret-bmc-pass"
    );
    let updated = store
        .update_server(
            first.id,
            ServerUpdate {
                bmc_password: Some(Some("n3w".into())),
                tenant_id: Some(None),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.tenant_id, None);
    assert_eq!(
        store
            .bmc_password(first.id)
            .await
            .unwrap()
            .unwrap()
            .as_str(),
        "n3w"
    );

    store
        .set_power_state(first.id, PowerState::On)
        .await
        .unwrap();
    assert_eq!(
        store.server(first.id).await.unwrap().unwrap().power_state,
        PowerState::On
    );
    assert!(matches!(
        site_and_server_dup(&store).await,
        Err(StoreError::Duplicate("server"))
    ));
}

async fn site_and_server_dup(store: &Store) -> Result<Server> {
    let site = store.site_by_name("ams1").await.unwrap().unwrap();
    store
        .create_server(NewServer {
            name: "node00",
            site_id: site.id,
            tenant_id: None,
            macs: &[],
            bmc_driver: "fake",
            bmc_address: "10.0.0.1",
            bmc_port: 623,
            bmc_username: "",
            bmc_password: None,
            bmc_options: &serde_json::json!({}),
        })
        .await
}

/// A queued power task on `server`, with its audit entry.
async fn power_task(
    store: &Store,
    server: &ironrack_store::Server,
    params: &serde_json::Value,
    action: &str,
) -> ironrack_store::Task {
    store
        .create_task(
            NewTask {
                server_id: server.id,
                server_name: &server.name,
                tenant_id: None,
                site_id: server.site_id,
                kind: "power",
                params,
                created_by: None,
            },
            audit(action),
        )
        .await
        .unwrap()
}

async fn tasks_follow_the_state_machine_idempotently(store: Store) {
    let server = site_and_server(&store, "db1", None).await;
    let params = serde_json::json!({"action": "cycle"});
    let task = power_task(&store, &server, &params, "power.cycle").await;
    assert_eq!(task.state, TaskState::Queued);
    let entries = store.list_audit(None, None, 10).await.unwrap();
    assert_eq!(
        entries.items[0].object_id.as_deref(),
        Some(&*format!("task:{}", task.id))
    );

    let ev = |seq, what| TaskEvent {
        task_id: task.id,
        seq,
        what,
    };
    let (t, changed) = store
        .apply_task_event(&ev(1, TaskEventKind::Started))
        .await
        .unwrap();
    assert!(changed);
    assert_eq!(t.state, TaskState::Running);
    store
        .apply_task_event(&ev(
            2,
            TaskEventKind::Progress {
                message: "power off".into(),
            },
        ))
        .await
        .unwrap();
    // A redelivered event changes nothing.
    let (_, changed) = store
        .apply_task_event(&ev(
            2,
            TaskEventKind::Progress {
                message: "power off".into(),
            },
        ))
        .await
        .unwrap();
    assert!(!changed);
    let (t, _) = store
        .apply_task_event(&ev(
            3,
            TaskEventKind::Succeeded {
                result: serde_json::json!({"power": "on"}),
            },
        ))
        .await
        .unwrap();
    assert_eq!(t.state, TaskState::Succeeded);
    assert!(t.finished_at.is_some());
    assert_eq!(t.result.unwrap()["power"], "on");
    let (t, changed) = store
        .apply_task_event(&ev(
            4,
            TaskEventKind::Failed {
                error: "late".into(),
            },
        ))
        .await
        .unwrap();
    assert!(!changed, "terminal tasks stay as they ended");
    assert_eq!(t.state, TaskState::Succeeded);
    let msgs = store.task_messages(task.id).await.unwrap();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].message, "power off");

    let second = power_task(&store, &server, &params, "power.cycle").await;
    assert_eq!(store.unfinished_tasks(false).await.unwrap().len(), 1);
    store.mark_task_published(second.id).await.unwrap();
    assert!(store.unfinished_tasks(true).await.unwrap().is_empty());
    assert_eq!(
        store.cancel_task(second.id).await.unwrap().state,
        TaskState::Cancelled
    );
    assert!(matches!(
        store.cancel_task(second.id).await,
        Err(StoreError::Transition(_))
    ));
    // A quick task's agent reports only the result: it implies the start.
    let quick = power_task(&store, &server, &params, "power.status").await;
    let (t, changed) = store
        .apply_task_event(&TaskEvent {
            task_id: quick.id,
            seq: 2,
            what: TaskEventKind::Succeeded {
                result: serde_json::json!({"power": "off"}),
            },
        })
        .await
        .unwrap();
    assert!(changed);
    assert_eq!(t.state, TaskState::Succeeded);
    assert!(t.started_at.is_some() && t.finished_at.is_some());

    // A batch with a task's start, its result and a redelivery of the
    // result: each judged against the state the batch itself left.
    let batched = power_task(&store, &server, &params, "power.status").await;
    let ev = |seq, what| TaskEvent {
        task_id: batched.id,
        seq,
        what,
    };
    let done = TaskEventKind::Succeeded {
        result: serde_json::json!({"power": "on"}),
    };
    let missing = TaskEvent {
        task_id: batched.id + 1000,
        seq: 1,
        what: TaskEventKind::Started,
    };
    let changed = store
        .apply_task_events(&[
            ev(1, TaskEventKind::Started),
            missing,
            ev(2, done.clone()),
            ev(2, done),
        ])
        .await
        .unwrap();
    assert_eq!(changed, [true, false, true, false]);
    let t = store.task(batched.id).await.unwrap().unwrap();
    assert_eq!((t.state, t.last_seq), (TaskState::Succeeded, 2));
    let page = store
        .list_tasks(&TaskFilter {
            server_id: Some(server.id),
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.items[0].id, batched.id, "newest first");
    assert!(page.next_cursor.is_some());
}

/// Tasks created, marked and finished by many callers at once go in
/// shared writes (group commit; one statement per batch on PostgreSQL):
/// each caller still gets its own task, and each audit entry names it.
async fn concurrent_tasks_share_writes_but_keep_their_own_rows(store: Store) {
    let server = site_and_server(&store, "db1", None).await;
    let n = 40;
    let mut callers = Vec::new();
    for i in 0..n {
        let (store, server) = (store.clone(), server.clone());
        callers.push(tokio::spawn(async move {
            let params = serde_json::json!({ "action": "status", "n": i });
            let action = format!("power.n{i}");
            let mut entry = audit(&action);
            entry.detail = Some(format!("caller {i}"));
            let task = store
                .create_task(
                    NewTask {
                        server_id: server.id,
                        server_name: &server.name,
                        tenant_id: Some(7),
                        site_id: server.site_id,
                        kind: "power",
                        params: &params,
                        created_by: None,
                    },
                    entry,
                )
                .await
                .unwrap();
            (i, task)
        }));
    }
    let mut tasks = Vec::new();
    for c in callers {
        tasks.push(c.await.unwrap());
    }
    let mut ids: Vec<i64> = tasks.iter().map(|(_, t)| t.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), n, "every caller got its own task");
    for (i, task) in &tasks {
        let stored = store.task(task.id).await.unwrap().unwrap();
        assert_eq!(
            stored.params["n"], *i,
            "task {} holds its caller's params",
            task.id
        );
        assert_eq!(stored.tenant_id, Some(7));
        assert_eq!(stored.state, TaskState::Queued);
    }
    let log = store.list_audit(None, None, 1000).await.unwrap().items;
    for (i, task) in &tasks {
        let entry = log
            .iter()
            .find(|e| e.action == format!("power.n{i}"))
            .unwrap_or_else(|| panic!("no audit entry for caller {i}"));
        assert_eq!(
            entry.object_id.as_deref(),
            Some(&*format!("task:{}", task.id))
        );
        assert_eq!(entry.detail.as_deref(), Some(&*format!("caller {i}")));
    }

    assert_eq!(store.unfinished_tasks(true).await.unwrap().len(), n);
    let marks: Vec<_> = ids
        .iter()
        .map(|&id| {
            let store = store.clone();
            tokio::spawn(async move { store.mark_task_published(id).await })
        })
        .collect();
    for m in marks {
        m.await.unwrap().unwrap();
    }
    assert!(store.unfinished_tasks(true).await.unwrap().is_empty());
    assert_eq!(store.unfinished_tasks(false).await.unwrap().len(), n);

    // One batch finishes them all; even ones report progress first.
    let mut events = Vec::new();
    for (i, task) in &tasks {
        if i % 2 == 0 {
            events.push(TaskEvent {
                task_id: task.id,
                seq: 1,
                what: TaskEventKind::Progress {
                    message: format!("step of {i}"),
                },
            });
        }
        events.push(TaskEvent {
            task_id: task.id,
            seq: 2,
            what: TaskEventKind::Succeeded {
                result: serde_json::json!({ "power": "on", "n": i }),
            },
        });
    }
    let changed = store.apply_task_events(&events).await.unwrap();
    assert!(changed.iter().all(|c| *c));
    for (i, task) in &tasks {
        let t = store.task(task.id).await.unwrap().unwrap();
        assert_eq!((t.state, t.last_seq), (TaskState::Succeeded, 2));
        assert_eq!(t.result.unwrap()["n"], *i);
        assert!(t.started_at.is_some() && t.finished_at.is_some());
        let messages = store.task_messages(task.id).await.unwrap();
        if i % 2 == 0 {
            assert_eq!(messages.len(), 1);
            assert_eq!(messages[0].message, format!("step of {i}"));
        } else {
            assert!(messages.is_empty());
        }
    }
    assert!(store.unfinished_tasks(false).await.unwrap().is_empty());

    // Power observations of a batch: the last one per server counts.
    let other = site_and_server(&store, "db2", None).await;
    store
        .set_power_states(&[
            (server.id, PowerState::On),
            (other.id, PowerState::Off),
            (server.id, PowerState::Off),
        ])
        .await
        .unwrap();
    for id in [server.id, other.id] {
        let s = store.server(id).await.unwrap().unwrap();
        assert_eq!(s.power_state, PowerState::Off);
        assert!(s.power_observed_at.is_some());
    }
}

async fn tokens_and_users(store: Store) {
    let acme = store.create_tenant("acme").await.unwrap();
    let u = store
        .create_user(NewUser {
            username: "alice",
            password_hash: "h",
            role: Role::Customer,
            tenant_id: Some(acme.id),
        })
        .await
        .unwrap();
    assert_eq!(u.tenant_name.as_deref(), Some("acme"));
    assert_eq!(store.count_users().await.unwrap(), 1);
    assert!(matches!(
        store
            .create_user(NewUser {
                username: "alice",
                password_hash: "h",
                role: Role::Admin,
                tenant_id: None
            })
            .await,
        Err(StoreError::Duplicate("user"))
    ));
    let hash = [9u8; 32];
    let tok = store
        .create_token(NewToken {
            user_id: u.id,
            kind: TokenKind::Api,
            name: "ci",
            hash: &hash,
            server_ids: Some(&[5, 6]),
            expires_at: None,
        })
        .await
        .unwrap();
    let (found, user) = store.token_by_hash(&hash).await.unwrap().unwrap();
    assert_eq!(found.id, tok.id);
    assert_eq!(found.server_ids, Some(vec![5, 6]));
    assert_eq!(user.username, "alice");
    // Answers are remembered, but this store's own changes show at once.
    store.set_pin_hash(u.id, "new-pin-hash").await.unwrap();
    let (_, user) = store.token_by_hash(&hash).await.unwrap().unwrap();
    assert_eq!(user.pin_hash.as_deref(), Some("new-pin-hash"));
    // Expired tokens do not authenticate.
    let old = [1u8; 32];
    store
        .create_token(NewToken {
            user_id: u.id,
            kind: TokenKind::Session,
            name: "s",
            hash: &old,
            server_ids: None,
            expires_at: Some(1),
        })
        .await
        .unwrap();
    assert!(store.token_by_hash(&old).await.unwrap().is_none());
    // Disabled users neither.
    store
        .update_user(
            u.id,
            UserUpdate {
                disabled: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(store.token_by_hash(&hash).await.unwrap().is_none());
    assert!(matches!(
        store.revoke_token(u.id + 1, tok.id).await,
        Err(StoreError::NotFound("token"))
    ));
    store.revoke_token(u.id, tok.id).await.unwrap();
    assert!(
        store
            .list_tokens(u.id, TokenKind::Api)
            .await
            .unwrap()
            .is_empty()
    );
    let u = store
        .update_user(
            u.id,
            UserUpdate {
                tenant_id: Some(None),
                role: Some(Role::Operator),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!((u.role, u.tenant_id), (Role::Operator, None));
}

fn reading(name: &str, value: Option<f64>, status: SensorStatus) -> SensorReading {
    SensorReading {
        name: name.into(),
        sensor_type: "Temperature".into(),
        reading: value,
        unit: value.map(|_| "degrees C".into()),
        status,
    }
}

async fn sensors_and_sel_replace_their_set(store: Store) {
    let s = site_and_server(&store, "sensor-box", None).await;
    let other = site_and_server(&store, "other-box", None).await;
    let never = store.sensors(s.id).await.unwrap();
    assert_eq!((never.read_at, never.items.len()), (None, 0));

    let first = vec![
        reading("CPU Temp", Some(40.5), SensorStatus::Ok),
        reading("Inlet", Some(91.0), SensorStatus::Critical),
        reading("PSU1", None, SensorStatus::Unavailable),
    ];
    assert!(store.replace_sensors(s.id, 1_000, &first).await.unwrap());
    let got = store.sensors(s.id).await.unwrap();
    assert_eq!(got.read_at, Some(1_000));
    assert_eq!(got.items, first, "kept in the BMC's order, values intact");
    assert!(store.sensors(other.id).await.unwrap().items.is_empty());

    // A refresh replaces the set: a sensor that disappeared goes, a name
    // given twice keeps the later reading.
    let second = vec![
        reading("Inlet", Some(30.0), SensorStatus::Ok),
        reading("Inlet", Some(31.0), SensorStatus::Warning),
    ];
    assert!(store.replace_sensors(s.id, 2_000, &second).await.unwrap());
    let got = store.sensors(s.id).await.unwrap();
    assert_eq!(got.read_at, Some(2_000));
    assert_eq!(got.items, vec![second[1].clone()]);

    // An older set arriving late changes nothing; nor does one for a
    // server that is gone.
    assert!(!store.replace_sensors(s.id, 1_500, &first).await.unwrap());
    assert_eq!(
        store.sensors(s.id).await.unwrap().items,
        vec![second[1].clone()]
    );
    assert!(!store.replace_sensors(999_999, 3_000, &first).await.unwrap());

    // SEL: bounded to the newest SEL_KEEP entries, an empty (cleared) log
    // still has its time.
    let many: Vec<SelEntry> = (1..=(SEL_KEEP as i64 + 5))
        .map(|id| SelEntry {
            id,
            at: (id % 2 == 0).then_some(id * 1000),
            text: format!("event {id}"),
        })
        .collect();
    assert!(store.replace_sel(s.id, 5_000, &many).await.unwrap());
    let got = store.sel(s.id).await.unwrap();
    assert_eq!(got.read_at, Some(5_000));
    assert_eq!(got.items.len(), SEL_KEEP);
    assert_eq!(got.items[0], many[5], "the oldest five were dropped");
    assert_eq!(got.items.last(), many.last());
    assert!(store.replace_sel(s.id, 6_000, &[]).await.unwrap());
    let got = store.sel(s.id).await.unwrap();
    assert_eq!((got.read_at, got.items.len()), (Some(6_000), 0));

    // Deleting the server deletes what was read from it.
    store.delete_server(s.id).await.unwrap();
    let gone = store.sensors(s.id).await.unwrap();
    assert_eq!((gone.read_at, gone.items.len()), (None, 0));
}

/// Two controllers on one PostgreSQL database: what one remembers of a
/// server for its tasks follows changes made by the other, by psql, and by
/// itself, also after its change listener lost its connection.
#[tokio::test]
async fn remembered_servers_follow_changes_made_anywhere() {
    use sqlx::Connection;
    let url = fresh_postgres_url().await;
    let a = open(&url).await;
    let b = open(&url).await;
    let mut psql = sqlx::PgConnection::connect(&url).await.unwrap();
    let server = site_and_server(&a, "cached-1", None).await;
    let address = |s: Option<Server>| s.expect("server").bmc.address;
    // Polls `a` until its task view of the server shows `want` (5 s at most).
    let sees = |want: &'static str| {
        let a = a.clone();
        async move {
            for _ in 0..100 {
                if address(a.server_for_task(server.id).await.unwrap()) == want {
                    return true;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            false
        }
    };
    // The listener connects in the background; until then nothing is kept.
    // Kept means: the database's power state changes, the task view's not.
    let kept = async {
        for _ in 0..200 {
            let before = a.server_for_task(server.id).await.unwrap().unwrap();
            let other = if before.power_state == PowerState::On {
                "off"
            } else {
                "on"
            };
            sqlx::query("UPDATE servers SET power_state = $2 WHERE id = $1")
                .bind(server.id)
                .bind(other)
                .execute(&mut psql)
                .await
                .unwrap();
            let after = a.server_for_task(server.id).await.unwrap().unwrap();
            if after.power_state == before.power_state {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        false
    };
    assert!(
        kept.await,
        "a power observation is no change for the task path: the row stays remembered"
    );
    assert_ne!(
        a.server(server.id).await.unwrap().unwrap().power_state,
        a.server_for_task(server.id)
            .await
            .unwrap()
            .unwrap()
            .power_state,
        "the plain read is always the database's"
    );

    // Another controller changes the BMC address.
    b.update_server(
        server.id,
        ServerUpdate {
            bmc_address: Some("10.0.0.2".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(sees("10.0.0.2").await, "a change by another controller");

    // psql changes it.
    sqlx::query("UPDATE servers SET bmc_address = '10.0.0.3' WHERE id = $1")
        .bind(server.id)
        .execute(&mut psql)
        .await
        .unwrap();
    assert!(sees("10.0.0.3").await, "a change made outside ironrack");

    // This controller changes it: seen at once, not after a notification.
    a.update_server(
        server.id,
        ServerUpdate {
            bmc_address: Some("10.0.0.4".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        address(a.server_for_task(server.id).await.unwrap()),
        "10.0.0.4"
    );

    // The listener's connection dies; a change made meanwhile is not heard,
    // yet must not be missed.
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE 'LISTEN%'",
    )
    .execute(&mut psql)
    .await
    .unwrap();
    sqlx::query("UPDATE servers SET bmc_address = '10.0.0.5' WHERE id = $1")
        .bind(server.id)
        .execute(&mut psql)
        .await
        .unwrap();
    assert!(
        sees("10.0.0.5").await,
        "a change while the listener was away"
    );
    // Back to listening: changes are heard again.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    sqlx::query("UPDATE servers SET bmc_address = '10.0.0.6' WHERE id = $1")
        .bind(server.id)
        .execute(&mut psql)
        .await
        .unwrap();
    assert!(
        sees("10.0.0.6").await,
        "a change after the listener came back"
    );

    // Deleted by the other controller: gone for this one too.
    b.delete_server(server.id).await.unwrap();
    let mut gone = false;
    for _ in 0..100 {
        if a.server_for_task(server.id).await.unwrap().is_none() {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(gone, "a server deleted elsewhere");
}

/// A token revoked through one controller stops authenticating on another
/// at once, not after `CALLER_FRESH`; so does a user's change.
#[tokio::test]
async fn a_revocation_reaches_every_controller_at_once() {
    let url = fresh_postgres_url().await;
    let a = open(&url).await;
    let b = open(&url).await;
    let u = a
        .create_user(NewUser {
            username: "bob",
            password_hash: "h",
            role: Role::Operator,
            tenant_id: None,
        })
        .await
        .unwrap();
    let hash = [7u8; 32];
    let tok = a
        .create_token(NewToken {
            user_id: u.id,
            kind: TokenKind::Api,
            name: "ci",
            hash: &hash,
            server_ids: None,
            expires_at: None,
        })
        .await
        .unwrap();
    // Polls `a` for up to half of CALLER_FRESH: only a notification can
    // make it see the change that soon.
    let within = CALLER_FRESH / 2;
    let a_sees = |check: fn(Option<(TokenRow, User)>) -> bool| {
        let a = a.clone();
        async move {
            let start = std::time::Instant::now();
            while start.elapsed() < within {
                if check(a.token_by_hash(&hash).await.unwrap()) {
                    return true;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            false
        }
    };
    // Wait for the listener (a's cache is emptied when it connects), then
    // have the token remembered.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(a.token_by_hash(&hash).await.unwrap().is_some());

    b.set_pin_hash(u.id, "pin-set-elsewhere").await.unwrap();
    assert!(
        a_sees(|t| t.is_some_and(|(_, u)| u.pin_hash.as_deref() == Some("pin-set-elsewhere")))
            .await,
        "a user changed through another controller"
    );
    b.revoke_token(u.id, tok.id).await.unwrap();
    assert!(
        a_sees(|t| t.is_none()).await,
        "a token revoked through another controller"
    );
}
