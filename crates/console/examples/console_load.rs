//! Load tools for bench/console.sh: a raw-encoding RFB server and a client
//! that measures one VNC stream's bytes/s and round-trip latency, over
//! plain TCP or a WebSocket (websockify, ironrack's gateway), plus idle
//! sessions held open and a plain TCP relay for reference.
//!
//!   console_load serve --listen 127.0.0.1:5999 [--width 1024 --height 768]
//!   console_load relay --listen ADDR --to ADDR
//!   console_load throughput --url tcp://H:P | ws://H:P/PATH [--seconds 5 --depth 2]
//!                [--watch server=PID,proxy=PID]
//!   console_load latency --url URL [--count 20000]
//!   console_load idle --urls FILE [--concurrency 64 --seconds 3600]
//!   console_load open --api http://H:P --token T --pin P --servers 1,2 --count N
//!
//! The client reads into one large buffer and skips WebSocket frame
//! headers in place: the same work per byte as over TCP, so the direct
//! row is the ceiling and the client is not the bottleneck.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ironrack_console::ws::{self, Opcode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

type Error = Box<dyn std::error::Error + Send + Sync>;

fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let cmd = args.next().unwrap_or_default();
    let mut opts = HashMap::new();
    while let Some(k) = args.next() {
        let k = k
            .strip_prefix("--")
            .ok_or_else(|| format!("expected --option, got `{k}`"))?
            .to_owned();
        let v = args.next().ok_or_else(|| format!("--{k} needs a value"))?;
        opts.insert(k, v);
    }
    let get = |k: &str| -> Result<String, Error> {
        opts.get(k)
            .cloned()
            .ok_or_else(|| format!("{cmd}: --{k} is required").into())
    };
    let num = |k: &str, d: u64| -> Result<u64, Error> {
        opts.get(k).map_or(Ok(d), |v| {
            v.parse()
                .map_err(|_| format!("--{k}: `{v}` is not a number").into())
        })
    };
    // One thread each: the figures are about the peer in between.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        match cmd.as_str() {
            "serve" => {
                serve(
                    &get("listen")?,
                    num("width", 1024)? as u16,
                    num("height", 768)? as u16,
                )
                .await
            }
            "relay" => relay(&get("listen")?, &get("to")?).await,
            "throughput" => {
                let watch = opts.get("watch").cloned().unwrap_or_default();
                throughput(
                    &get("url")?,
                    num("seconds", 5)?,
                    num("depth", 2)? as usize,
                    &watch,
                )
                .await
            }
            "latency" => latency(&get("url")?, num("count", 20_000)? as usize).await,
            "idle" => {
                idle(
                    &get("urls")?,
                    num("concurrency", 64)? as usize,
                    num("seconds", 3600)?,
                )
                .await
            }
            "open" => {
                open(
                    &get("api")?,
                    &get("token")?,
                    &get("pin")?,
                    &get("servers")?,
                    num("count", 1)? as usize,
                    num("concurrency", 4)? as usize,
                )
                .await
            }
            _ => Err(format!(
                "unknown command `{cmd}`: serve, relay, throughput, latency, idle or open"
            )
            .into()),
        }
    })
}

// ------------------------------------------------------------------ server

const PIXEL_FORMAT: [u8; 16] = [32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0];

/// RFB 3.8, security None; answers each FramebufferUpdateRequest with one
/// raw rectangle of the requested area (the pixels are a fixed pattern).
async fn serve(listen: &str, width: u16, height: u16) -> Result<(), Error> {
    let l = TcpListener::bind(listen).await?;
    let pixels: Arc<[u8]> = (0..usize::from(width) * usize::from(height) * 4)
        .map(|i| (i * 7 % 251) as u8)
        .collect::<Vec<_>>()
        .into();
    println!("listening {}", l.local_addr()?);
    loop {
        let (c, _) = l.accept().await?;
        let pixels = pixels.clone();
        tokio::spawn(async move {
            let _ = rfb_session(c, width, height, pixels).await;
        });
    }
}

