//! Serial over LAN (IPMI v2.0 spec 15): payload activation commands and the
//! sans-IO SOL packet state machine (sequence numbers, ACK/NACK, partial
//! acceptance, retransmit). The tokio driver is [`crate::SolConsole`].

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::cmd::Command;
use crate::error::Error;
use crate::wire::{DecodeError, NetFn, Reader, Request};

/// Payload type number of SOL (13.27.3).
pub const PAYLOAD_SOL: u8 = 0x01;

/// Activate Payload (24.1) for SOL instance `instance` (1 = the console;
/// ipmi_sim's instance 2 replays its history buffer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActivateSol {
    pub instance: u8,
    pub encrypt: bool,
    pub authenticate: bool,
}

/// What the BMC granted in Activate Payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SolActivation {
    /// Largest SOL payload we may send (header included).
    pub inbound_size: u16,
    /// Largest SOL payload the BMC sends.
    pub outbound_size: u16,
    /// UDP port for SOL payloads; we keep using the session's socket.
    pub port: u16,
}

impl Command for ActivateSol {
    type Output = SolActivation;
    const NAME: &'static str = "Activate Payload (SOL)";
    fn request(&self) -> Request {
        let mut aux = 0u8;
        if self.encrypt {
            aux |= 0x80;
        }
        if self.authenticate {
            aux |= 0x40;
        }
        // Serial alerts deferred while SOL is active (bits 3:2 = 01b), as
        // ipmitool does; BMC asserts CTS.
        aux |= 0x04;
        Request::new(
            NetFn::APP,
            0x48,
            vec![PAYLOAD_SOL, self.instance, aux, 0, 0, 0],
        )
    }
    fn parse(&self, data: &[u8]) -> Result<SolActivation, DecodeError> {
        let mut r = Reader::new(data);
        r.skip(4, "auxiliary data")?;
        Ok(SolActivation {
            inbound_size: r.u16le("inbound payload size")?,
            outbound_size: r.u16le("outbound payload size")?,
            port: r.u16le("payload UDP port")?,
        })
    }
    fn completion_code_name(&self, code: u8) -> Option<&'static str> {
        Some(match code {
            0x80 => "payload already active on another session",
            0x81 => "payload type is disabled",
            0x82 => "payload activation limit reached",
            0x83 => "cannot activate payload with encryption",
            0x84 => "cannot activate payload without encryption",
            _ => return None,
        })
    }
}

/// Deactivate Payload (24.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeactivateSol {
    pub instance: u8,
}

impl Command for DeactivateSol {
    type Output = ();
    const NAME: &'static str = "Deactivate Payload (SOL)";
    fn request(&self) -> Request {
        Request::new(
            NetFn::APP,
            0x49,
            vec![PAYLOAD_SOL, self.instance, 0, 0, 0, 0],
        )
    }
    fn parse(&self, _: &[u8]) -> Result<(), DecodeError> {
        Ok(())
    }
    fn completion_code_name(&self, code: u8) -> Option<&'static str> {
        Some(match code {
            0x80 => "payload already deactivated",
            0x81 => "payload type is disabled",
            _ => return None,
        })
    }
}

/// SOL header size: seq, ack seq, accepted count, operation/status (15.9).
pub const SOL_HEADER_LEN: usize = 4;
/// BMC→console status bits (table 15-2).
const STATUS_NACK: u8 = 0x40;
const STATUS_DEACTIVATING: u8 = 0x10;
/// Console→BMC operation bit (table 15-2); the same bit as "deactivating"
/// in the other direction.
pub const OPERATION_GENERATE_BREAK: u8 = 0x10;

/// A decoded SOL packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SolPacket<'a> {
    /// 1–15; 0 for an ACK-only packet.
    pub seq: u8,
    /// Sequence number being (N)ACKed; 0 if none.
    pub ack_seq: u8,
    pub accepted: u8,
    pub status: u8,
    pub data: &'a [u8],
}

