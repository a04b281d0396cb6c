//! The thin async layer over `ws`: the HTTP/1.1 upgrade (an axum
//! extractor), and a WebSocket end on any byte stream — the server side on
//! an upgraded connection (`WsSocket`), the client side toward a BMC's KVM
//! (`crate::html5`).
//!
//! Why not axum's WebSocket (tungstenite): it copies every outgoing frame
//! into its own write buffer and keeps a 128 KiB read buffer per
//! connection. Here a target's bytes go out of the buffer they were read
//! into (`send_in_place`), and an idle connection holds a few KiB.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Version, header};
use axum::response::{IntoResponse, Response};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use crate::ws::{self, Message, Opcode, Reader, WsError};

/// Room kept in front of a payload for the longest server frame header.
pub const ROOM: usize = ws::MAX_SERVER_HEADER;
/// Read size toward the peer; a connection keeps this much while idle.
const READ_CHUNK: usize = 4096;

/// A WebSocket upgrade request, checked (RFC 6455 4.2.1).
pub struct WsUpgrade {
    on_upgrade: OnUpgrade,
    key: HeaderValue,
    offered: Vec<String>,
}

fn refusal(status: StatusCode, detail: &str) -> Response {
    crate::gateway::problem(status, detail)
}

fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

impl<S: Send + Sync> FromRequestParts<S> for WsUpgrade {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Response> {
        let h = &parts.headers;
        if parts.version != Version::HTTP_11 || parts.method != Method::GET {
            return Err(refusal(
                StatusCode::BAD_REQUEST,
                "this is a WebSocket endpoint: connect with an HTTP/1.1 GET upgrade",
            ));
        }
        if !has_token(h, header::CONNECTION, "upgrade")
            || !has_token(h, header::UPGRADE, "websocket")
        {
            return Err(refusal(
                StatusCode::UPGRADE_REQUIRED,
                "this is a WebSocket endpoint: send `Connection: Upgrade` and `Upgrade: websocket`",
            ));
        }
        if h.get(header::SEC_WEBSOCKET_VERSION).map(|v| v.as_bytes()) != Some(b"13") {
            return Err(refusal(
                StatusCode::BAD_REQUEST,
                "only WebSocket version 13 is spoken (Sec-WebSocket-Version: 13)",
            ));
        }
        let key = h.get(header::SEC_WEBSOCKET_KEY).cloned().ok_or_else(|| {
            refusal(
                StatusCode::BAD_REQUEST,
                "the Sec-WebSocket-Key header is missing",
            )
        })?;
        let offered = h
            .get_all(header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .collect();
        let on_upgrade = parts.extensions.remove::<OnUpgrade>().ok_or_else(|| {
            refusal(
                StatusCode::INTERNAL_SERVER_ERROR,
                "this server cannot upgrade connections",
            )
        })?;
        Ok(WsUpgrade {
            on_upgrade,
            key,
            offered,
        })
    }
}

impl WsUpgrade {
    /// Whether the client offered this subprotocol.
    pub fn offers(&self, protocol: &str) -> bool {
        self.offered.iter().any(|p| p == protocol)
    }

