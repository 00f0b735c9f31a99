//! One renderer per result, as text and as JSON: the summary of a
//! deploy, rollback, sync or prune, and what check, plan, exec, hosts,
//! status, releases and log found.

use super::*;
/// Seconds as `1.5s`.
pub(super) fn secs(d: std::time::Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// The table printed after a deploy, rollback or prune (coloured, so every
/// value goes through [`one_line`] here).
pub(crate) fn summary_text(s: &Summary) -> String {
    let mut t = format!("{:<16} {:<10} {:<16} {:>8}\n", "HOST", "RESULT", "RELEASE", "TIME");
    for h in &s.hosts {
        let result = match &h.status {
            Status::Ok => paint(&format!("{:<10}", "ok"), Paint::Green, false),
            Status::Failed(_) => paint(&format!("{:<10}", "FAILED"), Paint::Red, false),
            Status::Unchanged { .. } => paint(&format!("{:<10}", "unchanged"), Paint::Yellow, false),
        };
        let rel = h.release.as_ref().map(|r| r.to_string()).unwrap_or_else(|| "-".into());
        t += &format!("{:<16} {result} {:<16} {:>8}\n", one_line(&h.host), rel, secs(h.duration));
        match &h.status {
            Status::Failed(HostError { step, message }) => t += &format!("  at {step}: {}\n", one_line(message)),
            Status::Unchanged { reason } => t += &format!("  {}\n", one_line(reason)),
            Status::Ok => {}
        }
    }
    let failed = s.failed();
    let what = s.release.as_ref().map(|r| format!(" {r}")).unwrap_or_default();
    if s.interrupted {
        t += "interrupted by Ctrl-C or SIGTERM: each host above is on the release shown\n";
    }
    t += &if failed == 0 {
        format!("{}{what}: {} host(s) ok in {}\n", s.command, s.hosts.len(), secs(s.duration))
    } else {
        format!("{}{what}: {failed} of {} host(s) not ok in {}\n", s.command, s.hosts.len(), secs(s.duration))
    };
    t
}

/// `{"command","release","ok","duration_ms","hosts":[{"name","ok","result","step","error","release","duration_ms"}]}`
pub(crate) fn summary_json(s: &Summary) -> Value {
    let hosts: Vec<Value> = s.hosts.iter().map(host_json).collect();
    json!({"command": s.command, "release": s.release, "ok": s.failed() == 0,
           "interrupted": s.interrupted, "duration_ms": s.duration.as_millis() as u64, "hosts": hosts})
}

/// One host's outcome, as in the summary's `hosts`.
pub(super) fn host_json(h: &crate::outcome::HostOutcome) -> Value {
    let (result, step, error) = match &h.status {
        Status::Ok => ("ok", None, None),
        Status::Failed(HostError { step, message }) => ("failed", Some(step.to_string()), Some(message.clone())),
        Status::Unchanged { reason } => ("unchanged", None, Some(reason.clone())),
    };
    json!({"name": h.host, "ok": h.ok(), "result": result, "step": step, "error": error,
           "release": h.release, "duration_ms": h.duration.as_millis() as u64})
}

/// `ship check`: one row per host (`ok`, `warn`, `FAIL`, `-` per column),
/// then a line per problem and a verdict (coloured, so every value goes
/// through [`one_line`] here).
pub(crate) fn check_text(rows: &[crate::commands::check::CheckRow]) -> String {
    use crate::commands::check::{Verdict, COLUMNS};
    let width = rows.iter().map(|r| r.host.len()).max().unwrap_or(4).max(4);
    let mut t = format!("{:<width$}", "HOST");
    for c in COLUMNS {
        t += &format!("  {c:<w$}", w = c.len().max(4));
    }
    t = t.trim_end().to_string() + "\n";
    let mut problems = String::new();
    for row in rows {
        let mut line = format!("{:<width$}", one_line(&row.host));
        for c in &row.checks {
            let (mark, colour) = match c.verdict {
                Verdict::Ok => ("ok", Some(Paint::Green)),
                Verdict::Warn => ("warn", Some(Paint::Yellow)),
                Verdict::Fail => ("FAIL", Some(Paint::Red)),
                Verdict::Skipped => ("-", None),
            };
            let cell = format!("{mark:<w$}", w = c.name.len().max(4));
            line += "  ";
            line += &colour.map_or(cell.clone(), |p| paint(&cell, p, false));
            if matches!(c.verdict, Verdict::Fail | Verdict::Warn) {
                problems += &format!("{}: {}: {}\n", one_line(&row.host), c.name, one_line(&c.detail));
            }
        }
        t += line.trim_end();
        t += "\n";
    }
    t += &problems;
    let failing: Vec<String> = rows.iter().filter(|r| !r.ready()).map(|r| one_line(&r.host)).collect();
    if failing.is_empty() {
        t += &format!("{} host(s) ready to deploy\n", rows.len());
    } else {
        t += &format!("a deploy would fail on {} of {} host(s): {}\n", failing.len(), rows.len(), failing.join(", "));
    }
    t
}

/// `ship check --format json`: `[{host, ready, checks: {name: {verdict, detail}}}]`.
pub(crate) fn check_json(rows: &[crate::commands::check::CheckRow]) -> Value {
    let rows: Vec<Value> = rows
        .iter()
        .map(|r| {
            let checks: serde_json::Map<String, Value> = r
                .checks
                .iter()
                .map(|c| (c.name.to_string(), json!({"verdict": c.verdict, "detail": c.detail})))
                .collect();
            json!({"host": r.host, "ready": r.ready(), "checks": checks})
        })
        .collect();
    json!(rows)
}

/// `ship plan`: the release, size, strategy and waves, one line per host
/// (source, current -> new, lock, problem), the hooks, and a verdict.
pub(crate) fn plan_text(p: &crate::commands::plan::DeployPlan) -> String {
    let label = p.label.as_ref().map(|l| format!(" ({})", one_line(l))).unwrap_or_default();
    let mut t = format!(
        "plan: deploy {}{label} to {} host(s); nothing was changed\n\
upload: {} to each host (full archive), {} unpacked\nstrategy: {}\n",
        p.release,
        p.hosts.len(),
        human_bytes(p.bytes),
        human_bytes(p.unpacked),
        p.strategy
    );
    for (i, w) in p.waves.iter().enumerate() {
        t += &format!("wave {}/{}: {}\n", i + 1, p.waves.len(), one_line(&w.join(", ")));
    }
    let width = p.hosts.iter().map(|h| h.name.len()).max().unwrap_or(4).max(4);
    let src = p.hosts.iter().map(|h| h.source.len()).max().unwrap_or(6).max(6);
    t += &format!("{:<width$}  {:<src$}  CHANGE\n", "HOST", "SOURCE");
    for h in &p.hosts {
        let cur = h.current.as_deref().unwrap_or("(none)");
        let mut line = format!("{:<width$}  {:<src$}  {cur} -> {}", one_line(&h.name), one_line(&h.source), p.release);
        if let Some(l) = &h.lock {
            line += &format!("  LOCKED: {}", one_line(l));
        }
        if let Some(e) = &h.problem {
            line += &format!("  WOULD FAIL: {}", one_line(e));
        }
        t += &line;
        t += "\n";
    }
    for (kind, cmds) in &p.hooks {
        t += &format!("hooks {kind}: {}\n", one_line(&cmds.join("; ")));
    }
    if p.ready() {
        t += "ready: `ship deploy` would proceed\n";
    } else {
        t += "not ready: `ship deploy` would stop before any upload (see above)\n";
    }
    t
}

/// `ship plan --format json`.
pub(crate) fn plan_json(p: &crate::commands::plan::DeployPlan) -> Value {
    json!({
        "release": p.release, "version": p.label, "bytes": p.bytes, "unpacked": p.unpacked,
        "strategy": p.strategy, "waves": p.waves, "ready": p.ready(),
        "hosts": p.hosts.iter().map(|h| json!({
            "host": h.name, "source": h.source, "current": h.current, "new": p.release,
            "lock": h.lock, "problem": h.problem,
        })).collect::<Vec<_>>(),
        "hooks": p.hooks.iter().map(|(k, c)| (k.to_string(), json!(c))).collect::<serde_json::Map<String, Value>>(),
    })
}

/// `ship exec`: each host's output under a `== host (exit N) ==` header, in
/// host order, then a verdict line.
pub(crate) fn exec_text(results: &[crate::commands::exec::ExecResult]) -> String {
    let mut t = String::new();
    for x in results {
        let how = match (&x.error, x.status) {
            (Some(e), _) => format!("not run: {}", one_line(e)),
            (None, Some(code)) => format!("exit {code}"),
            (None, None) => "killed or disconnected".to_string(),
        };
        t += &format!("== {} ({how}) ==\n", one_line(&x.host));
        for part in [&x.stdout, &x.stderr] {
            if !part.is_empty() {
                t += part;
                if !part.ends_with('\n') {
                    t.push('\n');
                }
            }
        }
    }
    let failed: Vec<String> = results.iter().filter(|x| !x.ok()).map(|x| one_line(&x.host)).collect();
    if failed.is_empty() {
        t += &format!("ok on {} host(s)\n", results.len());
    } else {
        t += &format!("failed on {} of {} host(s): {}\n", failed.len(), results.len(), failed.join(", "));
    }
    t
}

/// `ship exec --format json`: `[{host, ok, exit, stdout, stderr, error}]`.
pub(crate) fn exec_json(results: &[crate::commands::exec::ExecResult]) -> Value {
    json!(results
        .iter()
        .map(|x| json!({"host": x.host, "ok": x.ok(), "exit": x.status, "stdout": x.stdout, "stderr": x.stderr,
                        "error": x.error}))
        .collect::<Vec<_>>())
}

/// The host table; a VIA column (the jump chain in use, `-` for direct)
/// appears when any host goes through a jump host.
pub(super) fn hosts_text(hosts: &[Host]) -> String {
    let via = hosts.iter().any(|h| h.jump.is_some());
    let row = |cells: [&str; 7]| {
        let line = format!(
            "{:<16} {:<24} {:>5} {:<12} {:<16} {:<12}",
            cells[0], cells[1], cells[2], cells[3], cells[4], cells[5]
        );
        if via {
            format!("{line} {}\n", cells[6])
        } else {
            format!("{}\n", line.trim_end())
        }
    };
    let mut t = row(["NAME", "ADDRESS", "PORT", "USER", "ROLES", "SOURCE", "VIA"]);
    for h in hosts {
        let roles = if h.roles.is_empty() { "-".to_string() } else { h.roles.join(",") };
        let port = h.port.to_string();
        let jump = h.jump.as_ref().map_or("-".to_string(), ToString::to_string);
        let cells = [&h.name, &h.address, &port, &h.user, &roles, &h.source, jump.as_str()].map(one_line);
        t += &row(cells.each_ref().map(String::as_str));
    }
    t
}

/// `[{"name","address","port","user","roles","deploy_to","source","jump"?}]`,
/// `jump` (the chain in use, each hop `user@address:port` where known) only
/// for hosts reached through jump hosts.
pub(crate) fn hosts_json(hosts: &[Host]) -> Value {
    json!(hosts)
}

pub(super) fn fleet_line(views: &[HostView]) -> String {
    let mut by_release: HashMap<String, Vec<String>> = HashMap::new();
    for v in views {
        let key = match (&v.error, &v.state.current) {
            (Some(_), _) => "unreachable".to_string(),
            (None, Some(r)) => r.to_string(),
            (None, None) => "no release".to_string(),
        };
        by_release.entry(key).or_default().push(one_line(&v.host));
    }
    if by_release.len() == 1 {
        let (k, _) = by_release.iter().next().unwrap();
        return format!("fleet consistent: all {} host(s) on {k}\n", views.len());
    }
    let mut groups: Vec<String> = by_release.iter().map(|(k, hs)| format!("{k}: {}", hs.join(", "))).collect();
    groups.sort();
    format!("fleet drifts: {}\n", groups.join("; "))
}

pub(super) fn status_text(views: &[HostView]) -> String {
    let mut t = format!("{:<16} {:<12} {:<16} {:>8}  {}\n", "HOST", "STATE", "CURRENT", "RELEASES", "LOCK");
    for v in views {
        match &v.error {
            Some(e) => {
                t += &format!(
                    "{:<16} {:<12} {:<16} {:>8}  -\n  {}\n",
                    one_line(&v.host),
                    "unreachable",
                    "-",
                    "-",
                    one_line(e)
                )
            }
            None => {
                let cur = one_line(&current_text(&v.state));
                let lock =
                    v.state.lock.as_deref().map_or("-".to_string(), |l| one_line(&crate::fleet::lock::describe(l)));
                t += &format!(
                    "{:<16} {:<12} {:<16} {:>8}  {lock}\n",
                    one_line(&v.host),
                    "ok",
                    cur,
                    v.state.releases.len()
                );
            }
        }
    }
    t + &fleet_line(views)
}

pub(super) fn log_text(entries: &[Value]) -> String {
    let mut t =
        format!("{:<20} {:<12} {:<13} {:<16} {:<18} {}\n", "TIME (UTC)", "HOST", "EVENT", "RELEASE", "BY", "DETAILS");
    for e in entries {
        let f = |k: &str| one_line(e.get(k).and_then(Value::as_str).unwrap_or("-"));
        let time = f("time").chars().take(19).collect::<String>().replace('T', " ");
        let mut details = Vec::new();
        if let Some(v) = e.get("version").and_then(Value::as_str) {
            details.push(format!("version {}", one_line(v)));
        }
        if let Some(p) = e.get("previous").and_then(Value::as_str) {
            details.push(format!("from {}", one_line(p)));
        }
        if e.get("ok") == Some(&Value::Bool(false)) {
            details.push("FAILED".into());
        }
        if let Some(m) = e.get("message").and_then(Value::as_str) {
            details.push(one_line(m));
        }
        t += &format!(
            "{time:<20} {:<12} {:<13} {:<16} {:<18} {}\n",
            f("host"),
            f("event"),
            f("release"),
            f("deployer"),
            details.join(", ")
        );
    }
    t
}

pub(super) fn current_text(s: &crate::remote::state::HostState) -> String {
    match (&s.current, &s.current_target, s.current_is_dir) {
        (Some(r), _, _) => r.to_string(),
        (None, _, true) => "NOT A SYMLINK".into(),
        (None, Some(t), _) => format!("? {t}"),
        (None, None, _) => "-".into(),
    }
}

/// `{"consistent","release","hosts":[{"name","reachable","error","current","releases"}]}`
pub(crate) fn status_json(views: &[HostView]) -> Value {
    let hosts: Vec<Value> = views
        .iter()
        .map(|v| {
            let lock: Option<Value> = v.state.lock.as_deref().map(|l| serde_json::from_str(l).unwrap_or(json!({})));
            json!({"name": v.host, "reachable": v.error.is_none(), "error": v.error,
                   "current": v.state.current, "releases": v.state.releases.len(), "lock": lock})
        })
        .collect();
    let first = views.first().and_then(|v| v.state.current.clone());
    let consistent = views.iter().all(|v| v.error.is_none() && v.state.current.is_some() && v.state.current == first);
    json!({"consistent": consistent, "release": if consistent { first } else { None }, "hosts": hosts})
}

pub(super) fn releases_text(views: &[HostView]) -> String {
    let mut t = String::new();
    for v in views {
        t += &format!("{}:\n", one_line(&v.host));
        if let Some(e) = &v.error {
            t += &format!("  unreachable: {}\n", one_line(e));
            continue;
        }
        if v.state.releases.is_empty() && v.state.strangers.is_empty() {
            t += "  (no releases)\n";
        }
        for r in v.state.releases.iter().rev() {
            let current = Some(r) == v.state.current.as_ref();
            let mut notes = Vec::new();
            if current {
                notes.push("current");
            }
            if v.state.bad.contains(r) {
                notes.push("bad: a deploy of it failed");
            }
            let notes = if notes.is_empty() { String::new() } else { format!("  ({})", notes.join(", ")) };
            t += &format!("{}{r}{notes}\n", if current { "* " } else { "  " });
        }
        // Entries another tool made (`57`): rollback --to can go to them.
        for name in &v.state.strangers {
            let current = v.state.current_name.as_deref() == Some(name.as_str());
            let note = if current { "current, not made by ship" } else { "not made by ship" };
            t += &format!("{}{}  ({note})\n", if current { "* " } else { "  " }, one_line(name));
        }
    }
    t
}

/// `[{"name","error","current","releases":[{"id","current"}]}]`, newest first.
pub(crate) fn releases_json(views: &[HostView]) -> Value {
    json!(views
        .iter()
        .map(|v| {
            let rel: Vec<Value> = v
                .state
                .releases
                .iter()
                .rev()
                .map(|r| json!({"id": r, "current": Some(r) == v.state.current.as_ref(), "bad": v.state.bad.contains(r)}))
                .collect();
            let others: Vec<Value> = v
                .state
                .strangers
                .iter()
                .map(|n| json!({"name": n, "current": v.state.current_name.as_deref() == Some(n.as_str())}))
                .collect();
            json!({"name": v.host, "error": v.error, "current": v.state.current, "current_name": v.state.current_name,
                   "releases": rel, "other_entries": others})
        })
        .collect::<Vec<_>>())
}
