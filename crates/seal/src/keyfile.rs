//! The agent's key file: base64 of the 32-byte X25519 private key, mode
//! 0600, created on first use. A file that group or others may read is
//! refused rather than used: the key opens every BMC password of the site.

use std::io::Write;
use std::path::Path;

use zeroize::Zeroizing;

use crate::AgentKey;

#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("agent key file {path}: {error}")]
    Io { path: String, error: std::io::Error },
    #[error(
        "agent key file {path} is accessible by group or others (mode {mode:03o}); \
         it holds the key that opens the site's BMC passwords: run `chmod 600 {path}`"
    )]
    Exposed { path: String, mode: u32 },
    #[error(
        "agent key file {path} does not hold an ironrack agent key \
         (expected one line of base64, as `ironrack agent keygen` writes)"
    )]
    Malformed { path: String },
}

/// Reads the key at `path`, or creates it (mode 0600) if there is no file.
/// The flag says whether it was created.
pub fn load_or_create(path: &Path) -> Result<(AgentKey, bool), KeyFileError> {
    match load(path) {
        Err(KeyFileError::Io { error, .. }) if error.kind() == std::io::ErrorKind::NotFound => {}
        other => return other.map(|k| (k, false)),
    }
    let key = AgentKey::generate();
    let io = |error| KeyFileError::Io {
        path: path.display().to_string(),
        error,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = match options.open(path) {
        Ok(f) => f,
        // Another process created it meanwhile: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return load(path).map(|k| (k, false));
        }
        Err(e) => return Err(io(e)),
    };
    let mut text = key.to_base64();
    text.push('\n');
    file.write_all(text.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    Ok((key, true))
}

/// Reads an existing key file.
pub fn load(path: &Path) -> Result<AgentKey, KeyFileError> {
    let shown = || path.display().to_string();
    let io = |error| KeyFileError::Io {
        path: shown(),
        error,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    #[cfg(unix)]
    {
        let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyFileError::Exposed {
                path: shown(),
                mode,
            });
        }
    }
    if !meta.is_file() {
        return Err(KeyFileError::Malformed { path: shown() });
    }
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(io)?);
    AgentKey::from_base64(&text).ok_or(KeyFileError::Malformed { path: shown() })
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("ironrack-seal-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn created_once_with_mode_0600_then_reused() {
        let dir = temp_dir("create");
        let path = dir.join("agent.key");
        let (key, created) = load_or_create(&path).unwrap();
        assert!(created);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let (again, created) = load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(again.public(), key.public());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_exposed_or_foreign_file_is_refused() {
        let dir = temp_dir("refuse");
        let path = dir.join("agent.key");
        load_or_create(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let err = load_or_create(&path).unwrap_err().to_string();
        assert!(
            err.contains("mode 640") && err.contains("chmod 600"),
            "{err}"
        );

        let other = dir.join("other.key");
        std::fs::write(&other, "hello\n").unwrap();
        std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o600)).unwrap();
        let err = load(&other).unwrap_err().to_string();
        assert!(err.contains("does not hold an ironrack agent key"), "{err}");

        let err = load_or_create(&dir.join("missing-dir/agent.key"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing-dir/agent.key"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
