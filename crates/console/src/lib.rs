//! Browser consoles: a WebSocket gateway that bridges RFB (VNC) to a target
//! host:port, doing the VNC authentication itself, and IPMI serial-over-LAN
//! (through `ironrack-ipmi`) to raw binary frames; one-time tokens bound to
//! a session, idle and maximum-duration closes, per-BMC caps, close URLs.
//!
//! Invariant: this crate knows nothing of the database, the bus or the
//! public API. The site agent hands it sessions (`Gateway::open`) and
//! forwards what it reports (`GatewayEvent`).
//!
//! Layout: `rfb`, `ws` and `registry` are sans-IO (byte vectors and an
//! injected clock in their tests); `gateway` and `wsconn` are the thin
//! async layer.

pub mod gateway;
pub mod html5;
pub mod registry;
pub mod rfb;
mod sollog;
pub mod source;
pub mod ws;
mod wsconn;

pub use gateway::{
    DesktopHandle, Gateway, GatewayConfig, GatewayError, GatewayEvent, Html5, OpenSession,
    PROTOCOL_BINARY, PROTOCOL_V1, Target,
};
pub use registry::{
    CloseReason, Kind, Limits, NewSession, RegisterError, SessionId, SessionInfo, TokenHash,
    new_token, token_hash,
};
pub use source::IpNet;