pub fn decode_sol(b: &[u8]) -> Result<SolPacket<'_>, DecodeError> {
    let mut r = Reader::new(b);
    Ok(SolPacket {
        seq: r.u8("SOL sequence")? & 0x0F,
        ack_seq: r.u8("SOL ack sequence")? & 0x0F,
        accepted: r.u8("SOL accepted count")?,
        status: r.u8("SOL status")?,
        data: r.rest(),
    })
}

fn encode_sol(seq: u8, ack_seq: u8, accepted: u8, op: u8, data: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(SOL_HEADER_LEN + data.len());
    v.extend_from_slice(&[seq, ack_seq, accepted, op]);
    v.extend_from_slice(data);
    v
}

/// What an incoming SOL packet produced.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SolInput {
    /// Console output to hand to the user (empty for duplicates/ACKs).
    pub data: Vec<u8>,
    /// An ACK to send back right away.
    pub ack: Option<Vec<u8>>,
    /// The BMC is deactivating the payload (console side).
    pub deactivated: bool,
    /// Operation/status bits of a new (not duplicate) sequenced packet,
    /// e.g. [`OPERATION_GENERATE_BREAK`] from a console; 0 otherwise.
    pub operation: u8,
}

#[derive(Debug)]
struct Pending {
    seq: u8,
    /// Operation bits sent with it (kept for retransmits).
    op: u8,
    data: Vec<u8>,
    sent: Instant,
    tries: u32,
}

/// One direction-pair of SOL traffic: stop-and-wait for what we send (one
/// packet in flight, as BMCs expect), ACK + duplicate suppression for what
/// we receive.
#[derive(Debug)]
pub struct SolState {
    max_data: usize,
    next_seq: u8,
    queue: VecDeque<u8>,
    pending: Option<Pending>,
    last_rx_seq: u8,
    retransmit: Duration,
    max_tries: u32,
    /// A serial break is requested once this many queued bytes (those
    /// written before it) have gone out.
    break_after: Option<usize>,
}

impl SolState {
    /// `inbound_size` is the BMC's inbound payload size from activation.
    pub fn new(inbound_size: u16, retransmit: Duration, max_tries: u32) -> Self {
        // Some BMCs report 0 or absurd sizes; stay within one datagram.
        let size = usize::from(inbound_size).clamp(SOL_HEADER_LEN + 1, 1024);
        SolState {
            max_data: size - SOL_HEADER_LEN,
            next_seq: 1,
            queue: VecDeque::new(),
            pending: None,
            last_rx_seq: 0,
            retransmit,
            max_tries: max_tries.max(1),
            break_after: None,
        }
    }

    /// Queue keystrokes for the BMC.
    pub fn write(&mut self, data: &[u8]) {
        self.queue.extend(data);
    }

    /// Ask the BMC to send a serial break (console→BMC operation "Generate
    /// BREAK", table 15-2) after the bytes already written. BMCs (ipmi_sim
    /// too) break before writing the packet's own data, so the break rides
    /// the first packet after those bytes, or goes alone.
    pub fn send_break(&mut self) {
        if self.break_after.is_none() {
            self.break_after = Some(self.queue.len());
        }
    }

    /// Bytes queued or in flight.
    pub fn backlog(&self) -> usize {
        self.queue.len() + self.pending.as_ref().map_or(0, |p| p.data.len())
    }

    /// The next packet to send now: a retransmit of the unacknowledged
    /// packet once `retransmit` has passed, else new data if none is in
    /// flight. Errors once the BMC ignored a packet `max_tries` times.
    pub fn poll_transmit(&mut self, now: Instant) -> Result<Option<Vec<u8>>, Error> {
        if let Some(p) = &mut self.pending {
            if now.duration_since(p.sent) < self.retransmit {
                return Ok(None);
            }
            if p.tries >= self.max_tries {
                return Err(Error::Timeout { tries: p.tries });
            }
            p.tries += 1;
            p.sent = now;
            return Ok(Some(encode_sol(p.seq, 0, 0, p.op, &p.data)));
        }
        if self.queue.is_empty() && self.break_after.is_none() {
            return Ok(None);
        }
        let mut n = self.queue.len().min(self.max_data);
        let op = match self.break_after {
            Some(0) => {
                self.break_after = None;
                OPERATION_GENERATE_BREAK
            }
            Some(before) => {
                n = n.min(before);
                self.break_after = Some(before - n);
                0
            }
            None => 0,
        };
        let data: Vec<u8> = self.queue.drain(..n).collect();
        let seq = self.next_seq;
        self.next_seq = if seq >= 15 { 1 } else { seq + 1 };
        let pkt = encode_sol(seq, 0, 0, op, &data);
        self.pending = Some(Pending {
            seq,
            op,
            data,
            sent: now,
            tries: 1,
        });
        Ok(Some(pkt))
    }

