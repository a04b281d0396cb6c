//! `ironrack user list|add|rm`.

use clap::Subcommand;
use serde_json::json;

use super::resource::{Resource, query};
use super::{Ctx, prompt};

pub const USERS: Resource = Resource {
    path: "/users",
    noun: "user",
    name_key: "username",
    name_filter: None,
    columns: &[
        ("ID", "id"),
        ("USERNAME", "username"),
        ("ROLE", "role"),
        ("TENANT", "tenant"),
        ("PIN", "pin_set"),
        ("DISABLED", "disabled"),
        ("CREATED", "created_at"),
    ],
};

#[derive(Subcommand)]
pub enum UserCommand {
    /// List users
    #[command(visible_alias = "ls")]
    List {
        /// Only the users of this tenant
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Create a user; the password is prompted for, or read from standard input
    Add {
        username: String,
        #[arg(long, value_parser = ["admin", "operator", "customer"])]
        role: String,
        /// The tenant of a customer
        #[arg(long)]
        tenant: Option<String>,
        /// Read the password from the first line of standard input
        #[arg(long)]
        password_stdin: bool,
    },
    /// Delete a user
    #[command(visible_alias = "delete")]
    Rm {
        #[arg(value_name = "ID|USERNAME")]
        user: String,
    },
}

pub async fn run(ctx: &Ctx, cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::List { tenant } => USERS.list(ctx, query([("tenant", tenant)]), None).await,
        UserCommand::Add {
            username,
            role,
            tenant,
            password_stdin,
        } => {
            let password =
                prompt::new_secret("Password", prompt::use_stdin(password_stdin)).await?;
            let mut body = json!({ "username": username, "password": password, "role": role });
            if let Some(tenant) = tenant {
                body["tenant"] = json!(tenant);
            }
            USERS.create(ctx, body).await.map(drop)
        }
        UserCommand::Rm { user } => USERS.remove(ctx, &user).await,
    }
}
