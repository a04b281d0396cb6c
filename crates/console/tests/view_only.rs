//! The gateway's VNC bridge against a minimal RFB server written here (a
//! stand-in: QEMU's own VNC server is the real peer in
//! crates/cli/tests/console.rs). It records what reaches the target, which
//! a real VNC server cannot show: a view-only viewer's keys never do.

mod common;

use std::time::Duration;

use common::{gateway, serve_rfb_handshake, viewer_handshake as handshake};
use futures_util::{SinkExt, StreamExt};
use ironrack_console::new_token;
use tokio::io::AsyncReadExt;
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
                serve_rfb_handshake(&mut c).await;
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

#[tokio::test]
async fn a_view_only_viewers_input_never_reaches_the_target() {
    let (target, mut seen) = recording_target().await;
    let (owner_token, owner_hash) = new_token();
    let (gw, _events) = gateway("vo", target, owner_hash, 2);
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