async fn rfb_session(mut c: TcpStream, w: u16, h: u16, pixels: Arc<[u8]>) -> Result<(), Error> {
    c.set_nodelay(true)?;
    c.write_all(b"RFB 003.008\n").await?;
    let mut v = [0u8; 12];
    c.read_exact(&mut v).await?;
    c.write_all(&[1, 1]).await?;
    let mut one = [0u8; 1];
    c.read_exact(&mut one).await?;
    c.write_all(&[0, 0, 0, 0]).await?;
    c.read_exact(&mut one).await?; // ClientInit
    let mut init = Vec::new();
    init.extend_from_slice(&w.to_be_bytes());
    init.extend_from_slice(&h.to_be_bytes());
    init.extend_from_slice(&PIXEL_FORMAT);
    init.extend_from_slice(&5u32.to_be_bytes());
    init.extend_from_slice(b"bench");
    c.write_all(&init).await?;
    let (rd, mut wr) = c.split();
    let mut rd = tokio::io::BufReader::new(rd);
    loop {
        let kind = rd.read_u8().await?;
        let skip = match kind {
            0 => 19,
            2 => {
                rd.read_u8().await?;
                4 * usize::from(rd.read_u16().await?)
            }
            3 => {
                let mut r = [0u8; 9];
                rd.read_exact(&mut r).await?;
                let be = |i: usize| u16::from_be_bytes([r[i], r[i + 1]]);
                let (x, y) = (be(1).min(w), be(3).min(h));
                let (rw, rh) = (be(5).min(w - x), be(7).min(h - y));
                let mut head = vec![0u8, 0, 0, 1];
                for v in [x, y, rw, rh] {
                    head.extend_from_slice(&v.to_be_bytes());
                }
                head.extend_from_slice(&0i32.to_be_bytes());
                let n = usize::from(rw) * usize::from(rh) * 4;
                // A full-width request is one contiguous run of the pattern.
                wr.write_all(&head).await?;
                wr.write_all(&pixels[..n]).await?;
                0
            }
            4 => 7,
            5 => 5,
            6 => {
                let mut r = [0u8; 7];
                rd.read_exact(&mut r).await?;
                i32::from_be_bytes([r[3], r[4], r[5], r[6]]).unsigned_abs() as usize
            }
            k => return Err(format!("unexpected client message {k}").into()),
        };
        for _ in 0..skip {
            rd.read_u8().await?;
        }
    }
}

async fn relay(listen: &str, to: &str) -> Result<(), Error> {
    let l = TcpListener::bind(listen).await?;
    println!("listening {}", l.local_addr()?);
    loop {
        let (mut a, _) = l.accept().await?;
        let to = to.to_owned();
        tokio::spawn(async move {
            if let Ok(mut b) = TcpStream::connect(&to).await {
                let _ = a.set_nodelay(true);
                let _ = b.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional_with_sizes(&mut a, &mut b, 1 << 18, 1 << 18)
                    .await;
            }
        });
    }
}

// ------------------------------------------------------------------ client

/// One RFB stream over TCP or a WebSocket. Stream bytes are either copied
/// out (`read_exact`, the handshake) or only counted (`discard`).
struct Stream {
    tcp: TcpStream,
    ws: bool,
    buf: Vec<u8>,
    /// Stream bytes read and copied, not yet taken.
    data: Vec<u8>,
    /// Stream bytes read and not copied, not yet counted.
    skipped: usize,
    /// Payload left in the current WebSocket frame, and whether it is
    /// stream data.
    frame_left: u64,
    frame_data: bool,
    /// A frame header split across reads.
    head: Vec<u8>,
    /// A ping's payload being collected.
    ping: Option<Vec<u8>>,
    pongs: Vec<Vec<u8>>,
    closed: bool,
    /// Reads from the socket and WebSocket frames seen: how the bytes came.
    reads: u64,
    frames: u64,
}

