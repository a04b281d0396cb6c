//! Connection settings for one BMC.

use std::fmt;
use std::time::Duration;

use zeroize::Zeroizing;

/// Session privilege level (spec 6.8, table 22-15 encoding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Privilege {
    Callback,
    User,
    Operator,
    Administrator,
}

impl Privilege {
    pub fn code(self) -> u8 {
        match self {
            Privilege::Callback => 1,
            Privilege::User => 2,
            Privilege::Operator => 3,
            Privilege::Administrator => 4,
        }
    }
}

/// Everything needed to open a session. Secrets are wiped on drop and never
/// printed by `Debug`.
#[derive(Clone)]
pub struct Config {
    /// Host name or IP address of the BMC.
    pub host: String,
    /// UDP port, 623 by default.
    pub port: u16,
    pub username: String,
    pub password: Zeroizing<Vec<u8>>,
    /// BMC key (two-key login, 13.31); the password is used when absent.
    pub kg: Option<Zeroizing<Vec<u8>>>,
    /// Requested privilege, Administrator by default.
    pub privilege: Privilege,
    /// A fixed cipher suite; when `None` the strongest one the BMC lists.
    pub cipher_suite: Option<u8>,
    /// Allow cipher suite 0 and null user names (CVE-2013-4782).
    pub insecure: bool,
    /// Wait for an answer this long before the first retransmit; doubled
    /// (up to 4x) on each further retransmit.
    pub timeout: Duration,
    /// Transmissions per request, first one included.
    pub tries: u32,
}

impl Config {
    pub fn new(
        host: impl Into<String>,
        username: impl Into<String>,
        password: impl AsRef<[u8]>,
    ) -> Self {
        Config {
            host: host.into(),
            port: 623,
            username: username.into(),
            password: Zeroizing::new(password.as_ref().to_vec()),
            kg: None,
            privilege: Privilege::Administrator,
            cipher_suite: None,
            insecure: false,
            timeout: Duration::from_millis(1000),
            tries: 4,
        }
    }
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }
    pub fn privilege(mut self, p: Privilege) -> Self {
        self.privilege = p;
        self
    }
    pub fn cipher_suite(mut self, id: u8) -> Self {
        self.cipher_suite = Some(id);
        self
    }
    pub fn kg(mut self, kg: impl AsRef<[u8]>) -> Self {
        self.kg = Some(Zeroizing::new(kg.as_ref().to_vec()));
        self
    }
    pub fn insecure(mut self, yes: bool) -> Self {
        self.insecure = yes;
        self
    }
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }
    pub fn tries(mut self, n: u32) -> Self {
        self.tries = n.max(1);
        self
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("kg", &self.kg.as_ref().map(|_| "<redacted>"))
            .field("privilege", &self.privilege)
            .field("cipher_suite", &self.cipher_suite)
            .field("insecure", &self.insecure)
            .field("timeout", &self.timeout)
            .field("tries", &self.tries)
            .finish()
    }
}
