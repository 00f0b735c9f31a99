//! The packaged build lives in a file, never whole in memory: a 1 GB build
//! shipped to 50 hosts must not cost ship 1 GB of RAM (or 50). Hosts read it
//! in 1 MiB chunks (ARCHITECTURE.md SSH pitfall 2) that are shared as `Bytes`: each
//! chunk is read from disk once and the same buffer is sent to every host.
//!
//! Memory is bounded by keeping the readers in step: a reader may run at
//! most [`WINDOW`] chunks ahead of the slowest one, and only that window is
//! cached. Without it every host drifting apart held its own copies (the
//! SSH window keeps ~2 MiB per host in flight): 125 MB of RSS for 50 hosts.
//! A deploy waits for its slowest host before switching anyway, so holding
//! the fastest back costs no wall time.
//!
//! Only readers that start together keep in step. One that starts when the
//! others are already past the window (more hosts than `--concurrency`: it
//! begins when an earlier host finishes) is a straggler: it reads from the
//! file and holds nobody back. Holding the whole pack back for a latecomer
//! made a 50-host deploy at concurrency 32 upload nearly one host at a time
//! at the end (51.6 s).

use bytes::Bytes;
use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Size of the shared upload chunks.
pub(crate) const CHUNK: u64 = 1 << 20;

/// How far (in chunks) the fastest reader may run ahead of the slowest;
/// also the most chunks kept in memory.
pub(crate) const WINDOW: u64 = 8;

/// A file of bytes to send, read in shared chunks.
#[derive(Debug)]
pub(crate) struct Spool {
    file: std::fs::File,
    path: PathBuf,
    size: u64,
    /// Deletes the file with the spool when ship made it.
    _temp: Option<tempfile::TempPath>,
    state: Mutex<Readers>,
    moved: tokio::sync::Notify,
}

/// Where each reader is, and the chunks between the slowest and the window's end.
#[derive(Debug, Default)]
struct Readers {
    next_id: u64,
    /// Reader id -> the chunk it needs next, and whether it keeps in step
    /// (false: a straggler).
    at: HashMap<u64, (u64, bool)>,
    cached: BTreeMap<u64, Bytes>,
}

impl Readers {
    /// The slowest reader that keeps in step, if any does.
    fn slowest(&self) -> Option<u64> {
        self.at.values().filter(|(_, in_step)| *in_step).map(|(at, _)| *at).min()
    }
}

impl Spool {
    /// Sends a temporary file ship wrote; it is deleted with the spool.
    pub(crate) fn temporary(temp: tempfile::TempPath) -> std::io::Result<Spool> {
        let file = std::fs::File::open(&temp)?;
        let path = temp.to_path_buf();
        Spool::new(file, path, Some(temp))
    }

    fn new(file: std::fs::File, path: PathBuf, temp: Option<tempfile::TempPath>) -> std::io::Result<Spool> {
        let size = file.metadata()?.len();
        Ok(Spool { file, path, size, _temp: temp, state: Mutex::default(), moved: tokio::sync::Notify::new() })
    }

    /// Bytes in the file.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// The file, e.g. to copy it into the artifact cache.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Number of chunks.
    pub(crate) fn chunks(&self) -> u64 {
        self.size.div_ceil(CHUNK)
    }

    /// Chunk `i` (blocking: a read of up to 1 MiB unless it is cached).
    pub(crate) fn chunk(&self, i: u64) -> std::io::Result<Bytes> {
        if let Some(b) = self.state.lock().unwrap().cached.get(&i) {
            return Ok(b.clone());
        }
        let start = i * CHUNK;
        let len = CHUNK.min(self.size.saturating_sub(start)) as usize;
        let mut buf = vec![0; len];
        self.file.read_exact_at(&mut buf, start)?;
        let bytes = Bytes::from(buf);
        let mut st = self.state.lock().unwrap();
        if st.slowest().is_some_and(|slowest| i >= slowest) {
            st.cached.entry(i).or_insert_with(|| bytes.clone());
        }
        Ok(bytes)
    }

    /// A new reader at chunk 0: in step with the others unless they are
    /// already past the window.
    fn register(&self) -> u64 {
        let mut st = self.state.lock().unwrap();
        st.next_id += 1;
        let id = st.next_id;
        let in_step = st.slowest().is_none_or(|slowest| slowest < WINDOW);
        st.at.insert(id, (0, in_step));
        id
    }

    /// Records that reader `id` needs chunk `i` next, drops chunks every
    /// reader is past, and wakes readers waiting for the window to move.
    fn advance(&self, id: u64, i: Option<u64>) {
        let mut st = self.state.lock().unwrap();
        match (i, st.at.get_mut(&id)) {
            (Some(i), Some(pos)) => pos.0 = i,
            _ => {
                st.at.remove(&id);
            }
        }
        match st.slowest() {
            Some(slowest) => st.cached = st.cached.split_off(&slowest),
            None => st.cached.clear(),
        }
        drop(st);
        self.moved.notify_waiters();
    }

    /// Waits until chunk `i` is within [`WINDOW`] of the slowest reader
    /// (at once for a straggler).
    async fn within_window(&self, id: u64, i: u64) {
        loop {
            let moved = self.moved.notified();
            tokio::pin!(moved);
            moved.as_mut().enable();
            {
                let st = self.state.lock().unwrap();
                let in_step = st.at.get(&id).is_some_and(|(_, in_step)| *in_step);
                if !in_step || st.slowest().is_none_or(|slowest| i < slowest + WINDOW) {
                    return;
                }
            }
            moved.await;
        }
    }

