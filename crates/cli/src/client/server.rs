//! `ironrack server list|add|show|rm|power`.

use anyhow::bail;
use clap::{Args, Subcommand};
use ironrack_core::PowerAction;
use reqwest::Method;
use serde_json::{Map, Value, json};

use super::output::{fields, print_json};
use super::resource::{PageArgs, Resource, query};
use super::{Ctx, config, prompt, task};

pub const SERVERS: Resource = Resource {
    path: "/servers",
    noun: "server",
    name_key: "name",
    name_filter: Some("name_prefix"),
    columns: &[
        ("ID", "id"),
        ("NAME", "name"),
        ("SITE", "site"),
        ("TENANT", "tenant"),
        ("POWER", "power_state"),
        ("DRIVER", "bmc.driver"),
        ("BMC", "bmc.address"),
        ("MACS", "macs"),
    ],
};

const SERVER_FIELDS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("Name", "name"),
    ("Site", "site"),
    ("Tenant", "tenant"),
    ("MACs", "macs"),
    ("Power", "power_state"),
    ("Power observed", "power_observed_at"),
    ("BMC driver", "bmc.driver"),
    ("BMC address", "bmc.address"),
    ("BMC port", "bmc.port"),
    ("BMC username", "bmc.username"),
    ("BMC password", "bmc.password_set"),
    ("BMC options", "bmc.options"),
    ("Created", "created_at"),
    ("Updated", "updated_at"),
];

#[derive(Subcommand)]
pub enum ServerCommand {
    /// List servers
    #[command(visible_alias = "ls")]
    List {
        #[arg(long)]
        site: Option<String>,
        #[arg(long)]
        tenant: Option<String>,
        /// Only names starting with P
        #[arg(long, value_name = "P")]
        name_prefix: Option<String>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Register a server and its BMC
    Add(AddArgs),
    /// Show a server
    Show {
        #[arg(value_name = "ID|NAME")]
        server: String,
    },
    /// Delete a server
    #[command(visible_alias = "delete")]
    Rm {
        #[arg(value_name = "ID|NAME")]
        server: String,
    },
    /// Power a server on or off, reset it, or read its state
    Power(PowerArgs),
}

#[derive(Args)]
pub struct AddArgs {
    name: String,
    /// The site whose agent reaches the BMC
    #[arg(long)]
    site: String,
    /// The tenant that owns the server
    #[arg(long)]
    tenant: Option<String>,
    /// A MAC address of the server (repeatable)
    #[arg(long = "mac", value_name = "MAC")]
    macs: Vec<String>,
    /// ipmi, redfish, fake or fence:<agent>
    #[arg(long, value_name = "DRIVER")]
    bmc_driver: String,
    /// Host name or IP address of the BMC
    #[arg(long, value_name = "HOST")]
    bmc_address: String,
    /// [default: the driver's]
    #[arg(long, value_name = "PORT")]
    bmc_port: Option<u16>,
    /// The BMC login
    #[arg(long, value_name = "USER")]
    bmc_username: Option<String>,
    /// Read the BMC password from the first line of standard input
    /// [else: env IRONRACK_BMC_PASSWORD]
    #[arg(long)]
    bmc_password_stdin: bool,
    /// A driver option, KEY=VALUE (repeatable)
    #[arg(long = "bmc-option", value_name = "KEY=VALUE", value_parser = parse_option)]
    bmc_options: Vec<(String, String)>,
}

#[derive(Args)]
pub struct PowerArgs {
    #[arg(value_name = "ID|NAME")]
    server: String,
    #[arg(value_parser = parse_power)]
    action: PowerAction,
    /// Your PIN, needed for off, soft, reset and cycle [default: asked on a terminal]
    #[arg(long, env = "IRONRACK_PIN", hide_env_values = true)]
    pin: Option<String>,
    /// Wait for the task to end and print its result; fail if it failed
    #[arg(long)]
    wait: bool,
    /// How long --wait waits (e.g. 30s, 2m)
    #[arg(long, default_value = task::DEFAULT_WAIT, value_name = "DURATION")]
    timeout: humantime::Duration,
}

/// The API's power words; the rules (which need a PIN) live in core.
fn parse_power(s: &str) -> Result<PowerAction, String> {
    PowerAction::parse(s)
        .ok_or_else(|| format!("`{s}` is not one of on, off, soft, reset, cycle, status"))
}

/// `KEY=VALUE` → `(KEY, VALUE)`; the value may be empty, the key may not.
fn parse_option(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("`{s}` is not KEY=VALUE")),
    }
}

