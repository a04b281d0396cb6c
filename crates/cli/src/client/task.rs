//! `ironrack task list|show|wait`, and waiting for a task to finish.

use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Subcommand;
use serde_json::Value;

use super::Ctx;
use super::api::ApiClient;
use super::output::{cell, fields, print_json};
use super::resource::{PageArgs, Resource, query};
use super::server::SERVERS;

pub const TASKS: Resource = Resource {
    path: "/tasks",
    noun: "task",
    name_key: "id",
    name_filter: None,
    columns: &[
        ("ID", "id"),
        ("SERVER", "server"),
        ("KIND", "kind"),
        ("PARAMS", "params"),
        ("STATE", "state"),
        ("RESULT", "result"),
        ("CREATED", "created_at"),
        ("FINISHED", "finished_at"),
    ],
};

const TASK_FIELDS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("Server", "server"),
    ("Server ID", "server_id"),
    ("Kind", "kind"),
    ("Params", "params"),
    ("State", "state"),
    ("Result", "result"),
    ("Error", "error"),
    ("Created", "created_at"),
    ("Started", "started_at"),
    ("Finished", "finished_at"),
];

/// How long `--wait` waits by default.
pub const DEFAULT_WAIT: &str = "5m";

#[derive(Subcommand)]
pub enum TaskCommand {
    /// List tasks, newest first
    #[command(visible_alias = "ls")]
    List {
        /// Only the tasks of this server
        #[arg(long, value_name = "ID|NAME")]
        server: Option<String>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show a task and its messages
    Show { id: i64 },
    /// Wait until a task ends; fails unless it succeeded
    Wait {
        id: i64,
        /// Give up after this long (e.g. 30s, 2m)
        #[arg(long, default_value = DEFAULT_WAIT)]
        timeout: humantime::Duration,
    },
}

pub async fn run(ctx: &Ctx, cmd: TaskCommand) -> anyhow::Result<()> {
    match cmd {
        TaskCommand::List { server, page } => {
            let server = match server {
                Some(s) => Some(SERVERS.resolve(&ctx.api, &s).await?.to_string()),
                None => None,
            };
            TASKS
                .list(ctx, query([("server", server)]), Some(&page))
                .await
        }
        TaskCommand::Show { id } => {
            let task = ctx.api.get(&format!("/tasks/{id}"), &[]).await?;
            if ctx.json {
                print_json(&task);
            } else {
                print!("{}", fields(&task, TASK_FIELDS));
                let messages = task["messages"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                if !messages.is_empty() {
                    println!("Messages:");
                    for m in messages {
                        println!(
                            "  {}  {}",
                            cell(&m["at"], "at"),
                            cell(&m["message"], "message")
                        );
                    }
                }
            }
            Ok(())
        }
        TaskCommand::Wait { id, timeout } => {
            let task = wait(&ctx.api, id, timeout.into()).await?;
            report(ctx, &task)
        }
    }
}

pub fn is_terminal(state: &str) -> bool {
    matches!(state, "succeeded" | "failed" | "cancelled")
}

/// Polls the task until it ends, or fails after `timeout`.
pub async fn wait(api: &ApiClient, id: i64, timeout: Duration) -> anyhow::Result<Value> {
    let start = Instant::now();
    let mut delay = Duration::from_millis(200);
    loop {
        let task = api.get(&format!("/tasks/{id}"), &[]).await?;
        let state = task["state"].as_str().unwrap_or("unknown");
        if is_terminal(state) {
            return Ok(task);
        }
        if start.elapsed() >= timeout {
            bail!(
                "task {id} is still {state} after {}; follow it with `ironrack task show {id}`",
                humantime::format_duration(timeout)
            );
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}

/// Prints an ended task (JSON or one line); an error unless it succeeded.
pub fn report(ctx: &Ctx, task: &Value) -> anyhow::Result<()> {
    // A power task reads "task 3 (power off, server web-1) succeeded: power is off".
    let what = match task["params"]["action"].as_str() {
        Some(action) => action.to_string(),
        None => cell(&task["params"], "params"),
    };
    let summary = format!(
        "task {} ({} {what}, server {})",
        task["id"],
        cell(&task["kind"], "kind"),
        cell(&task["server"], "server"),
    );
    let state = task["state"].as_str().unwrap_or("unknown");
    if ctx.json {
        print_json(task);
    } else if state == "succeeded" {
        let result = match task["result"]["power"].as_str() {
            Some(power) => format!("power is {power}"),
            None => cell(&task["result"], "result"),
        };
        println!("{summary} succeeded: {result}");
    }
    if state != "succeeded" {
        bail!("{summary} {state}: {}", cell(&task["error"], "error"));
    }
    Ok(())
}
