//! Many sessions over a few UDP sockets.
//!
//! Each socket has one receive task that routes datagrams to sessions by the
//! console session id we chose ([`crate::wire::demux_id`]); session-less
//! replies (auth capabilities, cipher suites) go to every session in login
//! with that BMC, whose state machines drop what is not theirs. The sessions
//! themselves are ordinary [`Session`]s.
//!
//! Unlike a dedicated (connected) socket, a shared socket does not report
//! ICMP "port unreachable": a BMC that is down shows up as
//! [`Error::Timeout`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::client::{Link, Session, Transport, resolve};
use crate::config::Config;
use crate::error::Error;
use crate::wire;

/// Datagrams queued per session before the engine drops new ones.
const QUEUE: usize = 64;

#[derive(Debug)]
struct RouteEntry {
    socket: usize,
    peer: SocketAddr,
    tx: mpsc::Sender<Vec<u8>>,
}

#[derive(Debug)]
struct Inner {
    sockets: Vec<Arc<UdpSocket>>,
    routes: Mutex<HashMap<u32, RouteEntry>>,
    next_socket: AtomicUsize,
}

impl Inner {
    fn routes(&self) -> std::sync::MutexGuard<'_, HashMap<u32, RouteEntry>> {
        // A poisoned map is still a consistent map: routes are plain data.
        self.routes.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A session's end of a shared socket; unregisters itself on drop.
#[derive(Debug)]
pub(crate) struct Route {
    sock: Arc<UdpSocket>,
    rx: mpsc::Receiver<Vec<u8>>,
    sid: u32,
    engine: Weak<Inner>,
}

impl Route {
    pub(crate) async fn send(&self, pkt: &[u8], peer: SocketAddr) -> std::io::Result<()> {
        self.sock.send_to(pkt, peer).await.map(|_| ())
    }
    pub(crate) fn try_send(&self, pkt: &[u8], peer: SocketAddr) -> std::io::Result<usize> {
        self.sock.try_send_to(pkt, peer)
    }
    pub(crate) async fn recv(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let dg = self
            .rx
            .recv()
            .await
            .ok_or_else(|| std::io::Error::other("IPMI engine stopped"))?;
        let n = dg.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), dg.get(..n)) {
            dst.copy_from_slice(src);
        }
        Ok(n)
    }
}

impl Drop for Route {
    fn drop(&mut self) {
        if let Some(e) = self.engine.upgrade() {
            e.routes().remove(&self.sid);
        }
    }
}

/// Drives many BMC sessions over `n` shared UDP sockets.
#[derive(Debug)]
pub struct Engine {
    inner: Arc<Inner>,
    tasks: Vec<JoinHandle<()>>,
}

impl Engine {
    /// Bind `sockets` UDP sockets on `local` (port 0 = any) and start their
    /// receive tasks. Needs a tokio runtime.
    pub async fn bind(local: std::net::IpAddr, sockets: usize) -> Result<Engine, Error> {
        let mut socks = Vec::new();
        for _ in 0..sockets.max(1) {
            socks.push(Arc::new(UdpSocket::bind((local, 0)).await?));
        }
        let inner = Arc::new(Inner {
            sockets: socks,
            routes: Mutex::new(HashMap::new()),
            next_socket: AtomicUsize::new(0),
        });
        let tasks = (0..inner.sockets.len())
            .map(|i| tokio::spawn(receive(Arc::downgrade(&inner), i)))
            .collect();
        Ok(Engine { inner, tasks })
    }

    /// Number of sessions currently registered.
    pub fn sessions(&self) -> usize {
        self.inner.routes().len()
    }

    /// Log in to a BMC over one of the engine's sockets (round robin).
    pub async fn connect(&self, cfg: Config) -> Result<Session, Error> {
        crate::session::validate(&cfg)?;
        let peer = resolve(&cfg).await?;
        let socket =
            self.inner.next_socket.fetch_add(1, Ordering::Relaxed) % self.inner.sockets.len();
        let sock = self
            .inner
            .sockets
            .get(socket)
            .cloned()
            .ok_or(Error::Closed)?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let sid = {
            let mut routes = self.inner.routes();
            // Our session ids are the demultiplexing key: unique, non-zero.
            let sid = loop {
                let v = rand::random::<u32>();
                if v != 0 && !routes.contains_key(&v) {
                    break v;
                }
            };
            routes.insert(sid, RouteEntry { socket, peer, tx });
            sid
        };
        let route = Route {
            sock,
            rx,
            sid,
            engine: Arc::downgrade(&self.inner),
        };
        let link = Link::new(Transport::Shared(route), peer, &cfg);
        Session::login(link, sid, cfg).await
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn receive(engine: Weak<Inner>, index: usize) {
    let Some(sock) = engine.upgrade().and_then(|e| e.sockets.get(index).cloned()) else {
        return;
    };
    let mut buf = vec![0u8; 2048];
    loop {
        let (n, from) = match sock.recv_from(&mut buf).await {
            Ok(v) => v,
            // ICMP errors from some earlier send; nothing to route.
            Err(e) => {
                tracing::debug!(error = %e, "engine socket error");
                tokio::task::yield_now().await;
                continue;
            }
        };
        let Some(inner) = engine.upgrade() else {
            return;
        };
        let dg = buf.get(..n).unwrap_or_default();
        let routes = inner.routes();
        match wire::demux_id(dg) {
            Some(sid) => {
                if let Some(r) = routes.get(&sid)
                    && r.peer == from
                    && r.socket == index
                {
                    let _ = r.tx.try_send(dg.to_vec());
                }
            }
            None => {
                for r in routes
                    .values()
                    .filter(|r| r.peer == from && r.socket == index)
                {
                    let _ = r.tx.try_send(dg.to_vec());
                }
            }
        }
    }
}
