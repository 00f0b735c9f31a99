//! `ship check`: a preflight doctor. For each selected host, in one
//! connection and one read-only round trip, it says whether a deploy would
//! get through: TCP reach, host key, authentication, deploy_to, layout, disk,
//! tools, the restart command, the lock and the clock. It changes nothing on
//! any host, so it is safe to run at any time, even during a deploy.

use crate::error::Error;
use crate::event::{Event, Reporter};
use crate::outcome::Step;
use crate::remote;
use crate::remote::state::HostState;
use crate::settings::Settings;
use crate::ssh::{Session, SshError};
use std::collections::HashMap;

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Verdict {
    /// Fine.
    Ok,
    /// Worth knowing; a deploy would still work.
    Warn,
    /// A deploy would fail or refuse this host.
    Fail,
    /// Not checked (an earlier check failed, or it cannot be checked).
    Skipped,
}

/// One check on one host.
#[derive(Debug, Clone)]
pub(crate) struct Check {
    /// Column name: reach, key, auth, deploy_to, layout, disk, tools, restart, lock, clock.
    pub name: &'static str,
    /// The outcome.
    pub verdict: Verdict,
    /// What was found, and what to do when it is not ok.
    pub detail: String,
}

/// Every check of one host.
#[derive(Debug, Clone)]
pub(crate) struct CheckRow {
    /// Host name.
    pub host: String,
    /// In column order.
    pub checks: Vec<Check>,
}

impl CheckRow {
    /// Whether a deploy would get through on this host.
    pub(crate) fn ready(&self) -> bool {
        self.checks.iter().all(|c| c.verdict != Verdict::Fail)
    }
}

/// Column order.
pub(crate) const COLUMNS: [&str; 10] =
    ["reach", "key", "auth", "deploy_to", "layout", "disk", "tools", "restart", "lock", "clock"];

/// Clock skew beyond which a warning is given (release ids and lock ages
/// come from ship's clock, logs from the host's).
const SKEW_WARN_SECS: i64 = 30;

fn check(name: &'static str, verdict: Verdict, detail: impl Into<String>) -> Check {
    Check { name, verdict, detail: detail.into() }
}

/// The checks after a failed connection: what failed, the rest skipped.
pub(crate) fn connect_failed(e: &SshError) -> Vec<Check> {
    let failed = match e {
        SshError::HostKey(_) => "key",
        SshError::Auth { .. } => "auth",
        _ => "reach",
    };
    let mut reached = true;
    COLUMNS
        .iter()
        .map(|&name| {
            if name == failed {
                reached = false;
                check(name, Verdict::Fail, e.to_string())
            } else if reached {
                check(name, Verdict::Ok, "")
            } else {
                check(name, Verdict::Skipped, "")
            }
        })
        .collect()
}

/// The first word of the restart command that names a program, skipping
/// `VAR=value` assignments and wrappers such as sudo; `Err` when it uses
/// shell expansion and so cannot be resolved without running it.
pub(crate) fn restart_word(command: &str) -> Result<Option<String>, String> {
    let wrappers = ["sudo", "env", "exec", "nohup", "command"];
    for word in command.split_whitespace() {
        if word.contains(['$', '`', '"', '\'', '(', '\\']) {
            return Err(format!("`{word}` uses shell expansion; not checked"));
        }
        let assignment = word.split_once('=').is_some_and(|(k, _)| !k.is_empty() && !k.contains('/'));
        if assignment || wrappers.contains(&word) || word.starts_with('-') {
            continue;
        }
        return Ok(Some(word.to_string()));
    }
    Ok(None)
}

