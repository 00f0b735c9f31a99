//! `ship lock` holds a fleet by hand (a freeze, a maintenance window);
//! `ship unlock` releases the caller's own locks, and `--force` breaks any
//! (logged as force-unlock).

use crate::error::Error;
use crate::event::Reporter;
use crate::fleet::lock::{describe, release, take};
use crate::fleet::{self, Slot};
use crate::outcome::{HostError, Status, Step, Summary};
use crate::remote;
use crate::remote::log::{LogEntry, LogEvent};
use crate::settings::Settings;
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
        log_all(
            &mut slots,
            s,
            |slot| LogEntry {
                message: Some(message.clone()),
                ..LogEntry::new(LogEvent::Lock, &slot.host.name, &s.deployer)
            },
            r,
        )
        .await;
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
            let event = if force { LogEvent::ForceUnlock } else { LogEvent::Unlock };
            let line = LogEntry { was: Some(describe(&details)), ..LogEntry::new(event, &slot.host.name, &s.deployer) }
                .to_line();
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
async fn log_all(slots: &mut [Slot], s: &Settings, entry: impl Fn(&Slot) -> LogEntry, r: &dyn Reporter) {
    let entry = &entry;
    crate::fleet::parallel::map(
        slots.iter_mut().filter(|x| x.alive()).collect(),
        s.concurrency,
        |_, slot| async move {
            let line = entry(slot).to_line();
            if let Err(e) = slot.run(Step::Finish, &remote::append_log(&slot.host.layout(), &line), r).await {
                slot.status = Some(Status::Failed(HostError::new(Step::Finish, e)));
            }
        },
    )
    .await;
}
