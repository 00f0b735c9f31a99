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
//!
//! A packaged directory also carries its files manifest
//! ([`crate::manifest`]) as the archive's last entry, `.ship/manifest`, so
//! every release it becomes can serve as the base of a later delta.

use crate::manifest::{self, FileEntry, Manifest};
use crate::spool::Spool;
use flate2::write::GzEncoder;
use flate2::Compression;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

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
    /// The release's files, when ship packaged the build itself.
    pub manifest: Option<Arc<Manifest>>,
    /// Files a host hard-links from its current release instead of
    /// receiving them: 0 for a full archive ([`crate::delta`]).
    pub linked: usize,
    /// The gzip level ship packs with (archives cut from this one too).
    pub level: u32,
}

impl Artifact {
    /// Packages a directory or reads and checks an existing `.tar.gz`/`.tgz`.
    pub fn prepare(path: &Path) -> Result<Artifact, String> {
        Artifact::prepare_until(path, &[], FAST, &|| false)
    }

    /// [`Artifact::prepare`], giving up (with an error) as soon as `stop`
    /// says so, even in the middle of a large file: Ctrl-C while packaging a
    /// big build returns at once. `linked` are the release's linked paths,
    /// left out of the manifest; `level` is gzip's (0 to 9).
    pub fn prepare_until(
        path: &Path,
        linked: &[String],
        level: u32,
        stop: &(dyn Fn() -> bool + Sync),
    ) -> Result<Artifact, String> {
        let meta = std::fs::metadata(path).map_err(|e| format!("cannot read it: {e}"))?;
        if meta.is_dir() {
            let mut packed = None;
            let (spool, sha256) = spooled(level, |tar| {
                packed = Some(pack_dir(path, tar, linked, stop)?);
                Ok(())
            })?;
            let (unpacked, entries, manifest) = packed.expect("set by a successful pack");
            Ok(Artifact {
                size: spool.size(),
                spool: Arc::new(spool),
                sha256,
                unpacked,
                entries,
                manifest: Some(Arc::new(manifest)),
                linked: 0,
                level,
            })
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
        Ok(Artifact {
            size: spool.size(),
            spool: Arc::new(spool),
            sha256,
            unpacked,
            entries,
            manifest: None,
            linked: 0,
            level: FAST,
        })
    }
}

/// The tar builder every archive ship makes is written through: gzip into
/// a temporary file, hashed on the way.
pub type TarWriter<'a> = tar::Builder<GzEncoder<Hashing<std::io::BufWriter<&'a std::fs::File>>>>;

/// gzip level 1: compresses about as well as 6 on typical builds at a
/// fraction of the time, and hosts unpack either equally fast.
pub const FAST: u32 = 1;

/// Makes a gzip tarball (gzip `level`) in a temporary file with `fill`;
/// returns it as a [`Spool`] with its sha256.
pub fn spooled(level: u32, fill: impl FnOnce(&mut TarWriter) -> Result<(), String>) -> Result<(Spool, String), String> {
    let temp = tempfile::NamedTempFile::new().map_err(|e| format!("cannot make a temporary file: {e}"))?;
    let sink = Hashing { inner: std::io::BufWriter::with_capacity(1 << 20, temp.as_file()), sha: Sha256::new() };
    let mut tar = tar::Builder::new(GzEncoder::new(sink, Compression::new(level)));
    tar.follow_symlinks(false);
    fill(&mut tar)?;
    let gz = tar.into_inner().map_err(|e| format!("cannot pack: {e}"))?;
    let Hashing { mut inner, sha } = gz.finish().map_err(|e| format!("cannot compress: {e}"))?;
    inner.flush().map_err(|e| format!("cannot write the package: {e}"))?;
    drop(inner);
    let sha256 = hex(&sha.finalize());
    let spool = Spool::temporary(temp.into_temp_path()).map_err(|e| format!("cannot reopen the package: {e}"))?;
    Ok((spool, sha256))
}

/// A writer (or reader) that hashes what passes through it.
pub struct Hashing<W> {
    inner: W,
    sha: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sha.update(&buf[..n]);
        Ok(n)
    }
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

/// Packs a directory into `tar`, the manifest last; returns the unpacked
/// size, the entry count and the manifest.
fn pack_dir(
    root: &Path,
    tar: &mut TarWriter,
    linked: &[String],
    stop: &(dyn Fn() -> bool + Sync),
) -> Result<(u64, usize, Manifest), String> {
    use std::os::unix::fs::PermissionsExt;
    let mut files = Vec::new();
    walk(root, Path::new(""), &mut files).map_err(|e| format!("cannot read the build: {e}"))?;
    if files.iter().any(|f| f == Path::new(".ship")) {
        return Err("has a top-level `.ship`, where ship keeps its own files in a release; rename it".into());
    }
    let mut unpacked = 0u64;
    let mut listed = Vec::new();
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
            let mut body = Hashing { inner: Stoppable { inner: f, stop }, sha: Sha256::new() };
            let res = tar.append_data(&mut h, rel, &mut body);
            let path = rel.to_str().unwrap_or("");
            if res.is_ok() && manifest::listable(path) && !under_any(path, linked) {
                let mode = meta.permissions().mode() & 0o7777;
                listed.push(FileEntry { path: path.into(), mode, size: meta.len(), sha256: hex(&body.sha.finalize()) });
            }
            res
        } else {
            return Err(format!("{} is not a file, directory or symlink; remove it from the build", full.display()));
        };
        res.map_err(|e| format!("cannot pack {}: {e}", rel.display()))?;
        unpacked += tar_blocks(if meta.is_file() { meta.len() } else { 0 });
    }
    listed.sort_by(|a, b| a.path.cmp(&b.path));
    let manifest = Manifest { files: listed };
    append_file(tar, manifest::PATH, manifest.to_text().as_bytes())?;
    Ok((unpacked, files.len(), manifest))
}

