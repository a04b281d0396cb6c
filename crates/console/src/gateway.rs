//! The WebSocket gateway: `GET /console/ws/{id}?token=T` upgrades, the
//! bridges to the target (TCP for VNC, an IPMI SOL console for serial), the
//! clock that warns and closes idle sessions, and the close URL call.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{OnceCell, broadcast, mpsc, watch};
use zeroize::Zeroizing;

use crate::html5::{Html5Target, KvmSocket, WebSession};
use crate::registry::{
    Action, Admission, CloseReason, Kind, NewSession, RedeemError, RegisterError, Registry,
    SessionId, SessionInfo, TokenHash, new_token, token_hash,
};
use crate::rfb::{ClientStream, TargetHandshake, ViewerHandshake};
use crate::sollog::{SolHistory, SolLog};
use crate::source::{IpNet, client_address};
use crate::ws::{Message, WsError};
use crate::wsconn::{ROOM, WsSocket, WsUpgrade};

/// The subprotocol with JSON control messages.
pub const PROTOCOL_V1: &str = "ironrack.console.v1";
/// Raw bytes only (stock noVNC).
pub const PROTOCOL_BINARY: &str = "binary";
/// WebSocket ping interval, below common reverse-proxy read timeouts.
const PING_EVERY: Duration = Duration::from_secs(20);
/// Largest read from a VNC target, sent as one frame.
const CHUNK: usize = 256 * 1024;
/// Largest message a viewer may send (a pasted clipboard, at most).
const MAX_MESSAGE: usize = 4 << 20;
/// Keystrokes queued toward a SOL console.
const SOL_INPUT_QUEUE: usize = 64;
/// SOL output kept from the session's open for its first viewer.
const SOL_HISTORY: usize = 64 * 1024;
/// SOL output chunks a slow viewer may fall behind before it skips.
const SOL_FANOUT: usize = 1024;
/// Status updates from input at most this often.
const STATUS_EVERY: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Where a session connects.
pub enum Target {
    Vnc {
        /// `host:port`
        addr: String,
        password: Option<Zeroizing<String>>,
    },
    Sol(ironrack_ipmi::Config),
    Html5(Box<Html5>),
    /// A desktop session (crates/desktop) shown by its own x11vnc.
    Desktop {
        /// The BMC's host, for INVAPI's console-server route.
        bmc_host: String,
        desktop: Box<dyn DesktopHandle>,
    },
}

/// A running desktop as the gateway sees it: an RFB server on a unix
/// socket, and a teardown to run when the session closes.
pub trait DesktopHandle: Send + Sync {
    fn vnc_socket(&self) -> &std::path::Path;
    /// Stops the desktop (in the background; idempotent).
    fn stop(&self);
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Vnc { addr, password } => f
                .debug_struct("Vnc")
                .field("addr", addr)
                .field("password", &password.as_ref().map(|_| "<redacted>"))
                .finish(),
            Target::Sol(c) => f.debug_tuple("Sol").field(&c.host).finish(),
            Target::Desktop { desktop, .. } => f
                .debug_tuple("Desktop")
                .field(&desktop.vnc_socket())
                .finish(),
            Target::Html5(h) => f.debug_tuple("Html5").field(&h.target).finish(),
        }
    }
}

/// A session handed to the gateway by the agent.
#[derive(Debug)]
pub struct OpenSession {
    pub session: NewSession,
    pub close_url: Option<String>,
    pub target: Target,
    /// Only a browser at this address may connect (INVAPI's `white_ip`).
    pub allowed_ip: Option<IpAddr>,
}

/// What the gateway reports, for the agent to put on the bus. Times are
/// Unix milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayEvent {
    Opened {
        session: SessionId,
        at_ms: i64,
    },
    Status {
        session: SessionId,
        viewers: usize,
        last_input_ms: Option<i64>,
        closes_at_ms: i64,
    },
    Closed {
        session: SessionId,
        reason: CloseReason,
        detail: Option<String>,
        at_ms: i64,
    },
}

#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Base URL the browser reaches this gateway at (`""`: the controller's
    /// own origin, as in `ironrack serve`).
    pub public_base: String,
    /// Where SOL output logs are kept.
    pub log_dir: PathBuf,
    /// Bytes kept per SOL log.
    pub log_limit: u64,
    /// Reverse proxies whose `X-Forwarded-For` names the browser (for
    /// sessions bound to an address).
    pub trusted_proxies: Vec<IpNet>,
}

#[derive(Debug, Clone)]
enum Control {
    /// Closing in `closes_in` for `reason` (idle or maximum duration).
    Warn {
        closes_in: Duration,
        reason: CloseReason,
    },
    Closed {
        reason: CloseReason,
        detail: Option<String>,
    },
}

/// The shared end of a SOL console: output fans out, input funnels in.
/// What viewers send toward a SOL console, in order.
enum SolIn {
    Keys(Vec<u8>),
    Break,
}

struct SolHub {
    output: broadcast::Sender<Bytes>,
    /// Output before the first viewer joined.
    history: Arc<Mutex<SolHistory>>,
    input: mpsc::Sender<SolIn>,
    stop: watch::Sender<bool>,
}

struct SolJoined {
    /// What the console wrote before this (first) viewer joined.
    replay: Vec<u8>,
    output: broadcast::Receiver<Bytes>,
    input: mpsc::Sender<SolIn>,
}

struct Runtime {
    kind: Kind,
    target: Target,
    /// Set at open, or later by INVAPI's console-server route.
    close_url: Mutex<Option<String>>,
    allowed_ip: Option<IpAddr>,
    control: broadcast::Sender<Control>,
    sol: OnceCell<Result<SolHub, String>>,
    last_status: Mutex<Option<Instant>>,
}

