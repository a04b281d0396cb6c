//! `ironrack token list|create|revoke`: API tokens of the logged-in user.

use clap::Subcommand;
use serde_json::{Value, json};

use super::Ctx;
use super::output::{cell, print_json};
use super::resource::Resource;
use super::server::SERVERS;

pub const TOKENS: Resource = Resource {
    path: "/tokens",
    noun: "token",
    name_key: "name",
    name_filter: None,
    columns: &[
        ("ID", "id"),
        ("NAME", "name"),
        ("ONLY SERVERS", "server_ids"),
        ("EXPIRES", "expires_at"),
        ("LAST USED", "last_used_at"),
        ("CREATED", "created_at"),
    ],
};

#[derive(Subcommand)]
pub enum TokenCommand {
    /// List your tokens
    #[command(visible_alias = "ls")]
    List,
    /// Create a token; its secret is shown once
    Create {
        name: String,
        /// Expire after N days
        #[arg(long, value_name = "N")]
        expires_in_days: Option<u32>,
        /// Only allow these servers (repeatable)
        #[arg(long = "server", value_name = "ID|NAME")]
        servers: Vec<String>,
    },
    /// Revoke a token
    #[command(visible_alias = "rm")]
    Revoke {
        #[arg(value_name = "ID|NAME")]
        token: String,
    },
}

pub async fn run(ctx: &Ctx, cmd: TokenCommand) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::List => TOKENS.list(ctx, vec![], None).await,
        TokenCommand::Create {
            name,
            expires_in_days,
            servers,
        } => {
            let mut body = json!({ "name": name });
            if let Some(days) = expires_in_days {
                body["expires_in_days"] = json!(days);
            }
            if !servers.is_empty() {
                let mut ids = Vec::new();
                for server in &servers {
                    ids.push(SERVERS.resolve(&ctx.api, server).await?);
                }
                body["server_ids"] = json!(ids);
            }
            let created = ctx.api.post(TOKENS.path, &body).await?;
            if ctx.json {
                print_json(&created);
            } else {
                // The note goes to stderr so that `$(ironrack token create x)` is the secret.
                eprintln!(
                    "Created token {} (id {}, expires {}). Its secret is shown only now; store it safely:",
                    created["name"].as_str().unwrap_or("?"),
                    created["id"],
                    match &created["expires_at"] {
                        Value::Null => "never".to_string(),
                        at => cell(at, "expires_at"),
                    },
                );
                println!("{}", created["token"].as_str().unwrap_or_default());
            }
            Ok(())
        }
        TokenCommand::Revoke { token } => {
            let id = TOKENS.resolve(&ctx.api, &token).await?;
            ctx.api.delete(&format!("{}/{id}", TOKENS.path)).await?;
            if !ctx.json {
                println!("Revoked token {token}");
            }
            Ok(())
        }
    }
}
