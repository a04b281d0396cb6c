//! Packet framing: RMCP, ASF, IPMI 1.5/2.0 session wrappers, IPMI
//! messages, SOL payloads. Each must return, never panic.
#![no_main]

use ironrack_ipmi::{session, sol, wire};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|b: &[u8]| {
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
    let _ = sol::decode_sol(b);
});
