//! `ironrack tenant list|add|rm`.

use clap::Subcommand;
use serde_json::json;

use super::Ctx;
use super::resource::Resource;

pub const TENANTS: Resource = Resource {
    path: "/tenants",
    noun: "tenant",
    name_key: "name",
    name_filter: None,
    columns: &[("ID", "id"), ("NAME", "name"), ("CREATED", "created_at")],
};

#[derive(Subcommand)]
pub enum TenantCommand {
    /// List tenants
    #[command(visible_alias = "ls")]
    List,
    /// Create a tenant
    Add { name: String },
    /// Delete a tenant
    #[command(visible_alias = "delete")]
    Rm {
        #[arg(value_name = "ID|NAME")]
        tenant: String,
    },
}

pub async fn run(ctx: &Ctx, cmd: TenantCommand) -> anyhow::Result<()> {
    match cmd {
        TenantCommand::List => TENANTS.list(ctx, vec![], None).await,
        TenantCommand::Add { name } => TENANTS.create(ctx, json!({ "name": name })).await.map(drop),
        TenantCommand::Rm { tenant } => TENANTS.remove(ctx, &tenant).await,
    }
}
