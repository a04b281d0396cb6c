//! Error type and the spec's code tables (completion codes, RMCP+ status).

use crate::wire::DecodeError;

/// Everything that can go wrong talking to a BMC.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The BMC's port answered with ICMP "port unreachable" on every try, or
    /// the address could not be resolved or bound.
    #[error("BMC unreachable: {reason}")]
    Unreachable { reason: String },
    /// No valid answer after `tries` transmissions.
    #[error("no answer from BMC after {tries} tries")]
    Timeout { tries: u32 },
    /// RAKP failed: wrong password, unknown user, bad Kg, forged reply.
    #[error("authentication failed: {reason}")]
    AuthenticationFailed { reason: String },
    /// No cipher suite both sides support, or the BMC refused the one asked for.
    #[error("unsupported cipher suite: {0}")]
    UnsupportedCipherSuite(String),
    /// Cipher suite 0 or a null user name without `insecure`.
    #[error(
        "refused insecure login ({0}): cipher suite 0 and anonymous/null user names allow \
         login without a password (CVE-2013-4782); set `insecure` to allow it"
    )]
    InsecureRefused(&'static str),
    /// The BMC refused to open a session for another reason (13.24 status).
    #[error("BMC refused the session: {reason}")]
    SessionRefused { reason: String },
    /// The command reached the BMC and it answered with an error.
    #[error("{command}: completion code {code:#04x} ({name})")]
    CompletionCode {
        command: &'static str,
        code: u8,
        name: &'static str,
    },
    /// A reply could not be decoded.
    #[error("decode error: {0}")]
    Decode(#[from] DecodeError),
    /// The configuration is unusable (e.g. password longer than 20 bytes).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The session was closed (by us or the BMC).
    #[error("session closed")]
    Closed,
    /// Socket error other than "unreachable".
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// Name of an IPMI completion code (spec table 5-2).
pub fn completion_code_name(cc: u8) -> &'static str {
    match cc {
        0x00 => "Command completed normally",
        0xC0 => "Node busy",
        0xC1 => "Invalid command",
        0xC2 => "Invalid command on LUN",
        0xC3 => "Timeout while processing command",
        0xC4 => "Out of space",
        0xC5 => "Reservation cancelled or invalid reservation ID",
        0xC6 => "Request data truncated",
        0xC7 => "Request data length invalid",
        0xC8 => "Request data field length limit exceeded",
        0xC9 => "Parameter out of range",
        0xCA => "Cannot return number of requested data bytes",
        0xCB => "Requested sensor, data, or record not found",
        0xCC => "Invalid data field in request",
        0xCD => "Command illegal for specified sensor or record type",
        0xCE => "Command response could not be provided",
        0xCF => "Cannot execute duplicated request",
        0xD0 => "SDR repository in update mode",
        0xD1 => "Device in firmware update mode",
        0xD2 => "BMC initialization in progress",
        0xD3 => "Destination unavailable",
        0xD4 => "Insufficient privilege level",
        0xD5 => "Command not supported in present state",
        0xD6 => "Cannot execute command, command disabled",
        0xFF => "Unspecified error",
        0x01..=0x7E => "Device specific (OEM) completion code",
        0x80..=0xBE => "Command specific completion code",
        _ => "Reserved completion code",
    }
}

/// Name of an RMCP+ / RAKP message status code (spec table 13-15).
pub fn rmcp_status_name(code: u8) -> &'static str {
    match code {
        0x00 => "no errors",
        0x01 => "insufficient resources to create a session",
        0x02 => "invalid session ID",
        0x03 => "invalid payload type",
        0x04 => "invalid authentication algorithm",
        0x05 => "invalid integrity algorithm",
        0x06 => "no matching authentication payload",
        0x07 => "no matching integrity payload",
        0x08 => "inactive session ID",
        0x09 => "invalid role",
        0x0A => "unauthorized role or privilege level requested",
        0x0B => "insufficient resources to create a session at the requested role",
        0x0C => "invalid name length",
        0x0D => "unauthorized name",
        0x0E => "unauthorized GUID",
        0x0F => "invalid integrity check value",
        0x10 => "invalid confidentiality algorithm",
        0x11 => "no cipher suite match with proposed security algorithms",
        0x12 => "illegal or unrecognized parameter",
        _ => "reserved status code",
    }
}
