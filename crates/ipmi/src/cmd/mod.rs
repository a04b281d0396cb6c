//! Typed IPMI commands: request builders and response parsers, pure code.
//!
//! Each command implements [`Command`]; `Session::exec` sends any of them.
//! Parsers get the response data *after* the completion code (the session
//! layer turns a non-zero completion code into [`crate::Error::CompletionCode`]).

pub mod app;
pub mod chassis;
pub mod fru;
pub mod lan;
pub mod sdr;
pub mod sel;

use crate::wire::{DecodeError, Request};

/// An IPMI command with a typed response.
pub trait Command {
    type Output;
    /// Human-readable command name, used in errors.
    const NAME: &'static str;
    fn request(&self) -> Request;
    fn parse(&self, data: &[u8]) -> Result<Self::Output, DecodeError>;
    /// Name of a command-specific completion code (80h–BEh), if known.
    fn completion_code_name(&self, _code: u8) -> Option<&'static str> {
        None
    }
}

/// Sends raw bytes and returns raw response data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Raw(pub Request);

impl Command for Raw {
    type Output = Vec<u8>;
    const NAME: &'static str = "raw command";
    fn request(&self) -> Request {
        self.0.clone()
    }
    fn parse(&self, data: &[u8]) -> Result<Vec<u8>, DecodeError> {
        Ok(data.to_vec())
    }
}

/// Decode a BCD byte (0x08 -> 8); nibbles above 9 are kept as-is.
pub(crate) fn bcd(b: u8) -> u8 {
    (b >> 4) * 10 + (b & 0x0F)
}
