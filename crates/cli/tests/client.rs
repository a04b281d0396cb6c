//! End to end: a real `ironrack serve` on a free port, driven through the CLI binary.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ironrack");
const ADMIN_PASSWORD: &str = "correct-horse-battery";

/// The server process and its temp dir; both go away on drop, also when a test panics.
struct Serve {
    child: Child,
    dir: PathBuf,
    url: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Serve {
    fn start() -> Serve {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!("ironrack-cli-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(dir.join("data")).unwrap();
        // Take a free port from the kernel; the tiny race until serve binds it is fine here.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::fs::File::create(dir.join("serve.log")).unwrap();
        let child = Command::new(BIN)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .arg("serve")
            .arg("--data-dir")
            .arg(dir.join("data"))
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--admin-password", ADMIN_PASSWORD])
            // The site of the built-in agent, which runs the power tasks.
            .args(["--site", "local"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start ironrack serve");
        let mut serve = Serve {
            child,
            dir,
            url: format!("http://127.0.0.1:{port}"),
        };
        serve.wait_healthy(port);
        serve
    }

    fn wait_healthy(&mut self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if health_ok(port) {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("ironrack serve exited with {status}:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "ironrack serve not healthy after 60 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("serve.log")).unwrap_or_default()
    }

    fn config(&self) -> PathBuf {
        self.dir.join("cli").join("config.toml")
    }

    /// Runs the CLI with this test's config file and nothing from the caller's environment.
    fn cli(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = Command::new(BIN)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("IRONRACK_CONFIG", self.config())
            .env("HOME", &self.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    /// Runs the CLI, asserts success, returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        self.ok_stdin(args, "")
    }

    fn ok_stdin(&self, args: &[&str], stdin: &str) -> String {
        let out = self.cli(args, stdin);
        assert!(
            out.status.success(),
            "ironrack {args:?} failed:\n{}",
            describe(&out)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs the CLI, asserts failure with exit code 1, returns stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.cli(args, "");
        assert_eq!(
            out.status.code(),
            Some(1),
            "ironrack {args:?} should fail:\n{}",
            describe(&out)
        );
        String::from_utf8(out.stderr).unwrap()
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut args = args.to_vec();
        args.push("--json");
        serde_json::from_str(&self.ok(&args)).unwrap()
    }
}

fn describe(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn health_ok(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let req = "GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    let mut resp = String::new();
    s.write_all(req.as_bytes()).is_ok()
        && s.read_to_string(&mut resp).is_ok()
        && resp.starts_with("HTTP/1.1 200")
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn cli_against_a_real_server() {
    let serve = Serve::start();
    let url = serve.url.as_str();

    // Login saves URL and token (0600); later commands find the server through it.
    let out = serve.ok_stdin(
        &["login", "--url", url, "-u", "admin", "--password-stdin"],
        &format!("{ADMIN_PASSWORD}\n"),
    );
    assert_eq!(out.trim(), format!("Logged in to {url} as admin (admin)"));
    assert_eq!(mode(&serve.config()), 0o600);
    let config = std::fs::read_to_string(serve.config()).unwrap();
    assert!(
        config.contains(&format!("url = \"{url}\"")) && config.contains("token = "),
        "{config}"
    );
    assert_eq!(serve.json(&["whoami"])["username"], "admin");

    // Wrong password: the API's message, non-zero exit.
    let out = serve.cli(&["login", "-u", "admin"], "wrong-password\n");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("(HTTP 401)"),
        "{}",
        describe(&out)
    );

    assert!(
        serve
            .ok(&["site", "add", "par1", "--location", "Paris"])
            .contains("Created site par1")
    );
    let sites = serve.ok(&["site", "list"]);
    assert!(
        sites.contains("Paris") && sites.contains("local"),
        "{sites}"
    );
    // An agent key registered, then removed (a compromised agent host).
    let key_file = serve.dir.join("par1-agent.key");
    let keygen = serve.ok(&["agent", "keygen", "--key-file", key_file.to_str().unwrap()]);
    let public = keygen.lines().last().unwrap().trim().to_owned();
    assert!(
        serve
            .ok(&["site", "agent-key", "par1", &public])
            .contains("Registered agent key")
    );
    assert!(
        serve
            .ok(&["site", "agent-key", "par1", "--remove"])
            .contains("Removed the agent key of site par1")
    );
    let site = serve.json(&["site", "list"]);
    let par1 = site["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "par1")
        .unwrap();
    assert!(par1["agent_key"].is_null(), "{par1}");
    assert!(
        serve
            .ok(&["tenant", "add", "acme"])
            .contains("Created tenant acme")
    );
    let add = [
        "server",
        "add",
        "web-1",
        "--site",
        "local",
        "--tenant",
        "acme",
        "--mac",
        "52:54:00:12:34:56",
        "--bmc-driver",
        "fake",
        "--bmc-address",
        "127.0.0.1",
        "--bmc-option",
        "model=demo",
    ];
    assert!(serve.ok(&add).contains("Created server web-1"));

    // Table: headers, then one aligned row.
    let table = serve.ok(&["server", "list"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    let headers: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        headers[..5],
        ["ID", "NAME", "SITE", "TENANT", "POWER"],
        "{table}"
    );
    let cells: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(cells[1..4], ["web-1", "local", "acme"], "{table}");
    assert_eq!(lines[0].find("SITE"), lines[1].find("local"), "{table}");
    assert_eq!(lines[0].find("TENANT"), lines[1].find("acme"), "{table}");

    let list = serve.json(&["server", "list", "--all"]);
    let server = &list["items"][0];
    assert_eq!(server["name"], "web-1");
    assert_eq!(server["bmc"]["driver"], "fake");
    assert_eq!(server["bmc"]["options"]["model"], "demo");
    assert!(list["next_cursor"].is_null());
    let id = server["id"].as_i64().unwrap().to_string();
    assert_eq!(serve.json(&["server", "show", &id])["name"], "web-1");
    assert!(
        serve
            .ok(&["server", "show", "web-1"])
            .contains("BMC driver:")
    );

    // Power status by name, waiting for the agent's answer.
    let out = serve.ok(&[
        "server",
        "power",
        "web-1",
        "status",
        "--wait",
        "--timeout",
        "30s",
    ]);
    assert!(out.contains("succeeded: power is"), "{out}");
    // Off needs a PIN: none set yet → refused; after `pin set` it goes through.
    let err = serve.fails(&["server", "power", "web-1", "off", "--pin", "1234"]);
    assert!(err.contains("(HTTP 403)"), "{err}");
    serve.ok_stdin(&["pin", "set"], &format!("482916\n{ADMIN_PASSWORD}\n"));
    let out = serve.ok(&["server", "power", &id, "off", "--pin", "482916", "--wait"]);
    assert!(out.contains("succeeded: power is off"), "{out}");
    let tasks = serve.ok(&["task", "list", "--server", "web-1"]);
    assert_eq!(tasks.lines().count(), 3, "{tasks}");

    // Tokens: the secret once on stdout, the note on stderr; list; revoke.
    let out = serve.cli(
        &[
            "token",
            "create",
            "ci",
            "--server",
            "web-1",
            "--expires-in-days",
            "7",
        ],
        "",
    );
    assert!(out.status.success(), "{}", describe(&out));
    let secret = String::from_utf8(out.stdout).unwrap();
    assert_eq!(secret.trim().lines().count(), 1, "{secret}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("shown only now"));
    let tokens = serve.json(&["token", "list"]);
    let ci = tokens["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "ci")
        .unwrap();
    assert_eq!(ci["server_ids"][0].to_string(), id);
    assert!(serve.ok(&["token", "list"]).contains(" ci "));
    // The new token works on its own, from the environment.
    let out = Command::new(BIN)
        .args(["server", "list", "--url", url, "--json"])
        .env("IRONRACK_TOKEN", secret.trim())
        .env("IRONRACK_CONFIG", serve.dir.join("none.toml"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        serve
            .ok(&["token", "revoke", "ci"])
            .contains("Revoked token ci")
    );
    let tokens = serve.json(&["token", "list"]);
    assert!(
        !tokens["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "ci"),
        "{tokens}"
    );

    // A duplicate name: the API's detail on stderr, exit code 1.
    let err = serve.fails(&add);
    assert!(err.starts_with("error: "), "{err}");
    assert!(
        err.contains("already exists") && err.contains("HTTP 409"),
        "{err}"
    );
    let err = serve.fails(&["server", "show", "nope"]);
    assert!(err.contains("no server named `nope`"), "{err}");

    let audit = serve.ok(&["audit", "--limit", "5"]);
    assert_eq!(
        audit.split_whitespace().take(3).collect::<Vec<_>>(),
        ["ID", "AT", "USER"],
        "{audit}"
    );
    assert_eq!(audit.lines().count(), 6, "{audit}");
    assert!(
        serve
            .ok(&["server", "rm", "web-1"])
            .contains("Deleted server web-1")
    );

    // Logout forgets the token; the next call asks to log in.
    serve.ok(&["logout"]);
    assert!(
        !std::fs::read_to_string(serve.config())
            .unwrap()
            .contains("token")
    );
    let err = serve.fails(&["whoami"]);
    assert!(
        err.contains("HTTP 401") && err.contains("ironrack login"),
        "{err}"
    );
}

#[test]
fn unreachable_server_is_a_clear_error() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let out = Command::new(BIN)
        .args(["whoami", "--url", &url])
        .env(
            "IRONRACK_CONFIG",
            std::env::temp_dir().join("ironrack-cli-absent.toml"),
        )
        .env_remove("IRONRACK_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!("error: cannot reach ironrack at {url}: ")),
        "{err}"
    );
}