    /// Completes the upgrade with the first of `ours` the client offered
    /// (none if it offered none of them) and runs `f` on the socket.
    pub fn accept<F, Fut>(self, ours: &[&'static str], max_message: usize, f: F) -> Response
    where
        F: FnOnce(WsSocket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let protocol = ours.iter().copied().find(|p| self.offers(p));
        let on_upgrade = self.on_upgrade;
        tokio::spawn(async move {
            match on_upgrade.await {
                // The TCP stream itself when the server hands it over
                // (crates/cli's listener does): readiness without buffers.
                Ok(up) => {
                    let (io, early) = match up.downcast::<TokioIo<TcpStream>>() {
                        Ok(parts) => (ConnIo::Tcp(parts.io.into_inner()), parts.read_buf),
                        Err(up) => (ConnIo::Other(TokioIo::new(up)), Default::default()),
                    };
                    let mut s = WsStream::with_role(io, false, protocol, max_message);
                    s.reader.feed(&early);
                    f(s).await
                }
                Err(e) => tracing::debug!(error = %e, "WebSocket upgrade failed"),
            }
        });
        let mut r = (
            StatusCode::SWITCHING_PROTOCOLS,
            [
                (header::CONNECTION, HeaderValue::from_static("upgrade")),
                (header::UPGRADE, HeaderValue::from_static("websocket")),
            ],
        )
            .into_response();
        if let Ok(v) = HeaderValue::from_str(&ws::accept_key(self.key.as_bytes())) {
            r.headers_mut().insert(header::SEC_WEBSOCKET_ACCEPT, v);
        }
        if let Some(p) = protocol {
            r.headers_mut()
                .insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(p));
        }
        r
    }
}

/// The server side on an upgraded connection.
pub type WsSocket = WsStream<ConnIo>;

/// An upgraded connection: its TCP stream, or hyper's wrapper when the
/// server did not serve a plain TCP stream.
pub enum ConnIo {
    Tcp(TcpStream),
    Other(TokioIo<Upgraded>),
}

impl AsyncRead for ConnIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            ConnIo::Tcp(t) => Pin::new(t).poll_read(cx, buf),
            ConnIo::Other(o) => Pin::new(o).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            ConnIo::Tcp(t) => Pin::new(t).poll_write(cx, buf),
            ConnIo::Other(o) => Pin::new(o).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            ConnIo::Tcp(t) => Pin::new(t).poll_flush(cx),
            ConnIo::Other(o) => Pin::new(o).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            ConnIo::Tcp(t) => Pin::new(t).poll_shutdown(cx),
            ConnIo::Other(o) => Pin::new(o).poll_shutdown(cx),
        }
    }
}

/// One end of a WebSocket. `recv` is cancel-safe (it may lose the race in
/// a `select!`); the `send_*` methods are not and run to completion.
pub struct WsStream<S> {
    io: S,
    /// The client side masks what it sends (and expects unmasked frames).
    client: bool,
    protocol: Option<&'static str>,
    reader: Reader,
    /// Control frames (pongs, the close answer) not yet fully written.
    pending: Vec<u8>,
    close_sent: bool,
}

/// A fresh masking key (RFC 6455 5.3: unpredictable).
fn mask_key() -> [u8; 4] {
    let mut m = [0u8; 4];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut m);
    m
}

/// A stream that may be a plain TCP stream (then readiness can be awaited
/// without a buffer).
pub trait Stream: AsyncRead + AsyncWrite + Unpin {
    fn tcp(&self) -> Option<&TcpStream> {
        None
    }
}

impl Stream for ConnIo {
    fn tcp(&self) -> Option<&TcpStream> {
        match self {
            ConnIo::Tcp(t) => Some(t),
            ConnIo::Other(_) => None,
        }
    }
}

impl<S: Stream> WsStream<S> {
    /// The client end on a stream whose handshake is done; `early` holds
    /// bytes read past the handshake.
    pub fn client(io: S, early: &[u8], max_message: usize) -> Self {
        let mut s = WsStream::with_role(io, true, None, max_message);
        s.reader.feed(early);
        s
    }

    fn with_role(io: S, client: bool, protocol: Option<&'static str>, max_message: usize) -> Self {
        WsStream {
            io,
            client,
            protocol,
            reader: Reader::new(!client, max_message),
            pending: Vec::new(),
            close_sent: false,
        }
    }

