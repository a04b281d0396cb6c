//! Telnet framing (RFC 854) for a host serial port served as a telnet
//! server, e.g. QEMU `-serial telnet:HOST:PORT,server=on`: the server's
//! commands are stripped from the console output, 0xFF in keystrokes is
//! doubled, and a SOL break becomes IAC BREAK, which QEMU turns into a line
//! break on the guest's UART. Sans-IO; the server task moves the bytes.

pub const IAC: u8 = 255;
const DONT: u8 = 254;
const DO: u8 = 253;
const WONT: u8 = 252;
const WILL: u8 = 251;
const SB: u8 = 250;
const BRK: u8 = 243;
const SE: u8 = 240;
/// Option code of binary transmission (RFC 856).
const BINARY: u8 = 0;

/// Sent on connect: we will send, and want to receive, 8-bit data.
pub const GREETING: [u8; 6] = [IAC, WILL, BINARY, IAC, DO, BINARY];

/// The telnet BREAK command.
pub const BREAK: [u8; 2] = [IAC, BRK];

/// Keystrokes as telnet data: IAC doubled.
pub fn escape(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    for &b in data {
        if b == IAC {
            out.push(IAC);
        }
        out.push(b);
    }
    out
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    #[default]
    Data,
    Iac,
    /// After WILL/WONT/DO/DONT: one option byte follows.
    Option,
    /// Inside a subnegotiation, until IAC SE.
    Sub,
    SubIac,
}

/// Strips telnet commands from a server's byte stream; state carries over
/// between reads, since a command may be split across them.
#[derive(Debug, Default)]
pub struct Decoder {
    state: State,
}

impl Decoder {
    /// The data bytes of `input`.
    pub fn feed(&mut self, input: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            self.state = match (self.state, b) {
                (State::Data, IAC) => State::Iac,
                (State::Data, _) => {
                    out.push(b);
                    State::Data
                }
                (State::Iac, IAC) => {
                    out.push(IAC);
                    State::Data
                }
                (State::Iac, WILL | WONT | DO | DONT) => State::Option,
                (State::Iac, SB) => State::Sub,
                // Any other command (NOP, BREAK, GA...) is two bytes.
                (State::Iac, _) | (State::Option, _) => State::Data,
                (State::Sub, IAC) => State::SubIac,
                (State::Sub, _) => State::Sub,
                (State::SubIac, SE) => State::Data,
                (State::SubIac, _) => State::Sub,
            };
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_commands_split_across_reads() {
        let mut d = Decoder::default();
        // QEMU's greeting, then text with an escaped 0xFF.
        let mut got = d.feed(&[IAC, WILL, 1, IAC, WILL, 3, b'o', b'k', IAC]);
        got.extend(d.feed(&[IAC, b'!', IAC]));
        got.extend(d.feed(&[SB, 24, 1, IAC, IAC, 7, IAC, SE, b'z', IAC, 241]));
        assert_eq!(got, [b'o', b'k', IAC, b'!', b'z']);
    }

    #[test]
    fn escapes_iac() {
        assert_eq!(escape(&[1, IAC, 2]), [1, IAC, IAC, 2]);
        assert_eq!(
            Decoder::default().feed(&escape(&[IAC, 0, IAC])),
            [IAC, 0, IAC]
        );
    }
}
