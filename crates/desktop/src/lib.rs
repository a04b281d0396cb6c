//! Desktop sessions, the ipmi-kvm-docker / nojava-ipmi-kvm job without
//! Docker: for a BMC whose console is a Java applet or a web page, an
//! isolated X desktop (Xvfb, openbox, x11vnc) per session showing a kiosk
//! Firefox already logged in to the BMC, or `javaws` running the JNLP the
//! BMC hands out after login. The console gateway bridges a browser to the
//! session's x11vnc like any VNC console.
//!
//! Invariant: this crate knows nothing of the database, the bus, the API or
//! the gateway. It reads nojava-ipmi-kvm's template files as they are
//! (`template`), picks the JVM a Java viewer asks for (`jvm`), logs in to
//! the BMC web UI with the BMC's own user and password and out again at
//! close (`login`), and runs each desktop under its own uid, killing every
//! process of that uid at close and reaping the uid range at start
//! (`session`). `template`, the choice in `jvm`, the parsing in `login`,
//! and `profile` are pure.

pub mod jvm;
pub mod login;
pub mod profile;
pub mod session;
pub mod template;
#[cfg(feature = "test-support")]
pub mod testing;

pub use jvm::{Choice, Jvm};
pub use login::{Cookie, Launch, Login, LoginError, Logout, parse_origin};
pub use session::{Desktop, DesktopConfig, DesktopError, Desktops, StartRequest, processes_of};
pub use template::{Resolution, Template, TemplateError, Templates, Viewer};
