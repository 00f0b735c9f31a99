//! The build, packaged once per deploy into a file ([`Spool`]) that every
//! host's upload reads in shared 1 MiB chunks, its sha256, and its unpacked
//! size for the disk check. Memory stays bounded whatever the build's size.
//!
//! A directory is packed in sorted order with owner 0/0 and no user names, so
//! the same tree gives the same archive. File mtimes are kept as they are in
//! the build: web servers derive Last-Modified and ETag from them, and a
//! constant mtime would make caches serve stale files after a deploy.
//! A given `.tar.gz` is checked before upload: no absolute paths, no `..`,
//! no entry written through a symlink.

use crate::spool::Spool;
use flate2::write::GzEncoder;
use flate2::Compression;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

/// gzip level: 1 compresses about as well as 6 on typical builds at a
/// fraction of the time, and hosts unpack either equally fast.
const COMPRESSION_LEVEL: u32 = 1;

/// A packaged build, ready to stream to any number of hosts.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// The gzip tarball.
    pub spool: Arc<Spool>,
    /// Hex sha256 of the tarball, compared with what each host received.
    pub sha256: String,
    /// Bytes of the tarball.
    pub size: u64,
    /// Bytes the release takes once unpacked (files plus tar blocks).
    pub unpacked: u64,
    /// Number of entries (files, dirs, links).
    pub entries: usize,
}

impl Artifact {
    /// Packages a directory or reads and checks an existing `.tar.gz`/`.tgz`.
    pub fn prepare(path: &Path) -> Result<Artifact, String> {
        Artifact::prepare_until(path, &|| false)
    }

    /// [`Artifact::prepare`], giving up (with an error) as soon as `stop`
    /// says so, even in the middle of a large file: Ctrl-C while packaging a
    /// big build returns at once.
    pub fn prepare_until(path: &Path, stop: &(dyn Fn() -> bool + Sync)) -> Result<Artifact, String> {
        let meta = std::fs::metadata(path).map_err(|e| format!("cannot read it: {e}"))?;
        if meta.is_dir() {
            let temp = tempfile::NamedTempFile::new().map_err(|e| format!("cannot make a temporary file: {e}"))?;
            let (sha256, unpacked, entries) = pack_dir(path, temp.as_file(), stop)?;
            let spool =
                Spool::temporary(temp.into_temp_path()).map_err(|e| format!("cannot reopen the package: {e}"))?;
            Ok(Artifact { size: spool.size(), spool: Arc::new(spool), sha256, unpacked, entries })
        } else if is_tarball(path) {
            let spool = Spool::open(path).map_err(|e| format!("cannot read it: {e}"))?;
            Artifact::checked(spool)
        } else {
            Err("is neither a directory nor a .tar.gz/.tgz archive".into())
        }
    }

    /// A tar.gz received from elsewhere (e.g. a healthy host), checked
    /// like a given archive.
    pub fn from_tarball(bytes: Vec<u8>) -> Result<Artifact, String> {
        let mut temp = tempfile::NamedTempFile::new().map_err(|e| format!("cannot make a temporary file: {e}"))?;
        temp.write_all(&bytes).map_err(|e| format!("cannot write a temporary file: {e}"))?;
        let spool = Spool::temporary(temp.into_temp_path()).map_err(|e| format!("cannot reopen it: {e}"))?;
        Artifact::checked(spool)
    }

    /// Someone else made it: read it whole (streaming) before any host sees it.
    fn checked(spool: Spool) -> Result<Artifact, String> {
        let file = || std::fs::File::open(spool.path()).map_err(|e| format!("cannot read it: {e}"));
        let (unpacked, entries) = check_archive(std::io::BufReader::new(file()?))?;
        let mut hasher = Hashing { inner: std::io::sink(), sha: Sha256::new() };
        std::io::copy(&mut file()?, &mut hasher).map_err(|e| format!("cannot read it: {e}"))?;
        let sha256 = hex(&hasher.sha.finalize());
        Ok(Artifact { size: spool.size(), spool: Arc::new(spool), sha256, unpacked, entries })
    }
}

