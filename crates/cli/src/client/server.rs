//! `ironrack server list|add|show|rm|power|sensors|sel|bmc-reset`.

use anyhow::bail;
use clap::{Args, Subcommand};
use ironrack_core::PowerAction;
use reqwest::Method;
use serde_json::{Map, Value, json};

use super::output::{cell, fields, print_json, table};
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
    /// Show the server's sensors as last read from its BMC
    Sensors(ReadArgs),
    /// Show the server's System Event Log as last read from its BMC
    Sel(SelArgs),
    /// Reset the server's BMC (not the server); it is unreachable for a while
    BmcReset(BmcResetArgs),
}

#[derive(Args)]
pub struct ReadArgs {
    #[arg(value_name = "ID|NAME")]
    server: String,
    /// Read from the BMC now (a task) and wait for it, instead of showing
    /// the last reading
    #[arg(long)]
    refresh: bool,
    /// How long --refresh waits (e.g. 30s, 2m)
    #[arg(long, default_value = task::DEFAULT_WAIT, value_name = "DURATION")]
    timeout: humantime::Duration,
}

#[derive(Args)]
pub struct SelArgs {
    #[command(flatten)]
    read: ReadArgs,
    /// Empty the log after reading it (implies --refresh; needs your PIN)
    #[arg(long)]
    clear: bool,
    /// Your PIN, for --clear [default: asked on a terminal]
    #[arg(long, env = "IRONRACK_PIN", hide_env_values = true)]
    pin: Option<String>,
}

#[derive(Args)]
pub struct BmcResetArgs {
    #[arg(value_name = "ID|NAME")]
    server: String,
    /// A warm reset (keeps the BMC's state; not every BMC has one)
    /// instead of a cold one
    #[arg(long)]
    warm: bool,
    /// Your PIN [default: asked on a terminal]
    #[arg(long, env = "IRONRACK_PIN", hide_env_values = true)]
    pin: Option<String>,
    /// Wait for the task to end and print its result; fail if it failed
    #[arg(long)]
    wait: bool,
    /// How long --wait waits (e.g. 30s, 2m)
    #[arg(long, default_value = task::DEFAULT_WAIT, value_name = "DURATION")]
    timeout: humantime::Duration,
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
        ServerCommand::Sensors(args) => sensors(ctx, args).await,
        ServerCommand::Sel(args) => sel(ctx, args).await,
        ServerCommand::BmcReset(args) => bmc_reset(ctx, args).await,
    }
}

/// Adds the PIN header: the given PIN, else one asked on a terminal.
async fn with_pin(
    rb: reqwest::RequestBuilder,
    pin: Option<String>,
) -> anyhow::Result<reqwest::RequestBuilder> {
    let pin = match pin {
        Some(pin) => Some(pin),
        None if !prompt::use_stdin(false) => Some(prompt::secret("PIN", false).await?),
        None => None,
    };
    Ok(match pin {
        Some(pin) => rb.header("X-Ironrack-Pin", pin),
        None => rb,
    })
}

/// Sends a request that queues a task and waits for the task; an error
/// unless it succeeded.
async fn run_task(
    ctx: &Ctx,
    rb: reqwest::RequestBuilder,
    timeout: std::time::Duration,
) -> anyhow::Result<Value> {
    let queued = ctx.api.send(rb).await?;
    let Some(task_id) = queued["id"].as_i64() else {
        bail!("the API did not return a task");
    };
    let done = task::wait(&ctx.api, task_id, timeout).await?;
    if done["state"] != "succeeded" {
        // Prints the task and fails with its error.
        task::report(ctx, &done)?;
    }
    Ok(done)
}

/// "Read at 2025-01-02 03:04:05Z" or "Never read".
fn read_at_line(body: &Value, what: &str) -> String {
    match body["read_at"].as_str() {
        Some(_) => format!("{what} read at {}\n", cell(&body["read_at"], "read_at")),
        None => format!("{what} never read; use --refresh\n"),
    }
}

fn sensors_text(body: &Value) -> String {
    let rows: Vec<Vec<String>> = body["sensors"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|s| {
            vec![
                cell(&s["name"], "name"),
                cell(&s["type"], "type"),
                cell(&s["reading"], "reading"),
                cell(&s["unit"], "unit"),
                cell(&s["status"], "status"),
            ]
        })
        .collect();
    let mut out = read_at_line(body, "Sensors");
    if !rows.is_empty() {
        out.push_str(&table(
            &["NAME", "TYPE", "READING", "UNIT", "STATUS"],
            &rows,
        ));
    }
    out
}