impl Stream {
    async fn connect(url: &str) -> Result<Stream, Error> {
        let (ws, rest) = if let Some(r) = url.strip_prefix("tcp://") {
            (false, r)
        } else if let Some(r) = url.strip_prefix("ws://") {
            (true, r)
        } else {
            return Err(format!("`{url}`: use tcp://host:port or ws://host:port/path").into());
        };
        let (hostport, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let tcp = TcpStream::connect(hostport).await?;
        tcp.set_nodelay(true)?;
        let mut s = Stream {
            tcp,
            ws,
            buf: vec![0u8; 1 << 20],
            data: Vec::new(),
            skipped: 0,
            frame_left: 0,
            frame_data: false,
            head: Vec::new(),
            ping: None,
            pongs: Vec::new(),
            closed: false,
            reads: 0,
            frames: 0,
        };
        if ws {
            let req = format!(
                "GET {path} HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
                 Sec-WebSocket-Protocol: binary\r\n\r\n"
            );
            s.tcp.write_all(req.as_bytes()).await?;
            let mut got = Vec::new();
            let end = loop {
                let n = s.tcp.read(&mut s.buf).await?;
                if n == 0 {
                    return Err("the server closed during the WebSocket handshake".into());
                }
                got.extend_from_slice(&s.buf[..n]);
                if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                    break i + 4;
                }
            };
            let head = String::from_utf8_lossy(&got[..end]).into_owned();
            if !head.starts_with("HTTP/1.1 101") {
                return Err(
                    format!("upgrade refused: {}", head.lines().next().unwrap_or("")).into(),
                );
            }
            let rest = got[end..].to_vec();
            s.parse(&rest, true)?;
        }
        Ok(s)
    }

    /// Walks received bytes: stream bytes are copied (`copy`) or counted.
    fn parse(&mut self, mut b: &[u8], copy: bool) -> Result<(), Error> {
        if !self.ws {
            if copy {
                self.data.extend_from_slice(b);
            } else {
                self.skipped += b.len();
            }
            return Ok(());
        }
        while !b.is_empty() {
            if self.frame_left > 0 {
                let n = (self.frame_left.min(b.len() as u64)) as usize;
                if let Some(p) = self.ping.as_mut() {
                    p.extend_from_slice(&b[..n]);
                } else if self.frame_data {
                    if copy {
                        self.data.extend_from_slice(&b[..n]);
                    } else {
                        self.skipped += n;
                    }
                }
                self.frame_left -= n as u64;
                b = &b[n..];
                if self.frame_left == 0 {
                    self.end_frame();
                }
                continue;
            }
            // A header, maybe split across reads.
            let take = (ws::MAX_HEADER - self.head.len()).min(b.len());
            self.head.extend_from_slice(&b[..take]);
            match ws::parse_header(&self.head)? {
                None => {
                    b = &b[take..];
                }
                Some((h, hl)) => {
                    let used = hl - (self.head.len() - take);
                    b = &b[used..];
                    self.head.clear();
                    self.frames += 1;
                    self.frame_left = h.len;
                    self.frame_data = matches!(h.opcode, Opcode::Binary | Opcode::Continuation);
                    match h.opcode {
                        Opcode::Ping => self.ping = Some(Vec::new()),
                        Opcode::Close => self.closed = true,
                        _ => {}
                    }
                    if h.len == 0 {
                        self.end_frame();
                    }
                }
            }
        }
        Ok(())
    }

    fn end_frame(&mut self) {
        if let Some(p) = self.ping.take() {
            self.pongs.push(p);
        }
    }

    async fn fill(&mut self, copy: bool) -> Result<(), Error> {
        let n = self.tcp.read(&mut self.buf).await?;
        self.reads += 1;
        if n == 0 || self.closed {
            return Err("the stream ended".into());
        }
        let buf = std::mem::take(&mut self.buf);
        let r = self.parse(&buf[..n], copy);
        self.buf = buf;
        r?;
        for p in std::mem::take(&mut self.pongs) {
            let f = ws::frame(Opcode::Pong, Some([1, 2, 3, 4]), &p);
            self.tcp.write_all(&f).await?;
        }
        Ok(())
    }

