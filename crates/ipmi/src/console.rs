//! SOL console as an async byte stream: a task owns the session and pumps
//! bytes between a [`tokio::io::DuplexStream`] and the SOL state machine.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::client::Session;
use crate::cmd::Command;
use crate::cmd::app::GetDeviceId;
use crate::crypto::{ConfAlg, IntegrityAlg};
use crate::error::Error;
use crate::sol::{ActivateSol, DeactivateSol, SolState};
use crate::wire::PayloadType;

/// Keep the session alive while the console is quiet (ipmitool: 15 s);
/// the BMC is considered gone after three silent intervals.
const KEEPALIVE: Duration = Duration::from_secs(15);
/// Bytes buffered between the user and the SOL task, each way.
const PIPE: usize = 64 * 1024;

/// An active SOL console: read the host's serial output, write keystrokes.
/// Implements `AsyncRead + AsyncWrite`; reads return EOF when the BMC ends
/// the payload or the session dies. Finish with [`SolConsole::close`].
#[derive(Debug)]
pub struct SolConsole {
    io: DuplexStream,
    breaks: tokio::sync::mpsc::UnboundedSender<()>,
    task: JoinHandle<Result<(), Error>>,
}

impl SolConsole {
    /// Ask the BMC to send a serial break to the host (e.g. for a Linux
    /// SysRq). Breaks and keystrokes travel apart: the break follows the
    /// keystrokes the console task has already taken from the stream and
    /// precedes those it has not.
    pub fn send_break(&self) {
        let _ = self.breaks.send(());
    }

    /// Stop: flush pending keystrokes, deactivate the payload, close the
    /// session. Returns the error that ended the console early, if any.
    pub async fn close(self) -> Result<(), Error> {
        drop(self.io);
        match self.task.await {
            Ok(r) => r,
            Err(e) => Err(Error::Io(std::io::Error::other(e))),
        }
    }
}

impl AsyncRead for SolConsole {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl AsyncWrite for SolConsole {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

impl Session {
    /// Activate SOL instance `instance` (normally 1) and turn the session
    /// into a console. Fails with completion code 80h ("payload already
    /// active on another session") if someone else holds the console; see
    /// [`Session::sol_deactivate`].
    pub async fn sol_activate(mut self, instance: u8) -> Result<SolConsole, Error> {
        let suite = self.cipher_suite();
        let act = self
            .exec(&ActivateSol {
                instance,
                encrypt: suite.conf != ConfAlg::None,
                authenticate: suite.integrity != IntegrityAlg::None,
            })
            .await?;
        if act.port != self.peer().port() {
            // ipmitool refuses here; BMCs (ipmi_sim too) still answer on the
            // session's port, which is all we use.
            tracing::debug!(port = act.port, "BMC names another SOL port; ignored");
        }
        let (timeout, tries) = self.retry_policy();
        let sol = SolState::new(act.inbound_size, timeout, tries * 2);
        let (user, ours) = tokio::io::duplex(PIPE);
        let (breaks, break_rx) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(sol_task(self, instance, ours, break_rx, sol));
        Ok(SolConsole {
            io: user,
            breaks,
            task,
        })
    }

    /// Deactivate a SOL payload instance (e.g. one left behind by a dead
    /// client).
    pub async fn sol_deactivate(&mut self, instance: u8) -> Result<(), Error> {
        self.exec(&DeactivateSol { instance }).await
    }
}

async fn sol_task(
    mut s: Session,
    instance: u8,
    io: DuplexStream,
    mut breaks: tokio::sync::mpsc::UnboundedReceiver<()>,
    mut sol: SolState,
) -> Result<(), Error> {
    let (mut rd, mut wr) = tokio::io::split(io);
    let mut bmc_ended = false;
    let pumped = pump(
        &mut s,
        &mut sol,
        &mut rd,
        &mut wr,
        &mut breaks,
        &mut bmc_ended,
    )
    .await;
    // Reads on the user side see EOF from here on.
    let _ = wr.shutdown().await;
    drop((rd, wr));
    let gone = matches!(pumped, Err(Error::Unreachable { .. }));
    if !bmc_ended
        && !gone
        && let Err(e) = s.exec(&DeactivateSol { instance }).await
    {
        tracing::debug!(error = %e, "SOL deactivate failed");
    }
    if gone {
        // Nobody to say goodbye to; Drop still sends one Close Session.
        return pumped;
    }
    let closed = s.close().await;
    pumped.and(closed)
}

async fn pump<R, W>(
    s: &mut Session,
    sol: &mut SolState,
    rd: &mut R,
    wr: &mut W,
    breaks: &mut tokio::sync::mpsc::UnboundedReceiver<()>,
    bmc_ended: &mut bool,
) -> Result<(), Error>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut input_open = true;
    let mut buf = vec![0u8; 1024];
    let mut dg = vec![0u8; 2048];
    let mut last_rx = Instant::now();
    let mut last_tx = Instant::now();
    loop {
        let now = Instant::now();
        while let Some(p) = sol.poll_transmit(now.into_std())? {
            let pkt = s.seal(PayloadType::Sol, &p);
            s.send_raw(&pkt).await?;
            last_tx = now;
        }
        if !input_open && sol.backlog() == 0 {
            return Ok(());
        }
        if now.duration_since(last_rx) > KEEPALIVE * 3 {
            return Err(Error::Timeout { tries: 3 });
        }
        let keepalive_at = last_tx + KEEPALIVE;
        let wake = sol
            .next_deadline()
            .map(Instant::from_std)
            .map_or(keepalive_at, |d| d.min(keepalive_at));
        tokio::select! {
            // A break requested before keystrokes were written goes first.
            biased;
            Some(()) = breaks.recv(), if input_open => sol.send_break(),
            r = rd.read(&mut buf), if input_open && sol.backlog() < PIPE => match r {
                Ok(0) | Err(_) => input_open = false,
                Ok(n) => sol.write(buf.get(..n).unwrap_or_default()),
            },
            r = s.recv_raw(&mut dg) => {
                let n = r?;
                match s.open(dg.get(..n).unwrap_or_default()) {
                    Ok((PayloadType::Sol, p)) => {
                        last_rx = Instant::now();
                        let Ok(input) = sol.handle(&p) else { continue };
                        if let Some(ack) = input.ack {
                            let pkt = s.seal(PayloadType::Sol, &ack);
                            s.send_raw(&pkt).await?;
                        }
                        if !input.data.is_empty() && wr.write_all(&input.data).await.is_err() {
                            // The user dropped the console: wind down.
                            input_open = false;
                        }
                        if input.deactivated {
                            *bmc_ended = true;
                            return Ok(());
                        }
                    }
                    // Keep-alive answers and stray responses.
                    Ok(_) => last_rx = Instant::now(),
                    Err(e) => tracing::debug!(error = %e, "SOL datagram dropped"),
                }
            }
            _ = tokio::time::sleep_until(wake) => {
                if Instant::now() >= keepalive_at {
                    // Fire and forget; the answer only refreshes last_rx.
                    let seq = s.next_rq_seq();
                    let pkt = s.encode_request(&GetDeviceId.request(), seq);
                    s.send_raw(&pkt).await?;
                    last_tx = Instant::now();
                }
            }
        }
    }
}