/// Why `current` is not the link ship itself makes (`<deploy_to>/releases/<id>`),
/// if it is not: a host migrated from another tool, a trailing slash, a
/// relative link, a link that dangles. ship keeps such a link as it is.
fn odd_current(root: &str, state: &crate::remote::state::HostState) -> Option<String> {
    let link = state.current_target.as_deref()?;
    if state.current_real.as_deref().unwrap_or("").is_empty() {
        return Some(format!(
            "current -> {link} points at nothing: the host serves no release; ship prune leaves this host alone until it does"
        ));
    }
    let canonical = state.current.as_ref().map(|id| format!("{root}/releases/{id}"));
    if canonical.as_deref() == Some(link) {
        return None;
    }
    let what = match &state.current_name {
        Some(name) => format!("release {name}"),
        None => "a directory outside releases/".into(),
    };
    Some(format!(
        "current -> {link} ({what}) is not spelled as ship links releases ({root}/releases/<id>); \
a failed deploy puts it back exactly as it is, and prune keeps what it resolves to"
    ))
}

/// Judges the probe's output ([`remote::check`]) for a connected host.
/// `root` is deploy_to, `restart` what [`restart_word`] said, `skew` the
/// host clock minus ours in seconds; with `pull`, the host needs curl or wget.
pub(crate) fn judge(
    root: &str,
    out: &str,
    restart: &Result<Option<String>, String>,
    skew: i64,
    pull: bool,
) -> Vec<Check> {
    let state = HostState::parse(out);
    let kv: HashMap<&str, &str> = out.lines().filter_map(|l| l.split_once('=')).collect();
    let mut v = vec![check("reach", Verdict::Ok, ""), check("key", Verdict::Ok, ""), check("auth", Verdict::Ok, "")];
    v.push(deploy_to_row(root, &kv));
    v.extend(layout_and_disk_rows(root, &kv, &state));
    v.push(tools_row(out, &kv, &state, pull));
    v.push(restart_row(restart, &kv));
    v.push(match &state.lock {
        Some(details) => check(
            "lock",
            Verdict::Fail,
            format!("{}: wait, or `ship unlock --force` if it is stale", crate::fleet::lock::describe(details)),
        ),
        None => check("lock", Verdict::Ok, "free"),
    });
    v.push(clock_row(&state, skew));
    v
}

fn deploy_to_row(root: &str, kv: &HashMap<&str, &str>) -> Check {
    let exists = kv.get("deploy_to") == Some(&"exists");
    match (exists, kv.contains_key("writable")) {
        (true, true) => check("deploy_to", Verdict::Ok, root),
        (false, true) => {
            check("deploy_to", Verdict::Ok, format!("{root} does not exist yet; the first deploy creates it"))
        }
        (true, false) => check(
            "deploy_to",
            Verdict::Fail,
            format!("{root} is not writable by the SSH user: give it write access (e.g. chown)"),
        ),
        (false, false) => check(
            "deploy_to",
            Verdict::Fail,
            format!("{root} does not exist and cannot be created by the SSH user: create it and chown it"),
        ),
    }
}

/// The deploy's own judgement ([`crate::remote::judge`]), sized by the
/// release `current` serves.
fn layout_and_disk_rows(root: &str, kv: &HashMap<&str, &str>, state: &HostState) -> [Check; 2] {
    let release_kb: u64 = kv.get("release_kb").and_then(|x| x.parse().ok()).unwrap_or(0);
    let problems = crate::remote::judge::problems(state, release_kb.saturating_mul(1024));
    let layout = crate::remote::Layout::new(root);
    let row = |area: &str| problems.iter().find(|p| p.area() == area).map(|p| p.message(&layout));
    let layout_row = if let Some(why) = row("layout") {
        check("layout", Verdict::Fail, why)
    } else if let Some(note) = odd_current(root, state) {
        check("layout", Verdict::Warn, note)
    } else {
        check("layout", Verdict::Ok, state.current.as_ref().map(|c| format!("current {c}")).unwrap_or_default())
    };
    let disk_row = match (row("disk"), state.free_kb) {
        (Some(why), _) => check("disk", Verdict::Fail, why),
        (None, Some(free)) => {
            check("disk", Verdict::Ok, format!("{} free", crate::text::human_bytes(free.saturating_mul(1024))))
        }
        (None, None) => check("disk", Verdict::Warn, "could not read free space (df)"),
    };
    [layout_row, disk_row]
}