    async fn read_exact(&mut self, n: usize) -> Result<Vec<u8>, Error> {
        while self.data.len() < n {
            self.fill(true).await?;
        }
        let rest = self.data.split_off(n);
        Ok(std::mem::replace(&mut self.data, rest))
    }

    /// Consumes `n` stream bytes without copying them.
    async fn discard(&mut self, mut n: usize) -> Result<(), Error> {
        let d = n.min(self.data.len());
        self.data.drain(..d);
        n -= d;
        while self.skipped < n {
            self.fill(false).await?;
        }
        self.skipped -= n;
        Ok(())
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), Error> {
        if self.ws {
            let f = ws::frame(Opcode::Binary, Some([0x5a, 0xa5, 0x3c, 0xc3]), bytes);
            self.tcp.write_all(&f).await?;
        } else {
            self.tcp.write_all(bytes).await?;
        }
        Ok(())
    }

    /// The viewer's side of RFB 3.8 with security None; the screen size.
    async fn rfb_handshake(&mut self) -> Result<(u16, u16), Error> {
        let v = self.read_exact(12).await?;
        if &v[..4] != b"RFB " {
            return Err(format!("not RFB: {:?}", String::from_utf8_lossy(&v)).into());
        }
        self.send(b"RFB 003.008\n").await?;
        let n = self.read_exact(1).await?[0];
        let types = self.read_exact(usize::from(n)).await?;
        if !types.contains(&1) {
            return Err(format!("security None not offered: {types:?}").into());
        }
        self.send(&[1]).await?;
        let r = self.read_exact(4).await?;
        if r != [0, 0, 0, 0] {
            return Err("security result: failed".into());
        }
        self.send(&[1]).await?; // shared
        let init = self.read_exact(24).await?;
        let name = u32::from_be_bytes([init[20], init[21], init[22], init[23]]) as usize;
        self.read_exact(name).await?;
        Ok((
            u16::from_be_bytes([init[0], init[1]]),
            u16::from_be_bytes([init[2], init[3]]),
        ))
    }
}

fn fbur(x: u16, y: u16, w: u16, h: u16) -> Vec<u8> {
    let mut m = vec![3u8, 0];
    for v in [x, y, w, h] {
        m.extend_from_slice(&v.to_be_bytes());
    }
    m
}

/// `(ppid, utime + stime, cutime + cstime)` of a process, in `CLK_TCK`
/// units.
fn stat_of(pid: u32) -> Option<(u32, u64, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the `(comm)`: state ppid ... utime stime cutime cstime.
    let f: Vec<&str> = s.get(s.rfind(')')? + 2..)?.split(' ').collect();
    let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Some((n(1) as u32, n(11) + n(12), n(13) + n(14)))
}

/// A process and its live children (websockify forks one per connection).
fn family(pid: u32) -> Vec<u32> {
    let mut all = vec![pid];
    if let Ok(d) = std::fs::read_dir("/proc") {
        all.extend(
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
                .filter(|&p| stat_of(p).is_some_and(|(ppid, _, _)| ppid == pid)),
        );
    }
    all
}

/// How a process and its children used the CPU: ticks of user + sys
/// (reaped children included), and from the scheduler (/proc/PID/task/*/
/// schedstat) the ns on a CPU and the ns runnable but waiting for one.
#[derive(Default, Clone, Copy)]
struct Usage {
    ticks: u64,
    run_ns: u64,
    wait_ns: u64,
}

fn usage(pid: u32) -> Usage {
    let mut u = Usage::default();
    for (i, p) in family(pid).into_iter().enumerate() {
        if let Some((_, own, reaped)) = stat_of(p) {
            u.ticks += own + if i == 0 { reaped } else { 0 };
        }
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for t in tasks.filter_map(|e| e.ok()) {
            let s = std::fs::read_to_string(t.path().join("schedstat")).unwrap_or_default();
            let mut f = s.split_whitespace().map(|v| v.parse::<u64>().unwrap_or(0));
            u.run_ns += f.next().unwrap_or(0);
            u.wait_ns += f.next().unwrap_or(0);
        }
    }
    u
}

