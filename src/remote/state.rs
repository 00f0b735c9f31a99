//! What a host told us about itself: the parsed output of the `state` and
//! `preflight` scripts from [`crate::remote`].

use crate::release::ReleaseId;
use crate::remote::log::{LogEntry, LogEvent};

/// A host's releases and `current`, as read in one round trip.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct HostState {
    /// The ship release (14-digit id) that `current` resolves to, however
    /// the link is spelled (absolute, relative, trailing slash).
    pub current: Option<ReleaseId>,
    /// The entry of `releases/` that `current` resolves into, whatever its
    /// name (`57` on a host migrated from Deployer or Mina).
    pub current_name: Option<String>,
    /// The raw symlink target, for messages (lossy UTF-8).
    pub current_target: Option<String>,
    /// The symlink's exact bytes: a revert restores them as they were.
    pub current_link: Option<Vec<u8>>,
    /// The directory `current` resolves to (empty when it dangles).
    pub current_real: Option<String>,
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
    pub fetcher: Option<crate::config::pull::Fetcher>,
    /// Lines of `.ship/log.jsonl`, oldest first (when the script asked).
    pub log: Vec<String>,
}

/// A command's output as printed: one trailing newline dropped.
fn line_bytes(v: &str) -> Option<Vec<u8>> {
    let mut b = crate::text::unhex(v)?;
    if b.last() == Some(&b'\n') {
        b.pop();
    }
    Some(b)
}

/// NUL-separated names.
fn names(v: &str) -> Vec<String> {
    crate::text::unhex(v)
        .unwrap_or_default()
        .split(|&b| b == 0)
        .filter(|n| !n.is_empty())
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .collect()
}

impl HostState {
    /// Parses `key=value` lines; unknown lines are ignored.
    pub(crate) fn parse(output: &str) -> HostState {
        let mut s = HostState::default();
        let mut releases_real = None;
        for line in output.lines() {
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            match k {
                "current_link" => {
                    let b = line_bytes(v).unwrap_or_default();
                    s.current_target = Some(String::from_utf8_lossy(&b).into_owned());
                    s.current_link = Some(b);
                }
                "current_real" => {
                    s.current_real = line_bytes(v).map(|b| String::from_utf8_lossy(&b).into_owned());
                }
                "releases_real" => releases_real = line_bytes(v).map(|b| String::from_utf8_lossy(&b).into_owned()),
                "current_is_dir" => s.current_is_dir = true,
                "entries" => {
                    for name in names(v) {
                        match ReleaseId::parse(&name) {
                            Some(id) => s.releases.push(id),
                            None => s.strangers.push(name),
                        }
                    }
                }
                "bad" => s.bad.extend(names(v).iter().filter_map(|n| ReleaseId::parse(n))),
                "free_kb" => s.free_kb = v.trim().parse().ok(),
                "manifest" if v.len() == 64 => s.manifest = Some(v.to_string()),
                "fetcher" => s.fetcher = crate::config::pull::Fetcher::parse(v),
                "missing" => s.missing.push(v.to_string()),
                "lock" if v == "taken" => s.lock_taken = true,
                "lock" => s.lock = Some(v.strip_prefix("held ").unwrap_or(v).to_string()),
                "log" => s.log.push(v.to_string()),
                _ => {}
            }
        }
        // Which entry of releases/ `current` resolves into: compared as
        // real paths, so `releases/57`, `…/<id>/` and relative links count.
        if let (Some(real), Some(rel)) = (&s.current_real, &releases_real) {
            if let Some(rest) = real.strip_prefix(rel.as_str()).and_then(|r| r.strip_prefix('/')) {
                let name = rest.split('/').next().unwrap_or_default();
                if !name.is_empty() {
                    s.current_name = Some(name.to_string());
                    s.current = ReleaseId::parse(name);
                }
            }
        }
        s.releases.sort();
        s
    }