    /// When [`SolState::poll_transmit`] next has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.pending.as_ref().map(|p| p.sent + self.retransmit)
    }

    /// Process a SOL payload from the BMC.
    pub fn handle(&mut self, payload: &[u8]) -> Result<SolInput, DecodeError> {
        let p = decode_sol(payload)?;
        let mut out = SolInput {
            deactivated: p.status & STATUS_DEACTIVATING != 0,
            ..SolInput::default()
        };
        // The ACK part: does it answer our packet in flight?
        if p.ack_seq != 0
            && let Some(pend) = &self.pending
            && pend.seq == p.ack_seq
        {
            let accepted = usize::from(p.accepted).min(pend.data.len());
            let nack = p.status & STATUS_NACK != 0;
            if accepted == pend.data.len() && !nack {
                self.pending = None;
            } else if accepted > 0 || !nack {
                // Partial acceptance (15.9): resend the rest as a new packet.
                let rest: Vec<u8> = pend.data.get(accepted..).unwrap_or_default().to_vec();
                // They were written before any break requested since.
                if let Some(before) = &mut self.break_after {
                    *before += rest.len();
                }
                for b in rest.into_iter().rev() {
                    self.queue.push_front(b);
                }
                self.pending = None;
            }
            // NACK with nothing accepted: leave it for the retransmit timer.
        }
        // The data part: deliver once, ACK every copy. A sequenced packet
        // without data (a console's break, a BMC's status change) is
        // acknowledged too, with 0 characters accepted (15.9): only ACK-only
        // packets (sequence 0) go unanswered.
        if p.seq != 0 {
            if p.seq != self.last_rx_seq {
                out.data = p.data.to_vec();
                out.operation = p.status;
                self.last_rx_seq = p.seq;
            }
            let accepted = u8::try_from(p.data.len()).unwrap_or(u8::MAX);
            out.ack = Some(encode_sol(0, p.seq, accepted, 0, &[]));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_break_rides_the_next_packet_or_goes_alone() {
        let t0 = Instant::now();
        let mut s = SolState::new(8, Duration::from_millis(100), 3);
        s.send_break();
        let p = s.poll_transmit(t0).unwrap().unwrap();
        assert_eq!(p, [1, 0, 0, OPERATION_GENERATE_BREAK]);
        // Retransmitted with its operation; acknowledged with 0 accepted.
        let t1 = t0 + Duration::from_millis(150);
        assert_eq!(s.poll_transmit(t1).unwrap().unwrap(), p);
        s.handle(&[0, 1, 0, 0]).unwrap();
        assert_eq!(s.backlog(), 0);
        // Bytes written before the break go first; those after ride with it.
        s.write(b"ab");
        s.send_break();
        s.write(b"c");
        let p = s.poll_transmit(t1).unwrap().unwrap();
        assert_eq!(p, [2, 0, 0, 0, b'a', b'b']);
        s.handle(&[0, 2, 2, 0]).unwrap();
        let p = s.poll_transmit(t1).unwrap().unwrap();
        assert_eq!(p, [3, 0, 0, OPERATION_GENERATE_BREAK, b'c']);
    }

    #[test]
    fn a_break_without_data_is_acknowledged_once_and_reported() {
        let mut bmc = SolState::new(255, Duration::from_millis(100), 3);
        let inp = bmc.handle(&[4, 0, 0, OPERATION_GENERATE_BREAK]).unwrap();
        assert_eq!(inp.operation, OPERATION_GENERATE_BREAK);
        assert!(inp.data.is_empty());
        assert_eq!(inp.ack, Some(vec![0, 4, 0, 0]));
        // The console's retransmit (our ACK was lost): ACKed, not a second break.
        let inp = bmc.handle(&[4, 0, 0, OPERATION_GENERATE_BREAK]).unwrap();
        assert_eq!((inp.operation, inp.ack), (0, Some(vec![0, 4, 0, 0])));
        // ACK-only packets are not answered.
        assert_eq!(bmc.handle(&[0, 0, 0, 0]).unwrap(), SolInput::default());
    }

    #[test]
    fn send_ack_and_retransmit() {
        let t0 = Instant::now();
        let mut s = SolState::new(8, Duration::from_millis(100), 3);
        s.write(b"hello world");
        let p1 = s.poll_transmit(t0).unwrap().unwrap();
        assert_eq!(p1, [1, 0, 0, 0, b'h', b'e', b'l', b'l']);
        // Nothing new while the packet is in flight.
        assert!(s.poll_transmit(t0).unwrap().is_none());
        // Timeout: the same packet again.
        let t1 = t0 + Duration::from_millis(150);
        assert_eq!(s.poll_transmit(t1).unwrap().unwrap(), p1);
        // Partial acceptance of 2 bytes with NACK: "llo w" ... resent as seq 2.
        let inp = s.handle(&[0, 1, 2, STATUS_NACK]).unwrap();
        assert!(inp.ack.is_none() && inp.data.is_empty());
        let p2 = s.poll_transmit(t1).unwrap().unwrap();
        assert_eq!(p2, [2, 0, 0, 0, b'l', b'l', b'o', b' ']);
        s.handle(&[0, 2, 4, 0]).unwrap();
        let p3 = s.poll_transmit(t1).unwrap().unwrap();
        assert_eq!(&p3[4..], b"worl");
        // Never acknowledged: error after max_tries.
        let mut t = t1;
        for _ in 0..2 {
            t += Duration::from_millis(150);
            assert!(s.poll_transmit(t).unwrap().is_some());
        }
        t += Duration::from_millis(150);
        assert!(matches!(
            s.poll_transmit(t),
            Err(Error::Timeout { tries: 3 })
        ));
    }

    #[test]
    fn receive_ack_and_dedupe() {
        let mut s = SolState::new(255, Duration::from_millis(100), 3);
        let inp = s.handle(&[3, 0, 0, 0, b'o', b'k']).unwrap();
        assert_eq!(inp.data, b"ok");
        assert_eq!(inp.ack, Some(vec![0, 3, 2, 0]));
        // A retransmitted copy is ACKed again but not delivered twice.
        let inp = s.handle(&[3, 0, 0, 0, b'o', b'k']).unwrap();
        assert!(inp.data.is_empty());
        assert!(inp.ack.is_some());
        assert!(
            s.handle(&[0, 0, 0, STATUS_DEACTIVATING])
                .unwrap()
                .deactivated
        );
        assert!(s.handle(&[1, 2]).is_err());
    }

    #[test]
    fn sequence_wraps_1_to_15() {
        let t = Instant::now();
        let mut s = SolState::new(5, Duration::from_millis(100), 3);
        s.write(&[b'x'; 20]);
        let mut seqs = Vec::new();
        while let Some(p) = s.poll_transmit(t).unwrap() {
            seqs.push(p[0]);
            s.handle(&[0, p[0], 1, 0]).unwrap();
        }
        assert_eq!(seqs.len(), 20);
        assert_eq!(&seqs[13..17], &[14, 15, 1, 2]);
    }

    #[test]
    fn activation_parse() {
        let a = ActivateSol {
            instance: 1,
            encrypt: true,
            authenticate: true,
        };
        assert_eq!(a.request().data, vec![1, 1, 0xc4, 0, 0, 0]);
        let r = a
            .parse(&[0, 0, 0, 0, 0xff, 0, 0xff, 0, 0x6f, 0x02, 0xff, 0xff])
            .unwrap();
        assert_eq!(r.inbound_size, 255);
        assert_eq!(r.port, 623);
        assert!(a.parse(&[0; 5]).is_err());
    }
}