/// The machine's CPU ticks from /proc/stat: (busy, steal, total), busy
/// being user + nice + system + irq + softirq.
fn machine_ticks() -> (u64, u64, u64) {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<u64> = s
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    let n = |i: usize| v.get(i).copied().unwrap_or(0);
    (n(0) + n(1) + n(2) + n(5) + n(6), n(7), (0..8).map(n).sum())
}

/// The CPU of this process, the watched ones and the machine, all over
/// the same window.
struct CpuWindow {
    watched: Vec<(String, u32, Usage)>,
    machine: (u64, u64, u64),
}

impl CpuWindow {
    /// `watch`: `name=pid,name=pid`; this process is `client`.
    fn start(watch: &str) -> Result<CpuWindow, Error> {
        let mut watched = vec![("client".to_owned(), std::process::id(), Usage::default())];
        for w in watch.split(',').filter(|w| !w.is_empty()) {
            let (name, pid) = w
                .split_once('=')
                .ok_or_else(|| format!("--watch: `{w}` is not name=pid"))?;
            let pid: u32 = pid
                .parse()
                .map_err(|_| format!("--watch: `{pid}` is not a pid"))?;
            watched.push((name.to_owned(), pid, Usage::default()));
        }
        for (_, pid, u) in &mut watched {
            *u = usage(*pid);
        }
        Ok(CpuWindow {
            watched,
            machine: machine_ticks(),
        })
    }

    /// ` NAME_ticks N NAME_run_us N NAME_wait_us N ... machine_...` over
    /// the window.
    fn end(&self) -> String {
        let mut out = String::new();
        for (name, pid, u0) in &self.watched {
            let u = usage(*pid);
            out += &format!(
                " {name}_ticks {} {name}_run_us {} {name}_wait_us {}",
                u.ticks.saturating_sub(u0.ticks),
                u.run_ns.saturating_sub(u0.run_ns) / 1000,
                u.wait_ns.saturating_sub(u0.wait_ns) / 1000,
            );
        }
        let (b, s, t) = machine_ticks();
        out += &format!(
            " machine_busy_ticks {} machine_steal_ticks {} machine_total_ticks {}",
            b - self.machine.0,
            s - self.machine.1,
            t - self.machine.2
        );
        out
    }
}

