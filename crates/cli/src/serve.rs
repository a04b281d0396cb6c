//! `ironrack serve`: the controller, the in-process bus and a local agent in
//! one process, on SQLite unless told otherwise. Nothing else to install.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ironrack_agent::{Agent, Drivers};
use ironrack_api::{ApiConfig, AppState};
use ironrack_bus::{AmqpBus, AmqpConfig, Event, InProcessBus};
use ironrack_core::Role;
use ironrack_store::{NewUser, SecretBox, Store};
use serde::Deserialize;

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// A TOML file with any of the settings below (flags and IRONRACK_* win).
    #[arg(long, env = "IRONRACK_CONFIG_FILE")]
    config: Option<PathBuf>,
    /// Where the SQLite database and the secret key live.
    #[arg(long, env = "IRONRACK_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Address for the HTTP API and panel.
    #[arg(long, env = "IRONRACK_LISTEN")]
    listen: Option<SocketAddr>,
    /// `sqlite://FILE` (default: DATA_DIR/ironrack.db) or `postgres://...`.
    #[arg(long, env = "IRONRACK_DATABASE_URL")]
    database_url: Option<String>,
    /// Password for the `admin` user created on first start (else a random
    /// one is printed once).
    #[arg(long, env = "IRONRACK_ADMIN_PASSWORD", hide_env_values = true)]
    admin_password: Option<String>,
    /// Key sealing BMC passwords, 64 hex digits (default: DATA_DIR/secret.key,
    /// created on first start).
    #[arg(long, env = "IRONRACK_SECRET_KEY", hide_env_values = true)]
    secret_key: Option<String>,
    /// Name of the local agent's site, created on first start.
    #[arg(long, env = "IRONRACK_SITE")]
    site: Option<String>,
    /// Mark the session cookie Secure (when served over HTTPS).
    #[arg(long, env = "IRONRACK_SECURE_COOKIE")]
    secure_cookie: bool,
    /// Log filter, e.g. `info` or `ironrack_api=debug`.
    #[arg(long, env = "IRONRACK_LOG")]
    log: Option<String>,
    /// How often every server's power state is read from its BMC, e.g.
    /// `60s` (the default) or `5m`; `off` stops polling.
    #[arg(long, env = "IRONRACK_POWER_POLL_INTERVAL")]
    power_poll_interval: Option<String>,
}

/// `ironrack serve`: the common settings and the local agent's desktops.
#[derive(clap::Args, Debug)]
pub struct ServeCmd {
    #[command(flatten)]
    common: ServeArgs,
    #[command(flatten)]
    desktop: DesktopArgs,
}

/// Desktop sessions (console kind `desktop`) on this agent.
#[derive(clap::Args, Debug)]
pub struct DesktopArgs {
    /// Run desktop sessions, with the nojava-ipmi-kvm template files
    /// (*.yaml) in this directory besides the built-in templates. Needs
    /// root, Xvfb, x11vnc, openbox, and firefox-esr or javaws.
    #[arg(long, env = "IRONRACK_DESKTOP_TEMPLATES")]
    desktop_templates: Option<PathBuf>,
    /// Where sessions' homes live (default: DATA_DIR/desktop, or
    /// ironrack-agent-data/desktop for `agent`).
    #[arg(long, env = "IRONRACK_DESKTOP_DIR")]
    desktop_dir: Option<PathBuf>,
    /// Session slot N runs as uid/gid BASE+N; the range must hold no user
    /// or group, and whatever runs in it is killed at start.
    #[arg(long, env = "IRONRACK_DESKTOP_UID_BASE", default_value_t = 61_000)]
    desktop_uid_base: u32,
    /// At most this many desktop sessions at once.
    #[arg(long, env = "IRONRACK_DESKTOP_SLOTS", default_value_t = 16)]
    desktop_slots: u32,
    /// Session slot N uses X display :BASE+N.
    #[arg(long, env = "IRONRACK_DESKTOP_DISPLAY_BASE", default_value_t = 100)]
    desktop_display_base: u32,
    /// A directory of ISO images offered in each session's home as `iso/`
    /// (readable by the session uids).
    #[arg(long, env = "IRONRACK_DESKTOP_ISO_DIR")]
    desktop_iso_dir: Option<PathBuf>,
    /// Screen of a session unless the request or template says otherwise.
    #[arg(
        long,
        env = "IRONRACK_DESKTOP_RESOLUTION",
        default_value = "1024x768x24"
    )]
    desktop_resolution: String,
    /// Where JVMs for Java viewers are installed: each a JVM home or a
    /// directory of them; a template's java_version picks one (the same
    /// major, else the nearest newer). Comma-separated.
    #[arg(
        long,
        env = "IRONRACK_DESKTOP_JVM_DIRS",
        value_delimiter = ',',
        default_value = "/usr/lib/jvm"
    )]
    desktop_jvm_dirs: Vec<PathBuf>,
}

