//! `ironrack site list|add|rm|agent-key [--remove]`.

use clap::Subcommand;
use serde_json::json;

use super::Ctx;
use super::output::{items_table, print_json};
use super::resource::{Resource, fetch_list};

pub const SITES: Resource = Resource {
    path: "/sites",
    noun: "site",
    name_key: "name",
    name_filter: None,
    columns: &[
        ("ID", "id"),
        ("NAME", "name"),
        ("LOCATION", "location"),
        ("AGENT KEY", "agent_key.fingerprint"),
        ("CREATED", "created_at"),
    ],
};

#[derive(Subcommand)]
pub enum SiteCommand {
    /// List sites (and what keeps BMC passwords from reaching their agents)
    #[command(visible_alias = "ls")]
    List,
    /// Create a site
    Add {
        name: String,
        /// Free text: city, building, room
        #[arg(long)]
        location: Option<String>,
    },
    /// Delete a site
    #[command(visible_alias = "delete")]
    Rm {
        #[arg(value_name = "ID|NAME")]
        site: String,
    },
    /// Register the public key of the site's agent (admin), as printed by
    /// `ironrack agent keygen`: BMC passwords are sealed to it. With
    /// --remove, forget it (a compromised agent host): nothing secret goes
    /// to the site until a new key is registered
    AgentKey {
        #[arg(value_name = "ID|NAME")]
        site: String,
        /// The agent's public key (base64)
        #[arg(value_name = "KEY", required_unless_present = "remove")]
        public_key: Option<String>,
        /// Remove the site's key instead
        #[arg(long, conflicts_with = "public_key")]
        remove: bool,
    },
}

pub async fn run(ctx: &Ctx, cmd: SiteCommand) -> anyhow::Result<()> {
    match cmd {
        SiteCommand::List => list(ctx).await,
        SiteCommand::Add { name, location } => {
            let mut body = json!({ "name": name });
            if let Some(location) = location {
                body["location"] = json!(location);
            }
            SITES.create(ctx, body).await.map(drop)
        }
        SiteCommand::Rm { site } => SITES.remove(ctx, &site).await,
        SiteCommand::AgentKey {
            site,
            public_key: None,
            ..
        } => {
            let id = SITES.resolve(&ctx.api, &site).await?;
            ctx.api.delete(&format!("/sites/{id}/agent-key")).await?;
            if !ctx.json {
                println!("Removed the agent key of site {site}");
            }
            Ok(())
        }
        SiteCommand::AgentKey {
            site,
            public_key: Some(public_key),
            ..
        } => {
            let id = SITES.resolve(&ctx.api, &site).await?;
            let out = ctx
                .api
                .put(
                    &format!("/sites/{id}/agent-key"),
                    &json!({ "public_key": public_key }),
                )
                .await?;
            if ctx.json {
                print_json(&out);
            } else {
                println!(
                    "Registered agent key {} on site {}",
                    out["agent_key"]["fingerprint"].as_str().unwrap_or("?"),
                    out["name"].as_str().unwrap_or(&site)
                );
                if let Some(problem) = out["agent_key_problem"].as_str() {
                    eprintln!("note: {problem}");
                }
            }
            Ok(())
        }
    }
}

/// The table, then each site's key problem: a site whose agent cannot get
/// BMC passwords should not look fine.
async fn list(ctx: &Ctx) -> anyhow::Result<()> {
    let list = fetch_list(&ctx.api, SITES.path, vec![], None).await?;
    if ctx.json {
        print_json(&list);
        return Ok(());
    }
    print!("{}", items_table(&list, SITES.columns));
    for site in list["items"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        if let Some(problem) = site["agent_key_problem"].as_str() {
            eprintln!("site {}: {problem}", site["name"].as_str().unwrap_or("?"));
        }
    }
    Ok(())
}