struct Shared {
    cfg: GatewayConfig,
    registry: Mutex<Registry>,
    runtimes: Mutex<HashMap<SessionId, Arc<Runtime>>>,
    events: mpsc::UnboundedSender<GatewayEvent>,
    http: reqwest::Client,
    /// Random per gateway: tells the controller this process from the
    /// previous one of the same agent.
    instance: String,
    /// Instant ↔ wall clock, for event times.
    epoch: (Instant, SystemTime),
}

/// The console gateway of a site. Cheap to clone.
#[derive(Clone)]
pub struct Gateway {
    shared: Arc<Shared>,
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error(transparent)]
    Register(#[from] RegisterError),
    #[error("no live console session {0} on this gateway")]
    NoSession(SessionId),
    #[error("reading the console log: {0}")]
    Log(#[from] std::io::Error),
}

impl Gateway {
    /// Starts the gateway's clock; needs a Tokio runtime.
    pub fn new(cfg: GatewayConfig, events: mpsc::UnboundedSender<GatewayEvent>) -> Gateway {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        let gw = Gateway {
            shared: Arc::new(Shared {
                cfg,
                registry: Mutex::new(Registry::new()),
                runtimes: Mutex::new(HashMap::new()),
                events,
                http,
                instance: {
                    let mut b = [0u8; 8];
                    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut b);
                    hex::encode(b)
                },
                epoch: (Instant::now(), SystemTime::now()),
            }),
        };
        let weak = Arc::downgrade(&gw.shared);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(shared) = weak.upgrade() else { break };
                Gateway { shared }.tick(Instant::now());
            }
        });
        gw
    }

    pub fn public_base(&self) -> &str {
        &self.shared.cfg.public_base
    }

    /// This gateway's instance id (see `Shared::instance`).
    pub fn instance(&self) -> &str {
        &self.shared.instance
    }

    /// Registers a pending session; its owner token becomes usable.
    pub fn open(&self, s: OpenSession) -> Result<(), GatewayError> {
        let id = s.session.id;
        let kind = s.session.kind;
        let mut rt = self.runtimes();
        if let Err(e) = self.registry().register(s.session, Instant::now()) {
            drop(rt);
            // The BMC web session the agent opened for it is not needed.
            if let Target::Html5(h) = s.target {
                tokio::spawn(async move {
                    if let Err(e) = h.target.logout(&h.web).await {
                        tracing::warn!(error = %e, "BMC logout failed");
                    }
                });
            }
            return Err(e.into());
        }
        let runtime = Arc::new(Runtime {
            kind,
            target: s.target,
            close_url: Mutex::new(s.close_url),
            allowed_ip: s.allowed_ip.map(|ip| ip.to_canonical()),
            control: broadcast::channel(16).0,
            sol: OnceCell::new(),
            last_status: Mutex::new(None),
        });
        rt.insert(id, runtime.clone());
        drop(rt);
        // SOL starts now, not with the first viewer: what the machine
        // writes meanwhile is kept for that viewer.
        if let Target::Sol(cfg) = &runtime.target {
            let (gw, cfg) = (self.clone(), cfg.clone());
            tokio::spawn(async move {
                let hub = runtime.sol.get_or_init(|| gw.start_sol(id, cfg)).await;
                // Closed while it started: close() found no hub to stop.
                if let Ok(h) = hub
                    && gw.runtime(id).is_none()
                {
                    let _ = h.stop.send(true);
                }
            });
        }
        Ok(())
    }

    /// Adds a view-only join token to a session.
    pub fn add_viewer(
        &self,
        session: SessionId,
        hash: TokenHash,
        ttl: Duration,
    ) -> Result<(), GatewayError> {
        if self
            .registry()
            .add_token(session, hash, true, Some(Instant::now() + ttl))
        {
            Ok(())
        } else {
            Err(GatewayError::NoSession(session))
        }
    }

    /// Closes a session at a staff member's or its owner's request.
    pub fn kill(&self, session: SessionId) -> Result<(), GatewayError> {
        if self.close(session, CloseReason::Killed, None) {
            Ok(())
        } else {
            Err(GatewayError::NoSession(session))
        }
    }

    pub fn list(&self) -> Vec<SessionInfo> {
        self.registry().list()
    }

    /// The last `tail` bytes of a SOL session's output log (also after the
    /// session closed, while the file is kept).
    pub async fn read_log(&self, session: SessionId, tail: u64) -> Result<Vec<u8>, GatewayError> {
        let log = SolLog::new(&self.shared.cfg.log_dir, session, self.shared.cfg.log_limit);
        match log.read_tail(tail).await {
            Ok(b) => Ok(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(GatewayError::NoSession(session))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The routes: `/console/ws/{id}`, and INVAPI's console-server route.
    /// Merge into any router.
    pub fn router<S>(&self) -> Router<S> {
        Router::new()
            .route("/console/ws/{id}", axum::routing::get(upgrade))
            .route(INVAPI_ROUTE, axum::routing::get(invapi_console))
            .with_state(self.clone())
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.shared
            .registry
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn runtimes(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, Arc<Runtime>>> {
        self.shared
            .runtimes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn runtime(&self, session: SessionId) -> Option<Arc<Runtime>> {
        self.runtimes().get(&session).cloned()
    }

    fn unix_ms(&self, at: Instant) -> i64 {
        let (i0, s0) = self.shared.epoch;
        let wall = if at >= i0 {
            s0 + (at - i0)
        } else {
            s0 - (i0 - at)
        };
        wall.duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }

    fn emit(&self, ev: GatewayEvent) {
        let _ = self.shared.events.send(ev);
    }

    fn emit_status(&self, session: SessionId) {
        let Some(info) = self.registry().get(session) else {
            return;
        };
        self.emit(GatewayEvent::Status {
            session,
            viewers: info.viewers,
            last_input_ms: info.last_input.map(|t| self.unix_ms(t)),
            closes_at_ms: self.unix_ms(info.closes_at),
        });
    }

    fn input(&self, session: SessionId, rt: &Runtime) {
        let now = Instant::now();
        self.registry().input(session, now);
        let due = {
            let mut last = rt.last_status.lock().unwrap_or_else(|p| p.into_inner());
            let due = last.is_none_or(|t| now >= t + STATUS_EVERY);
            if due {
                *last = Some(now);
            }
            due
        };
        if due {
            self.emit_status(session);
        }
    }

    /// Runs what the clock made due.
    fn tick(&self, now: Instant) {
        let actions = self.registry().tick(now);
        for a in actions {
            match a {
                Action::Warn {
                    session,
                    closes_in,
                    reason,
                } => {
                    if let Some(rt) = self.runtime(session) {
                        let _ = rt.control.send(Control::Warn { closes_in, reason });
                    }
                }
                Action::Close { session, reason } => {
                    self.close(session, reason, None);
                }
            }
        }
    }

    /// Ends a session: tells its viewers, stops its SOL console, reports,
    /// and calls its close URL. False if it was not open.
    fn close(&self, session: SessionId, reason: CloseReason, detail: Option<String>) -> bool {
        let rt = self.runtimes().remove(&session);
        let info = self.registry().remove(session);
        let Some(rt) = rt else {
            return false;
        };
        tracing::info!(session, reason = reason.as_str(), detail = ?detail, "console session closed");
        let _ = rt.control.send(Control::Closed {
            reason,
            detail: detail.clone(),
        });
        if let Some(Ok(hub)) = rt.sol.get() {
            let _ = hub.stop.send(true);
        }
        if let Target::Desktop { desktop, .. } = &rt.target {
            desktop.stop();
        }
        logout_later(session, rt.clone());
        self.emit(GatewayEvent::Closed {
            session,
            reason,
            detail,
            at_ms: self.unix_ms(Instant::now()),
        });
        let close_url = rt
            .close_url
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(url) = close_url {
            let http = self.shared.http.clone();
            tokio::spawn(async move {
                match http.get(&url).send().await {
                    Ok(r) => {
                        tracing::info!(session, status = r.status().as_u16(), "close URL called")
                    }
                    Err(e) => tracing::warn!(session, error = %e, "close URL call failed"),
                }
            });
        }
        info.is_some()
    }
}

/// The connection's peer address and any `X-Forwarded-For` values.
struct Peer {
    addr: Option<SocketAddr>,
    forwarded: Vec<String>,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Peer {
            addr: parts
                .extensions
                .get::<axum::extract::ConnectInfo<SocketAddr>>()
                .map(|c| c.0),
            forwarded: parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .map(str::to_owned)
                .collect(),
        })
    }
}

impl Peer {
    /// The browser's address, if the server was started with peer addresses.
    fn client(&self, trusted: &[IpNet]) -> Option<IpAddr> {
        let f: Vec<&str> = self.forwarded.iter().map(String::as_str).collect();
        self.addr.map(|a| client_address(a.ip(), &f, trusted))
    }
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

pub(crate) fn problem(status: StatusCode, detail: &str) -> Response {
    let body = serde_json::json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or(""),
        "status": status.as_u16(),
        "detail": detail,
    });
    (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        body.to_string(),
    )
        .into_response()
}

/// A refused upgrade. Browsers hide an HTTP refusal of a WebSocket upgrade
/// behind close code 1006, so a client of our own protocol (the console
/// page) gets the upgrade and an immediate close 4001 with the reason;
/// other clients get the HTTP problem.
fn refuse(ws: WsUpgrade, v1: bool, status: StatusCode, detail: String) -> Response {
    if !v1 {
        return problem(status, &detail);
    }
    ws.accept(&[PROTOCOL_V1], MAX_MESSAGE, move |mut socket| async move {
        socket.close(4001, &detail).await;
    })
}

async fn upgrade(
    State(gw): State<Gateway>,
    Path(id): Path<String>,
    Query(q): Query<TokenQuery>,
    peer: Peer,
    ws: Result<WsUpgrade, Response>,
) -> Response {
    // Not an upgrade: say so without spending the token.
    let ws = match ws {
        Ok(ws) => ws,
        Err(e) => return e,
    };
    let v1 = ws.offers(PROTOCOL_V1);
    let Ok(session) = id.parse::<SessionId>() else {
        return refuse(
            ws,
            v1,
            StatusCode::NOT_FOUND,
            "no such console session".into(),
        );
    };
    let Some(token) = q.token.filter(|t| !t.is_empty()) else {
        return refuse(
            ws,
            v1,
            StatusCode::UNAUTHORIZED,
            "the console token is missing: add ?token=<token from POST /api/v1/servers/{id}/console>".into(),
        );
    };
    // A session bound to an address refuses others without spending the
    // token: it is still the rightful browser's.
    if let Some(allowed) = gw.runtime(session).and_then(|rt| rt.allowed_ip) {
        let from = peer.client(&gw.shared.cfg.trusted_proxies);
        if from != Some(allowed) {
            tracing::info!(session, from = ?from, "console connection from another address refused");
            return refuse(
                ws,
                v1,
                StatusCode::FORBIDDEN,
                "this console session accepts connections only from the address it was opened for"
                    .into(),
            );
        }
    }
    let admission = gw
        .registry()
        .redeem(session, &token_hash(&token), Instant::now());
    let admission = match admission {
        Ok(a) => a,
        Err(e @ RedeemError::Invalid) => {
            return refuse(ws, v1, StatusCode::UNAUTHORIZED, e.to_string());
        }
        Err(e @ RedeemError::Expired) => return refuse(ws, v1, StatusCode::GONE, e.to_string()),
    };
    ws.accept(
        &[PROTOCOL_V1, PROTOCOL_BINARY],
        MAX_MESSAGE,
        move |socket| async move { gw.serve(socket, admission).await },
    )
}

/// INVAPI's console-server route. Here `key` is the console token of a
/// session opened through the API (or `eq.php action=novnc`), `id` that
/// session's id, `ip` the host of its target and `url` (percent-encoded, or
/// the rest of the path) the close URL to call when it ends. Answers with a
/// redirect to the console page; the token stays unused until the page
/// connects. Any mismatch is the same 404.
const INVAPI_ROUTE: &str = "/api/v1/server/{ip}/skey/{key}/{id}/closeurl/{*url}";

fn target_host(t: &Target) -> &str {
    match t {
        Target::Vnc { addr, .. } => addr
            .rsplit_once(':')
            .map_or(addr.as_str(), |(h, _)| h)
            .trim_start_matches('[')
            .trim_end_matches(']'),
        Target::Sol(c) => &c.host,
        Target::Desktop { bmc_host, .. } => bmc_host,
        Target::Html5(h) => h
            .target
            .url
            .host_str()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']'),
    }
}

async fn invapi_console(
    State(gw): State<Gateway>,
    Path((ip, key, id, url)): Path<(String, String, String, String)>,
) -> Response {
    let unknown = || {
        problem(
            StatusCode::NOT_FOUND,
            "no such console session, or the key is not its unused console token",
        )
    };
    let Ok(session) = id.parse::<SessionId>() else {
        return unknown();
    };
    let known = gw
        .registry()
        .owner_token_unused(session, &token_hash(&key), Instant::now());
    let Some(rt) = gw.runtime(session).filter(|_| known) else {
        return unknown();
    };
    if target_host(&rt.target) != ip {
        return unknown();
    }
    let url_ok = (url.starts_with("http://") || url.starts_with("https://"))
        && url.len() <= 2048
        && url.parse::<axum::http::Uri>().is_ok();
    if !url_ok {
        return problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "closeurl must be an http:// or https:// URL of at most 2048 bytes (percent-encoded in the path)",
        );
    }
    *rt.close_url.lock().unwrap_or_else(|p| p.into_inner()) = Some(url);
    let base = gw.public_base().trim_end_matches('/');
    let location = format!("{base}/console/?id={session}#token={key}");
    match header::HeaderValue::from_str(&location) {
        Ok(v) => (StatusCode::FOUND, [(header::LOCATION, v)]).into_response(),
        Err(_) => unknown(),
    }
}

