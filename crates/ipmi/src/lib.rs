//! IPMI 2.0 / RMCP+ client for out-of-band server control.
//!
//! Layers, bottom up (sans-IO like quinn-proto / rustls):
//! - [`wire`]: packet encode/decode (RMCP, ASF, IPMI 1.5/2.0 sessions, IPMI
//!   messages); decoders never panic.
//! - [`crypto`]: cipher suites 1–3, 6–8, 15–17 (HMAC-SHA1/MD5/SHA256, AES-CBC-128).
//! - [`session`]: the login handshake and the established session as pure
//!   state machines fed with datagrams.
//! - [`cmd`]: typed request builders and response parsers.
//! - [`sol`]: Serial over LAN packets and state machine.
//! - [`bmc`]: the managed-system side (a virtual BMC) on the same code.
//! - [`Session`]: a thin tokio driver with timeouts and retransmits;
//!   [`SolConsole`]: SOL as an async byte stream; [`Engine`]: many sessions
//!   over a few shared sockets.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ironrack_ipmi::Error> {
//! use ironrack_ipmi::{ChassisControl, Config, Session};
//! let mut s = Session::connect(Config::new("10.0.0.5", "ADMIN", "password")).await?;
//! if !s.chassis_status().await?.power_on {
//!     s.chassis_control(ChassisControl::PowerOn).await?;
//! }
//! s.close().await
//! # }
//! ```

pub mod bmc;
mod client;
pub mod cmd;
mod config;
mod console;
pub mod crypto;
mod engine;
mod error;
pub mod session;
pub mod sol;
pub mod wire;

pub use client::{SensorValue, Session, ping};
pub use cmd::app::{BmcReset, DeviceId};
pub use cmd::chassis::{BootDevice, BootFlags, ChassisControl, ChassisStatus};
pub use cmd::fru::Fru;
pub use cmd::lan::{LanConfig, LanParams};
pub use cmd::sdr::SdrRecord;
pub use cmd::sel::SelRecord;
pub use config::{Config, Privilege};
pub use console::SolConsole;
pub use crypto::CipherSuite;
pub use engine::Engine;
pub use error::{Error, completion_code_name, rmcp_status_name};
pub use wire::{DecodeError, Request, Response};

#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod testbmc;
