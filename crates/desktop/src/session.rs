//! The process side: one desktop per slot, each slot its own uid (like
//! systemd's DynamicUser: `uid_base + slot`, no passwd entry, no
//! supplementary groups), X display (`display_base + slot`) and home
//! (`runtime_dir/<slot>`, 0700, owned by that uid). Xvfb, openbox, x11vnc
//! (on a unix socket in that home, no TCP port) and Firefox or javaws all
//! run as the slot's uid with a cleared environment.
//!
//! The uid is the session's boundary: closing ends every process of that
//! uid (`kill -TERM -1`, then `-KILL`, run *as* the uid signals exactly
//! them, however they forked), until /proc shows none alive, then removes the home and
//! the display's lock and socket. At start the agent does the same for
//! every slot, reaping what a crashed agent left.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::Url;

use crate::jvm::{self, Choice};
use crate::login::{self, Launch, Login, Logout};
use crate::profile;
use crate::template::{Resolution, Templates, Viewer};

/// How the agent runs desktop sessions.
#[derive(Debug, Clone)]
pub struct DesktopConfig {
    /// Sessions' homes live here (made 0711: the uids may pass, not list).
    pub runtime_dir: PathBuf,
    /// Slot `n` runs as uid and gid `uid_base + n`.
    pub uid_base: u32,
    /// At most this many desktops at once.
    pub slots: u32,
    /// Slot `n` uses X display `display_base + n`.
    pub display_base: u32,
    /// Offered read-only in each session's home as `iso/` (for a viewer's
    /// virtual media dialog); must be readable by the session uids.
    pub iso_dir: Option<PathBuf>,
    /// Unless the request or the template file says otherwise.
    pub default_resolution: Resolution,
    /// Where JVMs are installed: each a JVM home or a directory of them.
    pub jvm_dirs: Vec<PathBuf>,
}