/// The target side of an RFB bridge.
enum Upstream {
    Tcp(TcpStream),
    Kvm(Box<KvmSocket>),
    /// A desktop session's x11vnc (crates/desktop).
    Unix(tokio::net::UnixStream),
}

impl Upstream {
    /// Appends the next bytes from the target.
    async fn read_into(&mut self, buf: &mut Vec<u8>) -> Result<(), String> {
        match self {
            Upstream::Tcp(t) => read_some(t, buf).await,
            Upstream::Unix(u) => read_some(u, buf).await,
            Upstream::Kvm(k) => loop {
                match k.recv().await {
                    Some(Ok(Message::Binary(b))) => {
                        buf.extend_from_slice(&b);
                        return Ok(());
                    }
                    Some(Ok(Message::Close(code, reason))) => {
                        return Err(format!("closed the WebSocket ({code} {reason})"));
                    }
                    Some(Err(e)) => return Err(e.to_string()),
                    None => return Err("closed the connection".into()),
                    Some(Ok(_)) => {}
                }
            },
        }
    }

    async fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        match self {
            Upstream::Tcp(t) => t.write_all(data).await,
            Upstream::Unix(u) => u.write_all(data).await,
            Upstream::Kvm(k) => k.send_binary(data).await,
        }
    }

    /// Reads what a target socket has ready, at most `buf.len()`. A short
    /// read leaves its queue empty, so readiness is cleared then (as
    /// tokio's own reads do): the next wait sleeps instead of trying a read
    /// that would find nothing.
    fn try_read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut n = 0;
        let len = buf.len();
        let mut recv = |fd: std::os::fd::BorrowedFd<'_>| -> std::io::Result<()> {
            n = rustix::net::recv(fd, &mut *buf, rustix::net::RecvFlags::empty())?.0;
            if n > 0 && n < len {
                return Err(std::io::ErrorKind::WouldBlock.into());
            }
            Ok(())
        };
        let r = match self {
            Upstream::Tcp(t) => t.try_io(tokio::io::Interest::READABLE, || recv(t.as_fd())),
            Upstream::Unix(u) => u.try_io(tokio::io::Interest::READABLE, || recv(u.as_fd())),
            Upstream::Kvm(_) => return Err(std::io::ErrorKind::Unsupported.into()),
        };
        match r {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && n > 0 => Ok(n),
            r => r.map(|()| n),
        }
    }

    /// Waits for the target. Cancel-safe, and a socket is awaited for
    /// readiness without a buffer: an idle session holds none.
    async fn wait(&mut self) -> Arrived {
        let ready = match self {
            Upstream::Tcp(t) => t.readable().await,
            Upstream::Unix(u) => u.readable().await,
            Upstream::Kvm(k) => loop {
                match k.recv().await {
                    Some(Ok(Message::Binary(b))) => return Arrived::Message(b),
                    Some(Ok(Message::Close(..)) | Err(_)) | None => return Arrived::Closed,
                    Some(Ok(_)) => {}
                }
            },
        };
        match ready {
            Ok(()) => Arrived::Readable,
            Err(_) => Arrived::Closed,
        }
    }
}

