//! `ironrack site list|add|rm`.

use clap::Subcommand;
use serde_json::json;

use super::Ctx;
use super::resource::Resource;

pub const SITES: Resource = Resource {
    path: "/sites",
    noun: "site",
    name_key: "name",
    name_filter: None,
    columns: &[
        ("ID", "id"),
        ("NAME", "name"),
        ("LOCATION", "location"),
        ("CREATED", "created_at"),
    ],
};

#[derive(Subcommand)]
pub enum SiteCommand {
    /// List sites
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
}

pub async fn run(ctx: &Ctx, cmd: SiteCommand) -> anyhow::Result<()> {
    match cmd {
        SiteCommand::List => SITES.list(ctx, vec![], None).await,
        SiteCommand::Add { name, location } => {
            let mut body = json!({ "name": name });
            if let Some(location) = location {
                body["location"] = json!(location);
            }
            SITES.create(ctx, body).await.map(drop)
        }
        SiteCommand::Rm { site } => SITES.remove(ctx, &site).await,
    }
}
