//! Reading an archive as GNU tar on a host will, before any host sees it:
//! paths that would land outside the release or through its own links,
//! entries a release may not hold, and (for a copy made from a host) every
//! file and link against the release's own manifest.

use super::artifact::{set_id, tar_blocks, under_any, Hashing, SET_ID_ADVICE};
use crate::build::manifest::{self, FileEntry, LinkEntry, Manifest};
use crate::text::hex;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// Whether a host holding `disk` for a file the manifest records as
/// `recorded` holds it as deployed: the same mode, or (a release unpacked
/// before ship fixed the umask) that mode less group and world write.
pub(super) fn mode_as_deployed(disk: u32, recorded: u32) -> bool {
    disk == recorded || disk == recorded & 0o755
}

/// Checks a copied release's regular files against its own manifest.
pub(super) fn verify_copy(checked: &Checked, linked: &[String]) -> Result<(), String> {
    let text = checked.manifest.as_deref().ok_or(
        "it has no .ship/manifest (deployed from a .tar.gz, or by an older ship), so a copy cannot be checked",
    )?;
    let text = std::str::from_utf8(text).map_err(|_| "its .ship/manifest is not text".to_string())?;
    let listed = Manifest::parse(text).map_err(|e| format!("its .ship/manifest is unreadable: {e}"))?;
    let mut want: std::collections::HashMap<&str, &FileEntry> =
        listed.files.iter().map(|f| (f.path.as_str(), f)).collect();
    for got in &checked.files {
        if SHIP_OWN.contains(&got.path.as_str()) || under_any(&got.path, linked) {
            continue;
        }
        let path = &got.path;
        match want.remove(path.as_str()) {
            None => return Err(format!("{path} is not in its manifest (added on the host after it was deployed?)")),
            Some(w) if w.sha256 != got.sha256 || w.size != got.size => {
                return Err(format!("{path} differs from its manifest (changed on the host after it was deployed?)"))
            }
            Some(w) if !mode_as_deployed(got.mode, w.mode) => {
                return Err(format!(
                    "{path} has mode {:o}, its manifest says {:o} (changed on the host after it was deployed?)",
                    got.mode, w.mode
                ))
            }
            Some(_) => {}
        }
    }
    if let Some(path) = want.keys().min() {
        return Err(format!("{path} is in its manifest but missing (removed on the host after it was deployed?)"));
    }
    // Links are checked where the manifest records them (ship 0.1 did not).
    if !listed.records_links {
        return Ok(());
    }
    let mut want: std::collections::HashMap<&str, &LinkEntry> =
        listed.links.iter().map(|l| (l.path.as_str(), l)).collect();
    for got in &checked.links {
        if under_any(&got.path, linked) {
            continue;
        }
        let path = &got.path;
        match want.remove(path.as_str()) {
            None => {
                return Err(format!(
                    "the link {path} is not in its manifest (added on the host after it was deployed?)"
                ))
            }
            Some(w) if w.target != got.target => {
                return Err(format!(
                    "the link {path} points at {}, its manifest says {} (changed on the host after it was deployed?)",
                    String::from_utf8_lossy(&got.target).escape_debug(),
                    String::from_utf8_lossy(&w.target).escape_debug()
                ))
            }
            Some(_) => {}
        }
    }
    match want.keys().min() {
        Some(path) => {
            Err(format!("the link {path} is in its manifest but missing (removed on the host after it was deployed?)"))
        }
        None => Ok(()),
    }
}

/// Ship's own files in a release, not listed in its manifest.
pub(super) const SHIP_OWN: [&str; 3] = [manifest::PATH, ".ship/release.json", ".ship/bad"];

/// What reading a whole archive found.
#[derive(Debug, Default)]
pub(super) struct Checked {
    /// Bytes it takes unpacked (files plus tar blocks).
    pub(super) unpacked: u64,
    /// Entries (files, directories, links).
    pub(super) entries: usize,
    /// Its regular files, hashed (when asked for).
    pub(super) files: Vec<FileEntry>,
    /// Its symlinks (when files are asked for).
    pub(super) links: Vec<LinkEntry>,
    /// The body of its `.ship/manifest`, if it has one (when files are asked for).
    pub(super) manifest: Option<Vec<u8>>,
}

/// The largest `.ship/manifest` read from a copied release.
pub(super) const MANIFEST_CAP: u64 = 64 << 20;