    /// Whether `releases/<name>` is on the host, whatever tool made it.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.releases.iter().any(|r| r.as_str() == name) || self.strangers.iter().any(|n| n == name)
    }

    /// What `current` serves, for messages: the release it resolves into,
    /// else its link, else "no release".
    pub(crate) fn serving(&self) -> String {
        match (&self.current_name, &self.current_target) {
            (Some(name), _) => name.clone(),
            (None, Some(t)) => format!("current -> {t}"),
            (None, None) => "no release".to_string(),
        }
    }

    /// `current` is a symlink whose target ship cannot place under
    /// `releases/`: it dangles, or it resolves somewhere else.
    pub(crate) fn current_elsewhere(&self) -> bool {
        self.current_link.is_some() && self.current_name.is_none()
    }

    /// The release a rollback goes to: the one that served before
    /// `current`, as the host log recorded it (whatever tool made it), if it
    /// is still there and not marked bad; otherwise the newest release older
    /// than current that is neither bad nor one a rollback moved away from.
    pub(crate) fn previous(&self) -> Option<ReleaseId> {
        if let Some((name, _)) = self.previous_from_log() {
            return ReleaseId::existing(&name);
        }
        let cur = self.current.as_ref()?;
        let rolled_away: Vec<String> = self
            .log_entries()
            .iter()
            .filter(|e| e.event == LogEvent::Rollback && e.ok() && e.explicit != Some(true))
            .filter_map(|e| e.previous().map(str::to_string))
            .collect();
        self.releases
            .iter()
            .rev()
            .find(|r| *r < cur && !self.bad.contains(r) && !rolled_away.iter().any(|n| n == r.as_str()))
            .cloned()
    }

    /// The exact link `current` had when [`previous`](Self::previous) last
    /// served, when the log recorded one that is not how ship spells a
    /// release (`releases/57/public`): a rollback puts it back as it was.
    pub(crate) fn previous_link(&self) -> Option<String> {
        self.previous_from_log().and_then(|(_, link)| link)
    }

    /// What served before `current` according to the log: the newest entry
    /// that made `current` current, skipping plain rollbacks (what they
    /// moved away from is not what served before), and its `previous`, if
    /// that is still on the host and not bad.
    fn previous_from_log(&self) -> Option<(String, Option<String>)> {
        let cur = self.current_name.as_deref()?;
        let entries = self.log_entries();
        let made = entries.iter().rev().find(|e| {
            e.ok()
                && e.release.as_deref() == Some(cur)
                && match e.event {
                    LogEvent::Deploy | LogEvent::Sync => true,
                    LogEvent::Rollback => e.explicit == Some(true),
                    _ => false,
                }
        })?;
        let prev = made.previous()?;
        let present = self.has(prev);
        let bad = self.bad.iter().any(|r| r.as_str() == prev);
        let link = made.previous_link().filter(|l| !l.contains('\u{fffd}')).map(str::to_string);
        (present && !bad && prev != cur).then(|| (prev.to_string(), link))
    }

    /// The version label the newest successful deploy of release `name`
    /// recorded in the host log, if any.
    pub(crate) fn label_of(&self, name: &str) -> Option<String> {
        self.log_entries()
            .into_iter()
            .rev()
            .find(|e| e.ok() && e.event == LogEvent::Deploy && e.release.as_deref() == Some(name))
            .and_then(|e| e.version.flatten())
            .filter(|v| !v.is_empty())
    }

    /// The host log's lines that parse as JSON objects, oldest first.
    fn log_entries(&self) -> Vec<LogEntry> {
        self.log.iter().filter_map(|l| LogEntry::parse(l)).collect()
    }

    /// Someone else holds the lock (it exists and this run did not take it).
    pub(crate) fn locked_by_other(&self) -> bool {
        self.lock.is_some() && !self.lock_taken
    }

    /// Releases to delete so that `keep` remain, never the release `current`
    /// resolves into nor the one a rollback would go to (ARCHITECTURE.md
    /// invariant 3). Releases marked bad go first, oldest first, then the
    /// oldest good ones. Nothing when `current` is a symlink ship cannot
    /// place under `releases/` (it dangles, or resolves elsewhere, perhaps
    /// through a symlinked entry): ship does not prune what it cannot
    /// understand.
    pub(crate) fn prune_plan(&self, keep: usize) -> Vec<ReleaseId> {
        if self.current_elsewhere() {
            return Vec::new();
        }
        let protected: Vec<ReleaseId> = self.current.iter().cloned().chain(self.previous()).collect();
        let candidates: Vec<&ReleaseId> = self.releases.iter().filter(|r| !protected.contains(r)).collect();
        let excess = self.releases.len().saturating_sub(keep).min(candidates.len());
        let (bad, good): (Vec<&ReleaseId>, Vec<&ReleaseId>) =
            candidates.into_iter().partition(|r| self.bad.contains(r));
        let mut doomed: Vec<ReleaseId> = bad.into_iter().chain(good).take(excess).cloned().collect();
        doomed.sort();
        doomed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[ReleaseId]) -> Vec<&str> {
        v.iter().map(|r| r.as_str()).collect()
    }

    use crate::text::hex;

    /// What the state script prints for `current -> link` (resolving to
    /// `real`) and the given entries of /srv/d/releases.
    fn printed(link: &str, real: &str, entries: &[&str], bad: &[&str]) -> String {
        let list = |v: &[&str]| hex(v.iter().map(|e| format!("{e}\0")).collect::<String>().as_bytes());
        format!(
            "current_link={}\ncurrent_real={}\nreleases_real={}\nentries={}\nbad={}\n",
            hex(format!("{link}\n").as_bytes()),
            hex(if real.is_empty() { Vec::new() } else { format!("{real}\n").into_bytes() }.as_slice()),
            hex(b"/srv/d/releases\n"),
            list(entries),
            list(bad)
        )
    }

    fn state(current: &str, releases: &[&str]) -> HostState {
        let link = format!("/srv/d/releases/{current}");
        HostState::parse(&printed(&link, &link, releases, &[]))
    }

    #[test]
    fn parses_script_output() {
        let out = printed(
            "/srv/d/releases/20260101000002",
            "/srv/d/releases/20260101000002",
            &["20260101000002", "20260101000001", "old-copy"],
            &[],
        ) + "free_kb=1234\nmissing=.env\n";
        let s = HostState::parse(&out);
        assert_eq!(s.current.as_ref().unwrap().as_str(), "20260101000002");
        assert_eq!(ids(&s.releases), ["20260101000001", "20260101000002"]);
        assert_eq!(s.strangers, ["old-copy"]);
        assert_eq!(s.free_kb, Some(1234));
        assert_eq!(s.missing, [".env"]);
        assert_eq!(s.previous().unwrap().as_str(), "20260101000001");
    }

    #[test]
    fn current_resolves_however_it_is_spelled() {
        for link in ["/srv/d/releases/20260101000002/", "releases/20260101000002", "./releases/20260101000002//"] {
            let s = HostState::parse(&printed(link, "/srv/d/releases/20260101000002", &["20260101000002"], &[]));
            assert_eq!(s.current.as_ref().unwrap().as_str(), "20260101000002", "{link}");
            assert_eq!(s.current_link.as_deref(), Some(link.as_bytes()));
        }
        let mina = HostState::parse(&printed("releases/57", "/srv/d/releases/57", &["57"], &[]));
        assert_eq!((mina.current, mina.current_name.as_deref()), (None, Some("57")));
        let inside = HostState::parse(&printed("releases/57/public", "/srv/d/releases/57/public", &["57"], &[]));
        assert_eq!(inside.current_name.as_deref(), Some("57"));
        let elsewhere = HostState::parse(&printed("/opt/app", "/opt/app", &[], &[]));
        assert!(elsewhere.current_elsewhere());
    }

    #[test]
    fn a_name_with_a_newline_cannot_fake_a_line() {
        let s = HostState::parse(&printed("/srv/d/releases/x", "", &["x\nlock=taken", "20260101000001"], &[]));
        assert!(!s.lock_taken);
        assert_eq!(s.strangers, ["x\nlock=taken"]);
    }

    #[test]
    fn previous_skips_bad_releases_and_locks_parse() {
        let mut out = printed(
            "/d/releases/20260101000003",
            "/srv/d/releases/20260101000003",
            &["20260101000001", "20260101000002", "20260101000003"],
            &["20260101000002"],
        );
        out += "lock=held {\"holder\":\"x@y\"}\n";
        let s = HostState::parse(&out);
        assert_eq!(s.previous().unwrap().as_str(), "20260101000001");
        assert!(s.locked_by_other());
        assert_eq!(s.lock.as_deref(), Some("{\"holder\":\"x@y\"}"));
        let mine = HostState::parse("lock=taken\nlock={\"token\":\"t\"}\n");
        assert!(!mine.locked_by_other());
    }

    #[test]
    fn previous_follows_the_log_past_a_release_rolled_away_from() {
        // v1..v3 deployed, rolled back to v2, v4 deployed: back to v2, not v3.
        let (v1, v2, v3, v4) = ("20260101000001", "20260101000002", "20260101000003", "20260101000004");
        let mut out =
            printed(&format!("/srv/d/releases/{v4}"), &format!("/srv/d/releases/{v4}"), &[v1, v2, v3, v4], &[]);
        for (event, release, previous) in
            [("deploy", v2, v1), ("deploy", v3, v2), ("rollback", v2, v3), ("deploy", v4, v2)]
        {
            out += &format!(
                "log={{\"event\":\"{event}\",\"ok\":true,\"release\":\"{release}\",\"previous\":\"{previous}\"}}\n"
            );
        }
        let s = HostState::parse(&out);
        assert_eq!(s.previous().unwrap().as_str(), v2);
        assert_eq!(ids(&s.prune_plan(2)), [v1, v3]);
        // Without the v4 line, the fallback skips v3 (rolled away from).
        let partial: String =
            out.lines().filter(|l| !l.contains(v4) || !l.starts_with("log=")).map(|l| format!("{l}\n")).collect();
        assert_eq!(HostState::parse(&partial).previous().unwrap().as_str(), v2);
    }

    #[test]
    fn previous_after_rolling_forward_is_what_served_before() {
        let (v1, v2, v3) = ("20260101000001", "20260101000002", "20260101000003");
        let mut out = printed(&format!("/srv/d/releases/{v3}"), &format!("/srv/d/releases/{v3}"), &[v1, v2, v3], &[]);
        for (event, release, previous, explicit) in [
            ("deploy", v2, v1, false),
            ("deploy", v3, v2, false),
            ("rollback", v2, v3, false),
            ("rollback", v1, v2, false),
            ("rollback", v3, v1, true),
        ] {
            out += &format!(
                "log={{\"event\":\"{event}\",\"ok\":true,\"release\":\"{release}\",\"previous\":\"{previous}\",\"explicit\":{explicit}}}\n"
            );
        }
        assert_eq!(HostState::parse(&out).previous().unwrap().as_str(), v1);
        // Two plain rollbacks in a row go back two releases.
        let cur = format!("/srv/d/releases/{v2}");
        let mut two = printed(&cur, &cur, &[v1, v2, v3], &[]);
        for (event, release, previous) in [("deploy", v2, v1), ("deploy", v3, v2), ("rollback", v2, v3)] {
            two += &format!(
                "log={{\"event\":\"{event}\",\"ok\":true,\"release\":\"{release}\",\"previous\":\"{previous}\"}}\n"
            );
        }
        assert_eq!(HostState::parse(&two).previous().unwrap().as_str(), v1);
    }

    #[test]
    fn previous_can_be_a_release_ship_did_not_make() {
        let id = "20260101000001";
        let mut out = printed(&format!("/srv/d/releases/{id}"), &format!("/srv/d/releases/{id}"), &["57", id], &[]);
        out += &format!("log={{\"event\":\"deploy\",\"ok\":true,\"release\":\"{id}\",\"previous\":\"57\"}}\n");
        assert_eq!(HostState::parse(&out).previous().unwrap().as_str(), "57");
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
    fn prune_removes_bad_releases_before_good_ones() {
        let all = ["20260101000001", "20260101000002", "20260101000003", "20260101000004", "20260101000005"];
        let link = "/srv/d/releases/20260101000005";
        let s = HostState::parse(&printed(link, link, &all, &["20260101000003"]));
        assert_eq!(ids(&s.prune_plan(4)), ["20260101000003"]);
        assert_eq!(ids(&s.prune_plan(3)), ["20260101000001", "20260101000003"]);
    }

    #[test]
    fn prune_never_removes_current_after_rollback_nor_its_predecessor() {
        let s = state("20260101000002", &["20260101000001", "20260101000002", "20260101000003", "20260101000004"]);
        // keep 1: current (…02) and the rollback target (…01) both survive.
        assert_eq!(ids(&s.prune_plan(1)), ["20260101000003", "20260101000004"]);
        assert_eq!(ids(&s.prune_plan(3)), ["20260101000003"]);
    }

    #[test]
    fn prune_leaves_a_host_whose_current_dangles_alone() {
        let s = HostState::parse(&printed("/srv/d/releases/gone", "", &["20260101000001", "20260101000002"], &[]));
        assert!(s.prune_plan(0).is_empty());
        let moved = "/srv/d/releases/20260101000001";
        let s =
            HostState::parse(&printed(moved, "/mnt/old/20260101000001", &["20260101000001", "20260101000002"], &[]));
        assert!(s.prune_plan(0).is_empty(), "current resolves through a symlinked entry to another disk");
        let trailing = "/srv/d/releases/20260101000001/";
        let s = HostState::parse(&printed(
            trailing,
            "/srv/d/releases/20260101000001",
            &["20260101000001", "20260101000002"],
            &[],
        ));
        assert_eq!(ids(&s.prune_plan(0)), ["20260101000002"]);
    }
}