    /// Every byte, in memory (tests).
    #[cfg(test)]
    pub(crate) fn read_all(&self) -> std::io::Result<Vec<u8>> {
        std::fs::read(&self.path)
    }
}

/// What a remote command reads on stdin: a few small buffers (secrets),
/// then, optionally, a spool.
#[derive(Debug, Clone, Default)]
pub(crate) struct Input {
    /// Sent first.
    pub head: Vec<Bytes>,
    /// Sent after `head`, chunk by chunk.
    pub spool: Option<Arc<Spool>>,
}

impl Input {
    /// Total bytes.
    pub(crate) fn len(&self) -> u64 {
        self.head.iter().map(|b| b.len() as u64).sum::<u64>() + self.spool.as_ref().map_or(0, |s| s.size())
    }

    /// Nothing to send.
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes in order, fetched as they are needed; `None` at the end.
    pub(crate) fn reader(&self) -> InputReader {
        let id = self.spool.as_ref().map(|s| s.register());
        InputReader { input: self.clone(), next: 0, id }
    }
}

/// Yields an [`Input`]'s chunks one by one, in step with the spool's other
/// readers.
pub(crate) struct InputReader {
    input: Input,
    next: u64,
    id: Option<u64>,
}

impl InputReader {
    /// The next chunk; spool chunks are read off the async threads.
    /// Cancel-safe: a call dropped while waiting is simply asked again.
    pub(crate) async fn next(&mut self) -> Option<std::io::Result<Bytes>> {
        let i = self.next;
        let heads = self.input.head.len() as u64;
        if i < heads {
            self.next += 1;
            return Some(Ok(self.input.head[i as usize].clone()));
        }
        let (spool, id) = (self.input.spool.clone()?, self.id?);
        let n = i - heads;
        if n >= spool.chunks() {
            spool.advance(id, None);
            return None;
        }
        spool.advance(id, Some(n));
        spool.within_window(id, n).await;
        self.next += 1;
        Some(
            tokio::task::spawn_blocking(move || spool.chunk(n)).await.unwrap_or_else(|e| Err(std::io::Error::other(e))),
        )
    }
}

impl Drop for InputReader {
    fn drop(&mut self) {
        if let (Some(spool), Some(id)) = (&self.input.spool, self.id) {
            spool.advance(id, None);
        }
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
        spool.register();
        let parts: Vec<Bytes> = (0..3).map(|i| spool.chunk(i).unwrap()).collect();
        assert_eq!(parts.iter().map(Bytes::len).collect::<Vec<_>>(), [CHUNK as usize, CHUNK as usize, 5]);
        assert_eq!(parts.concat(), data);
        // A second reader of a chunk in the window gets the very same buffer.
        assert_eq!(spool.chunk(1).unwrap().as_ptr(), parts[1].as_ptr());
    }

    #[test]
    fn a_temporary_spool_deletes_its_file() {
        let f = tempfile::NamedTempFile::new().unwrap();
        let path = f.path().to_path_buf();
        drop(Spool::temporary(f.into_temp_path()).unwrap());
        assert!(!path.exists());
    }

    /// A reader runs at most WINDOW chunks ahead of the slowest, and the
    /// chunks every reader is past are dropped.
    #[tokio::test]
    async fn readers_stay_within_the_window_of_the_slowest() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut f, &vec![1; (3 * WINDOW * CHUNK) as usize]).unwrap();
        let input = Input { head: Vec::new(), spool: Some(Arc::new(Spool::temporary(f.into_temp_path()).unwrap())) };
        let spool = input.spool.clone().unwrap();
        let (mut fast, mut slow) = (input.reader(), input.reader());
        for _ in 0..WINDOW {
            fast.next().await.unwrap().unwrap();
        }
        let ahead = tokio::time::timeout(std::time::Duration::from_millis(200), fast.next()).await;
        assert!(ahead.is_err(), "the fast reader must wait for the slow one");
        slow.next().await.unwrap().unwrap();
        slow.next().await.unwrap().unwrap();
        let moved = tokio::time::timeout(std::time::Duration::from_secs(5), fast.next()).await;
        assert!(moved.expect("the window moved").unwrap().is_ok());
        assert!(spool.state.lock().unwrap().cached.len() as u64 <= WINDOW + 1);
        drop(slow);
        while let Some(c) = fast.next().await {
            c.unwrap();
        }
        assert!(spool.state.lock().unwrap().cached.is_empty(), "nothing cached once every reader is done");
    }

    /// A reader that starts once the others are past the window (a host
    /// beyond --concurrency) never holds them back, and still reads it all.
    #[tokio::test]
    async fn a_latecomer_holds_nobody_back() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut f, &vec![7; (3 * WINDOW * CHUNK) as usize]).unwrap();
        let input = Input { head: Vec::new(), spool: Some(Arc::new(Spool::temporary(f.into_temp_path()).unwrap())) };
        let mut early = input.reader();
        for _ in 0..=WINDOW {
            early.next().await.unwrap().unwrap();
        }
        let mut late = input.reader();
        let limit = std::time::Duration::from_secs(5);
        let mut early_bytes = (WINDOW + 1) * CHUNK;
        while let Some(c) = tokio::time::timeout(limit, early.next()).await.expect("the early reader never waits") {
            early_bytes += c.unwrap().len() as u64;
        }
        assert_eq!(early_bytes, 3 * WINDOW * CHUNK);
        let mut late_bytes = 0;
        while let Some(c) = late.next().await {
            late_bytes += c.unwrap().len() as u64;
        }
        assert_eq!(late_bytes, 3 * WINDOW * CHUNK);
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