impl DesktopArgs {
    /// The agent's desktops, if enabled.
    fn desktops(
        &self,
        default_dir: PathBuf,
    ) -> anyhow::Result<Option<Arc<ironrack_desktop::Desktops>>> {
        let Some(dir) = &self.desktop_templates else {
            return Ok(None);
        };
        let templates = ironrack_desktop::Templates::load(dir)?;
        let mut cfg =
            ironrack_desktop::DesktopConfig::new(self.desktop_dir.clone().unwrap_or(default_dir));
        cfg.uid_base = self.desktop_uid_base;
        cfg.slots = self.desktop_slots;
        cfg.display_base = self.desktop_display_base;
        cfg.iso_dir = self.desktop_iso_dir.clone();
        cfg.jvm_dirs = self.desktop_jvm_dirs.clone();
        cfg.default_resolution = self
            .desktop_resolution
            .parse()
            .map_err(|e: String| anyhow::anyhow!("--desktop-resolution: {e}"))?;
        let d = ironrack_desktop::Desktops::new(cfg, templates)?;
        tracing::info!(
            templates = d.templates().names().collect::<Vec<_>>().join(","),
            "desktop sessions enabled"
        );
        Ok(Some(d))
    }
}

/// The settings a TOML file may hold.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    listen: Option<SocketAddr>,
    database_url: Option<String>,
    site: Option<String>,
    secure_cookie: Option<bool>,
    log: Option<String>,
    /// e.g. "12h"
    session_ttl: Option<String>,
    login_failures: Option<usize>,
    pin_failures: Option<usize>,
    /// e.g. "60s", or "off"
    power_poll_interval: Option<String>,
    /// Console limits, e.g. "15m"; see ConsoleConfig.
    console_token_ttl: Option<String>,
    console_idle_timeout: Option<String>,
    console_idle_warning: Option<String>,
    console_max_duration: Option<String>,
    console_reconnect_grace: Option<String>,
    /// Public base URL of the console gateway (default: the API's origin).
    console_url: Option<String>,
    /// Reverse proxies (addresses or CIDR blocks) whose X-Forwarded-For
    /// names the browser, for console sessions bound to an address.
    console_trusted_proxies: Option<Vec<String>>,
}

/// How often server power states are polled unless configured.
const DEFAULT_POWER_POLL: Duration = Duration::from_secs(60);

/// The effective settings: flags and environment over file over defaults.
#[derive(Debug)]
struct Settings {
    data_dir: PathBuf,
    listen: SocketAddr,
    database_url: String,
    site: String,
    log: String,
    api: ApiConfig,
    /// `None`: no power polling.
    power_poll: Option<Duration>,
    console_url: String,
    console_trusted_proxies: Vec<ironrack_console::IpNet>,
}

/// Parses `console_trusted_proxies` entries.
fn trusted_proxies(list: &[String], key: &str) -> anyhow::Result<Vec<ironrack_console::IpNet>> {
    list.iter()
        .map(|s| s.parse().map_err(|e: String| anyhow::anyhow!("{key}: {e}")))
        .collect()
}

