//! Reading names and secrets: from standard input lines for scripts, or from
//! prompts on the terminal (secrets without echo).

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::process::{Command, Stdio};

use anyhow::{Context as _, bail};

/// Whether secrets should come from standard input lines rather than prompts.
pub fn use_stdin(asked: bool) -> bool {
    asked || !std::io::stdin().is_terminal()
}

/// One line of standard input, without its line ending.
pub fn stdin_line(what: &str) -> anyhow::Result<String> {
    let mut line = String::new();
    let n = std::io::stdin()
        .lock()
        .read_line(&mut line)
        .with_context(|| format!("cannot read the {what} from standard input"))?;
    if n == 0 {
        bail!("expected the {what} on standard input, got end of input");
    }
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

/// Asks for a visible value on the terminal.
pub fn ask(prompt: &str) -> anyhow::Result<String> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "cannot ask for the {}: standard input is not a terminal",
            prompt.to_lowercase()
        );
    }
    eprint!("{prompt}: ");
    std::io::stderr().flush().ok();
    stdin_line(prompt)
}

/// A secret: the next standard input line when `from_stdin`, else a prompt without echo.
pub async fn secret(prompt: &str, from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin {
        stdin_line(prompt)
    } else {
        hidden(prompt).await
    }
}

/// A new secret, asked twice when prompting.
pub async fn new_secret(prompt: &str, from_stdin: bool) -> anyhow::Result<String> {
    let first = secret(prompt, from_stdin).await?;
    if !from_stdin && hidden(&format!("{prompt} (again)")).await? != first {
        bail!("the two entries differ");
    }
    Ok(first)
}

/// Reads a line from /dev/tty with echo turned off by `stty`. Ctrl-C restores the
/// echo before giving up, so the terminal is never left silent.
async fn hidden(prompt: &str) -> anyhow::Result<String> {
    let tty = std::fs::File::open("/dev/tty").context("cannot open the terminal")?;
    let stty = |arg: &str| -> anyhow::Result<()> {
        let status = Command::new("stty")
            .arg(arg)
            .stdin(Stdio::from(tty.try_clone()?))
            .stderr(Stdio::null())
            .status()
            .context("cannot run stty")?;
        anyhow::ensure!(status.success(), "stty {arg} failed");
        Ok(())
    };
    struct Echo<F: Fn(&str) -> anyhow::Result<()>>(F);
    impl<F: Fn(&str) -> anyhow::Result<()>> Drop for Echo<F> {
        fn drop(&mut self) {
            let _ = (self.0)("echo");
            eprintln!();
        }
    }

    eprint!("{prompt}: ");
    std::io::stderr().flush().ok();
    stty("-echo")?;
    let _restore = Echo(stty);
    // A plain thread, not spawn_blocking: the runtime would wait for it at exit.
    let (tx, rx) = tokio::sync::oneshot::channel();
    let reader = tty.try_clone()?;
    std::thread::spawn(move || {
        let mut line = String::new();
        let res = std::io::BufReader::new(reader)
            .read_line(&mut line)
            .map(|_| line);
        let _ = tx.send(res);
    });
    tokio::select! {
        res = rx => {
            let line = res.context("the terminal reader stopped")??;
            Ok(line.trim_end_matches(['\n', '\r']).to_string())
        }
        _ = tokio::signal::ctrl_c() => bail!("interrupted"),
    }
}
