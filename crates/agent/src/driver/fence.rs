//! The `fence:<agent>` driver: runs a ClusterLabs fence agent (fence_ipmilan,
//! fence_apc, ...) with the standard stdin protocol, one `key=value` line
//! per setting. The password goes only to the agent's stdin: never on its
//! command line, never in its environment, and it is cut out of any error
//! text the agent prints.
//!
//! Actions: on, off and status as they are; reset and cycle → `reboot`.
//! `soft` is refused: fence agents switch power hard, and turning a request
//! for a clean shutdown into a hard off would lose the customer's data.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use ironrack_bus::BmcTarget;
use ironrack_core::{PowerAction, PowerState};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::DriverError;

/// Requests in flight per BMC unless option `max_concurrent` says otherwise.
pub const DEFAULT_MAX_CONCURRENT: usize = 1;
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Where agents live when PATH does not have them (Debian's fence-agents).
const FALLBACK_DIR: &str = "/usr/sbin";
/// Error text kept from an agent's stderr.
const MAX_ERROR_TEXT: usize = 1000;

/// Options this driver consumes itself; never passed to the agent.
const OURS: [&str; 2] = ["timeout_s", "max_concurrent"];
/// Settings the driver sets from the BMC target (and their aliases in
/// fencing.py), so options cannot override them.
const SET_BY_US: [&str; 10] = [
    "action", "option", "ip", "ipaddr", "ipport", "username", "login", "password", "passwd",
    "nodename",
];

/// Why an option name is refused, if it is. fencing.py also reads options
/// that name programs or files to run or read (`ipmitool_path`,
/// `passwd_script`, `identity_file`, `ssh_options` with a ProxyCommand...):
/// whoever may edit a server's BMC options must not run commands on the
/// agent's host, so those are refused.
fn refuse_option(key: &str) -> Option<String> {
    if key.is_empty()
        || !key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Some(format!(
            "option name `{key}` must hold only lowercase letters, digits and `_`"
        ));
    }
    if SET_BY_US.contains(&key) {
        return Some(format!(
            "option `{key}` is set from the server's BMC address, port and credentials"
        ));
    }
    let dangerous = ["path", "script", "file", "passw", "debug", "exec"]
        .iter()
        .any(|w| key.contains(w))
        || key.ends_with("_options");
    dangerous.then(|| {
        format!(
            "option `{key}` could make the fence agent run or read other files; it is not allowed"
        )
    })
}

/// One stdin line. Values are quoted (fencing.py removes one pair of
/// quotes, so spaces at either end survive); a line break would start a
/// new setting, so it is refused.
fn line(out: &mut String, key: &str, value: &str) -> Result<(), DriverError> {
    if value.contains(['\n', '\r', '\0']) {
        let what = if key == "password" {
            "the BMC password".to_owned()
        } else {
            format!("option `{key}`")
        };
        return Err(DriverError::BadRequest(format!(
            "{what} contains a line break or NUL, which the fence agent protocol cannot carry"
        )));
    }
    out.push_str(key);
    out.push_str("=\"");
    out.push_str(value);
    out.push_str("\"\n");
    Ok(())
}

/// The agent's stdin for one action.
pub fn stdin_text(action: &str, bmc: &BmcTarget) -> Result<String, DriverError> {
    let mut out = String::new();
    line(&mut out, "action", action)?;
    line(&mut out, "ip", &bmc.address)?;
    line(&mut out, "ipport", &bmc.port.to_string())?;
    if !bmc.username.is_empty() {
        line(&mut out, "username", &bmc.username)?;
    }
    if let Some(pw) = bmc.plain_password() {
        line(&mut out, "password", pw)?;
    }
    let options = match &bmc.options {
        Value::Null => return Ok(out),
        Value::Object(m) => m,
        _ => {
            return Err(DriverError::BadRequest(
                "BMC options must be an object".into(),
            ));
        }
    };
    for (key, value) in options {
        if OURS.contains(&key.as_str()) || value.is_null() {
            continue;
        }
        if let Some(why) = refuse_option(key) {
            return Err(DriverError::BadRequest(why));
        }
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => if *b { "1" } else { "0" }.to_owned(),
            _ => {
                return Err(DriverError::BadRequest(format!(
                    "option `{key}` must be a string, number or boolean"
                )));
            }
        };
        line(&mut out, key, &text)?;
    }
    Ok(out)
}

/// `text` with every occurrence of the password replaced.
pub fn redact(text: &str, password: Option<&str>) -> String {
    match password {
        Some(pw) if !pw.is_empty() => text.replace(pw, "<redacted>"),
        _ => text.to_owned(),
    }
}