fn settings(args: &ServeArgs) -> anyhow::Result<Settings> {
    let file = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the config file {}", path.display()))?;
            toml::from_str::<FileConfig>(&text)
                .with_context(|| format!("in the config file {}", path.display()))?
        }
        None => FileConfig::default(),
    };
    let data_dir = args
        .data_dir
        .clone()
        .or(file.data_dir)
        .unwrap_or_else(|| PathBuf::from("ironrack-data"));
    let database_url = args
        .database_url
        .clone()
        .or(file.database_url)
        .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("ironrack.db").display()));
    let mut api = ApiConfig {
        secure_cookie: args.secure_cookie || file.secure_cookie.unwrap_or(false),
        ..ApiConfig::default()
    };
    if let Some(ttl) = &file.session_ttl {
        api.session_ttl =
            humantime::parse_duration(ttl).with_context(|| format!("session_ttl = {ttl:?}"))?;
    }
    if let Some(n) = file.login_failures {
        api.login_failures = n.max(1);
    }
    if let Some(n) = file.pin_failures {
        api.pin_failures = n.max(1);
    }
    let power_poll = match args
        .power_poll_interval
        .as_deref()
        .or(file.power_poll_interval.as_deref())
    {
        None => Some(DEFAULT_POWER_POLL),
        Some("off" | "0") => None,
        Some(text) => {
            let d = humantime::parse_duration(text)
                .with_context(|| format!("power poll interval {text:?} (e.g. 60s, 5m or off)"))?;
            anyhow::ensure!(
                d >= Duration::from_millis(100),
                "power poll interval {text:?} is too short: at least 100ms"
            );
            Some(d)
        }
    };
    let c = &mut api.console;
    for (key, value, slot) in [
        (
            "console_token_ttl",
            &file.console_token_ttl,
            &mut c.token_ttl,
        ),
        (
            "console_idle_timeout",
            &file.console_idle_timeout,
            &mut c.idle_timeout,
        ),
        (
            "console_idle_warning",
            &file.console_idle_warning,
            &mut c.idle_warning,
        ),
        (
            "console_max_duration",
            &file.console_max_duration,
            &mut c.max_duration,
        ),
        (
            "console_reconnect_grace",
            &file.console_reconnect_grace,
            &mut c.reconnect_grace,
        ),
    ] {
        if let Some(v) = value {
            *slot = humantime::parse_duration(v).with_context(|| format!("{key} = {v:?}"))?;
        }
    }
    Ok(Settings {
        power_poll,
        listen: args
            .listen
            .or(file.listen)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
        site: args
            .site
            .clone()
            .or(file.site)
            .unwrap_or_else(|| "local".to_owned()),
        log: args
            .log
            .clone()
            .or(file.log)
            .unwrap_or_else(|| "info".to_owned()),
        data_dir,
        database_url,
        api,
        console_url: file.console_url.unwrap_or_default(),
        console_trusted_proxies: trusted_proxies(
            file.console_trusted_proxies.as_deref().unwrap_or_default(),
            "console_trusted_proxies",
        )?,
    })
}

fn secret_box(args: &ServeArgs, data_dir: &Path) -> anyhow::Result<SecretBox> {
    match &args.secret_key {
        Some(hex) => SecretBox::from_hex(hex).context("IRONRACK_SECRET_KEY"),
        None => SecretBox::from_key_file(&data_dir.join("secret.key")).map_err(Into::into),
    }
}

/// Creates `admin` on an empty database; prints a generated password once.
async fn ensure_admin(store: &Store, given: Option<&str>) -> anyhow::Result<()> {
    if store.count_users().await? > 0 {
        return Ok(());
    }
    let (password, generated) = match given {
        Some(p) if p.chars().count() >= 8 => (p.to_owned(), false),
        Some(_) => bail!("the admin password needs at least 8 characters"),
        None => (random_password(), true),
    };
    let hash = ironrack_api::hash_password(&password);
    store
        .create_user(NewUser {
            username: "admin",
            password_hash: &hash,
            role: Role::Admin,
            tenant_id: None,
        })
        .await?;
    if generated {
        println!("Created the user `admin` with password: {password}");
        println!("(shown this once; change it with PUT /api/v1/me/password)");
    } else {
        println!("Created the user `admin` with the given password");
    }
    Ok(())
}

