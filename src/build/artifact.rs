//! The build, packaged once per deploy into a file ([`Spool`]) that every
//! host's upload reads in shared 1 MiB chunks, its sha256, and its unpacked
//! size for the disk check. Memory stays bounded whatever the build's size.
//!
//! A directory is packed in sorted order with owner 0/0 and no user names, so
//! the same tree gives the same archive. File mtimes are kept as they are in
//! the build: web servers derive Last-Modified and ETag from them, and a
//! constant mtime would make caches serve stale files after a deploy.
//! A given `.tar.gz` is checked before upload: no absolute paths, no `..`,
//! no entry written (or hard-linked) through a symlink, nothing but regular
//! files, directories and links (no device nodes, FIFOs or sockets), and
//! no set-uid or set-gid file. It is read once, copied into a private
//! temporary file on the way: the bytes checked and hashed are the bytes
//! sent, whatever happens to the file meanwhile.
//!
//! Modes: a release keeps the build's `rwx` bits without group and world
//! write (`& 0o755`); hosts unpack as the deploy user under `umask 022`
//! ([`crate::remote::receive`]), so what a host holds is what the manifest
//! records. Set-uid/set-gid files are refused, never installed.
//!
//! A packaged directory also carries its files manifest
//! ([`crate::build::manifest`]) as the archive's last entry, `.ship/manifest`, so
//! every release it becomes can serve as the base of a later delta.

#[cfg(test)]
use super::check::mode_as_deployed;
use super::check::{check_archive, verify_copy, Checked};
use crate::build::manifest::{self, FileEntry, LinkEntry, Manifest};
use crate::spool::Spool;
use crate::text::hex;
use flate2::write::GzEncoder;
use flate2::Compression;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A packaged build, ready to stream to any number of hosts.
#[derive(Debug, Clone)]
pub(crate) struct Artifact {
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
    /// receiving them: 0 for a full archive ([`crate::build::delta`]).
    pub linked: usize,
    /// Their bytes: the host hashes them all before the release is placed.
    pub linked_bytes: u64,
    /// The gzip level ship packs with (archives cut from this one too).
    pub level: u32,
}

impl Artifact {
    /// Packages a directory or reads and checks an existing `.tar.gz`/`.tgz`.
    pub(crate) fn prepare(path: &Path) -> Result<Artifact, String> {
        Artifact::prepare_until(path, &[], FAST, &|| false)
    }