/// Appends what one read of `r` gives.
async fn read_some(
    r: &mut (impl tokio::io::AsyncRead + Unpin),
    buf: &mut Vec<u8>,
) -> Result<(), String> {
    let mut b = [0u8; 4096];
    match r.read(&mut b).await {
        Ok(0) => Err("closed the connection".into()),
        Ok(n) => {
            buf.extend_from_slice(b.get(..n).unwrap_or_default());
            Ok(())
        }
        Err(e) => Err(e.to_string()),
    }
}

/// What the target side of a bridge has.
enum Arrived {
    /// A socket has bytes (`forward_target` moves them).
    Readable,
    /// A KVM WebSocket's message.
    Message(Vec<u8>),
    Closed,
}

/// A native HTML5 KVM target and the BMC web session the agent opened.
pub struct Html5 {
    pub target: Html5Target,
    pub web: WebSession,
    /// If the KVM's RFB asks for VNC authentication.
    pub password: Option<Zeroizing<String>>,
}

/// How a viewer's connection ended.
enum End {
    /// The viewer left (or broke its own stream); the session goes on.
    ViewerLeft,
    /// The session was closed; the viewer was told.
    SessionClosed,
    /// The target failed: close the whole session.
    Fatal(CloseReason, String),
}

struct Conn {
    socket: WsSocket,
    v1: bool,
    admission: Admission,
    control: broadcast::Receiver<Control>,
    ping: tokio::time::Interval,
}