fn random_password() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 15];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Options of the multi-site processes: where the broker is.
#[derive(clap::Args, Debug)]
pub struct AmqpArgs {
    /// RabbitMQ URL, e.g. amqp://guest:guest@127.0.0.1:5672/%2f
    // Required, but an Option so that `ironrack agent keygen` needs none.
    #[arg(long, env = "IRONRACK_AMQP", hide_env_values = true, required = true)]
    amqp: Option<String>,
    /// Prefix of exchange and queue names (one per ironrack installation).
    #[arg(long, env = "IRONRACK_AMQP_PREFIX", default_value = "ironrack")]
    amqp_prefix: String,
    /// Unacknowledged task messages held at once by an agent (it runs up to
    /// 64 tasks at a time; a message carries one task, or up to 64 read-only
    /// ones); the controller's event consumer holds at least 256.
    #[arg(long, default_value_t = 64)]
    prefetch: u16,
    /// A message delivered this many times without success goes to the
    /// dead-letter queue.
    #[arg(long, default_value_t = 5)]
    max_deliveries: u32,
}

impl AmqpArgs {
    async fn connect(&self) -> anyhow::Result<AmqpBus> {
        let cfg = AmqpConfig {
            url: self.amqp.clone().context("--amqp is required")?,
            prefix: self.amqp_prefix.clone(),
            prefetch: self.prefetch,
            max_deliveries: self.max_deliveries,
        };
        AmqpBus::connect(cfg)
            .await
            .context("connecting to RabbitMQ")
    }
}

#[derive(clap::Args, Debug)]
pub struct ControllerArgs {
    #[command(flatten)]
    common: ServeArgs,
    #[command(flatten)]
    amqp: AmqpArgs,
}

/// Where the agent keeps its private key unless told otherwise.
const DEFAULT_KEY_FILE: &str = "ironrack-agent.key";

/// `ironrack agent [keygen]`.
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct AgentCommand {
    #[command(subcommand)]
    command: Option<AgentSubcommand>,
    #[command(flatten)]
    run: AgentArgs,
}

#[derive(clap::Subcommand, Debug)]
enum AgentSubcommand {
    /// Print the agent's public key (to register on its site), creating the
    /// key file if there is none
    Keygen {
        /// The agent's private key file (created mode 0600 if absent).
        #[arg(long, env = "IRONRACK_AGENT_KEY_FILE", default_value = DEFAULT_KEY_FILE)]
        key_file: PathBuf,
        /// The site it is for, only to print the registration command.
        #[arg(long, env = "IRONRACK_SITE")]
        site: Option<String>,
    },
}

#[derive(clap::Args, Debug)]
pub struct AgentArgs {
    /// The site whose tasks this agent runs.
    // Required, but an Option so that `ironrack agent keygen` needs none.
    #[arg(long, env = "IRONRACK_SITE", required = true)]
    site: Option<String>,
    /// The agent's private key file: BMC passwords arrive sealed to its
    /// public half, which an admin registers on the site. Created (mode
    /// 0600) on first start; refused if group or others may read it.
    #[arg(long, env = "IRONRACK_AGENT_KEY_FILE", default_value = DEFAULT_KEY_FILE)]
    key_file: PathBuf,
    /// A key file this agent had before a rotation (repeatable): secrets of
    /// tasks queued before the new key was registered still open with it.
    /// Drop it once those tasks have run.
    #[arg(long, value_name = "PATH")]
    previous_key_file: Vec<PathBuf>,
    /// This agent's name in heartbeats (default: the host name).
    #[arg(long, env = "IRONRACK_AGENT_NAME")]
    name: Option<String>,
    #[command(flatten)]
    amqp: AmqpArgs,
    /// At most this many BMCs are polled for their power state at once.
    #[arg(long, env = "IRONRACK_POLL_CONCURRENCY", default_value_t = ironrack_agent::DEFAULT_POLL_LIMIT)]
    poll_concurrency: usize,
    /// Log filter.
    #[arg(long, env = "IRONRACK_LOG", default_value = "info")]
    log: String,
    /// Serve browser consoles (WebSocket gateway) on this address.
    #[arg(long, env = "IRONRACK_CONSOLE_LISTEN")]
    console_listen: Option<SocketAddr>,
    /// Public base URL of this agent's console gateway, put into console
    /// URLs (e.g. https://console.ams1.example.net).
    #[arg(long, env = "IRONRACK_CONSOLE_URL")]
    console_url: Option<String>,
    /// Where SOL console logs are kept.
    #[arg(
        long,
        env = "IRONRACK_CONSOLE_LOG_DIR",
        default_value = "ironrack-agent-data/console-logs"
    )]
    console_log_dir: PathBuf,
    #[command(flatten)]
    desktop: DesktopArgs,
    /// A reverse proxy (address or CIDR block) in front of the console
    /// gateway whose X-Forwarded-For names the browser; repeat or separate
    /// with commas.
    #[arg(long, env = "IRONRACK_CONSOLE_TRUSTED_PROXIES", value_delimiter = ',')]
    console_trusted_proxy: Vec<String>,
}

