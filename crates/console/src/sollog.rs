//! A SOL session's output, kept on disk for staff: appended as it comes,
//! bounded by rotating into one previous file (so at most twice the limit
//! is on disk and at least the limit is readable).

use std::path::{Path, PathBuf};

use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use crate::registry::SessionId;

pub struct SolLog {
    path: PathBuf,
    old: PathBuf,
    limit: u64,
    file: Option<tokio::fs::File>,
    size: u64,
}

impl SolLog {
    pub fn new(dir: &Path, session: SessionId, limit: u64) -> SolLog {
        SolLog {
            path: dir.join(format!("console-{session}.log")),
            old: dir.join(format!("console-{session}.log.1")),
            limit: limit.max(1024),
            file: None,
            size: 0,
        }
    }

    pub async fn append(&mut self, data: &[u8]) -> std::io::Result<()> {
        if self.file.is_none() {
            if let Some(dir) = self.path.parent() {
                tokio::fs::create_dir_all(dir).await?;
            }
            let f = tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .await?;
            self.size = f.metadata().await?.len();
            self.file = Some(f);
        }
        if self.size + data.len() as u64 > self.limit && self.size > 0 {
            self.file = None;
            tokio::fs::rename(&self.path, &self.old).await?;
            self.file = Some(
                tokio::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)
                    .await?,
            );
            self.size = 0;
        }
        if let Some(f) = &mut self.file {
            f.write_all(data).await?;
            self.size += data.len() as u64;
        }
        Ok(())
    }

    /// The last `tail` bytes (at most what is kept). NotFound if the
    /// session never logged anything.
    pub async fn read_tail(&self, tail: u64) -> std::io::Result<Vec<u8>> {
        let current = read_last(&self.path, tail).await?;
        let want = tail.saturating_sub(current.len() as u64);
        if want == 0 {
            return Ok(current);
        }
        let mut out = match read_last(&self.old, want).await {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        out.extend_from_slice(&current);
        Ok(out)
    }
}

/// SOL output from the session's open until its first viewer joins, the
/// newest `limit` bytes of it, replayed to that viewer (as ipmi_sim's
/// `history=` keeps a serial port's). Plain state; the gateway locks it
/// around each chunk's fan-out so no chunk is both replayed and sent live.
#[derive(Debug)]
pub struct SolHistory {
    buf: std::collections::VecDeque<u8>,
    limit: usize,
    taken: bool,
}

impl SolHistory {
    pub fn new(limit: usize) -> SolHistory {
        SolHistory {
            buf: std::collections::VecDeque::new(),
            limit,
            taken: false,
        }
    }

    /// Keeps output while no viewer has taken the history.
    pub fn record(&mut self, chunk: &[u8]) {
        if self.taken {
            return;
        }
        self.buf.extend(chunk);
        if self.buf.len() > self.limit {
            self.buf.drain(..self.buf.len() - self.limit);
            // Start on a character: drop a cut UTF-8 sequence's tail.
            while self.buf.front().is_some_and(|b| b & 0xc0 == 0x80) {
                self.buf.pop_front();
            }
        }
    }

    /// The history, once; afterwards nothing is kept.
    pub fn take(&mut self) -> Vec<u8> {
        self.taken = true;
        std::mem::take(&mut self.buf).into()
    }
}

async fn read_last(path: &Path, n: u64) -> std::io::Result<Vec<u8>> {
    let mut f = tokio::fs::File::open(path).await?;
    let len = f.metadata().await?.len();
    f.seek(std::io::SeekFrom::Start(len.saturating_sub(n)))
        .await?;
    let mut out = Vec::new();
    f.read_to_end(&mut out).await?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_keeps_the_newest_bytes_until_taken_once() {
        let mut h = SolHistory::new(8);
        h.record(b"0123");
        h.record(b"456789");
        // The newest 8 bytes.
        let mut h2 = SolHistory::new(8);
        h2.record("ab€".as_bytes()); // € is 3 bytes: a b e2 82 ac
        h2.record(b"cdefgh");
        // 11 bytes, newest 8 start inside "€": the cut tail is dropped.
        assert_eq!(h2.take(), b"cdefgh");
        assert_eq!(h.take(), b"23456789");
        h.record(b"later");
        assert!(h.take().is_empty(), "only the first viewer gets a replay");
    }

    #[tokio::test]
    async fn the_log_is_bounded_and_keeps_the_latest_output() {
        let dir = std::env::temp_dir().join(format!("ironrack-sollog-{}", std::process::id()));
        let mut log = SolLog::new(&dir, 7, 1024);
        assert!(log.read_tail(10).await.is_err(), "nothing logged yet");
        for i in 0..300u32 {
            log.append(format!("line {i:04}\n").as_bytes())
                .await
                .unwrap();
        }
        let all = log.read_tail(1 << 20).await.unwrap();
        let text = String::from_utf8(all).unwrap();
        assert!(text.ends_with("line 0299\n"), "{text}");
        assert!(text.len() <= 2048 && text.len() >= 1024, "{}", text.len());
        assert!(!text.contains("line 0000"), "oldest output rotated away");
        assert_eq!(log.read_tail(10).await.unwrap(), b"line 0299\n");
        let on_disk: u64 = [&log.path, &log.old]
            .iter()
            .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
            .sum();
        assert!(on_disk <= 2048);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
