//! Property test: every decoder gets random, truncated and mutated inputs
//! and must return (Ok or Err) without panicking. Deterministic seeds, so a
//! failure reproduces; `IPMI_FUZZ_ITERS` raises the iteration count.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::cmd::Command;
use crate::cmd::{app, chassis, fru, lan, sdr, sel};
use crate::config::Config;
use crate::session::{self, Handshake, HandshakeEvent};
use crate::testbmc::FakeBmc;
use crate::wire::{self, NetFn, Request};

fn iters() -> usize {
    std::env::var("IPMI_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000)
}

/// Inputs derived from `seeds`: every truncation, then random mutations
/// (bit flips, byte sets, insertions, deletions) and pure noise.
fn corpus(seeds: &[Vec<u8>], rng: &mut StdRng, n: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for s in seeds {
        for cut in 0..=s.len() {
            out.push(s[..cut].to_vec());
        }
    }
    for _ in 0..n {
        let mut v = if seeds.is_empty() || rng.gen_bool(0.1) {
            let len = rng.gen_range(0..300);
            (0..len).map(|_| rng.r#gen::<u8>()).collect()
        } else {
            seeds[rng.gen_range(0..seeds.len())].clone()
        };
        for _ in 0..rng.gen_range(1..6) {
            if v.is_empty() {
                v.push(rng.r#gen());
                continue;
            }
            let i = rng.gen_range(0..v.len());
            match rng.gen_range(0..6) {
                0 => v[i] ^= 1 << rng.gen_range(0..8),
                1 => v[i] = [0x00, 0xFF, 0x7F, 0x80, 0xC1][rng.gen_range(0..5)],
                2 => v[i] = rng.r#gen(),
                3 => v.insert(i, rng.r#gen()),
                4 => {
                    v.remove(i);
                }
                _ => v.truncate(i),
            }
        }
        out.push(v);
    }
    out
}

fn run<F: FnMut(&[u8])>(seeds: &[Vec<u8>], seed: u64, mut f: F) {
    let mut rng = StdRng::seed_from_u64(seed);
    for input in corpus(seeds, &mut rng, iters()) {
        f(&input);
    }
}

#[test]
fn wire_decoders_never_panic() {
    let req = Request::new(NetFn::APP, 0x01, vec![1, 2, 3]);
    let msg = wire::encode_response(&req, 5, 0, &[9; 20]);
    let seeds = vec![
        wire::encode_v15_sessionless(&msg),
        wire::encode_v2(
            &wire::V2Header {
                encrypted: false,
                authenticated: true,
                payload_type: wire::PayloadType::Ipmi,
                session_id: 7,
                session_seq: 1,
            },
            &msg,
        ),
        msg.clone(),
        wire::encode_request(&req, 3),
        vec![
            6, 0, 0xff, 6, 0, 0, 0x11, 0xbe, 0x40, 7, 0, 16, 0, 0, 0x11, 0xbe, 0, 0, 0, 0, 0x81, 0,
            0, 0, 0, 0, 0, 0,
        ],
    ];
    run(&seeds, 1, |b| {
        let _ = wire::decode_v2(b, 0);
        let _ = wire::decode_v2(b, 12);
        let _ = wire::decode_v2(b, 16);
        let _ = wire::decode_v15(b);
        let _ = wire::decode_response(b);
        let _ = wire::decode_request(b);
        let _ = wire::decode_asf_pong(b);
        let _ = wire::peek_session_id(b);
        let _ = wire::demux_id(b);
        let _ = session::parse_cipher_suite_records(b);
        let _ = crate::sol::decode_sol(b);
    });
}

#[test]
fn sol_state_never_panics() {
    let seeds = vec![
        vec![3, 0, 0, 0, b'o', b'k'],
        vec![0, 1, 2, 0x40],
        vec![0, 1, 255, 0],
        vec![1, 1, 0, 0x10, b'x'],
    ];
    let t0 = std::time::Instant::now();
    let mut s = crate::sol::SolState::new(16, std::time::Duration::from_millis(1), u32::MAX);
    let mut i = 0u64;
    run(&seeds, 7, |b| {
        i += 1;
        s.write(b);
        let _ = s.handle(b);
        let _ = s.poll_transmit(t0 + std::time::Duration::from_millis(i));
        let _ = s.backlog();
    });
}

#[test]
fn command_parsers_never_panic() {
    let seeds = vec![
        vec![
            0x00, 0x03, 0x09, 0x08, 0x02, 0x9f, 0x91, 0x12, 0x00, 0x02, 0x0f,
        ],
        vec![0x21, 0x10, 0x40, 0x00],
        vec![1, 5, 0xe0, 0x18, 0, 0, 0],
        vec![0x51, 4, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        vec![
            2, 0, 1, 0, 2, 0x63, 6, 0, 0, 0x20, 0, 4, 1, 1, 1, 0x59, 0x5a, 0x5a,
        ],
        vec![0x11, 10, 0, 0, 5, 1, 2],
        vec![0x28, 0xc0, 0x00, 0x80],
        vec![16, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16],
    ];
    run(&seeds, 2, |b| {
        let _ = app::GetDeviceId.parse(b);
        let _ = chassis::GetChassisStatus.parse(b);
        let _ = chassis::GetBootFlags.parse(b);
        let _ = sdr::GetSdrRepositoryInfo.parse(b);
        let _ = sdr::ReserveSdrRepository.parse(b);
        let _ = sdr::GetSdr {
            reservation: 0,
            record_id: 0,
            offset: 0,
            count: 0xff,
        }
        .parse(b);
        let _ = sdr::GetSensorReading(1).parse(b);
        let _ = sel::GetSelInfo.parse(b);
        let _ = sel::GetSelEntry {
            reservation: 0,
            record_id: 0,
        }
        .parse(b);
        let _ = sel::ClearSel {
            reservation: 0,
            initiate: false,
        }
        .parse(b);
        let _ = fru::GetFruInventoryAreaInfo(0).parse(b);
        let _ = fru::ReadFruData {
            device: 0,
            offset: 0,
            count: 16,
        }
        .parse(b);
        let _ = lan::GetLanConfig {
            channel: 1,
            param: 3,
        }
        .parse(b);
        let _ = lan::ipv4(b);
        let _ = lan::mac(b);
        let _ = lan::ip_source(b);
    });
}

#[test]
fn record_parsers_never_panic() {
    let seeds = vec![
        crate::cmd::sdr::tests::volt_record(),
        crate::cmd::fru::tests::sample(),
        vec![2, 0, 2, 0, 0, 0, 0, 0x20, 0, 4, 1, 1, 1, 0x59, 0x5a, 0x5a],
        vec![
            9, 0, 0x51, 0x12, 14, 0x20, 0, 0x20, 0x8f, 0, 0, 0, 7, 1, 0, 0xc3, b'B', b'M', b'C',
        ],
        vec![
            9, 0, 0x51, 0x03, 14, 0x20, 0, 5, 7, 1, 0x12, 0x6f, 1, 0, 0, 0, 0xc2, b'E', b'v',
        ],
    ];
    run(&seeds, 3, |b| {
        if let Ok(r) = sdr::parse_sdr(b) {
            let _ = r.device();
        }
        if let Ok(r) = sdr::parse_sdr(b)
            && let sdr::SdrRecord::Full {
                conversion, common, ..
            } = r
        {
            for raw in [0u8, 1, 0x7f, 0x80, 0xff] {
                let _ = conversion.convert(raw, common.units.analog_format);
            }
            let _ = common.units.name();
        }
        let _ = sel::SelRecord::parse(b);
        let _ = fru::Fru::parse(b);
    });
}

/// Feed mutated replies to the handshake at each step, and mutated
/// in-session packets to an established session.
#[test]
fn session_state_machines_never_panic() {
    for suite in [3u8, 17, 2, 1] {
        let cfg = Config::new("h", "ADMIN", "secret").cipher_suite(suite);
        // Record the genuine BMC replies of one login as seeds.
        let mut bmc = FakeBmc::new("ADMIN", b"secret", vec![suite]);
        let mut hs = Handshake::with_rng(&cfg, 0x55, StdRng::seed_from_u64(4)).expect("hs");
        let mut replies = Vec::new();
        let mut core = loop {
            let r = bmc.handle(hs.transmit()).expect("reply");
            replies.push(r.clone());
            match hs.handle(&r).expect("login") {
                HandshakeEvent::Established(c) => break c,
                _ => continue,
            }
        };
        let fresh = |steps: usize| {
            // A handshake advanced by `steps` genuine replies.
            let mut b = FakeBmc::new("ADMIN", b"secret", vec![suite]);
            let mut h = Handshake::with_rng(&cfg, 0x55, StdRng::seed_from_u64(4)).expect("hs");
            for _ in 0..steps {
                if let Some(r) = b.handle(h.transmit()) {
                    let _ = h.handle(&r);
                }
            }
            h
        };
        let mut rng = StdRng::seed_from_u64(5);
        for (step, _) in replies.iter().enumerate() {
            let mut h = fresh(step);
            for input in corpus(&replies, &mut rng, iters() / 4) {
                // Errors end a real handshake; here we keep feeding to probe
                // every state with garbage.
                if h.handle(&input).is_err() {
                    h = fresh(step);
                }
            }
        }
        // Established session: mutate genuine sealed responses.
        let seq = core.next_rq_seq();
        let pkt = core.encode_request(&Request::new(NetFn::APP, 1, vec![]), seq);
        let reply = bmc.handle(&pkt).expect("reply");
        run(&[reply], 6, |b| {
            let _ = core.decode_response(b);
        });
    }
}

/// The virtual BMC's inputs: mutated console datagrams (a genuine login's,
/// as seeds), serial bytes, and the telnet framing of its serial port.
#[test]
fn bmc_inputs_never_panic() {
    use crate::bmc::{Action, Bmc, BmcConfig, telnet};
    let peer: std::net::SocketAddr = "127.0.0.1:5000".parse().expect("addr");
    let now = std::time::Instant::now();
    let mut bmc = Bmc::new(BmcConfig::new("ADMIN", b"secret"));
    let cfg = Config::new("h", "ADMIN", "secret");
    let mut hs = Handshake::with_rng(&cfg, 0x55, StdRng::seed_from_u64(8)).expect("hs");
    let mut seeds = Vec::new();
    let mut core = loop {
        seeds.push(hs.transmit().to_vec());
        let reply = match bmc.handle_datagram(hs.transmit(), peer, now).as_slice() {
            [Action::Send(d, _), ..] => d.clone(),
            other => panic!("no reply: {other:?}"),
        };
        if let HandshakeEvent::Established(c) = hs.handle(&reply).expect("login") {
            break c;
        }
    };
    for (i, req) in [
        Request::new(NetFn::APP, 0x48, vec![1, 1, 0xc6, 0, 0, 0]),
        Request::new(NetFn::TRANSPORT, 0x22, vec![0x0e, 8, 0, 0]),
        Request::new(NetFn::CHASSIS, 0x02, vec![1]),
    ]
    .iter()
    .enumerate()
    {
        seeds.push(core.encode_request(req, i as u8));
    }
    seeds.push(core.seal(wire::PayloadType::Sol, &[1, 0, 0, 0x10, b'k']));
    let mut framing = telnet::Decoder::default();
    run(&seeds, 9, |b| {
        let _ = bmc.handle_datagram(b, peer, now);
        let _ = bmc.serial_input(1, b, now);
        let _ = framing.feed(b);
        let _ = telnet::escape(b);
    });
    let _ = bmc.poll(now + std::time::Duration::from_secs(120));
}