fn init_logs(filter: &str) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(filter).context("--log")?)
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    Ok(())
}

/// Opens the store, creating the data dir, the admin user and the local
/// site on first start.
async fn open_store(args: &ServeArgs, s: &Settings) -> anyhow::Result<Store> {
    std::fs::create_dir_all(&s.data_dir)
        .with_context(|| format!("creating {}", s.data_dir.display()))?;
    let secrets = secret_box(args, &s.data_dir)?;
    let store = Store::connect(&s.database_url, secrets)
        .await
        .context("opening the database")?;
    ensure_admin(&store, args.admin_password.as_deref()).await?;
    Ok(store)
}

/// Serves the API until a shutdown signal, after resuming unfinished tasks.
async fn serve_api(
    state: AppState,
    s: &Settings,
    started: Instant,
    mode: &str,
    console: Option<ironrack_console::Gateway>,
) -> anyhow::Result<()> {
    let store = state.store.clone();
    let resumed = ironrack_api::resume_unfinished(&state).await?;
    let mut app = ironrack_api::router(state).merge(ironrack_web::router());
    if let Some(gw) = console {
        // The gateway's routes carry their own (token) auth, outside the API's layers.
        app = app.merge(gw.router());
    }
    let listener = tokio::net::TcpListener::bind(s.listen)
        .await
        .with_context(|| format!("listening on {}", s.listen))?;
    tracing::info!(
        listen = %listener.local_addr()?,
        database = store.backend(),
        mode,
        resumed,
        startup_ms = started.elapsed().as_millis() as u64,
        "ironrack serving"
    );
    crate::http::serve(listener, app, shutdown_signal()).await;
    tokio::time::timeout(Duration::from_secs(5), store.close())
        .await
        .ok();
    Ok(())
}

/// `ironrack serve`: API, in-process bus and one local agent.
pub async fn run(cmd: ServeCmd) -> anyhow::Result<()> {
    let args = cmd.common;
    let started = Instant::now();
    let s = settings(&args)?;
    init_logs(&s.log)?;
    let store = open_store(&args, &s).await?;
    if store.site_by_name(&s.site).await?.is_none() {
        store.create_site(&s.site, "this machine").await?;
    }
    // The local gateway's sessions ended with the previous process.
    let stale = store.close_open_consoles("restart").await?;
    if stale > 0 {
        tracing::info!(
            sessions = stale,
            "console sessions of the previous run marked closed"
        );
    }
    let bus = InProcessBus::single_agent(&s.site);
    let queue = bus
        .consume_site(&s.site)
        .context("site queue already taken")?;
    let gateway = console_gateway(
        s.console_url.clone(),
        s.data_dir.join("console-logs"),
        s.console_trusted_proxies.clone(),
        bus.event_sender(),
    );
    let mut agent = Agent::new(s.site.clone(), Drivers::default(), bus.event_sender())
        .with_console(gateway.clone());
    let desktops = cmd.desktop.desktops(s.data_dir.join("desktop"))?;
    if let Some(d) = &desktops {
        agent = agent.with_desktops(d.clone());
    }
    tokio::spawn(agent.run(queue));
    let events = bus.take_events().context("event stream already taken")?;
    let state = AppState::new(store, Arc::new(bus), s.api.clone());
    if let Some(d) = &desktops {
        state.set_local_desktop_templates(d.templates().names().map(str::to_owned));
    }
    tokio::spawn(ironrack_api::apply_events(
        state.clone(),
        ironrack_bus::unacked_deliveries(events),
    ));
    if let Some(interval) = s.power_poll {
        // The one local agent serves every site.
        let cfg = ironrack_api::PowerPollConfig::new(interval, true);
        tokio::spawn(ironrack_api::run_power_poller(state.clone(), cfg));
    }
    let served = serve_api(state, &s, started, "serve", Some(gateway)).await;
    if let Some(d) = desktops {
        d.stop_all().await;
    }
    served
}