/// One step of the viewer side that is not stream data.
enum ViewerEvent {
    Data(Bytes),
    Activity,
    Break,
    Nothing,
    Gone,
}

/// What woke the viewer's side of a bridge (`Conn::wait`).
enum Woken {
    Message(Option<Result<Message, WsError>>),
    Control(Result<Control, broadcast::error::RecvError>),
    Ping,
}

impl Conn {
    async fn send_json(&mut self, v: serde_json::Value) -> bool {
        self.socket.send_text(&v.to_string()).await.is_ok()
    }

    async fn close_with(&mut self, code: u16, reason: &str) {
        self.socket.close(code, reason).await;
    }

    async fn closed(&mut self, reason: CloseReason, detail: Option<String>) {
        if self.v1 {
            self.send_json(serde_json::json!({
                "type": "closed",
                "reason": match reason {
                    // The contract's reasons; an unused token or an empty
                    // session is not something a live viewer sees.
                    CloseReason::Expired | CloseReason::Disconnected => "killed",
                    r => r.as_str(),
                },
                "detail": detail.clone().unwrap_or_default(),
            }))
            .await;
        }
        let text = detail.unwrap_or_else(|| reason.as_str().to_owned());
        self.close_with(reason.close_code(), &text).await;
    }

    /// A control message for this viewer. Some(end) when it is over.
    async fn on_control(&mut self, c: Result<Control, broadcast::error::RecvError>) -> Option<End> {
        match c {
            Ok(Control::Warn { closes_in, reason }) => {
                if self.v1 {
                    let secs = closes_in.as_secs_f64().ceil() as u64;
                    let kind = match reason {
                        CloseReason::MaxDuration => "max_duration_warning",
                        _ => "idle_warning",
                    };
                    self.send_json(serde_json::json!({"type": kind, "closes_in_s": secs}))
                        .await;
                }
                None
            }
            Ok(Control::Closed { reason, detail }) => {
                self.closed(reason, detail).await;
                Some(End::SessionClosed)
            }
            Err(broadcast::error::RecvError::Lagged(_)) => None,
            Err(broadcast::error::RecvError::Closed) => {
                self.close_with(1000, "session ended").await;
                Some(End::SessionClosed)
            }
        }
    }

    /// Waits for the viewer's next message, a control message or the ping
    /// timer. Cancel-safe: it races the target's side in every bridge.
    async fn wait(&mut self) -> Woken {
        tokio::select! {
            m = self.socket.recv() => Woken::Message(m),
            c = self.control.recv() => Woken::Control(c),
            _ = self.ping.tick() => Woken::Ping,
        }
    }

    /// Settles what `wait` returned as far as every bridge does alike
    /// (control messages, pings, a viewer that left): what is left is the
    /// viewer's event for the bridge to handle, or how the connection ends.
    async fn settle(&mut self, w: Woken) -> Result<ViewerEvent, End> {
        match w {
            Woken::Message(m) => match self.viewer_event(m) {
                ViewerEvent::Gone => Err(End::ViewerLeft),
                e => Ok(e),
            },
            Woken::Control(c) => match self.on_control(c).await {
                Some(end) => Err(end),
                None => Ok(ViewerEvent::Nothing),
            },
            Woken::Ping => match self.socket.ping().await {
                Ok(()) => Ok(ViewerEvent::Nothing),
                Err(_) => Err(End::ViewerLeft),
            },
        }
    }

    fn viewer_event(&self, m: Option<Result<Message, WsError>>) -> ViewerEvent {
        match m {
            None | Some(Err(_)) | Some(Ok(Message::Close(..))) => ViewerEvent::Gone,
            Some(Ok(Message::Binary(b))) => ViewerEvent::Data(Bytes::from(b)),
            Some(Ok(Message::Text(t))) if self.v1 => {
                let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap_or_default();
                match v.get("type").and_then(|t| t.as_str()) {
                    Some("activity") => ViewerEvent::Activity,
                    Some("break") => ViewerEvent::Break,
                    _ => {
                        tracing::debug!(
                            session = self.admission.session,
                            "unknown control message ignored"
                        );
                        ViewerEvent::Nothing
                    }
                }
            }
            // Text on the binary protocol: the stream's bytes all the same.
            Some(Ok(Message::Text(t))) => ViewerEvent::Data(Bytes::from(t.into_bytes())),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => ViewerEvent::Nothing,
        }
    }
}

/// Logs out of a closed HTML5 session's BMC web session (so the BMC's
/// session slots do not fill up).
fn logout_later(session: SessionId, rt: Arc<Runtime>) {
    if !matches!(rt.target, Target::Html5(_)) {
        return;
    }
    tokio::spawn(async move {
        if let Target::Html5(h) = &rt.target {
            match h.target.logout(&h.web).await {
                Ok(()) => tracing::info!(session, "logged out of the BMC"),
                Err(e) => tracing::warn!(session, error = %e, "BMC logout failed"),
            }
        }
    });
}

