//! The client's login state machine (auth capabilities, cipher suites, Open
//! Session, RAKP 2 and 4 checks) fed with BMC replies: the first byte picks
//! the cipher suite, the rest is split into datagrams at 0xC1 0xC1 markers.
#![no_main]

use ironrack_ipmi::Config;
use ironrack_ipmi::session::Handshake;
use libfuzzer_sys::fuzz_target;
use rand::SeedableRng;
use rand::rngs::StdRng;

fuzz_target!(|b: &[u8]| {
    let Some((&suite, rest)) = b.split_first() else { return };
    let suite = [1u8, 2, 3, 6, 7, 8, 15, 16, 17][usize::from(suite) % 9];
    let cfg = Config::new("h", "ADMIN", "secret").cipher_suite(suite);
    let Ok(mut hs) = Handshake::with_rng(&cfg, 0x55, StdRng::seed_from_u64(1)) else { return };
    for reply in split(rest) {
        if hs.handle(reply).is_err() {
            break;
        }
        let _ = hs.transmit();
    }
});

fn split(b: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = b;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        match rest.windows(2).position(|w| w == [0xC1, 0xC1]) {
            Some(i) => {
                let (head, tail) = rest.split_at(i);
                rest = &tail[2..];
                Some(head)
            }
            None => Some(std::mem::take(&mut rest)),
        }
    })
}