/// The site's console gateway, its reports going onto the bus.
fn console_gateway(
    public_base: String,
    log_dir: PathBuf,
    trusted_proxies: Vec<ironrack_console::IpNet>,
    events: ironrack_bus::EventSender,
) -> ironrack_console::Gateway {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(ironrack_agent::console::forward_events(rx, events));
    ironrack_console::Gateway::new(
        ironrack_console::GatewayConfig {
            public_base: public_base.trim_end_matches('/').to_owned(),
            log_dir,
            log_limit: 1 << 20,
            trusted_proxies,
        },
        tx,
    )
}

/// `ironrack controller`: the API with tasks going to site agents through
/// RabbitMQ; no agent inside.
pub async fn run_controller(args: ControllerArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let s = settings(&args.common)?;
    init_logs(&s.log)?;
    let store = open_store(&args.common, &s).await?;
    let bus = args.amqp.connect().await?;
    let events = bus
        .consume_events()
        .await
        .context("consuming agents' events")?;
    let state = AppState::new(store, Arc::new(bus), s.api.clone());
    tokio::spawn(ironrack_api::apply_events(state.clone(), events));
    // Sessions of agents that died are closed (in `serve` they die with us).
    tokio::spawn(ironrack_api::run_console_reaper(state.clone()));
    if let Some(interval) = s.power_poll {
        // Only sites with a live agent: polls must not pile up in the
        // queue of a site whose agent is down.
        let cfg = ironrack_api::PowerPollConfig::new(interval, false);
        tokio::spawn(ironrack_api::run_power_poller(state.clone(), cfg));
    }
    serve_api(state, &s, started, "controller", None).await
}

/// How often an agent says it is alive.
const HEARTBEAT: Duration = Duration::from_secs(10);

/// `ironrack agent` and `ironrack agent keygen`.
pub async fn agent(cmd: AgentCommand) -> anyhow::Result<()> {
    match cmd.command {
        Some(AgentSubcommand::Keygen { key_file, site }) => keygen(&key_file, site.as_deref()),
        None => run_agent(cmd.run).await,
    }
}

/// Prints the public key (creating the key file if absent): the line to
/// copy, then how to register it.
fn keygen(path: &Path, site: Option<&str>) -> anyhow::Result<()> {
    let (key, created) = ironrack_seal::keyfile::load_or_create(path)?;
    let public = key.public();
    println!("{}", public.to_base64());
    eprintln!(
        "{} {} (fingerprint {}); register it on the agent's site with:\n  ironrack site agent-key {} {}",
        if created { "created" } else { "read" },
        path.display(),
        public.fingerprint(),
        site.unwrap_or("SITE"),
        public.to_base64()
    );
    Ok(())
}

