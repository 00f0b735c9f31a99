//! `ship rollback`: step 4 of a deploy alone. `current` goes back to the
//! previous release (or `--to ID`) on every selected host, with no upload.
//!
//! All-or-nothing before any switch: every host must be reachable and have
//! the target, and without `--to` every host must agree on the target, so a
//! rollback never leaves the fleet on a mix of releases by accident.

use crate::error::Error;
use crate::event::{Event, Reporter};
use crate::fleet::lock::{self};
use crate::fleet::{self, Slot};
use crate::outcome::{Step, Summary};
use crate::release::ReleaseId;
use crate::remote::log::{LogEntry, LogEvent};
use crate::remote::{self};
use crate::settings::Settings;
use std::time::Instant;

/// Runs a rollback to `to` or to each host's previous release.
pub(crate) async fn run(
    s: &Settings,
    to: Option<&str>,
    r: &dyn Reporter,
    stop: &crate::shutdown::Shutdown,
) -> Result<Summary, Error> {
    let t0 = Instant::now();
    let wanted = match to {
        Some(t) => Some(ReleaseId::existing(t).ok_or_else(|| {
            Error::Usage(format!("--to {t:?} is not the name of a directory under releases/; see `ship releases`"))
        })?),
        None => None,
    };
    let ctx = fleet::context(s, r)?.with_shutdown(stop.clone());
    r.emit(Event::Plan { command: "rollback", hosts: s.hosts.len(), release: wanted.clone(), bytes: None });
    let (details, mut slots) = lock::take(s, &ctx, "rollback", None, r).await?;
    let summary = |hosts, release| Summary {
        command: "rollback",
        release,
        hosts,
        duration: t0.elapsed(),
        interrupted: stop.requested(),
    };
    if slots.iter().any(|x| !x.alive()) {
        let reason = format!("not rolled back: {} unreachable", fleet::failed_names(&slots));
        fleet::leave_unchanged(&mut slots, &reason);
        lock::release(&mut slots, &details.token, s.concurrency, r).await;
        let hosts = fleet::finish(&slots, r).await;
        return Ok(summary(hosts, wanted));
    }
    let target = match choose_target(&slots, wanted.as_ref()) {
        Ok(t) => t,
        Err(msg) => {
            lock::release(&mut slots, &details.token, s.concurrency, r).await;
            for x in &slots {
                if let Some(sess) = &x.session {
                    sess.close().await;
                }
            }
            return Err(Error::Refused(msg));
        }
    };
    if s.ask {
        let q = format!(
            "Roll back {} host(s) of environment `{}`:\n{}Proceed?",
            slots.len(),
            s.config.env_name.as_deref().unwrap_or_default(),
            fleet::change_list(&slots, &target)
        );
        if !r.confirm(&q) {
            lock::release(&mut slots, &details.token, s.concurrency, r).await;
            fleet::finish(&slots, r).await;
            return Err(Error::Refused("rollback declined; nothing was changed".into()));
        }
    }
    if slots.iter().any(|x| x.state.bad.contains(&target)) {
        r.emit(Event::Warning {
            host: None,
            message: format!("{target} is marked bad by a failed deploy; rolling back to it as asked"),
        });
    }
    let explicit = wanted.is_some();
    in_waves(&mut slots, s, &target, explicit, &details.token, r, stop).await;
    lock::release(&mut slots, &details.token, s.concurrency, r).await;
    let hosts = fleet::finish(&slots, r).await;
    Ok(summary(hosts, Some(target)))
}

