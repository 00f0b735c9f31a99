//! The local artifact cache: every deploy keeps its packaged build under
//! `$XDG_CACHE_HOME/ship/<app>/<release id>.tar.gz` (default `~/.cache`), the
//! last `keep_releases` of them, so `ship sync` can bring new hosts to the
//! fleet's release without rebuilding.

use crate::artifact::Artifact;
use crate::release::ReleaseId;
use std::path::{Path, PathBuf};

/// Where release `id`'s archive lives in `dir`.
pub fn path(dir: &Path, id: &ReleaseId) -> PathBuf {
    dir.join(format!("{id}.tar.gz"))
}

/// Writes the artifact (atomically: temp file + rename), then keeps only the
/// newest `keep` archives.
pub fn store(dir: &Path, id: &ReleaseId, artifact: &Artifact, keep: usize) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{id}.tar.gz.tmp"));
    std::fs::copy(artifact.spool.path(), &tmp)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, path(dir, id))?;
    let mut ids: Vec<ReleaseId> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".tar.gz").and_then(ReleaseId::parse))
        .collect();
    ids.sort();
    for old in ids.iter().rev().skip(keep.max(1)) {
        std::fs::remove_file(path(dir, old))?;
    }
    Ok(())
}

/// The cached archive of `id`, if there is one.
pub fn find(dir: &Path, id: &ReleaseId) -> Option<PathBuf> {
    Some(path(dir, id)).filter(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_archives() {
        let dir = tempfile::tempdir().unwrap();
        let build = tempfile::tempdir().unwrap();
        std::fs::write(build.path().join("a"), "1").unwrap();
        let art = Artifact::prepare(build.path()).unwrap();
        for s in 1..=4 {
            store(dir.path(), &ReleaseId::parse(&format!("2026010100000{s}")).unwrap(), &art, 2).unwrap();
        }
        let mut names: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        assert_eq!(names, ["20260101000003.tar.gz", "20260101000004.tar.gz"]);
        let found = find(dir.path(), &ReleaseId::parse("20260101000004").unwrap()).unwrap();
        assert_eq!(Artifact::prepare(&found).unwrap().sha256, art.sha256, "byte for byte");
    }
}
