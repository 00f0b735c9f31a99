//! `ship status`, `ship releases` and `ship prune`: read every host's state
//! (one round trip each), then report it or prune by it.

use crate::error::Error;
use crate::event::{Event, Reporter};
use crate::fleet;
use crate::outcome::{Step, Summary};
use crate::remote;
use crate::remote::state::HostState;
use crate::settings::Settings;
use chrono::Utc;
use serde_json::json;
use std::time::Instant;

/// A host's state as read by `status` and `releases`, or why it could not be.
#[derive(Debug, Clone)]
pub(crate) struct HostView {
    /// Host name.
    pub host: String,
    /// The connection or read error, if any.
    pub error: Option<String>,
    /// What the host reported.
    pub state: HostState,
}

/// Reads every host's state without changing anything.
pub(crate) async fn views(s: &Settings, r: &dyn Reporter) -> Result<Vec<HostView>, Error> {
    let ctx = fleet::context(s, r)?;
    let slots = fleet::reach(&s.hosts, &ctx, s.concurrency, |h| remote::state(&h.layout()), r).await;
    let mut out = Vec::new();
    for x in &slots {
        if let Some(sess) = &x.session {
            sess.close().await;
        }
        let error = match &x.status {
            Some(crate::outcome::Status::Failed { step, message }) => Some(format!("{step}: {message}")),
            _ => None,
        };
        out.push(HostView { host: x.host.name.clone(), error, state: x.state.clone() });
    }
    Ok(out)
}

/// Prunes every host to `keep` releases (never current, never the rollback
/// target; names that are not release ids are left alone with a warning).
pub(crate) async fn prune(s: &Settings, keep: usize, r: &dyn Reporter) -> Result<Summary, Error> {
    let t0 = Instant::now();
    let ctx = fleet::context(s, r)?;
    r.emit(Event::Plan { command: "prune", hosts: s.hosts.len(), release: None, bytes: None });
    let (details, mut slots) = crate::fleet::lock::take(s, &ctx, "prune", None, r).await?;
    let total: usize = slots.iter().map(|x| x.state.prune_plan(keep).len()).sum();
    if s.ask && total > 0 {
        let q = format!("Prune {total} release(s) on {} host(s), keeping {keep}?", slots.len());
        if !r.confirm(&q) {
            crate::fleet::lock::release(&mut slots, &details.token, s.concurrency, r).await;
            fleet::finish(&slots, r).await;
            return Err(Error::Refused("prune declined; nothing was changed".into()));
        }
    }
    crate::fleet::parallel::map(
        slots.iter_mut().filter(|x| x.alive()).collect(),
        s.concurrency,
        |_, slot| async move {
            let doomed = slot.state.prune_plan(keep);
            if doomed.is_empty() {
                return;
            }
            let line = json!({
                "time": Utc::now().to_rfc3339(), "event": "prune", "removed": doomed, "keep": keep,
                "deployer": s.deployer, "host": slot.host.name,
            })
            .to_string();
            if let Err(e) = slot
                .run(
                    Step::Finish,
                    &(remote::finish(&slot.host.layout(), &doomed, &line) + &remote::empty_trash(&slot.host.layout())),
                    r,
                )
                .await
            {
                slot.fail(Step::Finish, e);
            }
        },
    )
    .await;
    crate::fleet::lock::release(&mut slots, &details.token, s.concurrency, r).await;
    let hosts = fleet::finish(&slots, r).await;
    Ok(Summary { command: "prune", release: None, hosts, duration: t0.elapsed(), interrupted: false })
}

/// `ship log`: every host's `.ship/log.jsonl`, merged, newest first.
pub(crate) async fn log(s: &Settings, n: usize, r: &dyn Reporter) -> Result<(Vec<serde_json::Value>, bool), Error> {
    let ctx = fleet::context(s, r)?;
    let slots = fleet::reach(&s.hosts, &ctx, s.concurrency, |h| remote::read_log(&h.layout(), n), r).await;
    let mut entries: Vec<serde_json::Value> = Vec::new();
    let mut all_ok = true;
    for x in &slots {
        if let Some(sess) = &x.session {
            sess.close().await;
        }
        if !x.alive() {
            all_ok = false;
            r.emit(Event::Warning {
                host: Some(x.host.name.clone()),
                message: "unreachable; its log is missing below".into(),
            });
        }
    }
    // The log lines came back as the first script's stdout, kept in the slot's state.
    for x in &slots {
        for line in x.first_output.lines() {
            if let Ok(mut v) = serde_json::from_str::<serde_json::Value>(line) {
                if v.get("host").is_none() {
                    v["host"] = json!(x.host.name);
                }
                entries.push(v);
            }
        }
    }
    entries.sort_by(|a, b| b["time"].as_str().unwrap_or("").cmp(a["time"].as_str().unwrap_or("")));
    entries.truncate(n);
    Ok((entries, all_ok))
}