/// Goes back wave by wave as `[strategy]` (or --strategy) says; after a
/// wave with a failed host, the rest stay where they are.
async fn in_waves(
    slots: &mut [Slot],
    s: &Settings,
    target: &ReleaseId,
    explicit: bool,
    token: &str,
    r: &dyn Reporter,
    stop: &crate::shutdown::Shutdown,
) {
    // A rollback is a release too: wave by wave as `[strategy]` (or
    // --strategy) says, each host restarted, health-checked, verified and
    // undrained before the next wave; after a wave with a failed host the
    // rest stay where they are.
    let plan = crate::deploy::waves::waves(slots.len(), s.rollout.kind, s.rollout.batch, 0);
    for (w, wave) in plan.iter().enumerate() {
        if w > 0 && !s.rollout.pause.is_zero() {
            tokio::select! {
                _ = tokio::time::sleep(s.rollout.pause) => {}
                _ = stop.wait() => {}
            }
        }
        if stop.requested() || slots.iter().any(|x| !x.alive()) {
            let why = if stop.requested() {
                "not rolled back: interrupted".to_string()
            } else {
                format!("not rolled back: {} failed in an earlier wave", fleet::failed_names(slots))
            };
            for &i in wave {
                slots[i].status = Some(crate::outcome::Status::Unchanged { reason: why.clone() });
            }
            // Each host of a later wave still gets its lock released.
            continue;
        }
        if plan.len() > 1 {
            let names: Vec<String> = wave.iter().map(|&i| slots[i].host.name.clone()).collect();
            r.emit(Event::Wave { number: w + 1, of: plan.len(), hosts: names });
        }
        let members: Vec<&mut Slot> =
            slots.iter_mut().enumerate().filter(|(i, _)| wave.contains(i)).map(|(_, x)| x).collect();
        crate::fleet::parallel::map(members, s.concurrency, |_, slot| async move {
            switch_back(slot, s, target, explicit, token, r).await
        })
        .await;
    }
}

/// The one release every host goes to, or why there is none.
fn choose_target(slots: &[Slot], wanted: Option<&ReleaseId>) -> Result<ReleaseId, String> {
    if let Some(id) = wanted {
        let has = |x: &Slot| x.state.has(id.as_str());
        let lacking: Vec<&str> = slots.iter().filter(|x| !has(x)).map(|x| x.host.name.as_str()).collect();
        if !lacking.is_empty() {
            return Err(format!(
                "release {id} is not on {}: nothing was changed; pick an id every host has (`ship releases`)",
                lacking.join(", ")
            ));
        }
        return Ok(id.clone());
    }
    let mut targets: Vec<(String, Option<ReleaseId>)> =
        slots.iter().map(|x| (x.host.name.clone(), x.state.previous())).collect();
    if let Some((h, _)) = targets.iter().find(|(_, t)| t.is_none()) {
        return Err(format!(
            "{h} has no release older than its current one (bad releases are skipped): nothing was changed; use --to ID (`ship releases`)"
        ));
    }
    targets.sort_by(|a, b| a.1.cmp(&b.1));
    let first = targets[0].1.clone();
    if targets.iter().any(|(_, t)| *t != first) {
        let list: Vec<String> = targets.iter().map(|(h, t)| format!("{h} -> {}", t.as_ref().unwrap())).collect();
        return Err(format!(
            "hosts would roll back to different releases ({}): nothing was changed; choose one with --to ID",
            list.join(", ")
        ));
    }
    Ok(first.unwrap())
}

async fn switch_back(slot: &mut Slot, s: &Settings, target: &ReleaseId, explicit: bool, token: &str, r: &dyn Reporter) {
    let previous = slot.state.current_name.clone();
    let previous_link = slot.state.current_target.clone();
    // Going back to what served before, exactly as it was linked when the
    // log recorded it (`releases/57/public`), unless that is how ship
    // itself links the release.
    let canonical = slot.host.layout().release(target);
    let exact = match slot.state.previous_link() {
        Some(link) if !explicit && slot.state.previous().as_ref() == Some(target) && link != canonical => Some(link),
        _ => None,
    };
    let direction = match &exact {
        Some(link) => crate::deploy::activate::Direction::Restore(link.as_bytes()),
        None => crate::deploy::activate::Direction::Back,
    };
    let env = crate::deploy::hooks::host_env(s, slot, target.as_str(), previous.as_deref().unwrap_or_default(), None);
    if let Err(e) = crate::deploy::activate::activate(slot, s, target, direction, &env, &[], r).await {
        slot.fail_with(e);
    }
    let line = LogEntry {
        release: Some(target.to_string()),
        previous: Some(previous),
        previous_link: Some(previous_link),
        explicit: Some(explicit),
        ok: Some(slot.alive()),
        ..LogEntry::new(LogEvent::Rollback, &slot.host.name, &s.deployer)
    }
    .to_line();
    let script = remote::finalize(&slot.host.layout(), None, &line, &[], token);
    match slot.run(Step::Finish, &script, r).await {
        Ok(_) => slot.state.lock_taken = false,
        Err(e) => r.emit(Event::Warning {
            host: Some(slot.host.name.clone()),
            message: format!("logging or unlocking failed: {e}; `ship unlock` releases a stale lock"),
        }),
    }
}