/// `ironrack agent`: runs one site's tasks from RabbitMQ.
pub async fn run_agent(args: AgentArgs) -> anyhow::Result<()> {
    init_logs(&args.log)?;
    let site = args.site.clone().context("--site is required")?;
    let (key, created) = ironrack_seal::keyfile::load_or_create(&args.key_file)?;
    tracing::info!(
        key_file = %args.key_file.display(),
        created,
        fingerprint = key.public().fingerprint(),
        public_key = %key.public().to_base64(),
        "agent key (register it with `ironrack site agent-key {} <public_key>`)",
        site
    );
    let bus = args.amqp.connect().await?;
    let tasks = bus
        .consume_tasks(&site)
        .await
        .context("consuming the site's tasks")?;
    let name = args.name.clone().unwrap_or_else(host_name);
    let events = bus.event_sender();
    let mut agent = Agent::new(site.clone(), Drivers::default(), events.clone())
        .with_poll_limit(args.poll_concurrency);
    let key_fingerprint = key.public().fingerprint().to_owned();
    let mut previous = Vec::new();
    for path in &args.previous_key_file {
        let old = ironrack_seal::keyfile::load(path)
            .with_context(|| format!("--previous-key-file {}", path.display()))?;
        tracing::info!(key_file = %path.display(), fingerprint = old.public().fingerprint(), "previous agent key: still opens tasks sealed to it");
        previous.push(old);
    }
    agent = agent.with_key(key).with_previous_keys(previous);
    let mut console_instance = None;
    if let Some(addr) = args.console_listen {
        let base = match &args.console_url {
            Some(u) => u.clone(),
            None => format!("http://{addr}"),
        };
        let proxies = trusted_proxies(&args.console_trusted_proxy, "--console-trusted-proxy")?;
        let gateway = console_gateway(base, args.console_log_dir.clone(), proxies, events.clone());
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("--console-listen {addr}"))?;
        tracing::info!(listen = %listener.local_addr()?, "console gateway serving");
        let app: axum::Router = gateway.router();
        tokio::spawn(crate::http::serve(listener, app, std::future::pending()));
        console_instance = Some(gateway.instance().to_owned());
        agent = agent.with_console(gateway);
    }
    let desktops = args
        .desktop
        .desktops(PathBuf::from("ironrack-agent-data/desktop"))?;
    if let Some(d) = &desktops {
        agent = agent.with_desktops(d.clone());
    }
    let heartbeat = Event::Heartbeat {
        site: site.clone(),
        agent: name.clone(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        key: Some(key_fingerprint),
        console_instance,
        desktop_templates: desktops
            .as_ref()
            .map(|d| d.templates().names().map(str::to_owned).collect()),
    };
    let beats = events.clone();
    tokio::spawn(async move {
        loop {
            if let Err(e) = beats.send(heartbeat.clone()).await {
                tracing::warn!(error = %e, "heartbeat not sent");
            }
            tokio::time::sleep(HEARTBEAT).await;
        }
    });
    tracing::info!(site = %site, agent = %name, "agent connected");
    tokio::select! {
        _ = agent.run_deliveries(tasks) => {},
        _ = shutdown_signal() => {},
    }
    if let Some(d) = desktops {
        d.stop_all().await;
    }
    bus.close().await;
    Ok(())
}

fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "agent".to_owned())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return ctrl_c.await.unwrap_or(()),
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await.ok();
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        serve: ServeArgs,
    }

    #[test]
    fn flags_win_over_file_and_defaults_apply() {
        let dir = std::env::temp_dir().join(format!("ironrack-serve-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("ironrack.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\nsite = \"ams1\"\nsession_ttl = \"2h\"\n",
        )
        .unwrap();
        let args = T::parse_from(["t", "--config", file.to_str().unwrap(), "--site", "fra1"]).serve;
        let s = settings(&args).unwrap();
        assert_eq!(s.listen.port(), 9000);
        assert_eq!(s.site, "fra1");
        assert_eq!(s.api.session_ttl, Duration::from_secs(7200));
        assert_eq!(s.database_url, "sqlite://ironrack-data/ironrack.db");
        assert_eq!(s.power_poll, Some(Duration::from_secs(60)));

        std::fs::write(&file, "power_poll_interval = \"off\"\n").unwrap();
        let args = T::parse_from(["t", "--config", file.to_str().unwrap()]).serve;
        assert_eq!(settings(&args).unwrap().power_poll, None);
        let args = T::parse_from(["t", "--power-poll-interval", "2s"]).serve;
        assert_eq!(
            settings(&args).unwrap().power_poll,
            Some(Duration::from_secs(2))
        );
        let args = T::parse_from(["t", "--power-poll-interval", "soon"]).serve;
        let err = format!("{:#}", settings(&args).unwrap_err());
        assert!(err.contains("power poll interval \"soon\""), "{err}");

        std::fs::write(&file, "listne = \"x\"\n").unwrap();
        let args = T::parse_from(["t", "--config", file.to_str().unwrap()]).serve;
        let err = format!("{:#}", settings(&args).unwrap_err());
        assert!(err.contains("unknown field `listne`"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
