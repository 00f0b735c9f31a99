//! Delta shipping: a host whose current release carries a manifest receives
//! only the files it does not already have.
//!
//! Preflight reports the sha256 of each host's current manifest; hosts are
//! grouped by it, and one host per group is asked for the manifest itself.
//! Each group gets its own archive, cut from the full one (so every byte
//! sent is a byte that was hashed into the manifest): every directory and
//! symlink, the files that changed, the new manifest, and `.ship/links`,
//! the unchanged files with their sha256. The host extracts it, hard-links
//! the listed files from its current release, and hashes every linked file
//! against the list before the release can be renamed into place
//! ([`crate::remote::relink`]). A hard link is never written through: the
//! files it shares are only read, and a changed file arrives as a new
//! inode (ARCHITECTURE.md invariant 4).

use crate::build::artifact::{self, Artifact};
use crate::build::manifest::{self, FileEntry, Manifest};
use crate::event::{Event, Reporter};
use crate::fleet::Slot;
use crate::outcome::Step;
use crate::remote;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

/// Where the list of files to hard-link travels, inside a delta archive.
pub(crate) const LINKS: &str = ".ship/links";

/// Cuts a delta archive out of `full`: everything but the `unchanged`
/// files, plus their list.
pub(crate) fn build(full: &Artifact, unchanged: &[&FileEntry]) -> Result<Artifact, String> {
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

/// The largest manifest read from a host (about 600,000 files).
const MANIFEST_CAP: usize = 64 << 20;

/// The current release's manifest on `slot`: through the host's running
/// shell, or, when it is larger than a script's output may be, in a
/// channel of its own.
async fn read(slot: &Slot, r: &dyn Reporter) -> Result<String, String> {
    let script = remote::read_manifest(&slot.host.layout());
    let out = slot.run(Step::Preflight, &script, r).await?;
    if out.raw.len() < crate::ssh::STDOUT_CAP {
        return Ok(out.stdout);
    }
    let session = slot.session.as_ref().ok_or("not connected")?;
    let out = session.download(&script, MANIFEST_CAP).await.map_err(|e| e.to_string())?;
    if !out.success() {
        return Err(out.failure());
    }
    if out.raw.len() >= MANIFEST_CAP {
        return Err(format!("it is larger than {} MiB", MANIFEST_CAP >> 20));
    }
    Ok(out.stdout)
}

/// What each slot receives, by index: the full archive, or (when `delta`)
/// the delta for its group. A group whose manifest cannot be read or parsed
/// gets the full archive, with a warning; so does a group with nothing in
/// common, or whose delta would not be smaller than the full archive.
pub(crate) async fn plan(slots: &[Slot], full: &Artifact, delta: bool, r: &dyn Reporter) -> Vec<Arc<Artifact>> {
    let whole = Arc::new(full.clone());
    let mut out: Vec<Arc<Artifact>> = slots.iter().map(|_| whole.clone()).collect();
    let Some(new) = full.manifest.clone().filter(|_| delta) else {
        return out;
    };
    let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, slot) in slots.iter().enumerate() {
        if let Some(sum) = slot.state.manifest.as_deref() {
            groups.entry(sum).or_default().push(i);
        }
    }
    for members in groups.into_values() {
        let first = &slots[members[0]];
        let names: Vec<String> = members.iter().map(|&i| slots[i].host.name.clone()).collect();
        let fallback = |why: String| Event::Warning {
            host: Some(first.host.name.clone()),
            message: format!("{why}; sending the full archive to {}", names.join(", ")),
        };
        let old = match read(first, r).await {
            Ok(text) => Manifest::parse(&text).map_err(|e| format!("the current release's {} {e}", manifest::PATH)),
            Err(e) => Err(format!("could not read the current release's {}: {e}", manifest::PATH)),
        };
        let old = match old {
            Ok(m) => m,
            Err(why) => {
                r.emit(fallback(why));
                continue;
            }
        };
        let (full2, new2) = (full.clone(), new.clone());
        let built = tokio::task::spawn_blocking(move || {
            let unchanged = new2.unchanged_since(&old);
            if unchanged.is_empty() {
                return Ok(None);
            }
            build(&full2, &unchanged).map(Some)
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|x| x);
        match built {
            // A tiny build's delta (link list and all) can outweigh it.
            Ok(Some(delta)) if delta.size >= full.size => {}
            Ok(Some(delta)) => {
                r.emit(Event::Delta {
                    hosts: names,
                    files: new.files.len(),
                    unchanged: delta.linked,
                    bytes: delta.size,
                    full_bytes: full.size,
                });
                let delta = Arc::new(delta);
                for &i in &members {
                    out[i] = delta.clone();
                }
            }
            Ok(None) => {}
            Err(why) => r.emit(fallback(format!("could not make the delta archive: {why}"))),
        }
    }
    out
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
        let delta = build(&v2, &unchanged).unwrap();
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