/// Appends a file ship made (manifest, link list): mode 0644, owner 0/0,
/// mtime 0 so the archive stays the same for the same build.
pub fn append_file(tar: &mut TarWriter, path: &str, body: &[u8]) -> Result<(), String> {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_size(body.len() as u64);
    h.set_mtime(0);
    tar.append_data(&mut h, path, body).map_err(|e| format!("cannot pack {path}: {e}"))
}

/// Whether `path` is one of `linked` or inside one.
fn under_any(path: &str, linked: &[String]) -> bool {
    linked.iter().any(|l| path == l || path.strip_prefix(l.as_str()).is_some_and(|rest| rest.starts_with('/')))
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
        assert_eq!(names, ["a.txt:Regular", "b:Directory", "b/z.txt:Regular", "log:Symlink", ".ship/manifest:Regular"]);
    }

    #[test]
    fn the_manifest_lists_regular_files_but_not_linked_paths() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("log/old")).unwrap();
        std::fs::write(dir.path().join("log/old/x"), "x").unwrap();
        std::fs::write(dir.path().join("run"), "run").unwrap();
        std::fs::set_permissions(dir.path().join("run"), std::fs::Permissions::from_mode(0o750)).unwrap();
        std::fs::write(dir.path().join("logo.png"), "png").unwrap();
        std::fs::write(dir.path().join("odd\\name"), "odd").unwrap();
        std::os::unix::fs::symlink("run", dir.path().join("link")).unwrap();
        let a = Artifact::prepare_until(dir.path(), &["log".into()], FAST, &|| false).unwrap();
        let m = a.manifest.unwrap();
        let listed: Vec<(&str, u32, u64)> = m.files.iter().map(|f| (f.path.as_str(), f.mode, f.size)).collect();
        assert_eq!(listed, [("logo.png", 0o644, 3), ("run", 0o750, 3)]);
        assert_eq!(m.files[1].sha256, hex(&Sha256::digest(b"run")));
        std::fs::create_dir(dir.path().join(".ship")).unwrap();
        assert!(Artifact::prepare(dir.path()).unwrap_err().contains("top-level `.ship`"));
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
        // The build's one file, and the manifest.
        assert_eq!((again.sha256, again.entries), (a.sha256, 2));
    }

    #[test]
    fn the_compression_level_changes_the_size_not_the_content() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "compressible line\n".repeat(50_000)).unwrap();
        let sizes: Vec<u64> = [0, FAST, 9]
            .iter()
            .map(|&level| {
                let a = Artifact::prepare_until(dir.path(), &[], level, &|| false).unwrap();
                let bytes = a.spool.read_all().unwrap();
                let again = Artifact::from_tarball(bytes).unwrap();
                assert_eq!(again.entries, 2, "a.txt and the manifest at level {level}");
                assert_eq!(a.level, level);
                a.size
            })
            .collect();
        assert!(sizes[0] > 900_000 && sizes[1] < sizes[0] / 20 && sizes[2] <= sizes[1], "{sizes:?}");
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