fn tools_row(out: &str, kv: &HashMap<&str, &str>, state: &HostState, pull: bool) -> Check {
    let mut lacking: Vec<String> =
        out.lines().filter_map(|l| l.strip_prefix("tool_missing=")).map(str::to_string).collect();
    lacking.sort();
    lacking.dedup();
    if !kv.contains_key("gnu_tar") {
        lacking.insert(0, "GNU tar".into());
    }
    if !kv.contains_key("mv_t") {
        lacking.insert(0, "mv -T (GNU coreutils)".into());
    }
    if pull && state.fetcher.is_none() {
        lacking.push("curl or wget (pull mode downloads with them)".into());
    }
    if lacking.is_empty() {
        check("tools", Verdict::Ok, "")
    } else {
        check("tools", Verdict::Fail, format!("missing on the host: {}; install them", lacking.join(", ")))
    }
}

fn restart_row(restart: &Result<Option<String>, String>, kv: &HashMap<&str, &str>) -> Check {
    match (restart, kv.get("restart")) {
        (Ok(None), _) => check("restart", Verdict::Skipped, "no restart command configured"),
        (Err(why), _) => check("restart", Verdict::Skipped, why.clone()),
        (Ok(Some(w)), Some(&"found")) => check("restart", Verdict::Ok, w.clone()),
        (Ok(Some(w)), _) => check(
            "restart",
            Verdict::Fail,
            format!("`{w}` is not found on the host (PATH or the current release): install it or fix [app] restart"),
        ),
    }
}

fn clock_row(state: &HostState, skew: i64) -> Check {
    let ahead = chrono::Utc::now() + chrono::Duration::seconds(SKEW_WARN_SECS);
    let future: Vec<&str> =
        state.releases.iter().filter(|r| r.time().is_some_and(|t| t > ahead)).map(|r| r.as_str()).collect();
    if !future.is_empty() {
        check(
            "clock",
            Verdict::Warn,
            format!(
                "release(s) {} are dated in the future (a deployer's clock ran fast); new releases are dated after them",
                future.join(", ")
            ),
        )
    } else if skew.abs() > SKEW_WARN_SECS {
        check("clock", Verdict::Warn, format!("host clock is {skew:+}s from ours: logs and lock ages will disagree"))
    } else {
        check("clock", Verdict::Ok, format!("{skew:+}s"))
    }
}

/// Runs every check on every selected host, `concurrency` at a time.
pub(crate) async fn run(s: &Settings, r: &dyn Reporter) -> Result<Vec<CheckRow>, Error> {
    for message in s.blind_spots() {
        r.emit(Event::Warning { host: None, message });
    }
    let ctx = crate::fleet::context(s, r)?;
    let restart = s.config.app.restart.as_deref().map(restart_word).transpose().map(Option::flatten);
    let linked = s.linked_files();
    let pull = s.pull_url.is_some();
    let rows = crate::fleet::parallel::map(s.hosts.clone(), s.concurrency, |_, host| {
        let (ctx, restart, linked) = (&ctx, &restart, &linked);
        async move {
            r.emit(Event::Phase { host: host.name.clone(), step: Step::Connect });
            let checks = match Session::connect(&host.target(), ctx).await {
                Err(e) => connect_failed(&e),
                Ok(session) => {
                    r.emit(Event::Phase { host: host.name.clone(), step: Step::Preflight });
                    let layout = host.layout();
                    let word = restart.as_ref().ok().and_then(|w| w.as_deref());
                    let before = chrono::Utc::now().timestamp();
                    let res = session.exec(&remote::check(&layout, linked, word)).await;
                    let after = chrono::Utc::now().timestamp();
                    session.close().await;
                    match res {
                        Ok(out) if out.success() => {
                            let clock: i64 = out
                                .stdout
                                .lines()
                                .find_map(|l| l.strip_prefix("clock="))
                                .and_then(|c| c.parse().ok())
                                .unwrap_or((before + after) / 2);
                            judge(layout.root(), &out.stdout, restart, clock - (before + after) / 2, pull)
                        }
                        Ok(out) => probe_failed(&out.failure()),
                        Err(e) => probe_failed(&e.to_string()),
                    }
                }
            };
            CheckRow { host: host.name.clone(), checks }
        }
    })
    .await;
    Ok(rows)
}

