//! The gateway's VNC bridge on a plain TCP stream, as `ironrack serve`'s
//! own listener hands it over: a target's bytes reach the viewer whole and
//! in order at every size, around the gateway's read size and far past it.

mod common;

use std::time::Duration;

use common::{gateway, read_n, serve_rfb_handshake, viewer_handshake};
use futures_util::SinkExt;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use ironrack_console::new_token;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

/// Update sizes: tiny ones, around 16 KiB, around the gateway's 256 KiB
/// reads, past 1 MiB, and a long one.
const SIZES: [usize; 10] = [
    20,
    16 * 1024 - 1,
    16 * 1024,
    16 * 1024 + 1,
    256 * 1024 - 1,
    256 * 1024 + 1,
    (1 << 20) + 16 * 1024,
    3 * 1024 * 1024 + 7,
    5,
    64 * 1024,
];

fn pattern(from: usize, n: usize) -> Vec<u8> {
    (from..from + n).map(|i| (i % 251) as u8).collect()
}

/// RFB 3.8 with security None and a tiny ServerInit; then, once the
/// gateway passes on the viewer's first message, the updates of `SIZES`,
/// each written whole after a pause (so each is read on its own).
async fn target() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let (mut c, _) = l.accept().await.unwrap();
        c.set_nodelay(true).unwrap();
        serve_rfb_handshake(&mut c).await;
        let mut fbur = [0u8; 10];
        c.read_exact(&mut fbur).await.unwrap();
        let mut at = 0;
        for n in SIZES {
            tokio::time::sleep(Duration::from_millis(30)).await;
            c.write_all(&pattern(at, n)).await.unwrap();
            at += n;
        }
        // Held open until the viewer is done.
        let _ = c.read(&mut fbur).await;
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_of_every_size_arrive_whole_and_in_order() {
    let (token, hash) = new_token();
    let (gw, _events) = gateway("forward", target().await, hash, 1);
    // hyper on the accepted TCP stream itself, as crates/cli's listener
    // serves it: the upgraded connection shows its socket to the gateway.
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "ws://{}/console/ws/1?token={token}",
        l.local_addr().unwrap()
    );
    let app: axum::Router = gw.router();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = l.accept().await.unwrap();
            let svc = TowerToHyperService::new(app.clone());
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .with_upgrades(),
            );
        }
    });

    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    viewer_handshake(&mut ws).await;
    let mut buf = Vec::new();
    let fbur = [3u8, 0, 0, 0, 0, 0, 0, 4, 0, 3];
    ws.send(Message::Binary(fbur.to_vec().into()))
        .await
        .unwrap();
    let mut at = 0;
    for n in SIZES {
        let got = read_n(&mut ws, &mut buf, n).await;
        assert!(
            got == pattern(at, n),
            "the update of {n} bytes at {at} differs"
        );
        at += n;
    }
}
