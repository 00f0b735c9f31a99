//! The packaged build lives in a file, never whole in memory: a 1 GB build
//! shipped to 50 hosts must not cost ship 1 GB of RAM (or 50). Hosts read it
//! in 1 MiB chunks (RUSSH.md pitfall 2); the most recent chunks are kept as
//! shared `Bytes`, so hosts uploading in step read each chunk from disk once
//! and send the same buffer, and a host that falls behind reads its chunks
//! from the file (the page cache, in practice) without holding others up.

use bytes::Bytes;
use std::collections::VecDeque;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Size of the shared upload chunks.
pub const CHUNK: u64 = 1 << 20;

/// Chunks kept in memory for hosts that are in step (32 MiB).
const CACHED: usize = 32;

/// A file of bytes to send, read in shared chunks.
#[derive(Debug)]
pub struct Spool {
    file: std::fs::File,
    path: PathBuf,
    size: u64,
    /// Deletes the file with the spool when ship made it.
    _temp: Option<tempfile::TempPath>,
    recent: Mutex<VecDeque<(u64, Bytes)>>,
}

impl Spool {
    /// Sends an existing file (e.g. the user's own .tar.gz); it is left in place.
    pub fn open(path: &Path) -> std::io::Result<Spool> {
        Spool::new(std::fs::File::open(path)?, path.to_path_buf(), None)
    }

    /// Sends a temporary file ship wrote; it is deleted with the spool.
    pub fn temporary(temp: tempfile::TempPath) -> std::io::Result<Spool> {
        let file = std::fs::File::open(&temp)?;
        let path = temp.to_path_buf();
        Spool::new(file, path, Some(temp))
    }

    fn new(file: std::fs::File, path: PathBuf, temp: Option<tempfile::TempPath>) -> std::io::Result<Spool> {
        let size = file.metadata()?.len();
        Ok(Spool { file, path, size, _temp: temp, recent: Mutex::new(VecDeque::with_capacity(CACHED)) })
    }

    /// Bytes in the file.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The file, e.g. to copy it into the artifact cache.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of chunks.
    pub fn chunks(&self) -> u64 {
        self.size.div_ceil(CHUNK)
    }

    /// Chunk `i` (blocking: a read of up to 1 MiB unless it is cached).
    pub fn chunk(&self, i: u64) -> std::io::Result<Bytes> {
        if let Some((_, b)) = self.recent.lock().unwrap().iter().find(|(n, _)| *n == i) {
            return Ok(b.clone());
        }
        let start = i * CHUNK;
        let len = CHUNK.min(self.size.saturating_sub(start)) as usize;
        let mut buf = vec![0; len];
        self.file.read_exact_at(&mut buf, start)?;
        let bytes = Bytes::from(buf);
        let mut recent = self.recent.lock().unwrap();
        if !recent.iter().any(|(n, _)| *n == i) {
            if recent.len() == CACHED {
                recent.pop_front();
            }
            recent.push_back((i, bytes.clone()));
        }
        Ok(bytes)
    }

    /// Every byte, in memory (small files and tests only).
    pub fn read_all(&self) -> std::io::Result<Vec<u8>> {
        std::fs::read(&self.path)
    }
}

/// What a remote command reads on stdin: a few small buffers (secrets),
/// then, optionally, a spool.
#[derive(Debug, Clone, Default)]
pub struct Input {
    /// Sent first.
    pub head: Vec<Bytes>,
    /// Sent after `head`, chunk by chunk.
    pub spool: Option<Arc<Spool>>,
}

impl Input {
    /// Total bytes.
    pub fn len(&self) -> u64 {
        self.head.iter().map(|b| b.len() as u64).sum::<u64>() + self.spool.as_ref().map_or(0, |s| s.size())
    }

    /// Nothing to send.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes in order, fetched as they are needed; `None` at the end.
    pub fn reader(&self) -> InputReader {
        InputReader { input: self.clone(), next: 0 }
    }
}

/// Yields an [`Input`]'s chunks one by one.
pub struct InputReader {
    input: Input,
    next: u64,
}

impl InputReader {
    /// The next chunk; spool chunks are read off the async threads.
    pub async fn next(&mut self) -> Option<std::io::Result<Bytes>> {
        let i = self.next;
        self.next += 1;
        let heads = self.input.head.len() as u64;
        if i < heads {
            return Some(Ok(self.input.head[i as usize].clone()));
        }
        let spool = self.input.spool.clone()?;
        let n = i - heads;
        if n >= spool.chunks() {
            return None;
        }
        Some(
            tokio::task::spawn_blocking(move || spool.chunk(n)).await.unwrap_or_else(|e| Err(std::io::Error::other(e))),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_file_exactly_and_are_shared_while_recent() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        let data: Vec<u8> = (0..(2 * CHUNK + 5)).map(|i| (i % 251) as u8).collect();
        std::io::Write::write_all(&mut f, &data).unwrap();
        let spool = Spool::temporary(f.into_temp_path()).unwrap();
        assert_eq!(spool.chunks(), 3);
        let parts: Vec<Bytes> = (0..3).map(|i| spool.chunk(i).unwrap()).collect();
        assert_eq!(parts.iter().map(Bytes::len).collect::<Vec<_>>(), [CHUNK as usize, CHUNK as usize, 5]);
        assert_eq!(parts.concat(), data);
        // A second reader of a recent chunk gets the very same buffer.
        assert_eq!(spool.chunk(1).unwrap().as_ptr(), parts[1].as_ptr());
    }

    #[test]
    fn a_temporary_spool_deletes_its_file() {
        let f = tempfile::NamedTempFile::new().unwrap();
        let path = f.path().to_path_buf();
        drop(Spool::temporary(f.into_temp_path()).unwrap());
        assert!(!path.exists());
    }

    #[tokio::test]
    async fn input_sends_head_then_spool() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut f, b"body").unwrap();
        let input = Input {
            head: vec![Bytes::from_static(b"secret\n")],
            spool: Some(Arc::new(Spool::temporary(f.into_temp_path()).unwrap())),
        };
        assert_eq!(input.len(), 11);
        let mut r = input.reader();
        let mut got = Vec::new();
        while let Some(c) = r.next().await {
            got.extend_from_slice(&c.unwrap());
        }
        assert_eq!(got, b"secret\nbody");
    }
}
