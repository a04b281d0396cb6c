//! Starts the real `ironrack serve` binary for tests and talks to it over HTTP.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub const ADMIN_PASSWORD: &str = "admin-pass-123";

#[derive(Clone, Copy, Debug)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// A running `ironrack serve`, killed (by its PID) when dropped.
pub struct Server {
    pub url: String,
    pub data_dir: PathBuf,
    pub database_url: String,
    child: Option<Child>,
    pub http: reqwest::Client,
    /// `controller` with these AMQP arguments instead of `serve`.
    pub amqp: Option<(String, String)>,
    /// Every response body seen, to check secrets never appear in one.
    pub bodies: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// More command-line arguments for `serve`/`controller`.
    pub extra_args: Vec<String>,
    /// A TOML config file passed with `--config`.
    pub config: Option<PathBuf>,
}

pub struct Reply {
    pub status: StatusCode,
    pub content_type: String,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.body
        );
        if status >= 400 {
            assert_eq!(
                self.content_type, "application/problem+json",
                "errors are problems"
            );
            assert!(
                self.body["detail"].as_str().is_some_and(|d| !d.is_empty()),
                "problem without detail"
            );
        }
        self.body
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Server {
    pub async fn start(db: Db) -> Server {
        let mut server = Server::start_stopped(db).await;
        server.spawn().await;
        server
    }

    /// `serve` with more command-line arguments.
    pub async fn start_with(db: Db, args: &[&str]) -> Server {
        let mut server = Server::start_stopped(db).await;
        server.extra_args = args.iter().map(|a| a.to_string()).collect();
        server.spawn().await;
        server
    }

    /// `ironrack serve` with these TOML settings.
    pub async fn start_with_config(db: Db, toml: &str) -> Server {
        let mut server = Server::start_stopped(db).await;
        let path = server.data_dir.join("ironrack.toml");
        std::fs::write(&path, toml).unwrap();
        server.config = Some(path);
        server.spawn().await;
        server
    }

    /// `ironrack controller` on SQLite, with tasks going through RabbitMQ.
    pub async fn start_controller(amqp_url: &str, prefix: &str) -> Server {
        Server::start_controller_with(amqp_url, prefix, &[]).await
    }

    /// `controller` with more command-line arguments.
    pub async fn start_controller_with(amqp_url: &str, prefix: &str, args: &[&str]) -> Server {
        let mut server = Server::start_stopped(Db::Sqlite).await;
        server.amqp = Some((amqp_url.to_owned(), prefix.to_owned()));
        server.extra_args = args.iter().map(|a| a.to_string()).collect();
        server.spawn().await;
        server
    }

    async fn start_stopped(db: Db) -> Server {
        let data_dir = std::env::temp_dir().join(format!(
            "ironrack-it-{}-{}",
            std::process::id(),
            ironrack_store::now_ms() % 100_000_000 + rand_suffix()
        ));
        std::fs::create_dir_all(&data_dir).unwrap();
        let database_url = match db {
            Db::Sqlite => format!("sqlite://{}/ironrack.db", data_dir.display()),
            Db::Postgres => ironrack_store::testing::fresh_postgres_url().await,
        };
        Server {
            url: String::new(),
            data_dir,
            database_url,
            child: None,
            http: reqwest::Client::new(),
            amqp: None,
            bodies: Default::default(),
            extra_args: Vec::new(),
            config: None,
        }
    }

    /// Starts (or restarts) the process on the same data dir and database.
    pub async fn spawn(&mut self) {
        let port = free_port();
        self.url = format!("http://127.0.0.1:{port}");
        let log = std::fs::File::create(self.data_dir.join("serve.log")).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ironrack"));
        match &self.amqp {
            None => cmd.arg("serve"),
            Some((url, prefix)) => cmd.args(["controller", "--amqp", url, "--amqp-prefix", prefix]),
        };
        if let Some(config) = &self.config {
            cmd.arg("--config").arg(config);
        }
        let child = cmd
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["--database-url", &self.database_url])
            .args(&self.extra_args)
            .env("IRONRACK_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("IRONRACK_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start ironrack serve");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = self
                .http
                .get(format!("{}/api/v1/health", self.url))
                .send()
                .await
                && r.status() == 200
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "ironrack serve did not come up; log: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM (a graceful shutdown), then waits for the process to exit.
    pub fn terminate(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let _ = child.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("serve.log")).unwrap_or_default()
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        self.call_with(method, path, token, body, &[]).await
    }

    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = self.http.request(method, format!("{}{path}", self.url));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("request");
        self.reply(resp).await
    }

    pub async fn reply(&self, resp: reqwest::Response) -> Reply {
        let status = resp.status();
        let headers = resp.headers().clone();
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let text = resp.text().await.unwrap_or_default();
        self.bodies.lock().unwrap().push(text.clone());
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            content_type,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn login(&self, username: &str, password: &str) -> String {
        let body = self
            .call(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(json!({"username": username, "password": password})),
            )
            .await
            .expect(200);
        body["token"].as_str().unwrap().to_owned()
    }

    pub async fn admin(&self) -> String {
        self.login("admin", ADMIN_PASSWORD).await
    }

    /// Creates a user with a password and a PIN, and returns its token.
    pub async fn user(&self, admin: &str, name: &str, role: &str, tenant: Option<&str>) -> String {
        let password = format!("{name}-password");
        self.post(
            "/api/v1/users",
            admin,
            json!({"username": name, "password": password, "role": role, "tenant": tenant}),
        )
        .await
        .expect(201);
        let token = self.login(name, &password).await;
        self.call(
            Method::PUT,
            "/api/v1/me/pin",
            Some(&token),
            Some(json!({"pin": "2468", "password": password})),
        )
        .await
        .expect(204);
        token
    }

    pub async fn server(
        &self,
        admin: &str,
        name: &str,
        tenant: Option<&str>,
        bmc_password: &str,
    ) -> i64 {
        let body = self
            .post(
                "/api/v1/servers",
                admin,
                json!({"name": name, "site": "local", "tenant": tenant, "macs": ["52:54:00:aa:bb:01"],
                       "bmc": {"driver": "fake", "address": "10.1.2.3", "username": "ADMIN", "password": bmc_password}}),
            )
            .await
            .expect(201);
        body["id"].as_i64().unwrap()
    }

    /// Registers the key of `site`'s test agents (see [`agent_key_file`]),
    /// as an admin would: `ironrack agent keygen` prints it, the API takes
    /// it. Returns the site as the API shows it afterwards.
    pub async fn register_agent_key(&self, admin: &str, site: &str) -> Value {
        let public_key = agent_keygen(&agent_key_file(&self.data_dir, site));
        self.set_agent_key(admin, site, &public_key)
            .await
            .expect(200)
    }

    /// `PUT /api/v1/sites/{id}/agent-key` for the site called `site`.
    pub async fn set_agent_key(&self, admin: &str, site: &str, public_key: &str) -> Reply {
        let sites = self.get("/api/v1/sites", admin).await.expect(200);
        let id = sites["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == site)
            .unwrap_or_else(|| panic!("no site {site}: {sites}"))["id"]
            .as_i64()
            .unwrap();
        self.call(
            Method::PUT,
            &format!("/api/v1/sites/{id}/agent-key"),
            Some(admin),
            Some(json!({ "public_key": public_key })),
        )
        .await
    }

    /// Polls a task until it ends.
    pub async fn wait_task(&self, token: &str, id: i64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let task = self
                .get(&format!("/api/v1/tasks/{id}"), token)
                .await
                .expect(200);
            if ["succeeded", "failed", "cancelled"].contains(&task["state"].as_str().unwrap()) {
                return task;
            }
            assert!(
                Instant::now() < deadline,
                "task {id} did not finish: {task}"
            );
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }
}

/// The key file of `site`'s test agents: one per site, shared by all its
/// agents (as on a real site), in the test's directory.
pub fn agent_key_file(dir: &std::path::Path, site: &str) -> PathBuf {
    dir.join(format!("agent-{site}.key"))
}

/// `ironrack agent keygen --key-file PATH`: the public key it prints (the
/// file is created if absent).
pub fn agent_keygen(key_file: &std::path::Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ironrack"))
        .args(["agent", "keygen", "--key-file"])
        .arg(key_file)
        .output()
        .expect("run ironrack agent keygen");
    assert!(
        out.status.success(),
        "keygen failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// An `ironrack agent` process, killed (by its PID) when dropped.
pub struct AgentProcess {
    child: Child,
    pub log: PathBuf,
}

impl AgentProcess {
    pub fn start(
        site: &str,
        amqp_url: &str,
        prefix: &str,
        log_dir: &std::path::Path,
        name: &str,
    ) -> AgentProcess {
        Self::start_with(site, amqp_url, prefix, log_dir, name, &[])
    }

    /// Like [`AgentProcess::start`] with extra `ironrack agent` arguments
    /// (its key file is [`agent_key_file`] of `log_dir` unless `--key-file`
    /// is among them).
    pub fn start_with(
        site: &str,
        amqp_url: &str,
        prefix: &str,
        log_dir: &std::path::Path,
        name: &str,
        extra: &[&str],
    ) -> AgentProcess {
        let log = log_dir.join(format!("agent-{name}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_ironrack"))
            .args([
                "agent",
                "--site",
                site,
                "--name",
                name,
                "--amqp",
                amqp_url,
                "--amqp-prefix",
                prefix,
            ])
            .args(extra)
            .args(if extra.contains(&"--key-file") {
                vec![]
            } else {
                vec![
                    "--key-file".into(),
                    agent_key_file(log_dir, site).into_os_string(),
                ]
            })
            .env("IRONRACK_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start ironrack agent");
        AgentProcess { child, log }
    }

    /// `kill -9`: no goodbye to the broker.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rand_suffix() -> i64 {
    use std::sync::atomic::{AtomicI64, Ordering};
    static N: AtomicI64 = AtomicI64::new(0);
    N.fetch_add(1, Ordering::Relaxed) * 100_000_000
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// Runs a scenario against SQLite and against PostgreSQL.
#[macro_export]
macro_rules! both_databases {
    ($($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$scenario($crate::common::Server::start($crate::common::Db::Sqlite).await).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$scenario($crate::common::Server::start($crate::common::Db::Postgres).await).await;
                }
            }
        )*
    };
}

/// Deletes, when dropped (also when the test panics), every queue and
/// exchange on the broker whose name starts with the test's prefix: what
/// its controller and agents declared. Without it each run would leave
/// its topology on the developer's or CI's RabbitMQ.
#[allow(dead_code)] // not every test file that includes `common` uses a broker
pub struct BrokerObjects {
    url: String,
    prefix: String,
}

#[allow(dead_code)]
impl BrokerObjects {
    pub fn new(url: &str, prefix: &str) -> BrokerObjects {
        BrokerObjects {
            url: url.to_owned(),
            prefix: prefix.to_owned(),
        }
    }
}

impl Drop for BrokerObjects {
    fn drop(&mut self) {
        // rabbitmqctl lists the names; AMQP deletes them (rabbitmqctl has no
        // delete for exchanges). Its own thread and runtime: Drop cannot await.
        let named = |what: &str| -> Vec<String> {
            Command::new("rabbitmqctl")
                .args(["-q", "--no-table-headers", &format!("list_{what}"), "name"])
                .output()
                .map(|o| {
                    String::from_utf8_lossy(&o.stdout)
                        .lines()
                        .map(str::trim)
                        .filter(|n| n.starts_with(&self.prefix))
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        let (queues, exchanges) = (named("queues"), named("exchanges"));
        let url = self.url.clone();
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let Ok(conn) =
                    lapin::Connection::connect(&url, lapin::ConnectionProperties::default()).await
                else {
                    return;
                };
                let Ok(ch) = conn.create_channel().await else {
                    return;
                };
                for q in &queues {
                    let _ = ch.queue_delete(q.as_str().into(), Default::default()).await;
                }
                for x in &exchanges {
                    let _ = ch
                        .exchange_delete(x.as_str().into(), Default::default())
                        .await;
                }
                let _ = conn.close(200, "test done".into()).await;
            });
        })
        .join();
    }
}