/// The agent's error text: stderr without timestamps and blank lines,
/// password removed, kept short.
fn error_text(stderr: &[u8], password: Option<&str>) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text
        .lines()
        .map(|l| {
            // fencing.py logs "2026-11-26 03:25:08,287 ERROR: ..."
            let b = l.as_bytes();
            let stamped = b.len() > 24 && b[4] == b'-' && b[10] == b' ' && b[19] == b',';
            if stamped {
                l[l[19..].find(' ').map_or(0, |i| 19 + i + 1)..].trim()
            } else {
                l.trim()
            }
        })
        .filter(|l| !l.is_empty())
        .collect();
    let joined = redact(&lines.join(" | "), password);
    if joined.is_empty() {
        return "(no message)".into();
    }
    match joined.char_indices().nth(MAX_ERROR_TEXT) {
        Some((i, _)) => format!("{}…", &joined[..i]),
        None => joined,
    }
}

/// The agent's executable: a plain name (checked by `BmcDriver::parse`)
/// looked up on PATH, then in /usr/sbin.
fn resolve(agent: &str) -> Result<PathBuf, DriverError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(std::iter::once(PathBuf::from(FALLBACK_DIR)))
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(agent))
        .find(|p| is_executable(p))
        .ok_or_else(|| {
            DriverError::Unsupported(format!(
                "fence agent `{agent}` is not installed on this agent's host (not on PATH nor in {FALLBACK_DIR}); on Debian: apt-get install fence-agents"
            ))
        })
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn timeout(bmc: &BmcTarget) -> Result<Duration, DriverError> {
    match bmc.options.get("timeout_s").filter(|v| !v.is_null()) {
        None => Ok(DEFAULT_TIMEOUT),
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            .filter(|n| (1..=600).contains(n))
            .map(Duration::from_secs)
            .ok_or_else(|| {
                DriverError::BadRequest("option `timeout_s` must be 1 to 600 seconds".into())
            }),
    }
}

/// Run the agent once; its exit code, or why it did not finish.
async fn run(agent: &str, action: &str, bmc: &BmcTarget) -> Result<(i32, String), DriverError> {
    let input = stdin_text(action, bmc)?;
    let limit = timeout(bmc)?;
    let program = resolve(agent)?;
    let pw = bmc.plain_password();
    let mut child = tokio::process::Command::new(&program)
        // A known environment: no inherited secrets, stable messages, and
        // no Python deprecation chatter in the error text.
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("LC_ALL", "C")
        .env("PYTHONWARNINGS", "ignore")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        // Its own process group, so a timeout also ends the programs it
        // started (ipmitool, ssh...).
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            DriverError::Unsupported(format!("cannot start {}: {e}", program.display()))
        })?;
    let pid = child.id();
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let errors = tokio::spawn(async move {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf).await;
        buf
    });
    let status = tokio::time::timeout(limit, async {
        // An agent that exits without reading all of stdin is judged by
        // its exit code, not by the broken pipe.
        let _ = stdin.write_all(input.as_bytes()).await;
        drop(stdin);
        child.wait().await
    })
    .await;
    let status = match status {
        Ok(s) => s.map_err(|e| DriverError::Bmc(format!("{agent}: {e}")))?,
        Err(_) => {
            // The leader is not reaped yet, so its group id is still ours.
            if let Some(pid) = pid {
                let _ = tokio::process::Command::new("kill")
                    .args(["-KILL", "--", &format!("-{pid}")])
                    .status()
                    .await;
            }
            let _ = child.kill().await;
            errors.abort();
            return Err(DriverError::Unreachable(format!(
                "{agent} did not finish within {} s and was killed (option `timeout_s`)",
                limit.as_secs()
            )));
        }
    };
    // A leftover grandchild could hold stderr open: do not wait for it long.
    let stderr = tokio::time::timeout(Duration::from_secs(5), errors)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let code = status.code().unwrap_or(-1);
    tracing::debug!(agent, action, code, "fence agent finished");
    Ok((code, error_text(&stderr, pw)))
}

fn failure(agent: &str, action: &str, code: i32, text: String) -> DriverError {
    let msg = format!("{agent} {action} failed (exit {code}): {text}");
    // fencing.py's words for a BMC that did not answer.
    if text.contains("Connection timed out") || text.contains("Unable to connect") {
        DriverError::Unreachable(msg)
    } else {
        DriverError::Bmc(msg)
    }
}

