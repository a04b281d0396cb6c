//! Domain types of ironrack and the rules that govern them.
//!
//! Invariant: no I/O here — no database, no sockets, no clock reads except
//! through arguments. Everything is a value or a pure state transition, so the
//! store, the API and the agents agree on one vocabulary.

pub mod bmc;
pub mod boot;
pub mod net;
pub mod power;
pub mod role;
pub mod sensor;
pub mod task;

pub use bmc::{BmcDriver, BmcDriverError};
pub use boot::{BootDevice, BootRequest};
pub use net::{MacAddress, MacError, validate_host};
pub use power::{PowerAction, PowerState};
pub use role::Role;
pub use sensor::{BmcResetKind, SEL_KEEP, SelEntry, SensorReading, SensorStatus};
pub use task::{TaskEvent, TaskEventKind, TaskKind, TaskState, TransitionError};