    pub fn protocol(&self) -> Option<&'static str> {
        self.protocol
    }

    fn frame(&self, opcode: Opcode, payload: &[u8]) -> Vec<u8> {
        ws::frame(opcode, self.client.then(mask_key), payload)
    }

    /// Writes queued control frames. Cancel-safe: what was written is
    /// removed from the queue at once.
    async fn flush_pending(&mut self) -> std::io::Result<()> {
        while !self.pending.is_empty() {
            let n = self.io.write(&self.pending).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            self.pending.drain(..n);
        }
        Ok(())
    }

    /// The next data or close message; pings are answered here. `None`
    /// once the connection ended.
    pub async fn recv(&mut self) -> Option<Result<Message, WsError>> {
        loop {
            if self.flush_pending().await.is_err() {
                return None;
            }
            match self.reader.message() {
                Err(e) => {
                    if !self.close_sent {
                        self.close_sent = true;
                        let f = self.frame(
                            Opcode::Close,
                            &ws::close_payload(e.close_code(), &e.to_string()),
                        );
                        self.pending.extend_from_slice(&f);
                        let _ = self.flush_pending().await;
                    }
                    return Some(Err(e));
                }
                Ok(Some(Message::Ping(p))) => {
                    let f = self.frame(Opcode::Pong, &p);
                    self.pending.extend_from_slice(&f);
                    continue;
                }
                Ok(Some(Message::Close(code, reason))) => {
                    if !self.close_sent {
                        self.close_sent = true;
                        let echo = if code == 1005 {
                            Vec::new()
                        } else {
                            code.to_be_bytes().to_vec()
                        };
                        let f = self.frame(Opcode::Close, &echo);
                        self.pending.extend_from_slice(&f);
                        let _ = self.flush_pending().await;
                    }
                    return Some(Ok(Message::Close(code, reason)));
                }
                Ok(Some(m)) => {
                    self.reader.shrink(0);
                    return Some(Ok(m));
                }
                Ok(None) => {}
            }
            // With nothing buffered, a TCP stream is waited on without a
            // buffer: an idle viewer holds none.
            if let Some(t) = self.io.tcp().filter(|_| self.reader.buffer().is_empty()) {
                if t.readable().await.is_err() {
                    return None;
                }
                let buf = self.reader.buffer();
                buf.reserve(READ_CHUNK);
                match t.try_read_buf(buf) {
                    Ok(0) => return None,
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => return None,
                }
                continue;
            }
            let buf = self.reader.buffer();
            if buf.capacity() - buf.len() < READ_CHUNK / 4 {
                buf.reserve(READ_CHUNK);
            }
            match self.io.read_buf(buf).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    async fn write_frame(&mut self, opcode: Opcode, payload: &[u8]) -> std::io::Result<()> {
        self.flush_pending().await?;
        if self.client {
            let f = self.frame(opcode, payload);
            return self.io.write_all(&f).await;
        }
        let (h, hl) = ws::header(opcode, None, payload.len());
        if payload.len() <= 4096 {
            // One write for small frames (control messages, serial output).
            let mut f = Vec::with_capacity(hl + payload.len());
            f.extend_from_slice(&h[..hl]);
            f.extend_from_slice(payload);
            return self.io.write_all(&f).await;
        }
        self.io.write_all(&h[..hl]).await?;
        self.io.write_all(payload).await
    }

    pub async fn send_binary(&mut self, payload: &[u8]) -> std::io::Result<()> {
        self.write_frame(Opcode::Binary, payload).await
    }

    pub async fn send_text(&mut self, text: &str) -> std::io::Result<()> {
        self.write_frame(Opcode::Text, text.as_bytes()).await
    }

    pub async fn ping(&mut self) -> std::io::Result<()> {
        self.write_frame(Opcode::Ping, &[]).await
    }

    /// Sends a binary frame whose payload is `buf[ROOM..]`, writing the
    /// header into the room in front of it: one write, no copy (server
    /// side: its frames are not masked).
    pub async fn send_in_place(&mut self, buf: &mut [u8]) -> std::io::Result<()> {
        if self.client {
            let payload = buf.get(ROOM..).unwrap_or_default().to_vec();
            return self.send_binary(&payload).await;
        }
        self.flush_pending().await?;
        let len = buf.len().saturating_sub(ROOM);
        let (h, hl) = ws::header(Opcode::Binary, None, len);
        let start = ROOM - hl;
        if let Some(room) = buf.get_mut(start..ROOM) {
            room.copy_from_slice(&h[..hl]);
        }
        self.io
            .write_all(buf.get(start..).unwrap_or_default())
            .await
    }

    /// Sends a close frame (once); the caller then drops the socket.
    pub async fn close(&mut self, code: u16, reason: &str) {
        if self.close_sent {
            return;
        }
        self.close_sent = true;
        let _ = self
            .write_frame(Opcode::Close, &ws::close_payload(code, reason))
            .await;
        let _ = self.io.flush().await;
    }
}