pub async fn run(ctx: &Ctx, cmd: ServerCommand) -> anyhow::Result<()> {
    match cmd {
        ServerCommand::List {
            site,
            tenant,
            name_prefix,
            page,
        } => {
            let q = query([
                ("site", site),
                ("tenant", tenant),
                ("name_prefix", name_prefix),
            ]);
            SERVERS.list(ctx, q, Some(&page)).await
        }
        ServerCommand::Add(args) => SERVERS.create(ctx, add_body(args)?).await.map(drop),
        ServerCommand::Show { server } => {
            let server = SERVERS.get(&ctx.api, &server).await?;
            if ctx.json {
                print_json(&server);
            } else {
                print!("{}", fields(&server, SERVER_FIELDS));
            }
            Ok(())
        }
        ServerCommand::Rm { server } => SERVERS.remove(ctx, &server).await,
        ServerCommand::Power(args) => power(ctx, args).await,
    }
}

fn add_body(args: AddArgs) -> anyhow::Result<Value> {
    let password = if args.bmc_password_stdin {
        Some(prompt::stdin_line("BMC password")?)
    } else {
        config::env_nonempty("IRONRACK_BMC_PASSWORD")
    };
    let mut bmc = json!({ "driver": args.bmc_driver, "address": args.bmc_address });
    let optional = [
        ("port", args.bmc_port.map(Value::from)),
        ("username", args.bmc_username.map(Value::from)),
        ("password", password.map(Value::from)),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            bmc[key] = value;
        }
    }
    if !args.bmc_options.is_empty() {
        let options: Map<String, Value> = args
            .bmc_options
            .into_iter()
            .map(|(k, v)| (k, Value::from(v)))
            .collect();
        bmc["options"] = Value::Object(options);
    }
    let mut body = json!({ "name": args.name, "site": args.site, "bmc": bmc });
    if let Some(tenant) = args.tenant {
        body["tenant"] = json!(tenant);
    }
    if !args.macs.is_empty() {
        body["macs"] = json!(args.macs);
    }
    Ok(body)
}

async fn power(ctx: &Ctx, args: PowerArgs) -> anyhow::Result<()> {
    let id = SERVERS.resolve(&ctx.api, &args.server).await?;
    let action = args.action.as_str();
    let mut rb = ctx
        .api
        .request(Method::POST, &format!("/servers/{id}/power"))
        .json(&json!({ "action": action }));
    if args.action.is_destructive() {
        // No --pin on a terminal: ask for it rather than fail.
        let pin = match args.pin {
            Some(pin) => Some(pin),
            None if !prompt::use_stdin(false) => Some(prompt::secret("PIN", false).await?),
            None => None,
        };
        if let Some(pin) = pin {
            rb = rb.header("X-Ironrack-Pin", pin);
        }
    }
    let queued = ctx.api.send(rb).await?;
    let Some(task_id) = queued["id"].as_i64() else {
        bail!("the API did not return a task for power {action}");
    };
    if args.wait {
        let done = task::wait(&ctx.api, task_id, args.timeout.into()).await?;
        return task::report(ctx, &done);
    }
    if ctx.json {
        print_json(&queued);
    } else {
        println!(
            "Task {task_id} {}: power {action} on {}. Follow it with `ironrack task show {task_id}` (or use --wait).",
            queued["state"].as_str().unwrap_or("queued"),
            queued["server"].as_str().unwrap_or(&args.server),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        cmd: ServerCommand,
    }

    #[test]
    fn options_parse() {
        assert_eq!(parse_option("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert_eq!(parse_option("k="), Ok(("k".into(), String::new())));
        assert!(parse_option("=v").is_err());
        assert!(parse_option("novalue").is_err());
    }

    #[test]
    fn add_builds_the_api_body() {
        let cli = Cli::parse_from([
            "x",
            "add",
            "web-1",
            "--site",
            "par1",
            "--mac",
            "aa:bb:cc:dd:ee:ff",
            "--mac",
            "aa:bb:cc:dd:ee:00",
            "--bmc-driver",
            "ipmi",
            "--bmc-address",
            "10.0.0.5",
            "--bmc-port",
            "623",
            "--bmc-option",
            "cipher=17",
        ]);
        let ServerCommand::Add(args) = cli.cmd else {
            panic!("not add")
        };
        let body = add_body(args).unwrap();
        let bmc = &body["bmc"];
        assert_eq!(body["name"], "web-1");
        assert_eq!(
            body["macs"],
            json!(["aa:bb:cc:dd:ee:ff", "aa:bb:cc:dd:ee:00"])
        );
        assert!(body.get("tenant").is_none());
        assert_eq!(bmc["driver"], "ipmi");
        assert_eq!(bmc["port"], 623);
        assert_eq!(bmc["options"], json!({ "cipher": "17" }));
        assert!(bmc.get("username").is_none());
    }

    #[test]
    fn there_is_no_plain_password_argument() {
        let res = Cli::try_parse_from([
            "x",
            "add",
            "a",
            "--site",
            "s",
            "--bmc-driver",
            "fake",
            "--bmc-address",
            "h",
            "--bmc-password",
            "secret",
        ]);
        assert!(res.is_err());
    }

    #[test]
    fn power_words_parse_as_the_api_names_them() {
        assert_eq!(parse_power("cycle"), Ok(PowerAction::Cycle));
        assert!(parse_power("explode").unwrap_err().contains("not one of"));
    }
}
