//! Tokio front end of the virtual BMC: one UDP socket, a 100 ms tick for
//! timers, and one TCP connection to the serial port per active SOL.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;

use super::{Action, Bmc, BmcConfig, Chassis, SerialPort, telnet};

/// Serial port events, tagged with the session id.
enum Serial {
    Data(u32, Vec<u8>),
    Closed(u32),
}

/// What the BMC writes to a serial port.
enum ToHost {
    Keys(Vec<u8>),
    Break,
}

/// A virtual BMC listening on UDP.
pub struct Server {
    sock: UdpSocket,
    bmc: Arc<Mutex<Bmc>>,
    serial: Option<SerialPort>,
}

impl Server {
    pub async fn bind(addr: SocketAddr, cfg: BmcConfig) -> std::io::Result<Server> {
        let sock = UdpSocket::bind(addr).await?;
        let serial = cfg.serial;
        let mut bmc = Bmc::new(cfg);
        bmc.port = sock.local_addr()?.port();
        Ok(Server {
            sock,
            bmc: Arc::new(Mutex::new(bmc)),
            serial,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.sock.local_addr()
    }

    /// The BMC state shared with the serving task (tests inspect the
    /// chassis through it).
    pub fn state(&self) -> Arc<Mutex<Bmc>> {
        self.bmc.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Bmc> {
        self.bmc.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Serve until the socket fails.
    pub async fn run(self) -> std::io::Result<()> {
        let (serial_tx, mut serial_rx) = mpsc::channel::<Serial>(64);
        let mut writers: HashMap<u32, mpsc::UnboundedSender<ToHost>> = HashMap::new();
        let mut buf = vec![0u8; 2048];
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            let actions = tokio::select! {
                r = self.sock.recv_from(&mut buf) => match r {
                    Ok((n, peer)) => self.lock().handle_datagram(&buf[..n], peer, Instant::now()),
                    // ICMP errors from a console that went away.
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => vec![],
                    Err(e) => return Err(e),
                },
                Some(ev) = serial_rx.recv() => match ev {
                    Serial::Data(sid, d) => self.lock().serial_input(sid, &d, Instant::now()),
                    Serial::Closed(sid) => {
                        writers.remove(&sid);
                        self.lock().serial_closed(sid)
                    }
                },
                _ = tick.tick() => self.lock().poll(Instant::now()),
            };
            for a in actions {
                match a {
                    Action::Send(dg, peer) => {
                        if let Err(e) = self.sock.send_to(&dg, peer).await {
                            tracing::debug!(%peer, error = %e, "send failed");
                        }
                    }
                    Action::SerialOpen { sid } => {
                        if let Some(port) = self.serial {
                            let (tx, rx) = mpsc::unbounded_channel();
                            writers.insert(sid, tx);
                            tokio::spawn(serial_port(port, sid, rx, serial_tx.clone()));
                        }
                    }
                    Action::SerialWrite { sid, data } => {
                        if let Some(w) = writers.get(&sid) {
                            let _ = w.send(ToHost::Keys(data));
                        }
                    }
                    Action::SerialBreak { sid } => {
                        if let Some(w) = writers.get(&sid) {
                            let _ = w.send(ToHost::Break);
                        }
                    }
                    Action::SerialClose { sid } => {
                        writers.remove(&sid);
                    }
                }
            }
        }
    }
}

/// Bridge one SOL session to the serial port until either side closes
/// (dropping the writer channel closes the connection).
async fn serial_port(
    port: SerialPort,
    sid: u32,
    mut keys: mpsc::UnboundedReceiver<ToHost>,
    events: mpsc::Sender<Serial>,
) {
    let addr = port.addr;
    let stream = match TcpStream::connect(addr).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(%addr, error = %e, "cannot connect the serial port");
            let _ = events.send(Serial::Closed(sid)).await;
            return;
        }
    };
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let mut decoder = telnet::Decoder::default();
    if port.telnet && wr.write_all(&telnet::GREETING).await.is_err() {
        let _ = events.send(Serial::Closed(sid)).await;
        return;
    }
    let mut buf = vec![0u8; 1024];
    loop {
        tokio::select! {
            k = keys.recv() => {
                let bytes = match k {
                    None => return, // SOL deactivated: just hang up
                    Some(ToHost::Keys(k)) if port.telnet => telnet::escape(&k),
                    Some(ToHost::Keys(k)) => k,
                    Some(ToHost::Break) if port.telnet => telnet::BREAK.to_vec(),
                    Some(ToHost::Break) => {
                        tracing::debug!(%addr, "break dropped: a raw TCP serial port cannot carry one");
                        continue;
                    }
                };
                if wr.write_all(&bytes).await.is_err() {
                    break;
                }
            }
            r = rd.read(&mut buf) => match r {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let raw = buf.get(..n).unwrap_or_default();
                    let data = if port.telnet { decoder.feed(raw) } else { raw.to_vec() };
                    if !data.is_empty() && events.send(Serial::Data(sid, data)).await.is_err() {
                        return;
                    }
                }
            },
        }
    }
    let _ = events.send(Serial::Closed(sid)).await;
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.sock.local_addr().ok())
            .finish_non_exhaustive()
    }
}

/// Serve a virtual BMC on `addr` until the socket fails.
pub async fn serve(addr: SocketAddr, cfg: BmcConfig) -> std::io::Result<()> {
    Server::bind(addr, cfg).await?.run().await
}

impl Chassis {
    /// "on"/"off", for status lines.
    pub fn power_word(&self) -> &'static str {
        if self.power_on { "on" } else { "off" }
    }
}
