//! A target's bytes to the browser without passing through user space:
//! socket → pipe → socket with splice(2) (through rustix: no unsafe code),
//! the WebSocket frame header written in between. Pipes are taken from a
//! small pool while data flows and given back empty, so an idle session
//! holds none (and no file descriptors beyond its two sockets).

use std::io;
use std::os::fd::OwnedFd;
use std::sync::Mutex;

use rustix::pipe::{PipeFlags, SpliceFlags};
use tokio::io::Interest;
use tokio::net::TcpStream;

/// Pipes kept for reuse.
const KEPT: usize = 16;
/// Asked-for pipe capacity (the usual `/proc/sys/fs/pipe-max-size`); the
/// default 64 KiB when refused.
const CAPACITY: usize = 1 << 20;

pub struct Pipe {
    r: OwnedFd,
    w: OwnedFd,
    /// Bytes in the pipe.
    held: usize,
    capacity: usize,
}

static POOL: Mutex<Vec<Pipe>> = Mutex::new(Vec::new());

impl Pipe {
    /// A pipe from the pool, or a new one.
    pub fn take() -> io::Result<Pipe> {
        if let Some(p) = POOL.lock().unwrap_or_else(|p| p.into_inner()).pop() {
            return Ok(p);
        }
        let (r, w) = rustix::pipe::pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK)?;
        let capacity = rustix::pipe::fcntl_setpipe_size(&w, CAPACITY)
            .or_else(|_| rustix::pipe::fcntl_getpipe_size(&w))
            .unwrap_or(64 * 1024);
        Ok(Pipe {
            r,
            w,
            held: 0,
            capacity,
        })
    }

    /// Back to the pool if empty (a pipe with bytes left is closed).
    pub fn give_back(self) {
        if self.held != 0 {
            return;
        }
        let mut pool = POOL.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < KEPT {
            pool.push(self);
        }
    }

    /// Bytes in the pipe.
    pub fn held(&self) -> usize {
        self.held
    }

    pub fn is_full(&self) -> bool {
        self.held >= self.capacity
    }

    /// Moves what `from` has ready into the pipe: `Ok(0)` at end of
    /// stream, `WouldBlock` when nothing is ready (readiness is cleared).
    pub fn fill(&mut self, from: &TcpStream) -> io::Result<usize> {
        let room = self.capacity - self.held;
        let n = from.try_io(Interest::READABLE, || {
            rustix::pipe::splice(
                from,
                None,
                &self.w,
                None,
                room,
                SpliceFlags::MOVE | SpliceFlags::NONBLOCK,
            )
            .map_err(io::Error::from)
        })?;
        self.held += n;
        Ok(n)
    }

    /// Moves up to `max` bytes from the pipe to `to` as far as its send
    /// buffer takes them: `WouldBlock` when it takes none.
    pub fn drain(&mut self, to: &TcpStream, max: usize) -> io::Result<usize> {
        let n = to.try_io(Interest::WRITABLE, || {
            rustix::pipe::splice(
                &self.r,
                None,
                to,
                None,
                max.min(self.held),
                SpliceFlags::MOVE | SpliceFlags::NONBLOCK,
            )
            .map_err(io::Error::from)
        })?;
        if n == 0 && max > 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        self.held -= n;
        Ok(n)
    }
}

/// Sends a frame header with MSG_MORE: the kernel holds it until the
/// payload spliced after it, so both leave in one segment (TCP_NODELAY
/// would otherwise send the header alone, and the viewer wakes twice).
pub async fn send_more(to: &TcpStream, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        to.writable().await?;
        let sent = to.try_io(Interest::WRITABLE, || {
            rustix::net::send(to, bytes, rustix::net::SendFlags::MORE).map_err(io::Error::from)
        });
        match sent {
            Ok(n) => bytes = bytes.get(n..).unwrap_or_default(),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn bytes_go_socket_to_socket_through_the_pipe() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let mut src = TcpStream::connect(addr).await.unwrap();
        let (from, _) = l.accept().await.unwrap();
        let mut dst_far = TcpStream::connect(addr).await.unwrap();
        let (to, _) = l.accept().await.unwrap();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let sent = data.clone();
        tokio::spawn(async move {
            src.write_all(&sent).await.unwrap();
        });
        let mut p = Pipe::take().unwrap();
        let mut moved = 0;
        let reader = tokio::spawn(async move {
            let mut got = vec![0u8; 300_000];
            dst_far.read_exact(&mut got).await.unwrap();
            got
        });
        while moved < data.len() {
            from.readable().await.unwrap();
            match p.fill(&from) {
                Ok(0) => panic!("source ended early"),
                Ok(n) => moved += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => panic!("{e}"),
            }
            while p.held() > 0 {
                to.writable().await.unwrap();
                match p.drain(&to, usize::MAX) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => panic!("{e}"),
                }
            }
        }
        assert_eq!(reader.await.unwrap(), data);
        p.give_back();
        assert!(!POOL.lock().unwrap().is_empty(), "an empty pipe is kept");
    }
}
