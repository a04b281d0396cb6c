//! Tasks' secrets on their way to a site agent across a broker: sealed to
//! the site's registered agent key before publishing, so the broker never
//! holds a BMC or console password in clear. In-process (`ironrack serve`)
//! tasks never leave the process and keep their secrets in clear.
//!
//! A site without a registered key cannot receive secrets: requests that
//! would need one are refused before a task is written, with the commands
//! that fix it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use ironrack_bus::TaskRequest;
use ironrack_seal::{PublicKey, Sealer};
use ironrack_store::{Store, StoreError};

use crate::{AppState, Problem};

/// How long a looked-up site key is used before it is read again. The
/// controller that registers a key forgets the old one at once; this only
/// bounds how long another controller process would go on with it.
const FRESH: Duration = Duration::from_secs(10);

/// How long one key encapsulation seals secrets before a new one is made.
const SEALER_LIFE: Duration = Duration::from_secs(300);

/// A site's registered key and the encapsulation secrets are sealed with.
pub(crate) struct SiteKey {
    public: PublicKey,
    sealer: Sealer,
    made: Instant,
}

impl SiteKey {
    fn new(public: PublicKey) -> Result<SiteKey, ironrack_seal::SealError> {
        Ok(SiteKey {
            sealer: public.sealer()?,
            public,
            made: Instant::now(),
        })
    }
}

/// A site's key (or its absence) and when it was read.
type Known = (Instant, Option<Arc<SiteKey>>);

/// Parsed site keys by site name, with their sealers, so that publishing
/// costs no database read, key parsing or X25519 work per task.
#[derive(Default)]
pub(crate) struct SiteKeys {
    cache: Mutex<HashMap<String, Known>>,
}

impl SiteKeys {
    async fn get(&self, store: &Store, site: &str) -> Result<Option<Arc<SiteKey>>, StoreError> {
        let previous = self.lock().get(site).cloned();
        if let Some((at, key)) = &previous
            && at.elapsed() < FRESH
            && key.as_ref().is_none_or(|k| k.made.elapsed() < SEALER_LIFE)
        {
            return Ok(key.clone());
        }
        let public = match store.site_by_name(site).await? {
            Some(s) => s.agent_key.as_deref().and_then(|text| match PublicKey::parse(text) {
                Ok(k) => Some(k),
                Err(e) => {
                    // Checked when registered; only a hand-edited row gets here.
                    tracing::error!(site, error = %e, "the site's stored agent key is unusable");
                    None
                }
            }),
            None => None,
        };
        let key = match public {
            // The same key with a sealer still young: keep the sealer.
            Some(public)
                if previous
                    .as_ref()
                    .and_then(|(_, k)| k.as_ref())
                    .is_some_and(|k| k.public == public && k.made.elapsed() < SEALER_LIFE) =>
            {
                previous.and_then(|(_, k)| k)
            }
            Some(public) => match SiteKey::new(public) {
                Ok(k) => Some(Arc::new(k)),
                Err(e) => {
                    tracing::error!(site, error = %e, "cannot seal to the site's agent key");
                    None
                }
            },
            None => None,
        };
        self.lock()
            .insert(site.to_owned(), (Instant::now(), key.clone()));
        Ok(key)
    }

    /// Drops what is known of `site`'s key (it was just replaced).
    pub(crate) fn forget(&self, site: &str) {
        self.lock().remove(site);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Known>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Why a task's secrets cannot go to its site.
#[derive(Debug)]
pub(crate) enum Unsealed {
    /// The site has no registered agent key.
    NoKey(String),
    Store(StoreError),
    Seal(ironrack_bus::SecretError),
}

impl Unsealed {
    pub(crate) fn into_problem(self) -> Problem {
        match self {
            Unsealed::NoKey(site) => Problem::new(StatusCode::CONFLICT, no_key_text(&site)),
            Unsealed::Store(e) => e.into(),
            Unsealed::Seal(e) => {
                tracing::error!(error = %e, "sealing a task's secrets failed");
                Problem::internal()
            }
        }
    }
}

/// What an admin reads when a site cannot get secrets: what is wrong and
/// the two commands that fix it.
pub(crate) fn no_key_text(site: &str) -> String {
    format!(
        "site `{site}` has no agent key registered, so no BMC password can be sent to its agent: \
         on the agent's host run `ironrack agent keygen --key-file PATH` (the agent's \
         --key-file) and register the key it prints with `ironrack site agent-key {site} KEY`"
    )
}

impl AppState {
    /// Whether tasks leave the process, so that their secrets must be sealed.
    pub(crate) fn seals_secrets(&self) -> bool {
        !self.tasks.in_process()
    }

    /// Seals the request's secrets to its site's agent key (nothing to do
    /// in-process or without secrets).
    pub(crate) async fn seal_secrets(&self, req: &mut TaskRequest) -> Result<(), Unsealed> {
        if !self.seals_secrets() || !req.has_plain_secrets() {
            return Ok(());
        }
        let key = self
            .site_keys
            .get(&self.store, &req.site)
            .await
            .map_err(Unsealed::Store)?
            .ok_or_else(|| Unsealed::NoKey(req.site.clone()))?;
        req.seal_secrets(&key.sealer).map_err(Unsealed::Seal)
    }

    /// Before writing a task that will carry secrets to `site`: refuses
    /// when they could not be sealed, so no task is left that cannot run.
    pub(crate) async fn check_secrets_can_go(
        &self,
        site: &str,
        has_secrets: bool,
    ) -> Result<(), Problem> {
        if !self.seals_secrets() || !has_secrets {
            return Ok(());
        }
        match self.site_keys.get(&self.store, site).await? {
            Some(_) => Ok(()),
            None => Err(Unsealed::NoKey(site.to_owned()).into_problem()),
        }
    }
}
