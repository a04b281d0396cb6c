//! The virtual BMC's inputs: datagrams from consoles (session setup,
//! RAKP 1 and 3, in-session packets), serial-port bytes, and the telnet
//! framing of a serial port. Datagrams are split at 0xC1 0xC1 markers.
#![no_main]

use std::time::Instant;

use ironrack_ipmi::bmc::{Bmc, BmcConfig, telnet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|b: &[u8]| {
    let mut bmc = Bmc::new(BmcConfig::new("ADMIN", b"secret"));
    let peer = "127.0.0.1:5000".parse().expect("address");
    let now = Instant::now();
    for dg in b.split(|&x| x == 0xC1) {
        let _ = bmc.handle_datagram(dg, peer, now);
    }
    let _ = bmc.serial_input(1, b, now);
    let _ = bmc.poll(now);
    let _ = telnet::Decoder::default().feed(b);
});