/// A writer that hashes what passes through it.
struct Hashing<W> {
    inner: W,
    sha: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn is_tarball(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.ends_with(".tar.gz") || name.ends_with(".tgz")
}

/// Packs a directory into `out`; returns the tarball's sha256, its unpacked
/// size and entry count.
fn pack_dir(
    root: &Path,
    out: &std::fs::File,
    stop: &(dyn Fn() -> bool + Sync),
) -> Result<(String, u64, usize), String> {
    let mut files = Vec::new();
    walk(root, Path::new(""), &mut files).map_err(|e| format!("cannot read the build: {e}"))?;
    let sink = Hashing { inner: std::io::BufWriter::with_capacity(1 << 20, out), sha: Sha256::new() };
    let gz = GzEncoder::new(sink, Compression::new(COMPRESSION_LEVEL));
    let mut unpacked = 0u64;
    let mut tar = tar::Builder::new(gz);
    tar.follow_symlinks(false);
    for rel in &files {
        let full = root.join(rel);
        let meta = std::fs::symlink_metadata(&full).map_err(|e| format!("{}: {e}", full.display()))?;
        let mut h = tar::Header::new_gnu();
        h.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
        h.set_uid(0);
        h.set_gid(0);
        let res = if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&full).map_err(|e| format!("{}: {e}", full.display()))?;
            h.set_size(0);
            tar.append_link(&mut h, rel, target)
        } else if meta.is_dir() {
            tar.append_data(&mut h, rel, std::io::empty())
        } else if meta.is_file() {
            let f = std::fs::File::open(&full).map_err(|e| format!("{}: {e}", full.display()))?;
            tar.append_data(&mut h, rel, Stoppable { inner: f, stop })
        } else {
            return Err(format!("{} is not a file, directory or symlink; remove it from the build", full.display()));
        };
        res.map_err(|e| format!("cannot pack {}: {e}", rel.display()))?;
        unpacked += tar_blocks(if meta.is_file() { meta.len() } else { 0 });
    }
    let gz = tar.into_inner().map_err(|e| format!("cannot pack: {e}"))?;
    let mut sink = gz.finish().map_err(|e| format!("cannot compress: {e}"))?;
    sink.flush().map_err(|e| format!("cannot write the package: {e}"))?;
    Ok((hex(&sink.sha.finalize()), unpacked, files.len()))
}

/// A reader that fails once `stop` says so (not with `Interrupted`, which
/// readers retry).
struct Stoppable<'a, R> {
    inner: R,
    stop: &'a (dyn Fn() -> bool + Sync),
}

impl<R: std::io::Read> std::io::Read for Stoppable<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if (self.stop)() {
            return Err(std::io::Error::other("stopped"));
        }
        self.inner.read(buf)
    }
}

/// Bytes an entry takes in a tar stream (header + body in 512-byte blocks),
/// a fair stand-in for its size on disk.
fn tar_blocks(size: u64) -> u64 {
    size.div_ceil(512) * 512 + 512
}

fn walk(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut names: Vec<_> = std::fs::read_dir(root.join(rel))?.collect::<Result<Vec<_>, _>>()?;
    names.sort_by_key(|e| e.file_name());
    for e in names {
        let r = rel.join(e.file_name());
        let is_dir = e.file_type()?.is_dir();
        out.push(r.clone());
        if is_dir {
            walk(root, &r, out)?;
        }
    }
    Ok(())
}