/// Full-screen updates with `depth` requests in flight, for `seconds`;
/// the CPU of the watched processes over the same window.
async fn throughput(url: &str, seconds: u64, depth: usize, watch: &str) -> Result<(), Error> {
    let mut s = Stream::connect(url).await?;
    let (w, h) = s.rfb_handshake().await?;
    let update = 4 + 12 + usize::from(w) * usize::from(h) * 4;
    let req = fbur(0, 0, w, h);
    for _ in 0..depth.max(1) {
        s.send(&req).await?;
    }
    // One update to warm up, then measure whole updates.
    s.discard(update).await?;
    s.send(&req).await?;
    let (reads, frames) = (s.reads, s.frames);
    let cpu = CpuWindow::start(watch)?;
    let t0 = Instant::now();
    let until = t0 + Duration::from_secs(seconds);
    let mut updates = 0u64;
    while Instant::now() < until {
        s.discard(update).await?;
        updates += 1;
        s.send(&req).await?;
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu.end();
    let bytes = updates as f64 * update as f64;
    println!(
        "throughput_mib_s {:.1} updates {} update_bytes {} seconds {:.3} reads {} frames {}{cpu}",
        bytes / secs / 1048576.0,
        updates,
        update,
        secs,
        s.reads - reads,
        s.frames - frames,
    );
    Ok(())
}

/// Round trips of a 1×1 update request: request out, 20-byte update back.
async fn latency(url: &str, count: usize) -> Result<(), Error> {
    let mut s = Stream::connect(url).await?;
    s.rfb_handshake().await?;
    let req = fbur(0, 0, 1, 1);
    let reply = 4 + 12 + 4;
    for _ in 0..200 {
        s.send(&req).await?;
        s.discard(reply).await?;
    }
    let mut us = Vec::with_capacity(count);
    for _ in 0..count {
        let t = Instant::now();
        s.send(&req).await?;
        s.discard(reply).await?;
        us.push(t.elapsed().as_secs_f64() * 1e6);
    }
    us.sort_by(f64::total_cmp);
    let pct = |p: f64| us[((us.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "latency_us p50 {:.1} p90 {:.1} p99 {:.1} max {:.1} count {}",
        pct(0.5),
        pct(0.9),
        pct(0.99),
        pct(1.0),
        us.len()
    );
    Ok(())
}

/// Connects every URL in the file (one per line), completes the RFB
/// handshake and holds the connections, answering pings. Prints `ready N`
/// once all are up, then `held N` every 5 s for `hold` seconds.
async fn idle(file: &str, concurrency: usize, hold: u64) -> Result<(), Error> {
    let urls: Vec<String> = std::fs::read_to_string(file)?
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    let held = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let mut tasks = Vec::new();
    for url in urls.clone() {
        let (held, failed, gate) = (held.clone(), failed.clone(), gate.clone());
        tasks.push(tokio::spawn(async move {
            let permit = gate.acquire_owned().await;
            let mut s = match Stream::connect(&url).await {
                Ok(s) => s,
                Err(e) => {
                    if failed.fetch_add(1, Ordering::Relaxed) < 3 {
                        eprintln!("connect {url}: {e}");
                    }
                    return;
                }
            };
            if let Err(e) = s.rfb_handshake().await {
                if failed.fetch_add(1, Ordering::Relaxed) < 3 {
                    eprintln!("handshake {url}: {e}");
                }
                return;
            }
            drop(permit);
            s.buf = vec![0u8; 512];
            held.fetch_add(1, Ordering::Relaxed);
            while s.fill(false).await.is_ok() {}
            held.fetch_sub(1, Ordering::Relaxed);
        }));
    }
    let t0 = Instant::now();
    while held.load(Ordering::Relaxed) + failed.load(Ordering::Relaxed) < urls.len() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "ready {} failed {} seconds {:.1}",
        held.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
        t0.elapsed().as_secs_f64()
    );
    std::io::stdout().flush()?;
    let until = Instant::now() + Duration::from_secs(hold);
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_secs(5).min(until - Instant::now())).await;
        println!("held {}", held.load(Ordering::Relaxed));
        std::io::stdout().flush()?;
    }
    Ok(())
}

/// Opens `count` VNC console sessions through the API, round-robin over
/// the servers, and prints each one's WebSocket URL.
async fn open(
    api: &str,
    token: &str,
    pin: &str,
    servers: &str,
    count: usize,
    concurrency: usize,
) -> Result<(), Error> {
    let ids: Vec<String> = servers.split(',').map(str::to_owned).collect();
    let http = reqwest::Client::new();
    let gate = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let mut tasks = Vec::new();
    for i in 0..count {
        let url = format!("{api}/api/v1/servers/{}/console", ids[i % ids.len()]);
        let (http, gate) = (http.clone(), gate.clone());
        let (token, pin) = (token.to_owned(), pin.to_owned());
        tasks.push(tokio::spawn(async move {
            let _p = gate.acquire().await;
            let r = http
                .post(&url)
                .bearer_auth(token)
                .header("X-Ironrack-Pin", pin)
                .json(&serde_json::json!({"kind": "vnc"}))
                .send()
                .await?;
            let status = r.status();
            let body: serde_json::Value = r.json().await?;
            if status.as_u16() != 201 {
                return Err::<String, Error>(format!("{url}: {status} {body}").into());
            }
            Ok(body["ws_url"].as_str().unwrap_or_default().to_owned())
        }));
    }
    let mut out = std::io::stdout().lock();
    for t in tasks {
        writeln!(out, "{}", t.await??)?;
    }
    Ok(())
}
