//! The gateway's VNC bridge on a plain TCP stream, as `ironrack serve`'s
//! own listener hands it over (so large updates are spliced socket → pipe
//! → socket and small ones copied): a target's bytes reach the viewer
//! whole and in order at every size around the point where one way hands
//! over to the other.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use ironrack_console::{
    Gateway, GatewayConfig, Kind, Limits, NewSession, OpenSession, Target, new_token,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

/// Update sizes: a tiny one, around 16 KiB (the first read's size when
/// splicing), around a pipe's 1 MiB, and a long one.
const SIZES: [usize; 8] = [
    20,
    16 * 1024 - 1,
    16 * 1024,
    16 * 1024 + 1,
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
        c.write_all(b"RFB 003.008\n").await.unwrap();
        let mut b = [0u8; 12];
        c.read_exact(&mut b).await.unwrap();
        c.write_all(&[1, 1]).await.unwrap();
        let mut one = [0u8; 1];
        c.read_exact(&mut one).await.unwrap();
        c.write_all(&[0, 0, 0, 0]).await.unwrap();
        c.read_exact(&mut one).await.unwrap(); // ClientInit
        let mut init = vec![
            0, 4, 0, 3, 32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0,
        ];
        init.extend_from_slice(&[0, 0, 0, 1, b't']);
        c.write_all(&init).await.unwrap();
        let mut fbur = [0u8; 10];
        c.read_exact(&mut fbur).await.unwrap();
        let mut at = 0;
        for n in SIZES {
            tokio::time::sleep(Duration::from_millis(30)).await;
            c.write_all(&pattern(at, n)).await.unwrap();
            at += n;
        }
        // Held open until the viewer is done.
        let _ = c.read(&mut one).await;
    });
    addr
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn read_n(ws: &mut Ws, buf: &mut Vec<u8>, n: usize) -> Vec<u8> {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_of_every_size_arrive_whole_and_in_order() {
    let (events, _events_rx) = tokio::sync::mpsc::unbounded_channel();
    let dir = std::env::temp_dir().join(format!("ironrack-console-fw-{}", std::process::id()));
    let gw = Gateway::new(
        GatewayConfig {
            public_base: String::new(),
            log_dir: dir,
            log_limit: 1 << 20,
            trusted_proxies: Vec::new(),
        },
        events,
    );
    let (token, hash) = new_token();
    gw.open(OpenSession {
        session: NewSession {
            id: 1,
            server_id: 1,
            user_id: 1,
            kind: Kind::Vnc,
            view_only: false,
            bmc_key: "k".into(),
            max_sessions: 1,
            limits: Limits::default(),
            token_hash: hash,
        },
        close_url: None,
        allowed_ip: None,
        target: Target::Vnc {
            addr: target().await,
            password: None,
        },
    })
    .unwrap();
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
    let mut buf = Vec::new();
    assert_eq!(read_n(&mut ws, &mut buf, 12).await, b"RFB 003.008\n");
    ws.send(Message::Binary(b"RFB 003.008\n".to_vec().into()))
        .await
        .unwrap();
    assert_eq!(read_n(&mut ws, &mut buf, 2).await, [1, 1]);
    ws.send(Message::Binary(vec![1].into())).await.unwrap();
    assert_eq!(read_n(&mut ws, &mut buf, 4).await, [0, 0, 0, 0]);
    ws.send(Message::Binary(vec![1].into())).await.unwrap();
    let init = read_n(&mut ws, &mut buf, 25).await;
    assert_eq!(&init[..4], &[0, 4, 0, 3]);
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