    /// [`Artifact::prepare`], giving up (with an error) as soon as `stop`
    /// says so, even in the middle of a large file: Ctrl-C while packaging a
    /// big build returns at once. `linked` are the release's linked paths,
    /// left out of the manifest; `level` is gzip's (0 to 9).
    pub(crate) fn prepare_until(
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
                linked_bytes: 0,
                level,
            })
        } else if is_tarball(path) {
            let file = std::fs::File::open(path).map_err(|e| format!("cannot read it: {e}"))?;
            Artifact::copied(Stoppable { inner: file, stop })
        } else {
            Err("is neither a directory nor a .tar.gz/.tgz archive".into())
        }
    }

    /// Reads a given archive once, copying it into a private temporary
    /// file while checking and hashing the very bytes copied; the copy is
    /// what hosts receive.
    fn copied(source: impl Read) -> Result<Artifact, String> {
        let temp = tempfile::NamedTempFile::new().map_err(|e| format!("cannot make a temporary file: {e}"))?;
        let mut tee = Tee {
            inner: source,
            copy: std::io::BufWriter::with_capacity(
                1 << 20,
                temp.as_file().try_clone().map_err(|e| format!("cannot write a temporary file: {e}"))?,
            ),
            sha: Sha256::new(),
            failed: None,
        };
        let checked = check_archive(std::io::BufReader::with_capacity(1 << 20, &mut tee), false);
        // Bytes after the archive's end are sent too: hash and copy them.
        let rest = std::io::copy(&mut tee, &mut std::io::sink());
        if let Some(e) = tee.failed.take() {
            return Err(format!("cannot write a temporary file: {e}"));
        }
        let checked = checked?;
        rest.map_err(|e| format!("cannot read it: {e}"))?;
        let Tee { copy, sha, .. } = tee;
        copy.into_inner().map_err(|e| format!("cannot write a temporary file: {}", e.error()))?;
        let spool = Spool::temporary(temp.into_temp_path()).map_err(|e| format!("cannot reopen it: {e}"))?;
        Ok(Artifact::whole(spool, hex(&sha.finalize()), &checked))
    }

    /// An archive ship did not pack (a given one, a copy from a host):
    /// whole, with no manifest of its own to cut deltas from.
    fn whole(spool: Spool, sha256: String, checked: &Checked) -> Artifact {
        Artifact {
            size: spool.size(),
            spool: Arc::new(spool),
            sha256,
            unpacked: checked.unpacked,
            entries: checked.entries,
            manifest: None,
            linked: 0,
            linked_bytes: 0,
            level: FAST,
        }
    }

    /// A tar.gz in memory (tests), read like a given archive.
    #[cfg(test)]
    pub(crate) fn from_tarball(bytes: Vec<u8>) -> Result<Artifact, String> {
        Artifact::copied(&bytes[..])
    }

    /// A release copied from a host (`tar -czf - -C <release> .`, see
    /// [`crate::remote::pack_release`]) that ship wrote to `temp`. Checked
    /// like a given archive, and every regular file verified against the
    /// release's own `.ship/manifest` (sha256, size, mode) before any host
    /// sees it: a file edited, added, removed or chmod-ed on that host is
    /// refused, naming it. `linked` paths are symlinks into the host's
    /// `shared/`, not the release's own. A release without a manifest
    /// (deployed from a `.tar.gz`, or by an older ship) cannot be checked
    /// and is refused.
    pub(crate) fn from_release_copy(temp: tempfile::TempPath, linked: &[String]) -> Result<Artifact, String> {
        let file = std::fs::File::open(&temp).map_err(|e| format!("cannot read the copy: {e}"))?;
        let mut raw = Hashing { inner: file, sha: Sha256::new() };
        let checked = check_archive(std::io::BufReader::with_capacity(1 << 20, &mut raw), true)?;
        std::io::copy(&mut raw, &mut std::io::sink()).map_err(|e| format!("cannot read the copy: {e}"))?;
        verify_copy(&checked, linked)?;
        let spool = Spool::temporary(temp).map_err(|e| format!("cannot reopen the copy: {e}"))?;
        Ok(Artifact::whole(spool, hex(&raw.sha.finalize()), &checked))
    }
}

/// A reader that copies and hashes what it reads (a given archive on its
/// way to the private copy hosts receive). A failed write is kept in
/// `failed` and ends the reading.
struct Tee<R, W: Write> {
    inner: R,
    copy: std::io::BufWriter<W>,
    sha: Sha256,
    failed: Option<std::io::Error>,
}

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.failed.is_some() {
            return Err(std::io::Error::other("cannot write a temporary file"));
        }
        let n = self.inner.read(buf)?;
        if let Err(e) = self.copy.write_all(&buf[..n]) {
            self.failed = Some(e);
            return Err(std::io::Error::other("cannot write a temporary file"));
        }
        self.sha.update(&buf[..n]);
        Ok(n)
    }
}

/// The tar builder every archive ship makes is written through: gzip into
/// a temporary file, hashed on the way.
pub(crate) type TarWriter<'a> = tar::Builder<GzEncoder<Hashing<std::io::BufWriter<&'a std::fs::File>>>>;

/// gzip level 1: compresses about as well as 6 on typical builds at a
/// fraction of the time, and hosts unpack either equally fast.
pub(crate) const FAST: u32 = 1;

