//! `ironrack ipmi sol activate`: the host's serial console on this
//! terminal. `~.` at the start of a line quits, `~~` sends one `~` (the
//! escapes of ipmitool and ssh).

use std::io::{IsTerminal, Read, Write};
use std::process::{Command, Stdio};

use anyhow::Context;
use ironrack_ipmi::{Config, Session};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// The escape state machine over keystrokes.
#[derive(Debug)]
pub struct Escape {
    line_start: bool,
    tilde: bool,
}

impl Default for Escape {
    fn default() -> Self {
        Escape {
            line_start: true,
            tilde: false,
        }
    }
}

impl Escape {
    /// Bytes to send to the host, and whether the user asked to quit.
    pub fn feed(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            if self.tilde {
                self.tilde = false;
                match b {
                    b'.' => return (out, true),
                    b'~' => {
                        out.push(b'~');
                        self.line_start = false;
                        continue;
                    }
                    _ => out.push(b'~'),
                }
            } else if self.line_start && b == b'~' {
                self.tilde = true;
                continue;
            }
            out.push(b);
            self.line_start = b == b'\r' || b == b'\n';
        }
        (out, false)
    }
}

/// Puts the controlling terminal in raw mode (via stty, no unsafe code)
/// and restores it on drop.
struct RawTerminal {
    saved: Option<String>,
}

fn stty(args: &[&str]) -> Option<String> {
    let tty = std::fs::File::open("/dev/tty").ok()?;
    let out = Command::new("stty")
        .args(args)
        .stdin(tty)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

impl RawTerminal {
    fn enter() -> RawTerminal {
        if !std::io::stdin().is_terminal() {
            return RawTerminal { saved: None };
        }
        let saved = stty(&["-g"]);
        if saved.is_some() {
            stty(&["raw", "-echo"]);
        }
        RawTerminal { saved }
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        if let Some(s) = &self.saved {
            stty(&[s]);
        }
    }
}

pub async fn activate(cfg: Config) -> anyhow::Result<()> {
    let target = format!("{}:{}", cfg.host, cfg.port);
    let session = Session::connect(cfg).await.context(target.clone())?;
    let mut console = session.sol_activate(1).await.context(target)?;
    println!("[SOL Session operational.  Use ~? for help]");
    let raw = RawTerminal::enter();
    // Stdin on a plain thread: a blocked read must not keep the runtime
    // alive at exit.
    let (tx, mut keys) = mpsc::channel::<Vec<u8>>(16);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buf = [0u8; 1024];
        while let Ok(n) = stdin.read(&mut buf) {
            if n == 0 || tx.blocking_send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut esc = Escape::default();
    let mut buf = vec![0u8; 4096];
    let mut stdout = std::io::stdout();
    let mut quit = false;
    let mut stdin_open = true;
    loop {
        tokio::select! {
            k = keys.recv(), if stdin_open => match k {
                Some(k) => {
                    let (send, q) = esc.feed(&k);
                    console.write_all(&send).await?;
                    if q {
                        quit = true;
                        break;
                    }
                }
                // End of input: keep showing output until the host or the
                // BMC ends the console (or ~. on a terminal).
                None => stdin_open = false,
            },
            r = console.read(&mut buf) => match r {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    stdout.write_all(&buf[..n])?;
                    stdout.flush()?;
                }
            },
        }
    }
    drop(raw);
    let r = console.close().await;
    if quit {
        println!("\r\n[terminated ironrack]");
    } else {
        println!("\r\n[SOL session closed by BMC]");
    }
    r.map_err(Into::into)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tilde_dot_quits_only_at_line_start() {
        let mut e = Escape::default();
        assert_eq!(e.feed(b"ls ~/x\r"), (b"ls ~/x\r".to_vec(), false));
        assert_eq!(e.feed(b"~~a"), (b"~a".to_vec(), false));
        assert_eq!(e.feed(b"\r~"), (b"\r".to_vec(), false));
        assert_eq!(e.feed(b"x"), (b"~x".to_vec(), false));
        assert_eq!(e.feed(b"\n~.rest"), (b"\n".to_vec(), true));
        assert!(Escape::default().feed(b"~.").1);
    }
}
