//! What the gateway's tests share: a gateway with one VNC session, the
//! server side of an RFB handshake for stand-in targets, and the viewer
//! side over a WebSocket.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use ironrack_console::{
    Gateway, GatewayConfig, GatewayEvent, Kind, Limits, NewSession, OpenSession, Target, TokenHash,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_tungstenite::tungstenite::Message;

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A gateway with session 1: VNC at `target`, opened with `owner`.
pub fn gateway(
    test: &str,
    target: String,
    owner: TokenHash,
    max_sessions: usize,
) -> (Gateway, UnboundedReceiver<GatewayEvent>) {
    let (events, events_rx) = tokio::sync::mpsc::unbounded_channel();
    let dir = std::env::temp_dir().join(format!("ironrack-console-{test}-{}", std::process::id()));
    let gw = Gateway::new(
        GatewayConfig {
            public_base: String::new(),
            log_dir: dir,
            log_limit: 1 << 20,
            trusted_proxies: Vec::new(),
        },
        events,
    );
    gw.open(OpenSession {
        session: NewSession {
            id: 1,
            server_id: 1,
            user_id: 1,
            kind: Kind::Vnc,
            view_only: false,
            bmc_key: "k".into(),
            max_sessions,
            limits: Limits::default(),
            token_hash: owner,
        },
        close_url: None,
        allowed_ip: None,
        target: Target::Vnc {
            addr: target,
            password: None,
        },
    })
    .unwrap();
    (gw, events_rx)
}

/// The target's side of RFB 3.8 with security None and a 4×3 ServerInit.
pub async fn serve_rfb_handshake(c: &mut TcpStream) {
    c.write_all(b"RFB 003.008\n").await.unwrap();
    let mut b = [0u8; 12];
    c.read_exact(&mut b).await.unwrap();
    c.write_all(&[1, 1]).await.unwrap();
    let mut one = [0u8; 1];
    c.read_exact(&mut one).await.unwrap();
    c.write_all(&[0, 0, 0, 0]).await.unwrap();
    c.read_exact(&mut one).await.unwrap(); // ClientInit
    assert_eq!(one[0], 1, "the gateway always asks for a shared session");
    let mut init = vec![
        0, 4, 0, 3, 32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0,
    ];
    init.extend_from_slice(&[0, 0, 0, 1, b't']);
    c.write_all(&init).await.unwrap();
}

/// The next `n` stream bytes (`buf` keeps what came beyond them).
pub async fn read_n(ws: &mut Ws, buf: &mut Vec<u8>, n: usize) -> Vec<u8> {
    while buf.len() < n {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Message::Binary(b)))) => buf.extend_from_slice(&b),
            Ok(Some(Ok(_))) => {}
            other => panic!("stream ended after {} bytes: {other:?}", buf.len()),
        }
    }
    let rest = buf.split_off(n);
    std::mem::replace(buf, rest)
}

/// The browser side of the RFB handshake.
pub async fn viewer_handshake(ws: &mut Ws) {
    let mut buf = Vec::new();
    assert_eq!(read_n(ws, &mut buf, 12).await, b"RFB 003.008\n");
    ws.send(Message::Binary(b"RFB 003.008\n".to_vec().into()))
        .await
        .unwrap();
    assert_eq!(read_n(ws, &mut buf, 2).await, [1, 1]);
    ws.send(Message::Binary(vec![1].into())).await.unwrap();
    assert_eq!(read_n(ws, &mut buf, 4).await, [0, 0, 0, 0]);
    ws.send(Message::Binary(vec![0].into())).await.unwrap();
    let init = read_n(ws, &mut buf, 25).await;
    assert_eq!(&init[..4], &[0, 4, 0, 3]);
    assert!(buf.is_empty(), "nothing before the first update request");
}
