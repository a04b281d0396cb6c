//! The client config file: the URL and token saved by `ironrack login`.

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};

pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";

#[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Config {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// An environment variable, treating an empty value as unset.
pub fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The config file path: `$IRONRACK_CONFIG`, else `$XDG_CONFIG_HOME/ironrack/config.toml`,
/// else `~/.config/ironrack/config.toml`.
pub fn path() -> anyhow::Result<PathBuf> {
    path_from(env_nonempty)
}

fn path_from(env: impl Fn(&str) -> Option<String>) -> anyhow::Result<PathBuf> {
    if let Some(p) = env("IRONRACK_CONFIG") {
        return Ok(PathBuf::from(p));
    }
    // The XDG spec says to ignore a relative XDG_CONFIG_HOME.
    let base = match env("XDG_CONFIG_HOME").filter(|p| Path::new(p).is_absolute()) {
        Some(xdg) => PathBuf::from(xdg),
        None => match env("HOME") {
            Some(home) => Path::new(&home).join(".config"),
            None => bail!("cannot find the config file: set IRONRACK_CONFIG or HOME"),
        },
    };
    Ok(base.join("ironrack").join("config.toml"))
}

impl Config {
    /// Reads the config; a missing file is an empty config.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text)
                .with_context(|| format!("invalid config file {}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// Writes the config readable by its owner only (it holds a token): a 0600 temp
    /// file renamed over the old one.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let tmp = path.with_extension("toml.tmp");
        let text = toml::to_string(self).context("cannot encode the config")?;
        let write = || -> std::io::Result<()> {
            let _ = std::fs::remove_file(&tmp);
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            // The umask cannot widen 0600, but make sure nothing else did.
            f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        };
        write().with_context(|| format!("cannot write {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn config_path_precedence() {
        let all = [
            ("IRONRACK_CONFIG", "/etc/x.toml"),
            ("XDG_CONFIG_HOME", "/xdg"),
            ("HOME", "/home/u"),
        ];
        assert_eq!(path_from(env(&all)).unwrap(), PathBuf::from("/etc/x.toml"));
        assert_eq!(
            path_from(env(&all[1..])).unwrap(),
            PathBuf::from("/xdg/ironrack/config.toml")
        );
        assert_eq!(
            path_from(env(&all[2..])).unwrap(),
            PathBuf::from("/home/u/.config/ironrack/config.toml")
        );
        let relative_xdg = [("XDG_CONFIG_HOME", "rel"), ("HOME", "/home/u")];
        assert_eq!(
            path_from(env(&relative_xdg)).unwrap(),
            PathBuf::from("/home/u/.config/ironrack/config.toml")
        );
        assert!(path_from(env(&[])).is_err());
    }

    #[test]
    fn save_and_load_with_mode_0600() {
        let dir = std::env::temp_dir().join(format!("ironrack-cfg-{}", std::process::id()));
        let path = dir.join("sub").join("config.toml");
        assert_eq!(Config::load(&path).unwrap(), Config::default());
        let cfg = Config {
            url: Some("http://h:1".into()),
            token: Some("s3cret".into()),
        };
        cfg.save(&path).unwrap();
        assert_eq!(Config::load(&path).unwrap(), cfg);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(r#"url = "http://h:1""#), "{text}");
        let logged_out = Config { token: None, ..cfg };
        logged_out.save(&path).unwrap();
        assert!(!std::fs::read_to_string(&path).unwrap().contains("token"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