/// Buffers for the target → viewer path, kept for reuse: a session holds
/// one only while it forwards. Each is `ROOM + CHUNK` bytes, zeroed once.
static BUFFERS: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
/// Buffers kept for reuse.
const BUFFERS_KEPT: usize = 16;

fn take_buffer() -> Vec<u8> {
    BUFFERS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .pop()
        .unwrap_or_else(|| vec![0; ROOM + CHUNK])
}

fn return_buffer(b: Vec<u8>) {
    let mut pool = BUFFERS.lock().unwrap_or_else(|p| p.into_inner());
    if pool.len() < BUFFERS_KEPT {
        pool.push(b);
    }
}

fn target_gone(what: &str) -> End {
    End::Fatal(
        CloseReason::TargetClosed,
        format!("{what} closed the connection"),
    )
}

/// Forwards what a target socket has ready as binary frames, each read
/// sent from the buffer it was read into (header written in front of it).
/// A few frames per call, so the viewer's input is not starved behind a
/// stream of updates. Copying, not splice(2): measured on the 2-vCPU bench
/// machine, socket → pipe → socket moved 30 % fewer bytes/s at more CPU
/// per MiB (bench/README.md, console, session 5). (`up` is borrowed
/// mutably only because a shared borrow of a KVM's boxed stream would not
/// be `Send`.)
async fn forward_target(conn: &mut Conn, up: &mut Upstream, what: &str) -> Result<(), End> {
    copy_frames(conn, up, CHUNK, 4, what).await.map(drop)
}