impl DesktopConfig {
    /// Defaults around `runtime_dir`: uids 61000+ (below systemd's dynamic
    /// range 61184-65519), 16 slots, displays :100+.
    pub fn new(runtime_dir: PathBuf) -> DesktopConfig {
        DesktopConfig {
            runtime_dir,
            uid_base: 61_000,
            slots: 16,
            display_base: 100,
            iso_dir: None,
            default_resolution: Resolution::default(),
            jvm_dirs: vec![PathBuf::from("/usr/lib/jvm")],
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DesktopError {
    #[error("desktop sessions need {0}")]
    Setup(String),
    #[error(
        "no desktop template `{name}` on this agent (known: {known}); templates come from --desktop-templates"
    )]
    NoTemplate { name: String, known: String },
    #[error(transparent)]
    Login(#[from] login::LoginError),
    #[error("{0}")]
    NoJvm(String),
    #[error("all {0} desktop slots of this agent are in use; close a desktop session first")]
    Full(u32),
    #[error("starting the desktop: {0}")]
    Start(String),
}

/// The desktops of one agent.
pub struct Desktops {
    cfg: DesktopConfig,
    templates: Templates,
    /// Slots in use (including ones still being torn down).
    busy: Mutex<BTreeSet<u32>>,
    /// The running desktops, to log them out at shutdown.
    live: Mutex<BTreeMap<u32, Weak<Running>>>,
}

/// What a session starts from.
pub struct StartRequest<'a> {
    pub template: &'a str,
    /// The BMC web UI's origin.
    pub origin: Url,
    pub user: &'a str,
    pub password: &'a str,
    pub resolution: Option<Resolution>,
}

/// A running desktop. Dropping it (or `stop`) tears it down in the
/// background.
pub struct Desktop {
    inner: Arc<Running>,
}

struct Running {
    owner: Arc<Desktops>,
    slot: u32,
    uid: u32,
    display: u32,
    home: PathBuf,
    socket: PathBuf,
    resolution: Resolution,
    /// The JVM of a Java viewer, and why.
    jvm: Option<Choice>,
    /// Ends the BMC web session at close (taken once).
    logout: Mutex<Option<Logout>>,
    children: Mutex<Vec<Child>>,
    stopped: AtomicBool,
    done: Mutex<Option<std::thread::JoinHandle<()>>>,
}

const READY_TIMEOUT: Duration = Duration::from_secs(15);

fn x_lock(display: u32) -> PathBuf {
    PathBuf::from(format!("/tmp/.X{display}-lock"))
}

fn x_socket(display: u32) -> PathBuf {
    PathBuf::from(format!("/tmp/.X11-unix/X{display}"))
}

/// The effective uid of this process, from /proc.
fn own_euid() -> Option<u32> {
    let s = fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// Live (not zombie) processes whose real or effective uid is `uid`.
pub fn processes_of(uid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(dir) = fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(status) = fs::read_to_string(e.path().join("status")) else {
            continue;
        };
        let mut uids = None;
        let mut zombie = false;
        for l in status.lines() {
            if let Some(s) = l.strip_prefix("State:") {
                zombie = s.trim_start().starts_with(['Z', 'X']);
            } else if let Some(u) = l.strip_prefix("Uid:") {
                let v: Vec<u32> = u
                    .split_whitespace()
                    .filter_map(|x| x.parse().ok())
                    .collect();
                uids = Some(v);
            }
        }
        if !zombie && uids.is_some_and(|v| v.iter().take(2).any(|&x| x == uid)) {
            out.push(pid);
        }
    }
    out
}

/// Sends `signal` to every process of `uid`: kill(-1) run as the uid
/// reaches every process that uid may signal, which is exactly its own
/// (the kill process itself is spared by the kernel).
fn signal_uid(uid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([signal, "-1"])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .uid(uid)
        .gid(uid)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Ends every process of `uid`: SIGTERM and up to a second to exit (so
/// Firefox and the JVM reap their own children, and Xvfb removes its
/// lock), then SIGKILL until none is alive (zombies wait for their parent
/// and count as gone). False if some survived 5 s of that.
fn kill_uid(uid: u32) -> bool {
    if processes_of(uid).is_empty() {
        return true;
    }
    signal_uid(uid, "-TERM");
    let grace = Instant::now() + Duration::from_secs(1);
    while Instant::now() < grace && !processes_of(uid).is_empty() {
        std::thread::sleep(Duration::from_millis(20));
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if processes_of(uid).is_empty() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        signal_uid(uid, "-KILL");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Removes what a session of `uid` left on shared paths: its display's
/// lock and socket, and its files at the top of /tmp and /dev/shm.
fn remove_leftovers(uid: u32, display: u32) {
    for p in [x_lock(display), x_socket(display)] {
        if fs::symlink_metadata(&p).is_ok_and(|m| m.uid() == uid) {
            let _ = fs::remove_file(&p);
        }
    }
    for dir in ["/tmp", "/dev/shm"] {
        let Ok(rd) = fs::read_dir(dir) else { continue };
        for e in rd.flatten() {
            if e.metadata().is_ok_and(|m| m.uid() == uid) {
                let p = e.path();
                let _ = if p.is_dir() {
                    fs::remove_dir_all(&p)
                } else {
                    fs::remove_file(&p)
                };
            }
        }
    }
}

/// Names (and uids) of the passwd or group entries inside `range`.
fn taken_ids(range: std::ops::Range<u32>) -> Vec<String> {
    let mut out = Vec::new();
    for file in ["/etc/passwd", "/etc/group"] {
        let Ok(text) = fs::read_to_string(file) else {
            continue;
        };
        for l in text.lines() {
            let f: Vec<&str> = l.split(':').collect();
            if let Some(id) = f.get(2).and_then(|x| x.parse::<u32>().ok())
                && range.contains(&id)
            {
                out.push(format!("{} ({id}, {file})", f.first().unwrap_or(&"")));
            }
        }
    }
    out
}

fn on_path(prog: &str) -> Option<PathBuf> {
    ["/usr/local/bin", "/usr/bin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(prog))
        .find(|p| p.is_file())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The last lines of a session log, for an error.
fn tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(5).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
}

impl Desktops {
    /// Checks what desktops need, prepares the runtime directory and reaps
    /// what an earlier agent left in the uid range.
    pub fn new(cfg: DesktopConfig, templates: Templates) -> Result<Arc<Desktops>, DesktopError> {
        if own_euid() != Some(0) {
            return Err(DesktopError::Setup(
                "root: each session runs as its own uid".into(),
            ));
        }
        if cfg.slots == 0 || cfg.uid_base < 1000 || cfg.uid_base.checked_add(cfg.slots).is_none() {
            return Err(DesktopError::Setup(format!(
                "a uid range of at least one slot above 999 (uid base {}, {} slots)",
                cfg.uid_base, cfg.slots
            )));
        }
        let taken = taken_ids(cfg.uid_base..cfg.uid_base + cfg.slots);
        if !taken.is_empty() {
            return Err(DesktopError::Setup(format!(
                "uids {}..{} free of users and groups, but these are taken: {}",
                cfg.uid_base,
                cfg.uid_base + cfg.slots,
                taken.join(", ")
            )));
        }
        for p in ["Xvfb", "x11vnc", "openbox"] {
            if on_path(p).is_none() {
                return Err(DesktopError::Setup(format!(
                    "`{p}` (Debian: xvfb x11vnc openbox)"
                )));
            }
        }
        let rt = &cfg.runtime_dir;
        fs::create_dir_all(rt)
            .map_err(|e| DesktopError::Setup(format!("{}: {e}", rt.display())))?;
        let rt = rt
            .canonicalize()
            .map_err(|e| DesktopError::Setup(format!("{}: {e}", rt.display())))?;
        fs::set_permissions(&rt, fs::Permissions::from_mode(0o711))
            .map_err(|e| DesktopError::Setup(format!("{}: {e}", rt.display())))?;
        for a in rt.ancestors().skip(1) {
            let m = fs::metadata(a)
                .map_err(|e| DesktopError::Setup(format!("{}: {e}", a.display())))?;
            if m.mode() & 0o001 == 0 {
                return Err(DesktopError::Setup(format!(
                    "a runtime directory the session uids can reach: {} is not searchable by others (chmod o+x, or choose another --desktop-dir)",
                    a.display()
                )));
            }
        }
        // X servers expect a root-owned, sticky, world-writable socket dir.
        if !Path::new("/tmp/.X11-unix").exists() {
            let _ = fs::create_dir("/tmp/.X11-unix");
            let _ = fs::set_permissions("/tmp/.X11-unix", fs::Permissions::from_mode(0o1777));
        }
        let cfg = DesktopConfig {
            runtime_dir: rt,
            ..cfg
        };
        let d = Arc::new(Desktops {
            cfg,
            templates,
            busy: Mutex::new(BTreeSet::new()),
            live: Mutex::new(BTreeMap::new()),
        });
        let jvms = jvm::scan(&d.cfg.jvm_dirs);
        tracing::info!(
            jvms = jvms
                .iter()
                .map(jvm::Jvm::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            "JVMs for Java viewers"
        );
        let reaped = d.reap();
        if reaped > 0 {
            tracing::info!(slots = reaped, "desktop sessions of an earlier run reaped");
        }
        Ok(d)
    }

    pub fn config(&self) -> &DesktopConfig {
        &self.cfg
    }

    pub fn templates(&self) -> &Templates {
        &self.templates
    }

    /// Kills and removes whatever is left in idle slots; how many slots had
    /// something.
    pub fn reap(&self) -> usize {
        let busy = self.busy.lock().unwrap_or_else(|p| p.into_inner()).clone();
        self.clear_slots(|slot| !busy.contains(&slot))
    }

    /// Ends every desktop, live ones too: for the agent's shutdown, so that
    /// none outlives it until the next start. Live ones are logged out of
    /// their BMC first (at most a few seconds for all).
    pub async fn stop_all(&self) -> usize {
        let live: Vec<Arc<Running>> = std::mem::take(&mut *lock(&self.live))
            .into_values()
            .filter_map(|w| w.upgrade())
            .collect();
        let logouts = live.iter().filter_map(|r| {
            let l = lock(&r.logout).take()?;
            let slot = r.slot;
            Some(async move { log_logout(Some(slot), l.send().await) })
        });
        let all = futures_util::future::join_all(logouts);
        if tokio::time::timeout(Duration::from_secs(5), all)
            .await
            .is_err()
        {
            tracing::warn!("BMC web logouts at shutdown took over 5 s; left to time out");
        }
        self.clear_slots(|_| true)
    }

    fn clear_slots(&self, which: impl Fn(u32) -> bool) -> usize {
        let mut n = 0;
        for slot in 0..self.cfg.slots {
            if !which(slot) {
                continue;
            }
            let uid = self.cfg.uid_base + slot;
            let home = self.cfg.runtime_dir.join(slot.to_string());
            let had = !processes_of(uid).is_empty() || home.exists();
            if !kill_uid(uid) {
                tracing::warn!(uid, "processes of a desktop uid survived SIGKILL");
            }
            let _ = fs::remove_dir_all(&home);
            remove_leftovers(uid, self.cfg.display_base + slot);
            n += usize::from(had);
        }
        n
    }

    /// A free slot whose display nobody else holds.
    fn claim(&self) -> Result<u32, DesktopError> {
        let mut busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        let slot = (0..self.cfg.slots)
            .find(|s| !busy.contains(s) && !x_lock(self.cfg.display_base + s).exists())
            .ok_or(DesktopError::Full(self.cfg.slots))?;
        busy.insert(slot);
        Ok(slot)
    }

    /// The JVMs installed in the configured directories.
    pub async fn jvms(&self) -> Vec<jvm::Jvm> {
        let dirs = self.cfg.jvm_dirs.clone();
        tokio::task::spawn_blocking(move || jvm::scan(&dirs))
            .await
            .unwrap_or_default()
    }

    /// Logs in to the BMC and starts the desktop. Returns once its VNC
    /// socket answers; the viewer (browser or Java) is still starting.
    pub async fn start(self: &Arc<Self>, req: StartRequest<'_>) -> Result<Desktop, DesktopError> {
        let template =
            self.templates
                .get(req.template)
                .ok_or_else(|| DesktopError::NoTemplate {
                    name: req.template.to_owned(),
                    known: self.templates.names().collect::<Vec<_>>().join(", "),
                })?;
        let resolution = req
            .resolution
            .or(template.resolution)
            .unwrap_or(self.cfg.default_resolution);
        // Before the login: a JNLP no JVM here can run needs no BMC session.
        let jvm = match &template.viewer {
            Viewer::Java { java_version, .. } => {
                Some(jvm::choose(java_version, &self.jvms().await).map_err(|e| {
                    DesktopError::NoJvm(format!("template `{}`: {e}", template.name))
                })?)
            }
            Viewer::Html5 { .. } => None,
        };
        let mut login = login::login(template, &req.origin, req.user, req.password).await?;
        let logout = login.logout.take();
        let slot = match self.claim() {
            Ok(s) => s,
            Err(e) => {
                if let Some(l) = logout {
                    log_logout(None, l.send().await);
                }
                return Err(e);
            }
        };
        let desktop = Desktop {
            inner: Arc::new(Running {
                owner: self.clone(),
                slot,
                uid: self.cfg.uid_base + slot,
                display: self.cfg.display_base + slot,
                home: self.cfg.runtime_dir.join(slot.to_string()),
                socket: self.cfg.runtime_dir.join(slot.to_string()).join("vnc.sock"),
                resolution,
                jvm,
                logout: Mutex::new(logout),
                children: Mutex::new(Vec::new()),
                stopped: AtomicBool::new(false),
                done: Mutex::new(None),
            }),
        };
        lock(&self.live).insert(slot, Arc::downgrade(&desktop.inner));
        // On any error the desktop is dropped, which tears down what started
        // and logs out.
        desktop
            .launch(&login, template.allow_insecure_ssl)
            .await
            .map_err(DesktopError::Start)?;
        tracing::info!(
            slot,
            uid = desktop.inner.uid,
            display = desktop.inner.display,
            template = %template.name,
            jvm = desktop.inner.jvm.as_ref().map(|c| c.why.as_str()),
            "desktop session started"
        );
        Ok(desktop)
    }
}

impl Desktop {
    /// The x11vnc socket (RFB, no authentication; only root and the
    /// session's uid can open it).
    pub fn vnc_socket(&self) -> &Path {
        &self.inner.socket
    }

    pub fn uid(&self) -> u32 {
        self.inner.uid
    }

    pub fn display(&self) -> u32 {
        self.inner.display
    }

    pub fn home(&self) -> &Path {
        &self.inner.home
    }

    pub fn resolution(&self) -> Resolution {
        self.inner.resolution
    }

    /// The JVM running a Java viewer, and why it was chosen.
    pub fn jvm(&self) -> Option<&Choice> {
        self.inner.jvm.as_ref()
    }

    /// Tears the desktop down in the background (once).
    pub fn stop(&self) {
        self.inner.stop();
    }

    /// Stops and waits until nothing of it is left.
    pub async fn close(self) {
        self.inner.stop();
        let handle = self
            .inner
            .done
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(h) = handle {
            let _ = tokio::task::spawn_blocking(move || h.join()).await;
        }
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        let r = &self.inner;
        let home = r.home.display().to_string();
        vec![
            ("HOME", home.clone()),
            ("USER", format!("ironrack-desktop-{}", r.slot)),
            ("LOGNAME", format!("ironrack-desktop-{}", r.slot)),
            ("DISPLAY", format!(":{}", r.display)),
            ("XAUTHORITY", format!("{home}/Xauthority")),
            ("TMPDIR", format!("{home}/tmp")),
            ("XDG_RUNTIME_DIR", format!("{home}/run")),
            ("XDG_CONFIG_HOME", format!("{home}/.config")),
            ("XDG_CACHE_HOME", format!("{home}/.cache")),
            ("PATH", "/usr/local/bin:/usr/bin:/bin".into()),
            ("LANG", "C.UTF-8".into()),
            ("MOZ_CRASHREPORTER_DISABLE", "1".into()),
            ("NO_AT_BRIDGE", "1".into()),
        ]
    }

    /// Starts `prog` as the session's uid, its output in `log` after
    /// `preface`.
    fn spawn(&self, prog: &str, args: &[String], log: &str, preface: &str) -> Result<(), String> {
        let r = &self.inner;
        let log_path = r.home.join(log);
        let mut out =
            fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
        std::io::Write::write_all(&mut out, preface.as_bytes())
            .map_err(|e| format!("{}: {e}", log_path.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(prog)
            .args(args)
            .env_clear()
            .envs(self.env())
            .current_dir(&r.home)
            .uid(r.uid)
            .gid(r.uid)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot run {prog}: {e}"))?;
        r.children
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(child);
        Ok(())
    }

    /// Waits until `path` exists; fails early when the process behind it
    /// exited.
    async fn wait_for(&self, path: &Path, what: &str, log: &str) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if path.exists() {
                return Ok(());
            }
            let exited = self
                .inner
                .children
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter_mut()
                .any(|c| matches!(c.try_wait(), Ok(Some(_))));
            if exited || Instant::now() >= deadline {
                return Err(format!(
                    "{what} did not start: {}",
                    tail(&self.inner.home.join(log))
                ));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Writes the home, then starts X, the window manager, x11vnc and the
    /// viewer.
    async fn launch(&self, login: &Login, insecure: bool) -> Result<(), String> {
        let r = &self.inner;
        let io = |p: &Path, e: std::io::Error| format!("{}: {e}", p.display());
        let _ = fs::remove_dir_all(&r.home);
        let mut owned: Vec<PathBuf> = Vec::new();
        for d in ["", "tmp", "run", ".config", ".config/icedtea-web", ".cache"] {
            let p = r.home.join(d);
            fs::create_dir_all(&p).map_err(|e| io(&p, e))?;
            fs::set_permissions(&p, fs::Permissions::from_mode(0o700)).map_err(|e| io(&p, e))?;
            owned.push(p);
        }
        let mut cookie = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut cookie);
        let write = |owned: &mut Vec<PathBuf>, name: &str, data: &[u8]| -> Result<(), String> {
            let p = r.home.join(name);
            fs::write(&p, data).map_err(|e| io(&p, e))?;
            fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).map_err(|e| io(&p, e))?;
            owned.push(p);
            Ok(())
        };
        write(
            &mut owned,
            "Xauthority",
            &profile::xauthority(r.display, &cookie),
        )?;
        let viewer: (String, Vec<String>) = match &login.launch {
            Launch::Browser { url } => {
                let prof = r.home.join("profile");
                fs::create_dir_all(&prof).map_err(|e| io(&prof, e))?;
                owned.push(prof.clone());
                write(
                    &mut owned,
                    "profile/user.js",
                    profile::FIREFOX_PREFS.as_bytes(),
                )?;
                profile::write_cookies(&prof, &login.origin, &login.cookies, now_ms())
                    .map_err(|e| format!("writing the browser's cookies: {e}"))?;
                owned.push(prof.join("cookies.sqlite"));
                if let Some(fp) = &login.insecure_cert_sha256 {
                    write(
                        &mut owned,
                        "profile/cert_override.txt",
                        profile::cert_override(&login.origin, fp).as_bytes(),
                    )?;
                }
                let ff = on_path("firefox-esr")
                    .or_else(|| on_path("firefox"))
                    .ok_or("no firefox-esr (Debian: firefox-esr)")?;
                (
                    ff.display().to_string(),
                    vec![
                        "--kiosk".into(),
                        "--no-remote".into(),
                        "--new-instance".into(),
                        "--profile".into(),
                        prof.display().to_string(),
                        url.to_string(),
                    ],
                )
            }
            Launch::Jnlp { content } => {
                let choice = r.jvm.as_ref().ok_or("a JNLP without a chosen JVM")?;
                write(&mut owned, "launch.jnlp", content.as_bytes())?;
                // javaws runs on the JVM its settings name (`deployment.jre.dir`).
                write(
                    &mut owned,
                    ".config/icedtea-web/deployment.properties",
                    profile::icedtea_settings(&choice.jvm.home).as_bytes(),
                )?;
                let javaws = on_path("javaws").ok_or("no javaws (Debian: icedtea-netx)")?;
                let mut args = vec![format!("-J-Duser.home={}", r.home.display())];
                if choice.legacy {
                    write(&mut owned, "java.security", jvm::LEGACY_SECURITY.as_bytes())?;
                    args.push(format!(
                        "-J-Djava.security.properties={}",
                        r.home.join("java.security").display()
                    ));
                }
                args.extend([
                    "-Xnofork".into(),
                    "-Xignoreheaders".into(),
                    "-nosecurity".into(),
                ]);
                if insecure {
                    // The template accepts the BMC's certificate unverified.
                    args.push("-Xtrustall".into());
                }
                args.push(r.home.join("launch.jnlp").display().to_string());
                (javaws.display().to_string(), args)
            }
        };
        if let Some(iso) = &r.owner.cfg.iso_dir {
            let link = r.home.join("iso");
            std::os::unix::fs::symlink(iso, &link).map_err(|e| io(&link, e))?;
        }
        for p in &owned {
            std::os::unix::fs::lchown(p, Some(r.uid), Some(r.uid)).map_err(|e| io(p, e))?;
        }
        let res = r.resolution;
        self.spawn(
            "Xvfb",
            &[
                format!(":{}", r.display),
                "-screen".into(),
                "0".into(),
                format!("{}x{}x{}", res.width, res.height, res.depth),
                "-nolisten".into(),
                "tcp".into(),
                "-auth".into(),
                r.home.join("Xauthority").display().to_string(),
                "-noreset".into(),
            ],
            "xvfb.log",
            "",
        )?;
        self.wait_for(&x_socket(r.display), "Xvfb", "xvfb.log")
            .await?;
        self.spawn("openbox", &["--sm-disable".into()], "openbox.log", "")?;
        self.spawn(
            "x11vnc",
            &[
                "-display".into(),
                format!(":{}", r.display),
                "-unixsock".into(),
                r.socket.display().to_string(),
                "-rfbport".into(),
                "0".into(),
                "-shared".into(),
                "-forever".into(),
                "-nopw".into(),
                "-noncache".into(),
                "-nowf".into(),
                "-xkb".into(),
                "-quiet".into(),
            ],
            "x11vnc.log",
            "",
        )?;
        self.wait_for(&r.socket, "x11vnc", "x11vnc.log").await?;
        let preface = match &r.jvm {
            Some(c) => format!("ironrack: {}\n", c.why),
            None => String::new(),
        };
        self.spawn(&viewer.0, &viewer.1, "viewer.log", &preface)?;
        Ok(())
    }
}

impl Drop for Desktop {
    fn drop(&mut self) {
        self.inner.stop();
    }
}

impl Running {
    fn stop(self: &Arc<Self>) {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        if let Some(l) = lock(&self.logout).take() {
            let slot = self.slot;
            match tokio::runtime::Handle::try_current() {
                Ok(h) => {
                    h.spawn(async move { log_logout(Some(slot), l.send().await) });
                }
                Err(_) => tracing::warn!(
                    slot,
                    url = %l.url(),
                    "desktop closed outside the runtime: not logged out of the BMC"
                ),
            }
        }
        let me = self.clone();
        let h = std::thread::spawn(move || me.teardown());
        *self.done.lock().unwrap_or_else(|p| p.into_inner()) = Some(h);
    }

    fn teardown(&self) {
        let clean = kill_uid(self.uid);
        for mut c in self
            .children
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = fs::remove_dir_all(&self.home);
        remove_leftovers(self.uid, self.display);
        // The slot is not reused before `busy` lets go of it, below.
        lock(&self.owner.live).remove(&self.slot);
        if clean {
            tracing::info!(
                slot = self.slot,
                uid = self.uid,
                "desktop session torn down"
            );
            self.owner
                .busy
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&self.slot);
        } else {
            // Keep the slot: its uid still has processes.
            tracing::error!(
                slot = self.slot,
                uid = self.uid,
                "desktop processes survived SIGKILL; slot kept out of use"
            );
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn log_logout(slot: Option<u32>, r: Result<u16, String>) {
    match r {
        Ok(status) => tracing::info!(slot, status, "logged out of the BMC web UI"),
        Err(e) => tracing::warn!(slot, error = %e, "BMC web logout failed"),
    }
}
