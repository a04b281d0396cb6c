//! Serial over LAN against ipmi_sim, whose serial port is a TCP connection
//! to a listener in this test (lab/bmcs.sh --sol-port).

mod common;

use std::time::Duration;

use common::read_until;
use ironrack_ipmi::{Error, Session};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::time::timeout;

#[tokio::test]
async fn sol_console_both_directions() {
    let serial = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let sol_port = serial.local_addr().expect("addr").port().to_string();
    let Some(bmc) =
        common::Bmc::start_with("sol_console_both_directions", &["--sol-port", &sol_port])
    else {
        return;
    };
    // ipmi_sim connects to its serial "device" at start-up.
    let (mut host, _) = timeout(Duration::from_secs(5), serial.accept())
        .await
        .expect("ipmi_sim connects to the serial port")
        .expect("accept");

    let s = Session::connect(bmc.config()).await.expect("connect");
    let mut console = s.sol_activate(1).await.expect("activate SOL");

    // ipmitool sees the payload as taken.
    let (ok, text) = bmc.ipmitool_status(&["sol", "activate"]);
    assert!(!ok && text.contains("already active"), "{text}");

    // Host → console, including a burst bigger than one SOL packet.
    host.write_all(b"hello-from-host\r\n").await.expect("write");
    read_until(&mut console, b"hello-from-host").await;
    let burst: Vec<u8> = (0..3000).map(|i| b'a' + (i % 26) as u8).collect();
    host.write_all(&burst).await.expect("write");
    host.write_all(b"<END>").await.expect("write");
    let got = read_until(&mut console, b"<END>").await;
    assert!(
        got.windows(burst.len()).any(|w| w == burst.as_slice()),
        "burst corrupted"
    );

    // Console → host, also several packets.
    console.write_all(b"typed-by-us\r").await.expect("write");
    read_until(&mut host, b"typed-by-us\r").await;
    let keys: Vec<u8> = (0..1000).map(|i| b'A' + (i % 26) as u8).collect();
    console.write_all(&keys).await.expect("write");
    console.write_all(b"<EOK>").await.expect("write");
    let got = read_until(&mut host, b"<EOK>").await;
    assert!(
        got.windows(keys.len()).any(|w| w == keys.as_slice()),
        "keys corrupted"
    );

    console.close().await.expect("close console");
    // Released: a new session can take the console again.
    let s = Session::connect(bmc.config()).await.expect("connect");
    let console = s.sol_activate(1).await.expect("activate again");
    console.close().await.expect("close console");
}

#[tokio::test]
async fn sol_already_active_is_named() {
    let serial = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let sol_port = serial.local_addr().expect("addr").port().to_string();
    let Some(bmc) =
        common::Bmc::start_with("sol_already_active_is_named", &["--sol-port", &sol_port])
    else {
        return;
    };
    let _host = timeout(Duration::from_secs(5), serial.accept()).await;
    let first = Session::connect(bmc.config())
        .await
        .expect("connect")
        .sol_activate(1)
        .await
        .expect("activate");
    let e = Session::connect(bmc.config())
        .await
        .expect("connect")
        .sol_activate(1)
        .await
        .unwrap_err();
    let Error::CompletionCode {
        code: 0x80, name, ..
    } = &e
    else {
        panic!("{e:?}")
    };
    assert!(name.contains("already active"), "{name}");
    first.close().await.expect("close");
}

#[tokio::test]
async fn sol_console_ends_when_bmc_dies() {
    let serial = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let sol_port = serial.local_addr().expect("addr").port().to_string();
    let Some(bmc) =
        common::Bmc::start_with("sol_console_ends_when_bmc_dies", &["--sol-port", &sol_port])
    else {
        return;
    };
    let _host = timeout(Duration::from_secs(5), serial.accept()).await;
    let mut console = Session::connect(bmc.config())
        .await
        .expect("connect")
        .sol_activate(1)
        .await
        .expect("activate");
    drop(bmc); // stops ipmi_sim
    console.write_all(b"anyone there?\r").await.expect("write");
    // The console task notices (ICMP port unreachable) and ends the stream.
    let mut buf = [0u8; 64];
    let n = timeout(Duration::from_secs(10), console.read(&mut buf))
        .await
        .expect("EOF in time")
        .expect("read");
    assert_eq!(n, 0, "EOF");
    let e = console.close().await.unwrap_err();
    assert!(matches!(e, Error::Unreachable { .. }), "{e:?}");
}