/// Reads the whole archive once: refuses paths that would land outside the
/// release, and sums the unpacked size.
fn check_archive(gz: impl Read) -> Result<(u64, usize), String> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(gz));
    let mut links: HashSet<PathBuf> = HashSet::new();
    let (mut size, mut count) = (0u64, 0usize);
    let entries = archive.entries().map_err(|e| format!("is not a readable tar.gz: {e}"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("is not a readable tar.gz: {e}"))?;
        let path = entry.path().map_err(|e| format!("has an unreadable entry name: {e}"))?.into_owned();
        let shown = path.display();
        if path.components().any(|c| matches!(c, Component::RootDir | Component::Prefix(_))) {
            return Err(format!("has an absolute path `{shown}`; repack it with relative paths"));
        }
        if path.components().any(|c| c == Component::ParentDir) {
            return Err(format!("has an entry `{shown}` with `..`; repack it without"));
        }
        let clean: PathBuf = path.components().filter(|c| *c != Component::CurDir).collect();
        if let Some(link) = clean.ancestors().skip(1).find(|a| links.contains(*a)) {
            return Err(format!(
                "writes `{shown}` through the symlink `{}`; an archive may not place files through its own links",
                link.display()
            ));
        }
        if entry.header().entry_type().is_symlink() {
            links.insert(clean);
        }
        size += tar_blocks(entry.header().size().unwrap_or(0));
        count += 1;
        // Drain the body so the next header is read (and the gzip is checked whole).
        std::io::copy(&mut (&mut entry).take(u64::MAX), &mut std::io::sink())
            .map_err(|e| format!("is truncated or corrupt: {e}"))?;
    }
    Ok((size, count))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tarball(build: impl FnOnce(&mut tar::Builder<GzEncoder<Vec<u8>>>)) -> Vec<u8> {
        let mut t = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
        build(&mut t);
        t.into_inner().unwrap().finish().unwrap()
    }

    fn file(t: &mut tar::Builder<GzEncoder<Vec<u8>>>, path: &str, body: &[u8]) {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        // Bypass the builder's own path checks to forge hostile names.
        h.as_gnu_mut().unwrap().name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_cksum();
        t.append(&h, body).unwrap();
    }

    #[test]
    fn packing_is_stable_and_keeps_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("b")).unwrap();
        std::fs::write(dir.path().join("b/z.txt"), "z").unwrap();
        std::fs::write(dir.path().join("a.txt"), "a").unwrap();
        std::os::unix::fs::symlink("../shared/log", dir.path().join("log")).unwrap();
        let one = Artifact::prepare(dir.path()).unwrap();
        let two = Artifact::prepare(dir.path()).unwrap();
        assert_eq!(one.sha256, two.sha256);
        assert_eq!(one.entries, 4);
        let bytes = one.spool.read_all().unwrap();
        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
        let names: Vec<String> = ar
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                format!("{}:{:?}", e.path().unwrap().display(), e.header().entry_type())
            })
            .collect();
        assert_eq!(names, ["a.txt:Regular", "b:Directory", "b/z.txt:Regular", "log:Symlink"]);
    }

    #[test]
    fn the_hash_is_of_the_bytes_sent() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "a".repeat(3 << 20)).unwrap();
        let a = Artifact::prepare(dir.path()).unwrap();
        let bytes = a.spool.read_all().unwrap();
        assert_eq!(a.sha256, hex(&Sha256::digest(&bytes)));
        assert_eq!(a.size, bytes.len() as u64);
        let again = Artifact::from_tarball(bytes).unwrap();
        assert_eq!((again.sha256, again.entries), (a.sha256, 1));
    }

    #[test]
    fn hostile_archives_are_refused() {
        let abs = tarball(|t| file(t, "/etc/passwd", b"x"));
        assert!(check_archive(&abs[..]).unwrap_err().contains("absolute"));
        let up = tarball(|t| file(t, "a/../../x", b"x"));
        assert!(check_archive(&up[..]).unwrap_err().contains(".."));
        let through = tarball(|t| {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            t.append_link(&mut h, "etc", "/etc").unwrap();
            file(t, "etc/cron.d/x", b"x");
        });
        assert!(check_archive(&through[..]).unwrap_err().contains("through the symlink"));
    }
}
