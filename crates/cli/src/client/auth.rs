//! `ironrack login|logout|whoami|pin set`.

use std::path::Path;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use serde_json::json;

use reqwest::StatusCode;

use super::api::ApiError;
use super::config::Config;
use super::output::{fields, print_json};
use super::{Ctx, prompt};

const USER_FIELDS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("Username", "username"),
    ("Role", "role"),
    ("Tenant", "tenant"),
    ("PIN set", "pin_set"),
    ("Disabled", "disabled"),
    ("Created", "created_at"),
];

#[derive(Args)]
pub struct LoginArgs {
    /// Username [default: asked]
    #[arg(short, long, value_name = "USER")]
    username: Option<String>,
    /// Read the password from the first line of standard input
    /// (the default when standard input is not a terminal)
    #[arg(long)]
    password_stdin: bool,
}

#[derive(Subcommand)]
pub enum PinCommand {
    /// Set or change your PIN (asked, or read from standard input: PIN line, then password line)
    Set,
}

pub async fn login(
    ctx: &Ctx,
    args: LoginArgs,
    path: &Path,
    mut config: Config,
) -> anyhow::Result<()> {
    let username = match args.username {
        Some(u) => u,
        None => prompt::ask("Username").context("give it with -u USER")?,
    };
    let password = prompt::secret("Password", prompt::use_stdin(args.password_stdin)).await?;
    let session = ctx
        .api
        .post(
            "/auth/login",
            &json!({ "username": username, "password": password }),
        )
        .await?;
    let token = session["token"]
        .as_str()
        .context("the login answer has no token")?;
    config.url = Some(ctx.api.base().to_string());
    config.token = Some(token.to_string());
    config.save(path)?;
    if ctx.json {
        print_json(&session);
    } else {
        let user = &session["user"];
        println!(
            "Logged in to {} as {} ({})",
            ctx.api.base(),
            user["username"].as_str().unwrap_or(&username),
            user["role"].as_str().unwrap_or("?")
        );
    }
    Ok(())
}

pub async fn logout(ctx: &Ctx, path: &Path, mut config: Config) -> anyhow::Result<()> {
    if !ctx.api.has_token() {
        println!("Not logged in");
        return Ok(());
    }
    let revoked = ctx.api.post("/auth/logout", &json!({})).await;
    // Forget the token even when the API could not revoke it.
    if config.token.take().is_some() {
        config.save(path)?;
    }
    match revoked {
        // 401: the token was already expired or revoked.
        Err(e)
            if e.downcast_ref::<ApiError>()
                .is_none_or(|e| e.status != StatusCode::UNAUTHORIZED) =>
        {
            Err(e.context("the token was removed from the config, but the API did not revoke it"))
        }
        _ => {
            if !ctx.json {
                println!("Logged out of {}", ctx.api.base());
            }
            Ok(())
        }
    }
}

pub async fn whoami(ctx: &Ctx) -> anyhow::Result<()> {
    let me = ctx.api.get("/me", &[]).await?;
    if ctx.json {
        print_json(&me);
    } else {
        print!("{}", fields(&me, USER_FIELDS));
    }
    Ok(())
}

pub async fn pin(ctx: &Ctx, cmd: PinCommand) -> anyhow::Result<()> {
    match cmd {
        PinCommand::Set => {
            let from_stdin = prompt::use_stdin(false);
            let pin = prompt::new_secret("New PIN", from_stdin).await?;
            let password = prompt::secret("Current password", from_stdin).await?;
            ctx.api
                .put("/me/pin", &json!({ "pin": pin, "password": password }))
                .await?;
            if !ctx.json {
                println!("PIN set");
            }
            Ok(())
        }
    }
}