/// Connected, but the probe itself failed.
fn probe_failed(why: &str) -> Vec<Check> {
    COLUMNS
        .iter()
        .map(|&name| match name {
            "reach" | "key" | "auth" => check(name, Verdict::Ok, ""),
            "deploy_to" => check(name, Verdict::Fail, format!("the read-only probe failed: {why}")),
            _ => check(name, Verdict::Skipped, ""),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdicts(v: &[Check]) -> Vec<(&str, Verdict)> {
        v.iter().map(|c| (c.name, c.verdict)).collect()
    }

    #[test]
    fn restart_word_skips_assignments_and_wrappers() {
        assert_eq!(restart_word("sudo -n systemctl restart app").unwrap().as_deref(), Some("systemctl"));
        assert_eq!(restart_word("RAILS_ENV=production ./bin/restart").unwrap().as_deref(), Some("./bin/restart"));
        assert_eq!(restart_word("").unwrap(), None);
        assert!(restart_word("\"$SHIP_DEPLOY_TO/bin/x\"").unwrap_err().contains("not checked"));
    }

    #[test]
    fn a_healthy_host_is_ready() {
        let out = "current=/d/releases/20250101000000\nentry=20250101000000\ndeploy_to=exists\nwritable=1\n\
free_kb=10000000\nrelease_kb=2048\ngnu_tar=1\nmv_t=1\nrestart=found\nclock=5\n";
        let v = judge("/d", out, &Ok(Some("systemctl".into())), 1, false);
        assert!(v.iter().all(|c| c.verdict == Verdict::Ok), "{v:?}");
        let pull = judge("/d", out, &Ok(Some("systemctl".into())), 1, true);
        let tools = pull.iter().find(|c| c.name == "tools").unwrap();
        assert_eq!(tools.verdict, Verdict::Fail);
        assert_eq!(tools.detail, "missing on the host: curl or wget (pull mode downloads with them); install them");
        let with_wget = judge("/d", &format!("{out}fetcher=wget\n"), &Ok(Some("systemctl".into())), 1, true);
        assert!(with_wget.iter().all(|c| c.verdict == Verdict::Ok), "{with_wget:?}");
        assert_eq!(v.iter().map(|c| c.name).collect::<Vec<_>>(), COLUMNS);
    }

    #[test]
    fn each_problem_fails_its_own_column() {
        let out = "current_is_dir=1\ndeploy_to=exists\nfree_kb=1000\nrelease_kb=2048\ntool_missing=sha256sum\n\
tool_missing=mkfifo\nmv_t=1\nrestart=missing\nlock={\"holder\":\"ana@laptop\",\"command\":\"deploy\"}\n";
        let v = judge("/d", out, &Ok(Some("systemctl".into())), -120, false);
        let fails: Vec<&str> = v.iter().filter(|c| c.verdict == Verdict::Fail).map(|c| c.name).collect();
        assert_eq!(fails, ["deploy_to", "layout", "disk", "tools", "restart", "lock"], "{v:?}");
        let tools = &v.iter().find(|c| c.name == "tools").unwrap().detail;
        assert_eq!(tools, "missing on the host: GNU tar, mkfifo, sha256sum; install them");
        assert!(v.iter().any(|c| c.name == "clock" && c.verdict == Verdict::Warn && c.detail.contains("-120s")));
        assert!(v.iter().any(|c| c.name == "lock" && c.detail.contains("held by ana@laptop")));
    }

    #[test]
    fn connection_failures_fail_one_column_and_skip_the_rest() {
        let e = SshError::Auth { user: "deploy".into(), detail: "tried key k".into() };
        let v = connect_failed(&e);
        assert_eq!(
            verdicts(&v)[..4],
            [("reach", Verdict::Ok), ("key", Verdict::Ok), ("auth", Verdict::Fail), ("deploy_to", Verdict::Skipped)]
        );
        assert!(!CheckRow { host: "h".into(), checks: v }.ready());
    }
}
