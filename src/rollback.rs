//! `ship rollback`: step 4 of a deploy alone. `current` goes back to the
//! previous release (or `--to ID`) on every selected host, with no upload.
//!
//! All-or-nothing before any switch: every host must be reachable and have
//! the target, and without `--to` every host must agree on the target, so a
//! rollback never leaves the fleet on a mix of releases by accident.

use crate::error::Error;
use crate::event::{Event, Reporter};
use crate::fleet::{self, Slot};
use crate::outcome::Summary;
use crate::release::ReleaseId;
use crate::remote;
use crate::settings::Settings;
use chrono::Utc;
use serde_json::json;
use std::time::Instant;

/// Runs a rollback to `to` or to each host's previous release.
pub async fn run(s: &Settings, to: Option<&str>, r: &dyn Reporter) -> Result<Summary, Error> {
    let t0 = Instant::now();
    let wanted = match to {
        Some(t) => Some(ReleaseId::parse(t).ok_or_else(|| {
            Error::Usage(format!(
                "--to {t:?} is not a release id (14 digits, UTC %Y%m%d%H%M%S); see `ship releases`"
            ))
        })?),
        None => None,
    };
    let ctx = fleet::context(s, r)?;
    r.emit(Event::Plan {
        command: "rollback",
        hosts: s.hosts.len(),
        release: wanted.clone(),
        bytes: None,
    });
    let mut slots = fleet::reach(
        &s.hosts,
        &ctx,
        s.concurrency,
        |h| remote::state(&h.layout()),
        r,
    )
    .await;
    let summary = |hosts, release| Summary {
        command: "rollback",
        release,
        hosts,
        duration: t0.elapsed(),
        interrupted: false,
    };
    if slots.iter().any(|x| !x.alive()) {
        let reason = format!(
            "not rolled back: {} unreachable",
            fleet::failed_names(&slots)
        );
        fleet::leave_unchanged(&mut slots, &reason);
        let hosts = fleet::finish(&slots, r).await;
        return Ok(summary(hosts, wanted));
    }
    let target = match choose_target(&slots, wanted.as_ref()) {
        Ok(t) => t,
        Err(msg) => {
            for x in &slots {
                if let Some(sess) = &x.session {
                    sess.close().await;
                }
            }
            return Err(Error::Refused(msg));
        }
    };
    crate::parallel::map(slots.iter_mut().collect(), s.concurrency, |_, slot| {
        let target = &target;
        async move { switch_back(slot, s, target, r).await }
    })
    .await;
    let hosts = fleet::finish(&slots, r).await;
    Ok(summary(hosts, Some(target)))
}

/// The one release every host goes to, or why there is none.
fn choose_target(slots: &[Slot], wanted: Option<&ReleaseId>) -> Result<ReleaseId, String> {
    if let Some(id) = wanted {
        let lacking: Vec<&str> = slots
            .iter()
            .filter(|x| !x.state.releases.contains(id))
            .map(|x| x.host.name.as_str())
            .collect();
        if !lacking.is_empty() {
            return Err(format!(
                "release {id} is not on {}: nothing was changed; pick an id every host has (`ship releases`)",
                lacking.join(", ")
            ));
        }
        return Ok(id.clone());
    }
    let mut targets: Vec<(String, Option<&ReleaseId>)> = slots
        .iter()
        .map(|x| (x.host.name.clone(), x.state.previous()))
        .collect();
    if let Some((h, _)) = targets.iter().find(|(_, t)| t.is_none()) {
        return Err(format!(
            "{h} has no release older than its current one: nothing was changed; use --to ID (`ship releases`)"
        ));
    }
    targets.sort_by(|a, b| a.1.cmp(&b.1));
    let first = targets[0].1;
    if targets.iter().any(|(_, t)| *t != first) {
        let list: Vec<String> = targets
            .iter()
            .map(|(h, t)| format!("{h} -> {}", t.unwrap()))
            .collect();
        return Err(format!(
            "hosts would roll back to different releases ({}): nothing was changed; choose one with --to ID",
            list.join(", ")
        ));
    }
    Ok(first.unwrap().clone())
}

async fn switch_back(slot: &mut Slot, s: &Settings, target: &ReleaseId, r: &dyn Reporter) {
    let previous = slot.state.current.clone();
    let host = slot.host.name.clone();
    let log = |ok: bool| {
        json!({
            "time": Utc::now().to_rfc3339(), "event": "rollback", "release": target, "previous": previous,
            "deployer": s.deployer, "host": host, "ok": ok,
        })
        .to_string()
    };
    crate::activate::activate(slot, s, target, &[], log, r).await;
}