/// Sends what a target socket has ready, one frame per read of at most
/// `limit` bytes (header written in front of it: one write), for at most
/// `reads` reads. `Ok(true)`: the last read filled `limit`, so more is
/// likely waiting.
async fn copy_frames(
    conn: &mut Conn,
    up: &mut Upstream,
    limit: usize,
    reads: usize,
    what: &str,
) -> Result<bool, End> {
    let mut buf = take_buffer();
    let mut result = Ok(false);
    for _ in 0..reads {
        let Some(room) = buf.get_mut(ROOM..ROOM + limit) else {
            break;
        };
        match up.try_read(room) {
            Ok(0) => {
                result = Err(target_gone(what));
                break;
            }
            Ok(n) => {
                let frame = buf.get_mut(..ROOM + n).unwrap_or_default();
                if conn.socket.send_in_place(frame).await.is_err() {
                    result = Err(End::ViewerLeft);
                    break;
                }
                result = Ok(n == limit);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(_) => {
                result = Err(target_gone(what));
                break;
            }
        }
    }
    return_buffer(buf);
    result
}

impl Gateway {
    async fn serve(self, mut socket: WsSocket, admission: Admission) {
        let session = admission.session;
        let v1 = socket.protocol() == Some(PROTOCOL_V1);
        let Some(rt) = self.runtime(session) else {
            socket.close(4001, "the console session has ended").await;
            return;
        };
        let control = rt.control.subscribe();
        let opened = self.registry().connect(session, Instant::now());
        if opened {
            self.emit(GatewayEvent::Opened {
                session,
                at_ms: self.unix_ms(Instant::now()),
            });
        }
        self.emit_status(session);
        let mut conn = Conn {
            socket,
            v1,
            admission,
            control,
            ping: tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY),
        };
        // SOL: join the session's console (starting it for the first
        // viewer) before the hello, so nothing written after the hello is
        // missed.
        let end = match &rt.target {
            Target::Sol(cfg) => match self.join_sol(session, &rt, cfg).await {
                Err(e) => End::Fatal(CloseReason::Error, e),
                Ok(joined) => {
                    if v1 {
                        self.hello(&mut conn, &rt).await;
                    }
                    self.sol(&mut conn, &rt, joined).await
                }
            },
            Target::Vnc { addr, password } => {
                if v1 {
                    self.hello(&mut conn, &rt).await;
                }
                let password = password.as_deref().map(String::as_str);
                self.vnc(&mut conn, &rt, addr, password).await
            }
            Target::Desktop { desktop, .. } => {
                if v1 {
                    self.hello(&mut conn, &rt).await;
                }
                self.desktop(&mut conn, &rt, desktop.vnc_socket()).await
            }
            Target::Html5(h) => {
                if v1 {
                    self.hello(&mut conn, &rt).await;
                }
                self.html5(&mut conn, &rt, h).await
            }
        };
        match end {
            End::ViewerLeft => {
                self.registry().disconnect(session, Instant::now());
                self.emit_status(session);
            }
            End::SessionClosed => {}
            End::Fatal(reason, detail) => {
                tracing::warn!(session, detail = %detail, "console target failed");
                // Tell this viewer even if the close races another.
                if !self.close(session, reason, Some(detail.clone())) {
                    conn.closed(reason, Some(detail)).await;
                } else {
                    let c = conn.control.recv().await;
                    conn.on_control(c).await;
                }
            }
        }
    }

    async fn vnc(&self, conn: &mut Conn, rt: &Runtime, addr: &str, password: Option<&str>) -> End {
        let tcp = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(t)) => t,
            Ok(Err(e)) => {
                return End::Fatal(
                    CloseReason::Error,
                    format!("cannot reach the VNC server at {addr}: {e}"),
                );
            }
            Err(_) => {
                return End::Fatal(
                    CloseReason::Error,
                    format!("the VNC server at {addr} did not answer"),
                );
            }
        };
        let _ = tcp.set_nodelay(true);
        self.rfb(
            conn,
            rt,
            Upstream::Tcp(tcp),
            password,
            &format!("the VNC server at {addr}"),
        )
        .await
    }

    /// A BMC's own KVM WebSocket, with the session's BMC web login.
    async fn html5(&self, conn: &mut Conn, rt: &Runtime, h: &Html5) -> End {
        let kvm = match h.target.connect(&h.web, MAX_MESSAGE).await {
            Ok(k) => k,
            Err(e) => return End::Fatal(CloseReason::Error, e),
        };
        let password = h.password.as_deref().map(String::as_str);
        self.rfb(
            conn,
            rt,
            Upstream::Kvm(Box::new(kvm)),
            password,
            "the BMC's KVM",
        )
        .await
    }

    /// A desktop session's x11vnc, on its unix socket (no password: only
    /// root and the session's uid may open it).
    async fn desktop(&self, conn: &mut Conn, rt: &Runtime, socket: &std::path::Path) -> End {
        let what = format!("the desktop's VNC server at {}", socket.display());
        match tokio::net::UnixStream::connect(socket).await {
            Ok(s) => self.rfb(conn, rt, Upstream::Unix(s), None, &what).await,
            Err(e) => End::Fatal(CloseReason::Error, format!("cannot reach {what}: {e}")),
        }
    }

    /// RFB between a viewer and a target: our own handshake with the
    /// target, the browser's (3.8, security None), then both streams.
    async fn rfb(
        &self,
        conn: &mut Conn,
        rt: &Runtime,
        mut up: Upstream,
        password: Option<&str>,
        what: &str,
    ) -> End {
        let session = conn.admission.session;
        // Our own handshake with the target first: the browser never sees
        // its password, and a refusal is reported before the viewer waits.
        let target = tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
            let mut h = TargetHandshake::new(password);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                up.read_into(&mut buf)
                    .await
                    .map_err(|e| format!("{what} during the handshake: {e}"))?;
                let p = h.receive(&buf).map_err(|e| e.to_string())?;
                up.write_all(&p.send)
                    .await
                    .map_err(|e| format!("{what}: {e}"))?;
                if p.done {
                    return Ok::<_, String>(h.leftover());
                }
            }
        })
        .await;
        let early = match target {
            Ok(Ok(b)) => b,
            Ok(Err(e)) => return End::Fatal(CloseReason::Error, e),
            Err(_) => {
                return End::Fatal(
                    CloseReason::Error,
                    format!("{what} did not finish its handshake"),
                );
            }
        };
        // Then the browser's side: 3.8, security None.
        if conn
            .socket
            .send_binary(ViewerHandshake::greeting())
            .await
            .is_err()
        {
            return End::ViewerLeft;
        }
        let mut v = ViewerHandshake::new();
        let viewer = tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
            loop {
                let m = conn.socket.recv().await;
                match conn.viewer_event(m) {
                    ViewerEvent::Gone => return Err(None),
                    ViewerEvent::Data(b) => {
                        let p = v.receive(&b);
                        let (send, done) = match p {
                            Ok(p) => (p.send, p.done),
                            Err(e) => return Err(Some(e.to_string())),
                        };
                        if !send.is_empty() && conn.socket.send_binary(&send).await.is_err() {
                            return Err(None);
                        }
                        if done {
                            return Ok(());
                        }
                    }
                    _ => {}
                }
            }
        })
        .await;
        match viewer {
            Ok(Ok(())) => {}
            Ok(Err(Some(e))) => {
                conn.close_with(1002, &e).await;
                return End::ViewerLeft;
            }
            Ok(Err(None)) => return End::ViewerLeft,
            Err(_) => {
                conn.close_with(1002, "RFB handshake timed out").await;
                return End::ViewerLeft;
            }
        }
        let gone = || target_gone(what);
        // ClientInit: always shared, so a second viewer does not push the
        // first one off the target.
        if up.write_all(&[1]).await.is_err() {
            return gone();
        }
        if !early.is_empty() && conn.socket.send_binary(&early).await.is_err() {
            return End::ViewerLeft;
        }
        let mut stream = ClientStream::new();
        let first = v.leftover();
        if !first.is_empty() {
            match self.client_bytes(conn, rt, &mut stream, &first).await {
                Err(end) => return end,
                Ok(out) if !out.is_empty() && up.write_all(&out).await.is_err() => return gone(),
                Ok(_) => {}
            }
        }
        // Both streams, until one side ends.
        let end = loop {
            tokio::select! {
                a = up.wait() => match a {
                    Arrived::Readable => {
                        if let Err(end) = forward_target(conn, &mut up, what).await {
                            break end;
                        }
                    }
                    Arrived::Message(b) => {
                        if conn.socket.send_binary(&b).await.is_err() {
                            break End::ViewerLeft;
                        }
                    }
                    Arrived::Closed => break gone(),
                },
                w = conn.wait() => match conn.settle(w).await {
                    Err(end) => break end,
                    Ok(ViewerEvent::Data(b)) => match self.client_bytes(conn, rt, &mut stream, &b).await {
                        Err(end) => break end,
                        Ok(out) if !out.is_empty() && up.write_all(&out).await.is_err() => break gone(),
                        Ok(_) => {}
                    },
                    Ok(ViewerEvent::Activity) if !conn.admission.view_only => self.input(session, rt),
                    Ok(_) => {}
                },
            }
        };
        // A KVM WebSocket is closed politely unless it is what failed.
        if let (Upstream::Kvm(kvm), false) = (&mut up, matches!(end, End::Fatal(..))) {
            let reason = match end {
                End::ViewerLeft => "viewer left",
                _ => "console session closed",
            };
            kvm.close(1000, reason).await;
        }
        end
    }

    /// The browser's whole messages, to pass on to the target: input from
    /// view-only viewers dropped, activity noted.
    async fn client_bytes(
        &self,
        conn: &mut Conn,
        rt: &Runtime,
        stream: &mut ClientStream,
        data: &[u8],
    ) -> Result<Vec<u8>, End> {
        let msgs = match stream.feed(data) {
            Ok(m) => m,
            Err(e) => {
                tracing::info!(session = conn.admission.session, error = %e, "viewer sent an unparsable RFB stream");
                conn.close_with(1003, &e.to_string()).await;
                return Err(End::ViewerLeft);
            }
        };
        let mut input = false;
        let mut out = Vec::with_capacity(data.len());
        for (kind, bytes) in msgs {
            if kind.is_input() {
                if conn.admission.view_only {
                    continue;
                }
                input = true;
            }
            out.extend_from_slice(&bytes);
        }
        if input {
            self.input(conn.admission.session, rt);
        }
        Ok(out)
    }

    async fn hello(&self, conn: &mut Conn, rt: &Runtime) {
        let session = conn.admission.session;
        let view_only = conn.admission.view_only;
        let (reconnect, hash) = new_token();
        self.registry().add_token(session, hash, view_only, None);
        let limits = self.registry().limits(session).unwrap_or_default();
        conn.send_json(serde_json::json!({
            "type": "hello",
            // The stream the page shows: a BMC's KVM is RFB like VNC.
            "kind": match rt.kind {
                Kind::Sol => "sol",
                _ => "vnc",
            },
            "view_only": view_only,
            "idle_timeout_s": limits.idle_timeout.as_secs(),
            "max_duration_s": limits.max_duration.as_secs(),
            "reconnect_token": reconnect,
        }))
        .await;
    }

    /// This viewer's ends of the session's SOL console.
    async fn join_sol(
        &self,
        session: SessionId,
        rt: &Runtime,
        cfg: &ironrack_ipmi::Config,
    ) -> Result<SolJoined, String> {
        let hub = rt
            .sol
            .get_or_init(|| self.start_sol(session, cfg.clone()))
            .await;
        match hub {
            Ok(h) => {
                // Under the history's lock: each chunk is either in the
                // replay or in this subscription, never both.
                let mut history = h.history.lock().unwrap_or_else(|p| p.into_inner());
                Ok(SolJoined {
                    replay: history.take(),
                    output: h.output.subscribe(),
                    input: h.input.clone(),
                })
            }
            Err(e) => Err(e.clone()),
        }
    }

    async fn sol(&self, conn: &mut Conn, rt: &Runtime, joined: SolJoined) -> End {
        let session = conn.admission.session;
        let SolJoined {
            replay,
            mut output,
            input,
        } = joined;
        if !replay.is_empty() && conn.socket.send_binary(&replay).await.is_err() {
            return End::ViewerLeft;
        }
        loop {
            tokio::select! {
                o = output.recv() => match o {
                    Ok(b) => {
                        if conn.socket.send_binary(&b).await.is_err() {
                            return End::ViewerLeft;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::debug!(session, skipped = n, "slow SOL viewer skipped output");
                    }
                    // The console ended; the session's close follows.
                    Err(broadcast::error::RecvError::Closed) => {
                        let c = conn.control.recv().await;
                        return conn.on_control(c).await.unwrap_or(End::SessionClosed);
                    }
                },
                w = conn.wait() => match conn.settle(w).await {
                    Err(end) => return end,
                    Ok(_) if conn.admission.view_only => {}
                    Ok(ViewerEvent::Data(b)) => {
                        self.input(session, rt);
                        if input.send(SolIn::Keys(b.to_vec())).await.is_err() {
                            return End::Fatal(CloseReason::TargetClosed, "the serial console ended".into());
                        }
                    }
                    Ok(ViewerEvent::Activity) => self.input(session, rt),
                    Ok(ViewerEvent::Break) => {
                        self.input(session, rt);
                        let _ = input.send(SolIn::Break).await;
                    }
                    Ok(_) => {}
                },
            }
        }
    }

    /// Opens the IPMI session and SOL payload, and starts the pump that
    /// logs output and fans it out to viewers.
    async fn start_sol(
        &self,
        session: SessionId,
        cfg: ironrack_ipmi::Config,
    ) -> Result<SolHub, String> {
        let target = format!("{}:{}", cfg.host, cfg.port);
        let s = ironrack_ipmi::Session::connect(cfg)
            .await
            .map_err(|e| format!("cannot open an IPMI session to {target}: {e}"))?;
        let mut console = s
            .sol_activate(1)
            .await
            .map_err(|e| format!("cannot activate serial-over-LAN on {target}: {e}"))?;
        let (output, _) = broadcast::channel(SOL_FANOUT);
        let (input, mut keys) = mpsc::channel::<SolIn>(SOL_INPUT_QUEUE);
        let (stop, mut stopped) = watch::channel(false);
        let mut log = SolLog::new(&self.shared.cfg.log_dir, session, self.shared.cfg.log_limit);
        let out = output.clone();
        let history = Arc::new(Mutex::new(SolHistory::new(SOL_HISTORY)));
        let kept = history.clone();
        let gw = self.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let ended_by_target = loop {
                tokio::select! {
                    r = console.read(&mut buf) => match r {
                        Ok(0) | Err(_) => break true,
                        Ok(n) => {
                            let chunk = buf.get(..n).unwrap_or_default();
                            if let Err(e) = log.append(chunk).await {
                                tracing::warn!(session, error = %e, "SOL log write failed");
                            }
                            let mut h = kept.lock().unwrap_or_else(|p| p.into_inner());
                            h.record(chunk);
                            let _ = out.send(Bytes::copy_from_slice(chunk));
                        }
                    },
                    k = keys.recv() => match k {
                        Some(SolIn::Keys(k)) => {
                            if console.write_all(&k).await.is_err() {
                                break true;
                            }
                        }
                        Some(SolIn::Break) => console.send_break(),
                        None => break false,
                    },
                    _ = stopped.changed() => break false,
                }
            };
            drop(out);
            if let Err(e) = console.close().await {
                tracing::debug!(session, error = %e, "SOL console closed with an error");
            }
            if ended_by_target {
                gw.close(
                    session,
                    CloseReason::TargetClosed,
                    Some("the BMC ended the serial console".into()),
                );
            }
        });
        Ok(SolHub {
            output,
            history,
            input,
            stop,
        })
    }
}
