//! The SOL state machine (ACK/NACK, partial acceptance, duplicates,
//! breaks) fed with packets from a peer, keystrokes and clock ticks.
#![no_main]

use std::time::{Duration, Instant};

use ironrack_ipmi::sol::SolState;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|b: &[u8]| {
    let t0 = Instant::now();
    let mut s = SolState::new(16, Duration::from_millis(1), 4);
    for (i, chunk) in b.chunks(7).enumerate() {
        match chunk.first().map(|c| c % 4) {
            Some(0) => s.write(chunk),
            Some(1) => s.send_break(),
            _ => {
                let _ = s.handle(chunk);
            }
        }
        let _ = s.poll_transmit(t0 + Duration::from_millis(i as u64));
        let _ = s.backlog();
    }
});
