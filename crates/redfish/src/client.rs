//! The thin I/O layer: reqwest requests built from `model`'s pieces.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::model::{
    self, BootOverride, BootSettings, PowerRequest, PowerState, System, VirtualMedia,
};
use crate::{Error, Tls, tls};

/// How to reach one BMC.
#[derive(Clone)]
pub struct Config {
    /// `https`, or `http` for emulators.
    pub scheme: String,
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: String,
    pub tls: Tls,
    /// The system to act on when the BMC manages several.
    pub system_id: Option<String>,
    /// Limit for one request, connection included.
    pub timeout: Duration,
    /// How long to wait for a reset to show in `PowerState`.
    pub settle: Duration,
    /// Pause between state polls while waiting.
    pub poll_every: Duration,
}

impl Config {
    pub fn new(host: &str, port: u16, username: &str, password: &str) -> Config {
        Config {
            scheme: "https".into(),
            host: host.into(),
            port,
            username: username.into(),
            password: password.into(),
            tls: Tls::Verify,
            system_id: None,
            timeout: Duration::from_secs(30),
            // sushy-tools shows a reset 1–11 s later; real BMCs vary too.
            settle: Duration::from_secs(30),
            poll_every: Duration::from_secs(1),
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("scheme", &self.scheme)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("tls", &self.tls)
            .field("system_id", &self.system_id)
            .field("timeout", &self.timeout)
            .field("settle", &self.settle)
            .finish()
    }
}

/// A client for one BMC.
pub struct Client {
    http: reqwest::Client,
    base: String,
    cfg: Config,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("cfg", &self.cfg).finish()
    }
}

/// An error's message and its sources', without repeats.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur = Some(e);
    while let Some(err) = cur {
        let s = err.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = err.source();
    }
    parts.join(": ")
}

