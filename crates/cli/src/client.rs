//! The API client commands: `ironrack login`, `ironrack server list`, ...
//!
//! Every command talks to the REST API under `/api/v1` through [`api::ApiClient`];
//! lists print as aligned tables, or as the API's JSON with `--json`.

mod api;
mod audit;
mod auth;
mod config;
mod output;
mod prompt;
mod resource;
mod server;
mod site;
mod task;
mod tenant;
mod token;
mod user;

use clap::{Args, Subcommand};

use api::ApiClient;
use config::Config;

/// Options shared by every client command, accepted anywhere after its name
/// (`ironrack server --json list` or `ironrack server list --json`).
#[derive(Args, Clone, Debug)]
pub struct ClientOpts {
    /// API base URL [default: the URL saved by `login`, else http://127.0.0.1:8080]
    #[arg(long, global = true, env = "IRONRACK_URL", value_name = "URL")]
    url: Option<String>,
    /// Print the API's JSON instead of tables (for scripts)
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
pub enum ClientCommand {
    /// Log in and save the URL and token in the config file
    Login {
        #[command(flatten)]
        opts: ClientOpts,
        #[command(flatten)]
        args: auth::LoginArgs,
    },
    /// Revoke the saved token and remove it from the config file
    Logout {
        #[command(flatten)]
        opts: ClientOpts,
    },
    /// Show the logged-in user
    Whoami {
        #[command(flatten)]
        opts: ClientOpts,
    },
    /// Manage your power PIN
    Pin {
        #[command(flatten)]
        opts: ClientOpts,
        #[command(subcommand)]
        cmd: auth::PinCommand,
    },
    /// Servers and their power
    Server {
        #[command(flatten)]
        opts: ClientOpts,
        #[command(subcommand)]
        cmd: server::ServerCommand,
    },
    /// Tenants (admin)
    Tenant {
        #[command(flatten)]
        opts: ClientOpts,
        #[command(subcommand)]
        cmd: tenant::TenantCommand,
    },
    /// Users
    User {
        #[command(flatten)]
        opts: ClientOpts,
        #[command(subcommand)]
        cmd: user::UserCommand,
    },
    /// API tokens of the logged-in user
    Token {
        #[command(flatten)]
        opts: ClientOpts,
        #[command(subcommand)]
        cmd: token::TokenCommand,
    },
    /// Sites (each served by an agent)
    Site {
        #[command(flatten)]
        opts: ClientOpts,
        #[command(subcommand)]
        cmd: site::SiteCommand,
    },
    /// Tasks (power requests and their outcome)
    Task {
        #[command(flatten)]
        opts: ClientOpts,
        #[command(subcommand)]
        cmd: task::TaskCommand,
    },
    /// Show the audit log, newest first
    Audit {
        #[command(flatten)]
        opts: ClientOpts,
        #[command(flatten)]
        page: resource::PageArgs,
    },
}

/// What every command handler gets: the API client and the output mode.
pub struct Ctx {
    pub api: ApiClient,
    pub json: bool,
}

pub async fn run(cmd: ClientCommand) -> anyhow::Result<()> {
    use ClientCommand as C;
    let opts = match &cmd {
        C::Login { opts, .. }
        | C::Logout { opts }
        | C::Whoami { opts }
        | C::Pin { opts, .. }
        | C::Server { opts, .. }
        | C::Tenant { opts, .. }
        | C::User { opts, .. }
        | C::Token { opts, .. }
        | C::Site { opts, .. }
        | C::Task { opts, .. }
        | C::Audit { opts, .. } => opts.clone(),
    };
    let config_path = config::path()?;
    let config = Config::load(&config_path)?;
    let url = opts
        .url
        .filter(|u| !u.is_empty())
        .or_else(|| config.url.clone())
        .unwrap_or_else(|| config::DEFAULT_URL.to_string());
    let token = config::env_nonempty("IRONRACK_TOKEN").or_else(|| config.token.clone());
    let ctx = Ctx {
        api: ApiClient::new(&url, token)?,
        json: opts.json,
    };

    match cmd {
        C::Login { args, .. } => auth::login(&ctx, args, &config_path, config).await,
        C::Logout { .. } => auth::logout(&ctx, &config_path, config).await,
        C::Whoami { .. } => auth::whoami(&ctx).await,
        C::Pin { cmd, .. } => auth::pin(&ctx, cmd).await,
        C::Server { cmd, .. } => server::run(&ctx, cmd).await,
        C::Tenant { cmd, .. } => tenant::run(&ctx, cmd).await,
        C::User { cmd, .. } => user::run(&ctx, cmd).await,
        C::Token { cmd, .. } => token::run(&ctx, cmd).await,
        C::Site { cmd, .. } => site::run(&ctx, cmd).await,
        C::Task { cmd, .. } => task::run(&ctx, cmd).await,
        C::Audit { page, .. } => audit::run(&ctx, page).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory as _, Parser};

    /// The shape main.rs gives it: flattened into the top-level command.
    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        cmd: ClientCommand,
    }

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_options_go_anywhere() {
        for args in [
            &["x", "server", "list", "--json", "--url", "http://h:1"][..],
            &[
                "x",
                "server",
                "--json",
                "--url",
                "http://h:1",
                "list",
                "--all",
            ],
        ] {
            let cli = Cli::try_parse_from(args).unwrap();
            let ClientCommand::Server { opts, .. } = cli.cmd else {
                panic!("not server")
            };
            assert!(opts.json, "{args:?}");
            assert_eq!(opts.url.as_deref(), Some("http://h:1"));
        }
    }
}
