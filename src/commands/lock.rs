//! `ship lock` holds a fleet by hand (a freeze, a maintenance window);
//! `ship unlock` releases the caller's own locks, and `--force` breaks any
//! (logged as force-unlock).

use crate::error::Error;
use crate::event::Reporter;
use crate::fleet::lock::{describe, release, take};
use crate::fleet::{self, Slot};
use crate::outcome::{Status, Step, Summary};
use crate::remote;
use crate::settings::Settings;
use chrono::Utc;
use serde_json::{json, Value};
use std::time::Instant;

/// `ship lock -m MESSAGE`: takes the lock on every selected host, or none.
pub(crate) async fn hold(s: &Settings, message: Option<String>, r: &dyn Reporter) -> Result<Summary, Error> {
    let t0 = Instant::now();
    let ctx = fleet::context(s, r)?;
    let (details, mut slots) = take(s, &ctx, "lock", message.clone(), r).await?;
    if slots.iter().any(|x| !x.alive()) {
        release(&mut slots, &details.token, s.concurrency, r).await;
        fleet::leave_unchanged(&mut slots, "not locked: another host is unreachable");
    } else {
        log_all(&mut slots, s, |_| json!({"event": "lock", "message": message}), r).await;
    }
    let hosts = fleet::finish(&slots, r).await;
    Ok(Summary { command: "lock", release: None, hosts, duration: t0.elapsed(), interrupted: false })
}

/// `ship unlock [--force]`: releases the caller's own locks, or with
/// `force` any lock (logged as force-unlock).
pub(crate) async fn unlock(s: &Settings, force: bool, r: &dyn Reporter) -> Result<Summary, Error> {
    let t0 = Instant::now();
    let ctx = fleet::context(s, r)?;
    let mut slots = fleet::reach(&s.hosts, &ctx, s.concurrency, |h| remote::state(&h.layout()), r).await;
    let needle = format!("\"holder\":{}", serde_json::to_string(&s.deployer).unwrap_or_default());
    crate::fleet::parallel::map(slots.iter_mut().filter(|x| x.alive()).collect(), s.concurrency, |_, slot| {
        let needle = &needle;
        async move {
            let Some(details) = slot.state.lock.clone() else { return };
            let layout = slot.host.layout();
            let line = json!({"time": Utc::now().to_rfc3339(), "event": if force { "force-unlock" } else { "unlock" },
                "host": slot.host.name, "deployer": s.deployer, "was": describe(&details)})
            .to_string();
            if force {
                if let Err(e) = slot.run(Step::Finish, &remote::force_unlock(&layout, &line), r).await {
                    slot.fail(Step::Finish, e);
                }
                return;
            }
            match slot.run(Step::Finish, &remote::unlock_and_log(&layout, needle, &line), r).await {
                Ok(out) if out.stdout.contains("unlocked=1") => {}
                Ok(_) => slot.fail(
                    Step::Finish,
                    format!(
                        "the lock is {}; only its holder can release it, or `ship unlock --force`",
                        describe(&details)
                    ),
                ),
                Err(e) => slot.fail(Step::Finish, e),
            }
        }
    })
    .await;
    let hosts = fleet::finish(&slots, r).await;
    Ok(Summary { command: "unlock", release: None, hosts, duration: t0.elapsed(), interrupted: false })
}

/// Appends one log line per host; failures become the host's failure.
async fn log_all(slots: &mut [Slot], s: &Settings, extra: impl Fn(&Slot) -> Value, r: &dyn Reporter) {
    let extra = &extra;
    crate::fleet::parallel::map(
        slots.iter_mut().filter(|x| x.alive()).collect(),
        s.concurrency,
        |_, slot| async move {
            let mut line = json!({"time": Utc::now().to_rfc3339(), "host": slot.host.name, "deployer": s.deployer});
            if let (Some(obj), Value::Object(more)) = (line.as_object_mut(), extra(slot)) {
                obj.extend(more);
            }
            if let Err(e) = slot.run(Step::Finish, &remote::append_log(&slot.host.layout(), &line.to_string()), r).await
            {
                slot.status = Some(Status::Failed { step: Step::Finish, message: e });
            }
        },
    )
    .await;
}
