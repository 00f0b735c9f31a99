//! Delta archives: what a host whose current release carries a manifest
//! needs of a new build, cut from the full archive (so every byte sent is a
//! byte that was hashed into the manifest): every directory and symlink,
//! the files that changed, the new manifest, and `.ship/links`, the
//! unchanged files with their sha256, which the host hard-links from its
//! current release and hashes before the release can be renamed into place
//! ([`crate::remote::relink`]). A hard link is never written through: the
//! files it shares are only read, and a changed file arrives as a new inode
//! (ARCHITECTURE.md invariant 4). Which hosts get which cut is decided in
//! [`crate::deploy::payload`].

use crate::build::artifact::{self, Artifact};
use crate::build::manifest::{self, FileEntry, Manifest};
use std::collections::HashSet;
use std::sync::Arc;

/// Where the list of files to hard-link travels, inside a delta archive.
pub(crate) const LINKS: &str = ".ship/links";

/// Cuts a delta archive out of `full`: everything but the `unchanged`
/// files, plus their list.
pub(crate) fn cut(full: &Artifact, unchanged: &[&FileEntry]) -> Result<Artifact, String> {
    let skip: HashSet<&str> = unchanged.iter().map(|f| f.path.as_str()).collect();
    let file = std::fs::File::open(full.spool.path()).map_err(|e| format!("cannot read the package: {e}"))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)));
    let mut entries = 0;
    let (spool, sha256) = artifact::spooled(full.level, |tar| {
        let all = archive.entries().map_err(|e| format!("cannot read the package: {e}"))?;
        for entry in all {
            let mut entry = entry.map_err(|e| format!("cannot read the package: {e}"))?;
            let path = entry.path().map_err(|e| format!("cannot read the package: {e}"))?.into_owned();
            let kind = entry.header().entry_type();
            if kind.is_file() && path.to_str().is_some_and(|p| skip.contains(p)) {
                continue;
            }
            let mut h = entry.header().clone();
            let res = if kind.is_symlink() {
                let target = entry.link_name().ok().flatten().map(|t| t.into_owned()).unwrap_or_default();
                tar.append_link(&mut h, &path, target)
            } else {
                tar.append_data(&mut h, &path, &mut entry)
            };
            res.map_err(|e| format!("cannot pack {}: {e}", path.display()))?;
            entries += 1;
        }
        artifact::append_file(tar, LINKS, manifest::sums_text(unchanged).as_bytes())
    })?;
    Ok(Artifact {
        size: spool.size(),
        spool: Arc::new(spool),
        sha256,
        unpacked: full.unpacked,
        entries,
        manifest: full.manifest.clone(),
        linked: unchanged.len(),
        linked_bytes: unchanged.iter().map(|f| f.size).sum(),
        level: full.level,
    })
}

/// The delta from a host whose current release has manifest `old` to
/// `full`; `None` when they have no file in common.
pub(crate) fn against(full: &Artifact, old: &Manifest) -> Result<Option<Artifact>, String> {
    let Some(new) = &full.manifest else { return Ok(None) };
    let unchanged = new.unchanged_since(old);
    if unchanged.is_empty() {
        return Ok(None);
    }
    cut(full, &unchanged).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry_names(a: &Artifact) -> Vec<String> {
        let bytes = a.spool.read_all().unwrap();
        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
        ar.entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string()).collect()
    }

    #[test]
    fn a_delta_carries_everything_but_the_unchanged_files_and_lists_them() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        std::fs::write(dir.path().join("d/same.txt"), "same").unwrap();
        std::fs::write(dir.path().join("d/changed.txt"), "v1").unwrap();
        std::os::unix::fs::symlink("d/same.txt", dir.path().join("link")).unwrap();
        let v1 = Artifact::prepare(dir.path()).unwrap();
        std::fs::write(dir.path().join("d/changed.txt"), "v2").unwrap();
        let v2 = Artifact::prepare(dir.path()).unwrap();
        let unchanged = v2.manifest.as_ref().unwrap().unchanged_since(v1.manifest.as_ref().unwrap());
        let delta = cut(&v2, &unchanged).unwrap();
        assert_eq!(delta.linked, 1);
        assert_eq!(
            entry_names(&delta),
            ["d", "d/changed.txt", "link", ".ship/manifest", ".ship/links"],
            "no d/same.txt"
        );
        assert_eq!(manifest::sums_text(&unchanged), format!("{}  ./d/same.txt\n", crate::text::hex(&sha2_of(b"same"))));
        assert_ne!(delta.sha256, v2.sha256);
    }

    fn sha2_of(b: &[u8]) -> Vec<u8> {
        use sha2::Digest;
        sha2::Sha256::digest(b).to_vec()
    }
}
