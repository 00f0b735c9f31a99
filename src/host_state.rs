//! What a host told us about itself: the parsed output of the `state` and
//! `preflight` scripts from [`crate::remote`].

use crate::release::ReleaseId;

/// A host's releases and `current`, as read in one round trip.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostState {
    /// The release `current` points at, if it is a symlink to a release.
    pub current: Option<ReleaseId>,
    /// The raw symlink target, for messages when it is not a release.
    pub current_target: Option<String>,
    /// `current` exists but is a real directory or file.
    pub current_is_dir: bool,
    /// Release directories, oldest first.
    pub releases: Vec<ReleaseId>,
    /// Other entries under releases/ (left alone, with a warning).
    pub strangers: Vec<String>,
    /// Free KiB on the deploy filesystem (preflight only).
    pub free_kb: Option<u64>,
    /// Linked files missing from shared/ (preflight only).
    pub missing: Vec<String>,
    /// The lock's details.json, when the host is locked.
    pub lock: Option<String>,
    /// This run just took the lock (preflight with locking).
    pub lock_taken: bool,
    /// Releases marked bad by a failed deploy; rollback skips them.
    pub bad: Vec<ReleaseId>,
    /// sha256 of the current release's files manifest (preflight only).
    pub manifest: Option<String>,
    /// The download tool pull mode would use (preflight only).
    pub fetcher: Option<crate::pull::Fetcher>,
}

impl HostState {
    /// Parses `key=value` lines; unknown lines are ignored.
    pub fn parse(output: &str) -> HostState {
        let mut s = HostState::default();
        for line in output.lines() {
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            match k {
                "current" => {
                    s.current = v.rsplit('/').next().and_then(ReleaseId::parse);
                    s.current_target = Some(v.to_string());
                }
                "current_is_dir" => s.current_is_dir = true,
                "entry" => match ReleaseId::parse(v) {
                    Some(id) => s.releases.push(id),
                    None => s.strangers.push(v.to_string()),
                },
                "free_kb" => s.free_kb = v.trim().parse().ok(),
                "manifest" if v.len() == 64 => s.manifest = Some(v.to_string()),
                "fetcher" => s.fetcher = crate::pull::Fetcher::parse(v),
                "missing" => s.missing.push(v.to_string()),
                "lock" if v == "taken" => s.lock_taken = true,
                "lock" => s.lock = Some(v.strip_prefix("held ").unwrap_or(v).to_string()),
                "bad" => s.bad.extend(v.rsplit('/').next().and_then(ReleaseId::parse)),
                _ => {}
            }
        }
        s.releases.sort();
        s
    }

    /// The release a rollback goes to: the newest one older than current
    /// that is not marked bad.
    pub fn previous(&self) -> Option<&ReleaseId> {
        let cur = self.current.as_ref()?;
        self.releases.iter().rev().find(|r| *r < cur && !self.bad.contains(r))
    }

    /// Someone else holds the lock (it exists and this run did not take it).
    pub fn locked_by_other(&self) -> bool {
        self.lock.is_some() && !self.lock_taken
    }

    /// Releases to delete so that `keep` remain, never the current one nor
    /// the one a rollback would go to (DESIGN.md invariant 3).
    pub fn prune_plan(&self, keep: usize) -> Vec<ReleaseId> {
        let protected: Vec<&ReleaseId> = self.current.iter().chain(self.previous()).collect();
        let mut kept = 0;
        let mut doomed = Vec::new();
        for r in self.releases.iter().rev() {
            if protected.contains(&r) {
                continue;
            }
            if kept + protected.len() < keep {
                kept += 1;
            } else {
                doomed.push(r.clone());
            }
        }
        doomed.reverse();
        doomed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[ReleaseId]) -> Vec<&str> {
        v.iter().map(|r| r.as_str()).collect()
    }

    fn state(current: &str, releases: &[&str]) -> HostState {
        let mut out = format!("current=/srv/d/releases/{current}\n");
        for r in releases {
            out += &format!("entry={r}\n");
        }
        HostState::parse(&out)
    }

    #[test]
    fn parses_script_output() {
        let s = HostState::parse(
            "current=/srv/d/releases/20260101000002\nentry=20260101000002\nentry=20260101000001\nentry=old-copy\nfree_kb=1234\nmissing=.env\n",
        );
        assert_eq!(s.current.as_ref().unwrap().as_str(), "20260101000002");
        assert_eq!(ids(&s.releases), ["20260101000001", "20260101000002"]);
        assert_eq!(s.strangers, ["old-copy"]);
        assert_eq!(s.free_kb, Some(1234));
        assert_eq!(s.missing, [".env"]);
        assert_eq!(s.previous().unwrap().as_str(), "20260101000001");
    }

    #[test]
    fn previous_skips_bad_releases_and_locks_parse() {
        let s = HostState::parse(
            "current=/d/releases/20260101000003\nentry=20260101000001\nentry=20260101000002\nentry=20260101000003\n\
bad=/d/releases/20260101000002\nlock=held {\"holder\":\"x@y\"}\n",
        );
        assert_eq!(s.previous().unwrap().as_str(), "20260101000001");
        assert!(s.locked_by_other());
        assert_eq!(s.lock.as_deref(), Some("{\"holder\":\"x@y\"}"));
        let mine = HostState::parse("lock=taken\nlock={\"token\":\"t\"}\n");
        assert!(!mine.locked_by_other());
    }

    #[test]
    fn prune_keeps_newest_and_current() {
        let s = state(
            "20260101000005",
            &["20260101000001", "20260101000002", "20260101000003", "20260101000004", "20260101000005"],
        );
        assert_eq!(ids(&s.prune_plan(3)), ["20260101000001", "20260101000002"]);
        assert!(s.prune_plan(10).is_empty());
    }

    #[test]
    fn prune_never_removes_current_after_rollback_nor_its_predecessor() {
        let s = state("20260101000002", &["20260101000001", "20260101000002", "20260101000003", "20260101000004"]);
        // keep 1: current (…02) and the rollback target (…01) both survive.
        assert_eq!(ids(&s.prune_plan(1)), ["20260101000003", "20260101000004"]);
        assert_eq!(ids(&s.prune_plan(3)), ["20260101000003"]);
    }
}