/// Makes a gzip tarball (gzip `level`) in a temporary file with `fill`;
/// returns it as a [`Spool`] with its sha256.
pub(crate) fn spooled(
    level: u32,
    fill: impl FnOnce(&mut TarWriter) -> Result<(), String>,
) -> Result<(Spool, String), String> {
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
pub(crate) struct Hashing<W> {
    pub(super) inner: W,
    pub(super) sha: Sha256,
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
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::PermissionsExt;
    let mut files = Vec::new();
    walk(root, Path::new(""), &mut files).map_err(|e| format!("cannot read the build: {e}"))?;
    if files.iter().any(|f| f == Path::new(".ship")) {
        return Err("has a top-level `.ship`, where ship keeps its own files in a release; rename it".into());
    }
    let mut unpacked = 0u64;
    let mut listed = Vec::new();
    let mut links = Vec::new();
    for rel in &files {
        let full = root.join(rel);
        let meta = std::fs::symlink_metadata(&full).map_err(|e| format!("{}: {e}", full.display()))?;
        let mut h = tar::Header::new_gnu();
        h.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
        h.set_uid(0);
        h.set_gid(0);
        let bits = meta.permissions().mode() & 0o7777;
        if let Some(which) = set_id(bits).filter(|_| meta.is_file()) {
            return Err(format!("{} is {which} (mode {bits:o}); {SET_ID_ADVICE}", full.display()));
        }
        if !meta.file_type().is_symlink() {
            // What the host will hold: see the module documentation.
            h.set_mode(bits & 0o755);
        }
        let res = if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&full).map_err(|e| format!("{}: {e}", full.display()))?;
            let path = &manifest::name_of(rel);
            if !path.is_empty() && !under_any(path, linked) {
                links.push(LinkEntry { path: path.into(), target: target.as_os_str().as_bytes().to_vec() });
            }
            h.set_size(0);
            tar.append_link(&mut h, rel, target)
        } else if meta.is_dir() {
            tar.append_data(&mut h, rel, std::io::empty())
        } else if meta.is_file() {
            let f = std::fs::File::open(&full).map_err(|e| format!("{}: {e}", full.display()))?;
            let mut body = Hashing { inner: Stoppable { inner: f, stop }, sha: Sha256::new() };
            let res = tar.append_data(&mut h, rel, &mut body);
            let path = &manifest::name_of(rel);
            if res.is_ok() && !path.is_empty() && !under_any(path, linked) {
                let mode = bits & 0o755;
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
    links.sort_by(|a, b| a.path.cmp(&b.path));
    let manifest = Manifest { files: listed, links, records_links: true };
    append_file(tar, manifest::PATH, manifest.to_text().as_bytes())?;
    Ok((unpacked, files.len(), manifest))
}

/// Appends a file ship made (manifest, link list): mode 0644, owner 0/0,
/// mtime 0 so the archive stays the same for the same build.
pub(crate) fn append_file(tar: &mut TarWriter, path: &str, body: &[u8]) -> Result<(), String> {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_size(body.len() as u64);
    h.set_mtime(0);
    tar.append_data(&mut h, path, body).map_err(|e| format!("cannot pack {path}: {e}"))
}

/// Whether `path` is one of `linked` or inside one.
pub(super) fn under_any(path: &str, linked: &[String]) -> bool {
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
pub(super) fn tar_blocks(size: u64) -> u64 {
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

/// Whether `mode` is set-uid and/or set-gid.
pub(super) fn set_id(mode: u32) -> Option<&'static str> {
    match mode & 0o6000 {
        0o6000 => Some("set-uid and set-gid"),
        0o4000 => Some("set-uid"),
        0o2000 => Some("set-gid"),
        _ => None,
    }
}

pub(super) const SET_ID_ADVICE: &str =
    "ship does not install set-uid or set-gid files: clear the bit (chmod ug-s) or leave the file out, and package again";

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
    fn the_manifest_lists_files_and_links_but_not_linked_paths() {
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
        // A name a line cannot carry as it is is listed too (in hex on the host).
        assert_eq!(listed, [("logo.png", 0o644, 3), ("odd\\name", 0o644, 3), ("run", 0o750, 3)]);
        assert_eq!(m.files[2].sha256, hex(&Sha256::digest(b"run")));
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
        assert!(check_archive(&abs[..], false).unwrap_err().contains("absolute"));
        let up = tarball(|t| file(t, "a/../../x", b"x"));
        assert!(check_archive(&up[..], false).unwrap_err().contains(".."));
        let through = tarball(|t| {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            t.append_link(&mut h, "etc", "/etc").unwrap();
            file(t, "etc/cron.d/x", b"x");
        });
        let err = check_archive(&through[..], false).unwrap_err();
        assert!(err.contains("through the symlink"), "{err}");
    }

    fn entry(t: &mut tar::Builder<GzEncoder<Vec<u8>>>, path: &str, kind: tar::EntryType, mode: u32, body: &[u8]) {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(body.len() as u64);
        t.append_data(&mut h, path, body).unwrap();
    }

    #[test]
    fn special_and_set_id_entries_are_refused() {
        use tar::EntryType as T;
        for (kind, mode, says) in [
            (T::Char, 0o666, "`x` is a character device"),
            (T::Block, 0o660, "`x` is a block device"),
            (T::Fifo, 0o644, "`x` is a FIFO"),
            (T::new(b'V'), 0o644, "`x` is of a kind ship does not install"),
            (T::Regular, 0o4755, "`x` is set-uid (mode 4755)"),
            (T::Regular, 0o2755, "`x` is set-gid (mode 2755)"),
            (T::Regular, 0o6755, "`x` is set-uid and set-gid"),
        ] {
            let bytes = tarball(|t| entry(t, "x", kind, mode, b""));
            let err = check_archive(&bytes[..], false).unwrap_err();
            assert!(err.contains(says), "{err}");
        }
        // Plain bits, sticky directories and executables are fine.
        let fine = tarball(|t| {
            entry(t, "d", T::Directory, 0o3777, b"");
            entry(t, "d/run", T::Regular, 0o777, b"x");
        });
        assert_eq!(check_archive(&fine[..], false).unwrap().entries, 2);
    }

    #[test]
    fn hard_links_stay_inside_the_release() {
        let link = |to: &str| {
            tarball(|t| {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                t.append_link(&mut h, "etc", "/etc").unwrap();
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Link);
                h.set_size(0);
                // Forge the target: the builder refuses such names itself.
                h.as_gnu_mut().unwrap().linkname[..to.len()].copy_from_slice(to.as_bytes());
                h.set_path("x").unwrap();
                h.set_cksum();
                t.append(&h, std::io::empty()).unwrap();
            })
        };
        let err = check_archive(&link("/etc/shadow")[..], false).unwrap_err();
        assert!(err.contains("a hard link to an absolute path"), "{err}");
        assert!(check_archive(&link("a/../../x")[..], false).unwrap_err().contains("`..`"));
        assert!(check_archive(&link("etc/shadow")[..], false).unwrap_err().contains("through the symlink `etc`"));
        assert_eq!(check_archive(&link("etc")[..], false).unwrap().entries, 2, "a link to the symlink itself");
    }

    #[test]
    fn a_second_gzip_member_is_read_as_gzip_on_the_host_reads_it() {
        let mut bytes = tarball(|t| file(t, "a", b"a"));
        // Cut the first archive's end blocks? No: a second member after the
        // whole first one is what `cat a.gz b.gz` makes; gzip -d reads both,
        // and tar stops at the first end-of-archive, so both agree on `a`.
        bytes.extend(tarball(|t| entry(t, "mem", tar::EntryType::Char, 0o666, b"")));
        assert_eq!(check_archive(&bytes[..], false).unwrap().entries, 1);
        // Without end blocks between them, the second member's entries are read.
        let mut raw = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        raw.append_data(&mut h, "a", &b"a"[..]).unwrap();
        let mut first = raw.into_inner().unwrap();
        first.truncate(first.len() - 1024);
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        gz.write_all(&first).unwrap();
        let mut bytes = gz.finish().unwrap();
        bytes.extend(tarball(|t| entry(t, "mem", tar::EntryType::Char, 0o666, b"")));
        assert!(check_archive(&bytes[..], false).unwrap_err().contains("character device"));
    }

    #[test]
    fn pax_sparse_names_are_refused() {
        let bytes = tarball(|t| {
            t.append_pax_extensions([("GNU.sparse.name", &b"etc/cron.d/x"[..])]).unwrap();
            file(t, "x", b"x");
        });
        assert!(check_archive(&bytes[..], false).unwrap_err().contains("GNU.sparse.name"));
    }

    /// The copy hosts receive is made from one read of the file: whatever
    /// happens to the file afterwards, the spool holds the bytes checked
    /// and hashed.
    #[test]
    fn the_bytes_sent_are_the_bytes_checked_and_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.tar.gz");
        std::fs::write(&path, tarball(|t| file(t, "index.html", b"one"))).unwrap();
        let a = Artifact::prepare(&path).unwrap();
        // Rewritten in place (same inode) after ship read it.
        std::fs::write(&path, tarball(|t| entry(t, "mem", tar::EntryType::Char, 0o666, b""))).unwrap();
        let sent = a.spool.read_all().unwrap();
        assert_eq!(hex(&Sha256::digest(&sent)), a.sha256);
        assert_eq!(check_archive(&sent[..], false).unwrap().entries, 1);
    }

    #[test]
    fn packing_keeps_plain_bits_and_refuses_set_id_files() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let set = |p: &str, m: u32| std::fs::set_permissions(dir.path().join(p), std::fs::Permissions::from_mode(m));
        std::fs::create_dir(dir.path().join("d")).unwrap();
        std::fs::write(dir.path().join("d/run"), "x").unwrap();
        std::fs::write(dir.path().join("d/data"), "y").unwrap();
        set("d/run", 0o775).unwrap();
        set("d/data", 0o666).unwrap();
        set("d", 0o2777).unwrap();
        let a = Artifact::prepare(dir.path()).unwrap();
        let bytes = a.spool.read_all().unwrap();
        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
        let modes: Vec<(String, u32)> = ar
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.path().unwrap().display().to_string(), e.header().mode().unwrap())
            })
            .collect();
        assert_eq!(modes[..3], [("d".into(), 0o755), ("d/data".into(), 0o644), ("d/run".into(), 0o755)]);
        let listed: Vec<u32> = a.manifest.unwrap().files.iter().map(|f| f.mode).collect();
        assert_eq!(listed, [0o644, 0o755], "the manifest records what the host will hold");
        set("d/run", 0o4755).unwrap();
        let err = Artifact::prepare(dir.path()).unwrap_err();
        assert!(err.contains("d/run is set-uid (mode 4755)") && err.contains("chmod ug-s"), "{err}");
    }

    /// A copy of a release (as `tar -czf - -C <release> .` makes it),
    /// checked against its own manifest.
    #[test]
    fn a_release_copy_is_verified_against_its_manifest() {
        use std::os::unix::fs::PermissionsExt;
        let build = tempfile::tempdir().unwrap();
        std::fs::write(build.path().join("a.txt"), "a").unwrap();
        std::fs::write(build.path().join("run"), "r").unwrap();
        std::fs::set_permissions(build.path().join("run"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let manifest = Artifact::prepare_until(build.path(), &["log".into()], FAST, &|| false)
            .unwrap()
            .manifest
            .unwrap()
            .to_text();
        type Files = Vec<(String, u32, Vec<u8>)>;
        let copy = |edit: &dyn Fn(&mut Files)| {
            let mut files = vec![
                ("./a.txt".to_string(), 0o644, b"a".to_vec()),
                ("./run".to_string(), 0o755, b"r".to_vec()),
                ("./.ship/manifest".to_string(), 0o644, manifest.clone().into_bytes()),
                ("./.ship/release.json".to_string(), 0o644, b"{}".to_vec()),
                ("./log/x".to_string(), 0o644, b"shared".to_vec()),
            ];
            edit(&mut files);
            let bytes = tarball(|t| {
                for (p, m, b) in &files {
                    entry(t, p, tar::EntryType::Regular, *m, b);
                }
            });
            let mut temp = tempfile::NamedTempFile::new().unwrap();
            temp.write_all(&bytes).unwrap();
            Artifact::from_release_copy(temp.into_temp_path(), &["log".into()]).map(|a| a.sha256)
        };
        assert!(copy(&|_| {}).is_ok());
        let err = |edit: &dyn Fn(&mut Files)| copy(edit).unwrap_err();
        assert_eq!(
            err(&|f| f[0].2 = b"hot fix".to_vec()),
            "a.txt differs from its manifest (changed on the host after it was deployed?)"
        );
        assert_eq!(
            err(&|f| f[1].1 = 0o777),
            "run has mode 777, its manifest says 755 (changed on the host after it was deployed?)"
        );
        assert!(err(&|f| f[1].1 = 0o4755).contains("run` is set-uid"));
        assert!(
            err(&|f| f.push(("./new.php".into(), 0o644, b"x".to_vec()))).starts_with("new.php is not in its manifest")
        );
        assert!(err(&|f| {
            f.remove(1);
        })
        .starts_with("run is in its manifest but missing"));
        assert!(err(&|f| {
            f.remove(2);
        })
        .starts_with("it has no .ship/manifest"));
        // Unpacked under umask 022 before ship fixed it: less write, still as deployed.
        assert!(mode_as_deployed(0o644, 0o664) && !mode_as_deployed(0o666, 0o644) && !mode_as_deployed(0o600, 0o644));
    }
}