impl Client {
    pub fn new(cfg: Config) -> Result<Client, Error> {
        let base = model::base_url(&cfg.scheme, &cfg.host, cfg.port)?;
        let mut b = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout.min(Duration::from_secs(10)))
            // Credentials go to the BMC only, never where it redirects.
            .redirect(reqwest::redirect::Policy::none());
        if let Some(tls) = tls::client_config(cfg.tls)? {
            b = b.use_preconfigured_tls(tls);
        }
        let http = b
            .build()
            .map_err(|e| Error::Invalid(format!("HTTP client setup: {}", chain(&e))))?;
        Ok(Client { http, base, cfg })
    }

    fn transport_error(&self, e: reqwest::Error) -> Error {
        if let Some(m) = tls::find_pin_mismatch(&e) {
            return Error::Tls(m);
        }
        let text = chain(&e);
        if e.is_timeout() {
            return Error::Unreachable {
                url: self.base.clone(),
                reason: format!("no answer within {} s", self.cfg.timeout.as_secs_f32()),
            };
        }
        if text.contains("certificate") || text.contains("InvalidCertificate") {
            return Error::Tls(format!(
                "{text} (set option tls_fingerprint to pin this BMC's certificate)"
            ));
        }
        Error::Unreachable {
            url: self.base.clone(),
            reason: text,
        }
    }

    /// One request; error statuses become errors carrying the BMC's message.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Vec<u8>, Error> {
        let url = model::resource_url(&self.base, path)?;
        let mut req = self
            .http
            .request(method.clone(), &url)
            .basic_auth(&self.cfg.username, Some(&self.cfg.password))
            .header("Accept", "application/json")
            .header("OData-Version", "4.0");
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| self.transport_error(e))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| self.transport_error(e))?;
        if status.is_success() {
            return Ok(bytes.to_vec());
        }
        let message = model::error_message(&bytes);
        let method = match method {
            Method::GET => "GET",
            Method::POST => "POST",
            Method::PATCH => "PATCH",
            _ => "request",
        };
        Err(match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Error::Auth {
                status: status.as_u16(),
                path: path.to_owned(),
                message,
            },
            _ => Error::Http {
                status: status.as_u16(),
                method,
                path: path.to_owned(),
                message,
            },
        })
    }

    /// GET a resource as JSON.
    pub async fn get_json(&self, path: &str) -> Result<Value, Error> {
        let bytes = self.send(Method::GET, path, None).await?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::Protocol(format!("{path} is not JSON: {e}")))
    }

    /// The ComputerSystem: the only one, or the one named by `system_id`.
    pub async fn system(&self) -> Result<System, Error> {
        let systems = self.get_json(model::SYSTEMS).await?;
        let path = model::pick_system(&model::members(&systems), self.cfg.system_id.as_deref())?;
        System::parse(&path, &self.get_json(&path).await?)
    }

    async fn reread(&self, sys: &System) -> Result<System, Error> {
        System::parse(&sys.odata_id, &self.get_json(&sys.odata_id).await?)
    }

    pub async fn power_state(&self) -> Result<Option<PowerState>, Error> {
        Ok(self.system().await?.power)
    }

    /// Poll until the system shows `want` or `settle` passes; the last
    /// state seen, and whether it is `want`.
    async fn wait_for(
        &self,
        sys: &System,
        want: PowerState,
    ) -> Result<(Option<PowerState>, bool), Error> {
        let deadline = Instant::now() + self.cfg.settle;
        loop {
            let now = self.reread(sys).await?.power;
            if now == Some(want) || Instant::now() >= deadline {
                return Ok((now, now == Some(want)));
            }
            tokio::time::sleep(self.cfg.poll_every).await;
        }
    }

    /// Carry out a power request and wait until the state shows it. A
    /// reset the BMC accepted is not failed for being slow: the state then
    /// seen is returned. Only a step that the next depends on (off before
    /// on, for a cycle without `PowerCycle`) must settle.
    pub async fn power(&self, req: PowerRequest) -> Result<Option<PowerState>, Error> {
        let sys = self.system().await?;
        let plan = model::reset_plan(req, sys.power, sys.allowed_resets.as_deref())?;
        let mut state = sys.power;
        for (i, reset) in plan.iter().enumerate() {
            tracing::debug!(system = %sys.odata_id, reset = reset.as_str(), "Redfish reset");
            self.send(Method::POST, &sys.reset_target, Some(&reset.body()))
                .await?;
            let Some(want) = reset.resulting_state() else {
                state = self.reread(&sys).await?.power;
                continue;
            };
            let (now, reached) = self.wait_for(&sys, want).await?;
            state = now;
            if !reached && i + 1 < plan.len() {
                return Err(Error::NotSettled(format!(
                    "{} was accepted but the system still shows {:?} after {} s; not going on",
                    reset.as_str(),
                    now,
                    self.cfg.settle.as_secs()
                )));
            }
        }
        Ok(state)
    }

    /// The boot override as the system reports it.
    pub async fn boot(&self) -> Result<BootSettings, Error> {
        Ok(self.system().await?.boot)
    }

    /// Set a boot override and return it as read back.
    pub async fn set_boot(&self, o: BootOverride) -> Result<BootSettings, Error> {
        let sys = self.system().await?;
        let patch = sys.boot_patch(o)?;
        self.send(Method::PATCH, &sys.odata_id, Some(&patch))
            .await?;
        Ok(self.reread(&sys).await?.boot)
    }

    /// The VirtualMedia collection: linked from the system, else from its
    /// managers (older services).
    async fn virtual_media_collection(&self, sys: &System) -> Result<String, Error> {
        if let Some(c) = &sys.virtual_media {
            return Ok(c.clone());
        }
        for m in &sys.managers {
            match self.get_json(m).await {
                Ok(manager) => {
                    if let Some(c) = model::manager_virtual_media(&manager) {
                        return Ok(c);
                    }
                }
                Err(Error::Http { status: 404, .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Err(Error::NoVirtualMedia(format!(
            "neither {} nor its managers link one",
            sys.odata_id
        )))
    }

    /// The first CD/DVD device.
    async fn cd_device(&self) -> Result<VirtualMedia, Error> {
        let sys = self.system().await?;
        let coll = self.virtual_media_collection(&sys).await?;
        let members = match self.get_json(&coll).await {
            Ok(v) => model::members(&v),
            Err(Error::Http { status: 404, .. }) => {
                return Err(Error::NoVirtualMedia(format!("{coll} answers 404")));
            }
            Err(e) => return Err(e),
        };
        for m in &members {
            let dev = VirtualMedia::parse(m, &self.get_json(m).await?);
            if dev.is_cd() {
                return Ok(dev);
            }
        }
        Err(Error::NoVirtualMedia(format!(
            "{coll} has no CD/DVD device"
        )))
    }

    async fn read_media(&self, dev: &VirtualMedia) -> Result<VirtualMedia, Error> {
        Ok(VirtualMedia::parse(
            &dev.odata_id,
            &self.get_json(&dev.odata_id).await?,
        ))
    }

    /// Insert an image (a URL the BMC fetches) into the virtual CD.
    pub async fn insert_media(&self, image: &str) -> Result<VirtualMedia, Error> {
        model::check_image_url(image)?;
        let dev = self.cd_device().await?;
        let body = model::insert_body(image);
        match &dev.insert_target {
            Some(t) => self.send(Method::POST, t, Some(&body)).await?,
            // Older services: PATCH the device itself.
            None => self.send(Method::PATCH, &dev.odata_id, Some(&body)).await?,
        };
        self.read_media(&dev).await
    }

    /// Eject whatever is in the virtual CD.
    pub async fn eject_media(&self) -> Result<VirtualMedia, Error> {
        let dev = self.cd_device().await?;
        match &dev.eject_target {
            Some(t) => {
                self.send(Method::POST, t, Some(&serde_json::json!({})))
                    .await?
            }
            None => {
                let body = serde_json::json!({ "Image": null, "Inserted": false });
                self.send(Method::PATCH, &dev.odata_id, Some(&body)).await?
            }
        };
        self.read_media(&dev).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_password() {
        let cfg = Config::new("10.0.0.1", 443, "root", "hunter2");
        let client = Client::new(cfg.clone()).unwrap();
        for s in [format!("{cfg:?}"), format!("{client:?}")] {
            assert!(
                !s.contains("hunter2") && s.contains("<redacted>") && s.contains("root"),
                "{s}"
            );
        }
    }

    #[test]
    fn refuses_bad_settings() {
        let mut cfg = Config::new("10.0.0.1", 443, "root", "pw");
        cfg.scheme = "gopher".into();
        assert!(matches!(Client::new(cfg), Err(Error::Invalid(_))));
    }
}
