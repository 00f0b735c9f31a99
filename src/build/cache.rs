//! The local artifact cache: every deploy keeps its packaged build under
//! `$XDG_CACHE_HOME/ship/<app>/<environment>/<release id>.tar.gz` (default
//! `~/.cache`; see [`dir`]), the last `keep_releases` of them, so `ship
//! sync` can bring new hosts to the fleet's release without rebuilding.
//! Keyed by environment, so one environment's deploys never push another's
//! archives out; and never trusted: an archive is used only when its
//! sha256 is the one the release's `release.json` records ([`load`]).

use crate::build::artifact::Artifact;
use crate::release::ReleaseId;
use std::path::{Path, PathBuf};

/// The cache directory of `app` in environment `env` under `base`:
/// `<base>/<app>/env-<env>` (bytes other than letters, digits, `.`, `_`
/// and `-` written `%XX`), or `<base>/<app>/default` without one.
pub(crate) fn dir(base: &Path, app: &str, env: Option<&str>) -> PathBuf {
    let leaf = match env {
        None => "default".to_string(),
        Some(e) => {
            let safe = |b: u8| b.is_ascii_alphanumeric() || b"._-".contains(&b);
            let enc: String =
                e.bytes().map(|b| if safe(b) { char::from(b).to_string() } else { format!("%{b:02X}") }).collect();
            format!("env-{enc}")
        }
    };
    base.join(app).join(leaf)
}

/// The cached archive of `id`, read and checked like a given archive, if
/// there is one; an error (the caller warns and copies instead) when its
/// sha256 is not `sha256`, the one the release's release.json records.
pub(crate) fn load(dir: &Path, id: &ReleaseId, sha256: &str) -> Result<Option<Artifact>, String> {
    let Some(p) = find(dir, id) else { return Ok(None) };
    let artifact = Artifact::prepare(&p).map_err(|e| format!("the cached archive {} {e}", p.display()))?;
    if artifact.sha256 != sha256 {
        return Err(format!(
            "the cached archive {} has sha256 {}, which differs from the sha256 in its release.json ({})",
            p.display(),
            artifact.sha256,
            if sha256.is_empty() { "none" } else { sha256 }
        ));
    }
    Ok(Some(artifact))
}

/// Where release `id`'s archive lives in `dir`.
pub(crate) fn path(dir: &Path, id: &ReleaseId) -> PathBuf {
    dir.join(format!("{id}.tar.gz"))
}

/// Writes the artifact (atomically: temp file + rename), then keeps only the
/// newest `keep` archives.
pub(crate) fn store(dir: &Path, id: &ReleaseId, artifact: &Artifact, keep: usize) -> std::io::Result<()> {
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
pub(crate) fn find(dir: &Path, id: &ReleaseId) -> Option<PathBuf> {
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

    #[test]
    fn an_archive_is_loaded_only_with_the_recorded_sha256() {
        let dir = tempfile::tempdir().unwrap();
        let build = tempfile::tempdir().unwrap();
        std::fs::write(build.path().join("a"), "1").unwrap();
        let art = Artifact::prepare(build.path()).unwrap();
        let id = ReleaseId::parse("20260101000001").unwrap();
        assert!(load(dir.path(), &id, &art.sha256).unwrap().is_none());
        store(dir.path(), &id, &art, 2).unwrap();
        assert_eq!(load(dir.path(), &id, &art.sha256).unwrap().unwrap().sha256, art.sha256);
        let err = load(dir.path(), &id, &"0".repeat(64)).err().unwrap();
        assert!(err.contains("differs from the sha256 in its release.json"), "{err}");
    }

    #[test]
    fn each_environment_has_its_own_directory() {
        let base = Path::new("/c/ship");
        assert_eq!(dir(base, "shop", None), Path::new("/c/ship/shop/default"));
        assert_eq!(dir(base, "shop", Some("prod")), Path::new("/c/ship/shop/env-prod"));
        assert_eq!(dir(base, "shop", Some("default")), Path::new("/c/ship/shop/env-default"));
        assert_eq!(dir(base, "shop", Some("../x y")), Path::new("/c/ship/shop/env-..%2Fx%20y"));
    }
}