/// Reads the whole archive once, as GNU tar on a host will: refuses paths
/// that would land outside the release or through one of its own symlinks
/// (hard links too), any entry but a regular file, directory or link
/// (device nodes, FIFOs, sockets, and headers GNU tar reads differently),
/// and set-uid/set-gid files. Sums the unpacked size; with `hash_files`,
/// hashes every regular file and keeps the manifest.
pub(super) fn check_archive(gz: impl Read, hash_files: bool) -> Result<Checked, String> {
    use tar::EntryType as T;
    // Every gzip member, as `gzip -d` on the host reads them.
    let mut archive = tar::Archive::new(flate2::read::MultiGzDecoder::new(gz));
    let mut links: HashSet<PathBuf> = HashSet::new();
    let mut found = Checked::default();
    let entries = archive.entries().map_err(|e| format!("is not a readable tar.gz: {e}"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("is not a readable tar.gz: {e}"))?;
        let path = entry.path().map_err(|e| format!("has an unreadable entry name: {e}"))?.into_owned();
        let shown = path.display().to_string();
        let clean = safe_path(&path, &links, "")?;
        // ship's own markers (release.json, bad) are written by ship on
        // the host; a given archive (say, one packed from a deployed
        // release) may not bring them. Its files manifest may come along
        // (archives ship packed itself, the sync cache, carry one; a delta
        // checks every file it links anyway). Copies between hosts carry
        // all of them by design.
        let under_ship = clean.components().next().is_some_and(|c| c.as_os_str() == ".ship");
        let own = clean == Path::new(".ship") || clean == Path::new(crate::build::manifest::PATH);
        if !hash_files && under_ship && !own {
            return Err(format!(
                "has `{shown}` under a top-level `.ship`, where ship keeps its own files in a release \
(an archive packed from a deployed release?); repack it without `.ship/`"
            ));
        }
        let kind = entry.header().entry_type();
        // Only a file's mode matters (links have none worth reading).
        let mode = entry.header().mode().map(|m| m & 0o7777);
        check_pax(&mut entry, kind, &shown)?;
        let regular = matches!(kind, T::Regular | T::Continuous | T::GNUSparse);
        match kind {
            _ if regular => {
                let mode = *mode.as_ref().map_err(|e| format!("`{shown}` has an unreadable mode: {e}"))?;
                if let Some(which) = set_id(mode) {
                    return Err(format!("`{shown}` is {which} (mode {mode:o}); {SET_ID_ADVICE}"));
                }
            }
            T::Directory | T::XGlobalHeader => {}
            T::Symlink => {
                links.insert(clean.clone());
                if hash_files {
                    let path = manifest::name_of(&clean);
                    let target = entry.link_name_bytes().map(|t| t.into_owned()).unwrap_or_default();
                    found.links.push(LinkEntry { path, target });
                }
            }
            T::Link => {
                let target = entry
                    .link_name()
                    .map_err(|e| format!("`{shown}` has an unreadable link target: {e}"))?
                    .unwrap_or_default()
                    .into_owned();
                safe_path(&target, &links, "a hard link to ")?;
            }
            other => return Err(refused_kind(other, &shown)),
        }
        found.unpacked += tar_blocks(entry.size());
        if kind != T::XGlobalHeader {
            found.entries += 1;
        }
        // Read the body whole, so the next header is read (and the gzip is checked whole).
        let corrupt = |e: std::io::Error| format!("is truncated or corrupt: {e}");
        if hash_files && regular {
            let path = manifest::name_of(&clean);
            let mut body = Hashing { inner: Vec::new(), sha: Sha256::new() };
            if path == manifest::PATH {
                std::io::copy(&mut (&mut entry).take(MANIFEST_CAP), &mut body).map_err(corrupt)?;
                found.manifest = Some(std::mem::take(&mut body.inner));
            }
            let mut rest = Hashing { inner: std::io::sink(), sha: body.sha };
            std::io::copy(&mut entry, &mut rest).map_err(corrupt)?;
            let mode = mode.unwrap_or_default();
            found.files.push(FileEntry { path, mode, size: entry.size(), sha256: hex(&rest.sha.finalize()) });
        } else {
            std::io::copy(&mut entry, &mut std::io::sink()).map_err(corrupt)?;
        }
    }
    Ok(found)
}

/// Refuses pax headers GNU tar would read differently from the tar crate.
fn check_pax<R: Read>(entry: &mut tar::Entry<'_, R>, kind: tar::EntryType, shown: &str) -> Result<(), String> {
    let Some(pax) = entry.pax_extensions().map_err(|e| format!("`{shown}` has unreadable pax headers: {e}"))? else {
        return Ok(());
    };
    for ext in pax {
        let key = ext.map_err(|e| format!("`{shown}` has unreadable pax headers: {e}"))?.key().unwrap_or("?");
        let allowed =
            if kind == tar::EntryType::XGlobalHeader { key == "comment" } else { !key.starts_with("GNU.sparse") };
        if !allowed {
            return Err(format!(
                "has a pax header `{key}` (at `{shown}`) that GNU tar would read differently; repack it"
            ));
        }
    }
    Ok(())
}

/// Why an entry of kind `kind` (not a file, directory or link) is refused.
fn refused_kind(kind: tar::EntryType, shown: &str) -> String {
    let what = match kind {
        tar::EntryType::Char => "a character device",
        tar::EntryType::Block => "a block device",
        tar::EntryType::Fifo => "a FIFO",
        _ => "of a kind ship does not install",
    };
    format!(
        "`{shown}` is {what}: a release holds only regular files, directories and links; repack it without that entry"
    )
}

/// `path` without `.` parts, if it stays inside the release and does not
/// go through one of the archive's own symlinks; `what` prefixes the name
/// in errors.
pub(super) fn safe_path(path: &Path, links: &HashSet<PathBuf>, what: &str) -> Result<PathBuf, String> {
    let shown = path.display();
    if path.components().any(|c| matches!(c, Component::RootDir | Component::Prefix(_))) {
        return Err(format!("has {what}an absolute path `{shown}`; repack it with relative paths"));
    }
    if path.components().any(|c| c == Component::ParentDir) {
        return Err(format!("has {what}an entry `{shown}` with `..`; repack it without"));
    }
    let clean: PathBuf = path.components().filter(|c| *c != Component::CurDir).collect();
    if let Some(link) = clean.ancestors().skip(1).find(|a| links.contains(*a)) {
        return Err(format!(
            "writes {what}`{shown}` through the symlink `{}`; an archive may not place files through its own links",
            link.display()
        ));
    }
    Ok(clean)
}