fn sel_text(body: &Value) -> String {
    let rows: Vec<Vec<String>> = body["entries"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|e| {
            vec![
                cell(&e["id"], "id"),
                cell(&e["at"], "at"),
                cell(&e["text"], "text"),
            ]
        })
        .collect();
    let mut out = read_at_line(body, "Event log");
    if !rows.is_empty() {
        out.push_str(&table(&["ID", "AT", "EVENT"], &rows));
    }
    out
}

async fn sensors(ctx: &Ctx, args: ReadArgs) -> anyhow::Result<()> {
    let id = SERVERS.resolve(&ctx.api, &args.server).await?;
    if args.refresh {
        let rb = ctx
            .api
            .request(Method::POST, &format!("/servers/{id}/sensors/refresh"));
        run_task(ctx, rb, args.timeout.into()).await?;
    }
    let body = ctx.api.get(&format!("/servers/{id}/sensors"), &[]).await?;
    if ctx.json {
        print_json(&body);
    } else {
        print!("{}", sensors_text(&body));
    }
    Ok(())
}

async fn sel(ctx: &Ctx, args: SelArgs) -> anyhow::Result<()> {
    let id = SERVERS.resolve(&ctx.api, &args.read.server).await?;
    if args.read.refresh || args.clear {
        let mut rb = ctx
            .api
            .request(Method::POST, &format!("/servers/{id}/sel/refresh"))
            .json(&json!({ "clear": args.clear }));
        if args.clear {
            rb = with_pin(rb, args.pin).await?;
        }
        run_task(ctx, rb, args.read.timeout.into()).await?;
    }
    let body = ctx.api.get(&format!("/servers/{id}/sel"), &[]).await?;
    if ctx.json {
        print_json(&body);
    } else {
        print!("{}", sel_text(&body));
        if args.clear {
            println!("The BMC's log was cleared after this reading.");
        }
    }
    Ok(())
}

async fn bmc_reset(ctx: &Ctx, args: BmcResetArgs) -> anyhow::Result<()> {
    let id = SERVERS.resolve(&ctx.api, &args.server).await?;
    let kind = if args.warm { "warm" } else { "cold" };
    let rb = ctx
        .api
        .request(Method::POST, &format!("/servers/{id}/bmc-reset"))
        .json(&json!({ "kind": kind }));
    let rb = with_pin(rb, args.pin).await?;
    if args.wait {
        let done = run_task(ctx, rb, args.timeout.into()).await?;
        return task::report(ctx, &done);
    }
    let queued = ctx.api.send(rb).await?;
    if ctx.json {
        print_json(&queued);
    } else {
        let task_id = &queued["id"];
        println!(
            "Task {task_id} {}: {kind} reset of the BMC of {}. Follow it with `ironrack task show {task_id}` (or use --wait).",
            queued["state"].as_str().unwrap_or("queued"),
            queued["server"].as_str().unwrap_or(&args.server),
        );
    }
    Ok(())
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
        rb = with_pin(rb, args.pin).await?;
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
    fn sensors_and_sel_print_as_tables() {
        let body = json!({"server_id": 1, "read_at": "2026-01-02T03:04:05.678Z", "sensors": [
            {"name": "CPU Temp", "type": "Temperature", "reading": 45.0, "unit": "degrees C", "status": "ok"},
            {"name": "PSU1 Status", "type": "Power Supply", "reading": null, "unit": null, "status": "ok"}]});
        let text = sensors_text(&body);
        assert!(
            text.starts_with("Sensors read at 2026-01-02 03:04:05Z\n"),
            "{text}"
        );
        assert!(
            text.contains("CPU Temp      Temperature    45.0      degrees C   ok"),
            "{text}"
        );
        assert!(
            text.contains("PSU1 Status   Power Supply   -         -           ok"),
            "{text}"
        );
        let never = json!({"server_id": 1, "read_at": null, "entries": []});
        assert_eq!(sel_text(&never), "Event log never read; use --refresh\n");
    }

    #[test]
    fn clear_and_reset_flags_parse() {
        let cli = Cli::parse_from(["x", "sel", "web-1", "--clear", "--pin", "1234"]);
        let ServerCommand::Sel(args) = cli.cmd else {
            panic!("not sel")
        };
        assert!(args.clear && !args.read.refresh);
        let cli = Cli::parse_from(["x", "bmc-reset", "web-1", "--warm"]);
        let ServerCommand::BmcReset(args) = cli.cmd else {
            panic!("not bmc-reset")
        };
        assert!(args.warm);
    }

    #[test]
    fn power_words_parse_as_the_api_names_them() {
        assert_eq!(parse_power("cycle"), Ok(PowerAction::Cycle));
        assert!(parse_power("explode").unwrap_err().contains("not one of"));
    }
}
