//! Secrets in task messages (the BMC password, a console's VNC password...).
//!
//! A [`Secret`] is in clear only inside one process: its `Serialize` refuses
//! the clear form, so no transport that encodes messages can carry one. The
//! controller seals every secret of a [`TaskRequest`] to the site agent's
//! key before a broker sees it ([`TaskRequest::seal_secrets`]); the agent
//! opens them ([`TaskRequest::open_secrets`]) before any driver runs. The
//! associated data binds each sealed secret to its name, the task, the
//! server, the site and the BMC it is for, so a sealed password copied into
//! another message (another server's task, another BMC address) does not
//! open.

use ironrack_seal::{AgentKey, OpenError, Seal, Sealed};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::TaskRequest;

/// A secret travelling to a site agent.
#[derive(Clone)]
pub enum Secret {
    /// In clear: only within this process (`ironrack serve`, or after the
    /// agent opened it). Serializing it fails.
    Plain(Zeroizing<String>),
    /// Sealed to a site agent's key: the only form on a broker.
    Sealed(Sealed),
}

impl Secret {
    /// The text, if in clear.
    pub fn plain(&self) -> Option<&str> {
        match self {
            Secret::Plain(text) => Some(text),
            Secret::Sealed(_) => None,
        }
    }
}

impl From<&str> for Secret {
    fn from(text: &str) -> Secret {
        Secret::Plain(Zeroizing::new(text.to_owned()))
    }
}

impl From<String> for Secret {
    fn from(text: String) -> Secret {
        Secret::Plain(Zeroizing::new(text))
    }
}

impl From<Zeroizing<String>> for Secret {
    fn from(text: Zeroizing<String>) -> Secret {
        Secret::Plain(text)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secret::Plain(_) => f.write_str("<redacted>"),
            Secret::Sealed(s) => write!(f, "<sealed to {}>", s.sealed_to),
        }
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Secret::Sealed(sealed) => sealed.serialize(s),
            Secret::Plain(_) => Err(serde::ser::Error::custom(
                "a secret in clear cannot leave the process: seal it to the site agent's key",
            )),
        }
    }
}

impl<'de> Deserialize<'de> for Secret {
    /// Only the sealed form exists on the wire.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        Sealed::deserialize(d).map(Secret::Sealed)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("sealing {what} failed: {detail}")]
    Seal { what: String, detail: String },
    #[error(
        "{what} is sealed to key {sealed_to}, this agent has key {ours}: register this agent's \
         key on site `{site}` (the agent logs it at start; `ironrack site agent-key {site} KEY`)"
    )]
    OtherKey {
        what: String,
        sealed_to: String,
        ours: String,
        site: String,
    },
    #[error("{what} does not open: altered, or sealed for another task, server or BMC")]
    Invalid { what: String },
    #[error("{what} is sealed, but this agent has no key to open it")]
    NoAgentKey { what: String },
}

/// The name of the BMC password in associated data and errors.
const PASSWORD: &str = "the BMC password";

impl TaskRequest {
    /// Whether any secret is still in clear.
    pub fn has_plain_secrets(&self) -> bool {
        self.secrets().any(|(_, s)| matches!(s, Secret::Plain(_)))
    }

    fn secrets(&self) -> impl Iterator<Item = (String, &Secret)> {
        let password = self.bmc.password.iter().map(|s| (PASSWORD.to_owned(), s));
        let others = self
            .bmc
            .secrets
            .iter()
            .map(|(name, s)| (format!("secret `{name}`"), s));
        password.chain(others)
    }

    /// Seals every secret in clear to `key` (the site agent's public key,
    /// or a `Sealer` kept for it).
    pub fn seal_secrets(&mut self, key: &impl Seal) -> Result<(), SecretError> {
        let context = self.context();
        let seal = |what: &str, secret: &mut Secret| -> Result<(), SecretError> {
            if let Secret::Plain(text) = secret {
                let sealed =
                    key.seal(text, &aad(&context, what))
                        .map_err(|e| SecretError::Seal {
                            what: what.to_owned(),
                            detail: e.to_string(),
                        })?;
                *secret = Secret::Sealed(sealed);
            }
            Ok(())
        };
        if let Some(pw) = self.bmc.password.as_mut() {
            seal(PASSWORD, pw)?;
        }
        for (name, secret) in self.bmc.secrets.iter_mut() {
            seal(&format!("secret `{name}`"), secret)?;
        }
        Ok(())
    }

    /// Opens every sealed secret with the agent's key (`None`: an agent
    /// without one, which can only use secrets in clear).
    pub fn open_secrets(&mut self, key: Option<&AgentKey>) -> Result<(), SecretError> {
        self.open_secrets_among(key, &[])
    }

    /// As [`TaskRequest::open_secrets`], also with keys the agent had
    /// before a rotation: a secret sealed to one of those (a task queued
    /// before the new key was registered) opens with it.
    pub fn open_secrets_among(
        &mut self,
        key: Option<&AgentKey>,
        previous: &[std::sync::Arc<AgentKey>],
    ) -> Result<(), SecretError> {
        let context = self.context();
        let site = self.site.clone();
        let open = |what: &str, secret: &mut Secret| -> Result<(), SecretError> {
            let Secret::Sealed(sealed) = secret else {
                return Ok(());
            };
            let key = previous
                .iter()
                .map(|k| k.as_ref())
                .find(|k| k.public().fingerprint() == sealed.sealed_to)
                .or(key)
                .ok_or_else(|| SecretError::NoAgentKey {
                    what: what.to_owned(),
                })?;
            let text = key
                .open(sealed, &aad(&context, what))
                .map_err(|e| match e {
                    OpenError::OtherKey { sealed_to, ours } => SecretError::OtherKey {
                        what: what.to_owned(),
                        sealed_to,
                        ours,
                        site: site.clone(),
                    },
                    OpenError::Invalid => SecretError::Invalid {
                        what: what.to_owned(),
                    },
                })?;
            *secret = Secret::Plain(text);
            Ok(())
        };
        if let Some(pw) = self.bmc.password.as_mut() {
            open(PASSWORD, pw)?;
        }
        for (name, secret) in self.bmc.secrets.iter_mut() {
            open(&format!("secret `{name}`"), secret)?;
        }
        Ok(())
    }

    /// What every secret of this request is bound to: the task, the server,
    /// the site, and the BMC the secret will be sent to. Each field is
    /// length-prefixed, so no two contexts encode alike.
    fn context(&self) -> Vec<u8> {
        let mut out = b"ironrack secret context v1".to_vec();
        let mut field = |bytes: &[u8]| {
            out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
            out.extend_from_slice(bytes);
        };
        field(self.site.as_bytes());
        field(self.kind.as_bytes());
        field(&self.task_id.to_be_bytes());
        field(&self.server_id.to_be_bytes());
        field(self.bmc.driver.as_bytes());
        field(self.bmc.address.as_bytes());
        field(&self.bmc.port.to_be_bytes());
        field(self.bmc.username.as_bytes());
        out
    }
}

/// The associated data of one secret: the request's context and its name.
fn aad(context: &[u8], what: &str) -> Vec<u8> {
    let mut out = context.to_vec();
    out.extend_from_slice(&(what.len() as u32).to_be_bytes());
    out.extend_from_slice(what.as_bytes());
    out
}
