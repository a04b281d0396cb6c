//! A small Redfish client for BMCs: find the ComputerSystem, read and
//! change its power, set a boot source override, insert and eject virtual
//! media. HTTP Basic authentication; certificates verified, pinned by
//! fingerprint, or (knowingly) accepted as they are.
//!
//! `model` is pure (URLs, JSON shapes, reset plans, error text) and tested
//! without sockets; `client` is the thin reqwest layer on top. The crate
//! knows nothing of ironrack: no tasks, no drivers, no ironrack types.

mod client;
pub mod model;
pub mod tls;

pub use client::{Client, Config};
pub use model::{
    BootMode, BootOverride, BootSettings, BootTarget, PowerRequest, PowerState, ResetType, System,
    VirtualMedia,
};
pub use tls::Tls;

/// What went wrong, sorted by who can fix it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Our caller's settings or arguments are wrong.
    #[error("{0}")]
    Invalid(String),
    /// No connection, no answer in time, or the name does not resolve.
    #[error("cannot reach the BMC at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// 401 or 403: the BMC refused the credentials or the privilege.
    #[error("the BMC refused the credentials ({status} on {path}): {message}")]
    Auth {
        status: u16,
        path: String,
        message: String,
    },
    /// The BMC's certificate is not trusted (or not the pinned one).
    #[error("TLS: {0}")]
    Tls(String),
    /// Any other error status.
    #[error("the BMC answered {status} to {method} {path}: {message}")]
    Http {
        status: u16,
        method: &'static str,
        path: String,
        message: String,
    },
    /// The answer is not what Redfish specifies.
    #[error("unexpected answer from the BMC: {0}")]
    Protocol(String),
    /// The BMC does not offer what was asked (per its AllowableValues).
    #[error("this BMC does not offer {wanted} (it offers: {offered})")]
    NotOffered { wanted: String, offered: String },
    #[error("this BMC has no VirtualMedia service ({0})")]
    NoVirtualMedia(String),
    /// A step the next one depends on did not take effect in time.
    #[error("{0}")]
    NotSettled(String),
}
