//! The `redfish` driver end to end: tasks through `Agent` + `InProcessBus`
//! against sushy-tools' Redfish emulator (fake systems, HTTP Basic with a
//! bcrypt htpasswd). Skipped with a notice if sushy-emulator is missing
//! (`pip install sushy-tools`).

mod lab;
use lab::{Lab, succeeded};

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use ironrack_bus::{BmcTarget, Event};
use ironrack_core::{PowerState, TaskEventKind};
use serde_json::{Value, json};

const USER: &str = "admin";
const PASSWORD: &str = "s3cret-pw";
const SYSTEM_UUID: &str = "27946b59-9e44-4fa7-8e91-f3527a1ef094";

fn skip(test: &str, why: &str) {
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

fn have(bin: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {bin}"))
        .output()
        .is_ok_and(|o| o.status.success())
}

fn free_tcp_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// One running sushy-emulator; killed (by its PID) on drop.
struct Sushy {
    child: Child,
    dir: PathBuf,
    port: u16,
    /// Serving HTTPS with a fresh self-signed certificate.
    tls: bool,
}

impl Drop for Sushy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Wait until the service root answers (false if the process died).
fn ready(child: &mut Child, port: u16, tls: bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if child.try_wait().ok().flatten().is_some() {
            return false;
        }
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            if tls {
                // Werkzeug listens once the app is up.
                return true;
            }
            use std::io::Read;
            let _ = s.write_all(b"GET /redfish/v1/ HTTP/1.0\r\n\r\n");
            let mut buf = String::new();
            let _ = s.read_to_string(&mut buf);
            if buf.starts_with("HTTP/1.") && buf.contains("ServiceRoot") {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl Sushy {
    /// Start an emulator with one fake system (powered off), or `None`
    /// after printing why. `feature_set`: sushy's `full` or `minimum` (no
    /// VirtualMedia, no managers).
    fn start(test: &str, feature_set: &str) -> Option<Sushy> {
        Self::start_with(test, feature_set, false)
    }

    /// Like [`Sushy::start`], over HTTPS if `tls` (a self-signed P-256
    /// certificate for 127.0.0.1 made with openssl).
    fn start_with(test: &str, feature_set: &str, tls: bool) -> Option<Sushy> {
        if !have("sushy-emulator") {
            skip(
                test,
                "sushy-emulator not installed (pip install sushy-tools)",
            );
            return None;
        }
        let k = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("ironrack-sushy-{}-{k}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // sushy-tools needs bcrypt, so the Python that runs it has it.
        let hash = Command::new("python3")
            .args([
                "-c",
                "import bcrypt,sys; print(bcrypt.hashpw(sys.argv[1].encode(), bcrypt.gensalt(rounds=4)).decode())",
                PASSWORD,
            ])
            .output()
            .expect("run python3");
        assert!(
            hash.status.success(),
            "python3 -c 'import bcrypt' failed (installed with sushy-tools): {}",
            String::from_utf8_lossy(&hash.stderr)
        );
        let hash = String::from_utf8(hash.stdout).unwrap();
        std::fs::write(dir.join("htpasswd"), format!("{USER}:{}\n", hash.trim())).unwrap();
        let mut tls_conf = String::new();
        if tls {
            let out = Command::new("openssl")
                .args([
                    "req",
                    "-x509",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:prime256v1",
                ])
                .args(["-nodes", "-days", "2", "-subj", "/CN=bmc.test"])
                .args(["-addext", "subjectAltName=IP:127.0.0.1", "-keyout"])
                .arg(dir.join("key.pem"))
                .arg("-out")
                .arg(dir.join("cert.pem"))
                .output()
                .expect("run openssl");
            assert!(
                out.status.success(),
                "openssl req: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            tls_conf = format!(
                "SUSHY_EMULATOR_SSL_CERT = '{}'\nSUSHY_EMULATOR_SSL_KEY = '{}'\n",
                dir.join("cert.pem").display(),
                dir.join("key.pem").display()
            );
        }
        for _ in 0..3 {
            let port = free_tcp_port();
            let conf = format!(
                "SUSHY_EMULATOR_LISTEN_IP = '127.0.0.1'\n\
                 SUSHY_EMULATOR_LISTEN_PORT = {port}\n\
                 SUSHY_EMULATOR_FAKE_DRIVER = True\n\
                 SUSHY_EMULATOR_FEATURE_SET = '{feature_set}'\n{tls_conf}\
                 SUSHY_EMULATOR_STATE_DIR = '{state}'\n\
                 SUSHY_EMULATOR_AUTH_FILE = '{auth}'\n\
                 SUSHY_EMULATOR_FAKE_SYSTEMS = [{{'uuid': '{SYSTEM_UUID}', 'name': 'node1', 'power_state': 'Off', \
                 'nics': [{{'mac': '00:5c:52:31:3a:9c', 'ip': '172.22.130.10'}}]}}]\n",
                state = dir.join("state").display(),
                auth = dir.join("htpasswd").display(),
            );
            std::fs::write(dir.join("sushy.conf"), conf).unwrap();
            let log = std::fs::File::create(dir.join("sushy.log")).unwrap();
            let mut child = Command::new("sushy-emulator")
                .arg("--config")
                .arg(dir.join("sushy.conf"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("start sushy-emulator");
            if ready(&mut child, port, tls) {
                return Some(Sushy {
                    child,
                    dir,
                    port,
                    tls,
                });
            }
            let _ = child.kill();
            let _ = child.wait();
            eprintln!(
                "sushy-emulator did not come up on port {port}: {}",
                std::fs::read_to_string(dir.join("sushy.log")).unwrap_or_default()
            );
        }
        panic!("could not start sushy-emulator");
    }

    fn target(&self, password: &str, options: Value) -> BmcTarget {
        let mut opts = if self.tls {
            json!({})
        } else {
            json!({ "scheme": "http" })
        };
        for (k, v) in options.as_object().unwrap() {
            opts[k] = v.clone();
        }
        BmcTarget {
            driver: "redfish".into(),
            address: "127.0.0.1".into(),
            port: self.port,
            username: USER.into(),
            password: Some(password.into()),
            options: opts,
            secrets: Default::default(),
        }
    }

    /// The system resource as the emulator shows it, read independently of
    /// the driver (plain Basic-auth GET).
    async fn system_json(&self) -> Value {
        let mut cfg = ironrack_redfish::Config::new("127.0.0.1", self.port, USER, PASSWORD);
        cfg.scheme = "http".into();
        ironrack_redfish::Client::new(cfg)
            .unwrap()
            .get_json(&format!("/redfish/v1/Systems/{SYSTEM_UUID}"))
            .await
            .unwrap()
    }
}

fn failed_with(what: &TaskEventKind, prefix: &str, needle: &str) -> bool {
    matches!(what, TaskEventKind::Failed { error } if error.starts_with(prefix) && error.contains(needle))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redfish_power_and_boot_against_sushy() {
    let Some(sushy) = Sushy::start("redfish_power_and_boot_against_sushy", "full") else {
        return;
    };
    let mut lab = Lab::new();
    let bmc = || sushy.target(PASSWORD, json!({ "settle_s": 60 }));

    let (_, what) = lab.power("status", bmc()).await;
    assert_eq!(what, succeeded("status", "off"));

    // sushy answers 204 and switches 1–11 s later: the driver waits for it.
    let (seen, what) = lab.power("on", bmc()).await;
    assert_eq!(what, succeeded("on", "on"));
    assert!(seen.contains(&Event::Power {
        server_id: 42,
        state: PowerState::On
    }));
    assert_eq!(sushy.system_json().await["PowerState"], "On");
    let (_, what) = lab.power("status", bmc()).await;
    assert_eq!(what, succeeded("status", "on"));

    // sushy offers no PowerCycle: ForceOff, wait, then On.
    let (_, what) = lab.power("cycle", bmc()).await;
    assert_eq!(what, succeeded("cycle", "on"));
    let log = std::fs::read_to_string(sushy.dir.join("sushy.log")).unwrap();
    assert!(
        log.matches("ComputerSystem.Reset HTTP/1.1\" 204").count() >= 3,
        "on, then ForceOff + On for the cycle:\n{log}"
    );

    let (_, what) = lab.power("reset", bmc()).await;
    assert_eq!(what, succeeded("reset", "on"));

    let (_, what) = lab.power("off", bmc()).await;
    assert_eq!(what, succeeded("off", "off"));
    assert_eq!(sushy.system_json().await["PowerState"], "Off");

    // Boot override: set, then read back from the emulator.
    let (_, what) = lab
        .run(
            "boot_device",
            json!({"device": "pxe", "efi": true, "persistent": true}),
            bmc(),
        )
        .await;
    assert!(matches!(what, TaskEventKind::Succeeded { .. }), "{what:?}");
    let boot = &sushy.system_json().await["Boot"];
    assert_eq!(boot["BootSourceOverrideTarget"], "Pxe");
    assert_eq!(boot["BootSourceOverrideEnabled"], "Continuous");
    assert_eq!(boot["BootSourceOverrideMode"], "UEFI");

    let (_, what) = lab
        .run(
            "boot_device",
            json!({"device": "cdrom", "efi": false, "persistent": false}),
            bmc(),
        )
        .await;
    assert!(matches!(what, TaskEventKind::Succeeded { .. }), "{what:?}");
    let boot = &sushy.system_json().await["Boot"];
    assert_eq!(boot["BootSourceOverrideTarget"], "Cd");
    // (sushy ignores BootSourceOverrideEnabled and always shows Continuous.)
    assert_eq!(boot["BootSourceOverrideMode"], "Legacy");

    // The emulator's AllowableValues lack BiosSetup (and, in Legacy mode,
    // UefiHttp): refused before any PATCH.
    let (_, what) = lab
        .run("boot_device", json!({"device": "bios"}), bmc())
        .await;
    assert!(
        failed_with(
            &what,
            "bad request:",
            "does not offer boot target BiosSetup (it offers: Pxe, Cd, Hdd"
        ),
        "{what:?}"
    );
    assert_eq!(
        sushy.system_json().await["Boot"]["BootSourceOverrideTarget"],
        "Cd"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redfish_errors_are_meaningful() {
    let Some(sushy) = Sushy::start("redfish_errors_are_meaningful", "full") else {
        return;
    };
    let mut lab = Lab::new();

    let (_, what) = lab.power("on", sushy.target("wrong-pw", json!({}))).await;
    assert!(
        failed_with(
            &what,
            "BMC login failed:",
            "401 on /redfish/v1/Systems): Incorrect username or password"
        ),
        "{what:?}"
    );
    assert!(!format!("{what:?}").contains("wrong-pw"));

    let mut closed = sushy.target(PASSWORD, json!({ "timeout_s": 5 }));
    closed.port = free_tcp_port();
    let (_, what) = lab.power("status", closed).await;
    assert!(
        failed_with(
            &what,
            "BMC unreachable:",
            "cannot reach the BMC at http://127.0.0.1:"
        ),
        "{what:?}"
    );

    let (_, what) = lab
        .power(
            "status",
            sushy.target(PASSWORD, json!({ "system_id": "node9" })),
        )
        .await;
    assert!(
        failed_with(
            &what,
            "bad request:",
            &format!("no system `node9` on this BMC; it has: {SYSTEM_UUID}")
        ),
        "{what:?}"
    );
    let (_, what) = lab
        .power(
            "status",
            sushy.target(PASSWORD, json!({ "system_id": SYSTEM_UUID })),
        )
        .await;
    assert_eq!(what, succeeded("status", "off"));

    // Nothing was switched on by the refused tasks.
    assert_eq!(sushy.system_json().await["PowerState"], "Off");
}

/// Serve one file over HTTP on 127.0.0.1 (the emulator downloads inserted
/// images); returns its URL.
async fn serve_image(bytes: &'static [u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut req = Vec::new();
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    bytes.len()
                );
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(bytes).await;
                let _ = s.shutdown().await;
            });
        }
    });
    format!("http://127.0.0.1:{port}/boot.iso")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redfish_virtual_media() {
    let Some(sushy) = Sushy::start("redfish_virtual_media", "full") else {
        return;
    };
    let mut lab = Lab::new();
    let image = serve_image(&[0x42; 2048]).await;

    let (_, what) = lab
        .run(
            "virtual_media",
            json!({"action": "insert", "image": image}),
            sushy.target(PASSWORD, json!({})),
        )
        .await;
    let TaskEventKind::Succeeded { result } = &what else {
        panic!("{what:?}");
    };
    assert_eq!(result["inserted"], true);
    assert_eq!(result["image"], image.as_str());
    assert!(
        result["device"]
            .as_str()
            .unwrap()
            .ends_with("/VirtualMedia/Cd")
    );

    let (_, what) = lab
        .run(
            "virtual_media",
            json!({"action": "eject"}),
            sushy.target(PASSWORD, json!({})),
        )
        .await;
    let TaskEventKind::Succeeded { result } = &what else {
        panic!("{what:?}");
    };
    assert_eq!(result["inserted"], false);
    assert_eq!(result["image"], Value::Null);

    let (_, what) = lab
        .run(
            "virtual_media",
            json!({"action": "insert", "image": "file:///etc/shadow"}),
            sushy.target(PASSWORD, json!({})),
        )
        .await;
    assert!(
        failed_with(&what, "bad request:", "http(s), nfs or cifs URL"),
        "{what:?}"
    );

    // sushy's `minimum` feature set has no VirtualMedia (like many BMCs).
    let Some(bare) = Sushy::start("redfish_virtual_media", "minimum") else {
        return;
    };
    let (_, what) = lab
        .run(
            "virtual_media",
            json!({"action": "insert", "image": image}),
            bare.target(PASSWORD, json!({})),
        )
        .await;
    assert!(
        failed_with(&what, "BMC error:", "this BMC has no VirtualMedia service"),
        "{what:?}"
    );
    // Power still works there.
    let (_, what) = lab.power("status", bare.target(PASSWORD, json!({}))).await;
    assert_eq!(what, succeeded("status", "off"));
}

/// The certificate's SHA-256 fingerprint as openssl prints it
/// (`AB:CD:...`), the form an operator copies into `tls_fingerprint`.
fn openssl_fingerprint(cert: &std::path::Path) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(cert)
        .output()
        .expect("run openssl");
    let text = String::from_utf8(out.stdout).unwrap();
    text.trim().rsplit('=').next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redfish_over_tls_with_a_pinned_certificate() {
    let test = "redfish_over_tls_with_a_pinned_certificate";
    if !have("openssl") {
        skip(test, "openssl not installed (apt-get install -y openssl)");
        return;
    }
    let Some(sushy) = Sushy::start_with(test, "minimum", true) else {
        return;
    };
    let mut lab = Lab::new();
    let fp = openssl_fingerprint(&sushy.dir.join("cert.pem"));
    assert_eq!(fp.len(), 95, "{fp}");

    let (_, what) = lab
        .power(
            "status",
            sushy.target(PASSWORD, json!({ "tls_fingerprint": fp })),
        )
        .await;
    assert_eq!(what, succeeded("status", "off"));

    // One bit off: refused during the handshake, before any credentials go out.
    let mut wrong = fp.clone();
    wrong.replace_range(0..1, if fp.starts_with('0') { "1" } else { "0" });
    let (_, what) = lab
        .power(
            "on",
            sushy.target(PASSWORD, json!({ "tls_fingerprint": wrong })),
        )
        .await;
    assert!(
        failed_with(&what, "BMC login failed: TLS:", "not the pinned"),
        "{what:?}"
    );
    let log = std::fs::read_to_string(sushy.dir.join("sushy.log")).unwrap();
    assert!(!log.contains("POST"), "no request got through:\n{log}");

    // A self-signed certificate fails ordinary verification, with a hint.
    let (_, what) = lab.power("status", sushy.target(PASSWORD, json!({}))).await;
    assert!(
        failed_with(&what, "BMC login failed: TLS:", "tls_fingerprint"),
        "{what:?}"
    );

    let (_, what) = lab
        .power(
            "status",
            sushy.target(PASSWORD, json!({ "insecure_tls": true })),
        )
        .await;
    assert_eq!(what, succeeded("status", "off"));
}