pub async fn power(
    agent: &str,
    bmc: &BmcTarget,
    action: PowerAction,
) -> Result<PowerState, DriverError> {
    let (verb, after) = match action {
        PowerAction::Status => ("status", None),
        PowerAction::On => ("on", Some(PowerState::On)),
        PowerAction::Off => ("off", Some(PowerState::Off)),
        PowerAction::Reset | PowerAction::Cycle => ("reboot", Some(PowerState::On)),
        PowerAction::Soft => {
            return Err(DriverError::Unsupported(format!(
                "fence agents have no graceful shutdown; {agent} can only switch power hard (use `off`)"
            )));
        }
    };
    let (code, text) = run(agent, verb, bmc).await?;
    match (after, code) {
        // fencing.py waits until the status shows the action's result.
        (Some(state), 0) => Ok(state),
        (None, 0) => Ok(PowerState::On),
        (None, 2) => Ok(PowerState::Off),
        _ => Err(failure(agent, verb, code, text)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn target(password: &str, options: Value) -> BmcTarget {
        BmcTarget {
            driver: "fence:fence_ipmilan".into(),
            address: "10.0.0.7".into(),
            port: 623,
            username: "ADMIN".into(),
            password: Some(password.into()),
            options,
            secrets: Default::default(),
        }
    }

    #[test]
    fn renders_the_stdin_protocol() {
        let bmc = target(
            " pass word ",
            json!({"lanplus": true, "cipher": 3, "method": "cycle", "plug": null, "timeout_s": 5, "max_concurrent": 1, "ssl": false}),
        );
        assert_eq!(
            stdin_text("status", &bmc).unwrap(),
            "action=\"status\"\nip=\"10.0.0.7\"\nipport=\"623\"\nusername=\"ADMIN\"\npassword=\" pass word \"\ncipher=\"3\"\nlanplus=\"1\"\nmethod=\"cycle\"\nssl=\"0\"\n"
        );
    }

    #[test]
    fn refuses_line_breaks_and_dangerous_options() {
        let e = stdin_text("on", &target("pw\naction=off", json!({}))).unwrap_err();
        assert!(
            matches!(&e, DriverError::BadRequest(m) if m.contains("BMC password contains a line break") && !m.contains("action=off")),
            "{e:?}"
        );
        let e = stdin_text("on", &target("pw", json!({"plug": "1\r\naction=off"}))).unwrap_err();
        assert!(
            matches!(&e, DriverError::BadRequest(m) if m.contains("option `plug`")),
            "{e:?}"
        );
        let mut bmc = target("pw", json!({}));
        bmc.address = "10.0.0.7\nipport=1".into();
        assert!(stdin_text("on", &bmc).is_err());

        for key in [
            "ipmitool_path",
            "passwd_script",
            "password_script",
            "identity_file",
            "ssh_options",
            "debug_file",
            "action",
            "ip",
            "password",
            "login",
            "Lanplus",
            "ipmitool-path",
            "",
        ] {
            let e = stdin_text("on", &target("pw", json!({ key: "x" }))).unwrap_err();
            assert!(matches!(e, DriverError::BadRequest(_)), "{key} accepted");
        }
        assert!(stdin_text("on", &target("pw", json!({"plug": ["a"]}))).is_err());
        assert!(stdin_text("on", &target("pw", json!(["x"]))).is_err());
    }

    #[test]
    fn error_text_is_redacted_and_tidy() {
        let stderr = b"2026-11-26 03:25:08,287 ERROR: Failed: login as ADMIN/s3cret refused\n\n\
            Traceback: password s3cret\n";
        let t = error_text(stderr, Some("s3cret"));
        assert_eq!(
            t,
            "ERROR: Failed: login as ADMIN/<redacted> refused | Traceback: password <redacted>"
        );
        assert_eq!(error_text(b"", Some("x")), "(no message)");
        assert_eq!(
            error_text(&[b'a'; 5000], None).chars().count(),
            MAX_ERROR_TEXT + 1
        );
        assert_eq!(redact("abc", Some("")), "abc");
    }

    #[test]
    fn options_and_resolution() {
        assert_eq!(timeout(&target("pw", json!({}))).unwrap(), DEFAULT_TIMEOUT);
        assert_eq!(
            timeout(&target("pw", json!({"timeout_s": "7"}))).unwrap(),
            Duration::from_secs(7)
        );
        assert!(timeout(&target("pw", json!({"timeout_s": 0}))).is_err());
        let e = resolve("fence_does_not_exist_here").unwrap_err();
        assert!(matches!(e, DriverError::Unsupported(m) if m.contains("fence-agents")));
    }
}
