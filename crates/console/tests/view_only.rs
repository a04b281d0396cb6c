//! The gateway's VNC bridge against a minimal RFB server written here (a
//! stand-in: QEMU's own VNC server is the real peer in
//! crates/cli/tests/console.rs). It records what reaches the target, which
//! a real VNC server cannot show: a view-only viewer's keys never do.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use ironrack_console::{
    Gateway, GatewayConfig, Kind, Limits, NewSession, OpenSession, Target, new_token,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

/// Accepts RFB 3.8 with security None, sends a tiny ServerInit, then
/// forwards every byte the gateway sends on to `seen`.
async fn recording_target() -> (String, tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut c, _)) = l.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
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
                let mut buf = [0u8; 1024];
                while let Ok(n) = c.read(&mut buf).await {
                    if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            });
        }
    });
    (addr, rx)
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn read_n(ws: &mut Ws, buf: &mut Vec<u8>, n: usize) -> Vec<u8> {
    while buf.len() < n {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Message::Binary(b)))) => buf.extend_from_slice(&b),
            Ok(Some(Ok(_))) => {}
            other => panic!("stream ended: {other:?}"),
        }
    }
    let rest = buf.split_off(n);
    std::mem::replace(buf, rest)
}

/// The browser side of the RFB handshake.
async fn handshake(ws: &mut Ws) {
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
}

#[tokio::test]
async fn a_view_only_viewers_input_never_reaches_the_target() {
    let (target, mut seen) = recording_target().await;
    let (events, _events_rx) = tokio::sync::mpsc::unbounded_channel();
    let dir = std::env::temp_dir().join(format!("ironrack-console-vo-{}", std::process::id()));
    let gw = Gateway::new(
        GatewayConfig {
            public_base: String::new(),
            log_dir: dir,
            log_limit: 1 << 20,
            trusted_proxies: Vec::new(),
        },
        events,
    );
    let (owner_token, owner_hash) = new_token();
    gw.open(OpenSession {
        session: NewSession {
            id: 1,
            server_id: 1,
            user_id: 1,
            kind: Kind::Vnc,
            view_only: false,
            bmc_key: "k".into(),
            max_sessions: 2,
            limits: Limits::default(),
            token_hash: owner_hash,
        },
        close_url: None,
        allowed_ip: None,
        target: Target::Vnc {
            addr: target,
            password: None,
        },
    })
    .unwrap();
    let (viewer_token, viewer_hash) = new_token();
    gw.add_viewer(1, viewer_hash, Duration::from_secs(60))
        .unwrap();
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("ws://{}/console/ws/1?token=", l.local_addr().unwrap());
    let app: axum::Router = gw.router();
    tokio::spawn(async move { axum::serve(l, app).await });

    let key = [4u8, 1, 0, 0, 0, 0, 0, 0x61];
    let pointer = [5u8, 1, 0, 10, 0, 10];
    let fbur = [3u8, 0, 0, 0, 0, 0, 0, 4, 0, 3];

    let (mut viewer, _) = tokio_tungstenite::connect_async(format!("{base}{viewer_token}"))
        .await
        .unwrap();
    handshake(&mut viewer).await;
    let mut msgs = key.to_vec();
    msgs.extend_from_slice(&pointer);
    msgs.extend_from_slice(&fbur);
    viewer.send(Message::Binary(msgs.into())).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), seen.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, fbur, "only the update request passes");

    let (mut owner, _) = tokio_tungstenite::connect_async(format!("{base}{owner_token}"))
        .await
        .unwrap();
    handshake(&mut owner).await;
    owner
        .send(Message::Binary(key.to_vec().into()))
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), seen.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, key, "the owner's keys pass");
    // An unknown message type: the viewer is cut off, nothing is forwarded.
    owner
        .send(Message::Binary(vec![77, 1, 2].into()))
        .await
        .unwrap();
    loop {
        match tokio::time::timeout(Duration::from_secs(10), owner.next())
            .await
            .unwrap()
        {
            Some(Ok(Message::Close(Some(c)))) => {
                assert_eq!(u16::from(c.code), 1003);
                assert!(
                    c.reason.contains("unknown client message type 77"),
                    "{}",
                    c.reason
                );
                break;
            }
            Some(Ok(_)) => {}
            other => panic!("no close frame: {other:?}"),
        }
    }
}
