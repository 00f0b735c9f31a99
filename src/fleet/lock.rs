//! The on-host deploy lock: `mkdir <deploy_to>/.ship/lock` (atomic) plus a
//! `details.json` saying who holds it. Deploys, rollbacks and prunes take it
//! on every host in their first round trip and release it on every exit
//! path; only the holder's random token releases it. `ship lock` holds a
//! fleet by hand; `ship unlock` releases the caller's own locks and
//! `--force` breaks any (logged).

use crate::error::Error;
use crate::event::{Event, Reporter};
use crate::fleet::{self, Slot};
use crate::outcome::{Status, Step, Summary};
use crate::remote;
use crate::settings::Settings;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::time::Instant;

/// What `details.json` records.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct LockDetails {
    /// `user@machine` of the holder.
    pub holder: String,
    /// The holder's process id.
    pub pid: u32,
    /// What the holder is doing (`deploy`, `rollback`, `lock`, …).
    pub command: String,
    /// The release being deployed, when known.
    pub release: Option<String>,
    /// When the lock was taken (RFC 3339, UTC).
    pub time: String,
    /// A message (`ship lock -m`).
    pub message: Option<String>,
    /// Random; only a run that knows it releases the lock.
    pub token: String,
}

impl LockDetails {
    /// Details for this run.
    pub(crate) fn new(s: &Settings, command: &str, message: Option<String>) -> LockDetails {
        let token: [u8; 16] = rand::random();
        LockDetails {
            holder: s.deployer.clone(),
            pid: std::process::id(),
            command: command.to_string(),
            release: None,
            time: Utc::now().to_rfc3339(),
            message,
            token: crate::text::hex(&token),
        }
    }

    /// As one line of JSON.
    pub(crate) fn json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// "held by a@b (pid 7) for 2m 5s, running `deploy`: message".
pub(crate) fn describe(details: &str) -> String {
    let v: Value = serde_json::from_str(details).unwrap_or(Value::Null);
    let field = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let holder = field("holder").unwrap_or_else(|| "someone (no details.json)".into());
    let pid = v.get("pid").and_then(Value::as_u64).map(|p| format!(" (pid {p})")).unwrap_or_default();
    let age = field("time").map(|t| format!(" for {}", age(&t))).unwrap_or_default();
    let command = field("command").map(|c| format!(", running `{c}`")).unwrap_or_default();
    let message = field("message").map(|m| format!(": {m}")).unwrap_or_default();
    format!("held by {holder}{pid}{age}{command}{message}")
}

/// How long ago an RFC 3339 time was, as `1h 2m`, `3m 4s` or `5s`.
pub(crate) fn age(time: &str) -> String {
    let Ok(t) = DateTime::parse_from_rfc3339(time) else { return "an unknown time".into() };
    let secs = (Utc::now() - t.with_timezone(&Utc)).num_seconds().max(0);
    match secs {
        s if s >= 3600 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        s if s >= 60 => format!("{}m {}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}

/// The error for hosts locked by someone else, or `None`.
pub(crate) fn held_by_others(slots: &[Slot]) -> Option<Error> {
    let held: Vec<String> = slots
        .iter()
        .filter(|x| x.state.locked_by_other())
        .map(|x| format!("{} is locked: {}", x.host.name, describe(x.state.lock.as_deref().unwrap_or(""))))
        .collect();
    if held.is_empty() {
        return None;
    }
    Some(Error::Locked(format!(
        "{}. Nothing was changed. Wait for it to finish, or if it is stale, `ship unlock --force`",
        held.join("; ")
    )))
}

/// The prologue of every run that changes hosts without a deploy's
/// preflight (rollback, sync, prune, `ship lock`): reach every host, take
/// its lock and read its state in one round trip. When another run holds
/// a host, the locks taken are released, the connections closed, and the
/// error says who holds what.
pub(crate) async fn take(
    s: &Settings,
    ctx: &crate::ssh::SshContext,
    command: &str,
    message: Option<String>,
    r: &dyn Reporter,
) -> Result<(LockDetails, Vec<Slot>), Error> {
    let details = LockDetails::new(s, command, message);
    let json = details.json();
    let script = |h: &crate::inventory::Host| remote::lock(&h.layout(), &json) + &remote::state(&h.layout());
    let mut slots = fleet::reach(&s.hosts, ctx, s.concurrency, script, r).await;
    if let Some(err) = held_by_others(&slots) {
        release(&mut slots, &details.token, s.concurrency, r).await;
        fleet::finish(&slots, r).await;
        return Err(err);
    }
    Ok((details, slots))
}

/// Releases the locks this run took (matched by token), in parallel. A
/// host whose first step failed is asked too: the step may have taken the
/// lock before it was cut short, and only our own token is ever removed.
pub(crate) async fn release(slots: &mut [Slot], token: &str, limit: usize, r: &dyn Reporter) {
    let mine: Vec<&mut Slot> =
        slots.iter_mut().filter(|x| x.session.is_some() && (x.state.lock_taken || x.status.is_some())).collect();
    crate::fleet::parallel::map(mine, limit, |_, slot| async move {
        match slot.run(Step::Finish, &remote::unlock(&slot.host.layout(), token), r).await {
            Ok(_) => slot.state.lock_taken = false,
            Err(e) => r.emit(Event::Warning {
                host: Some(slot.host.name.clone()),
                message: format!("could not release the lock: {e}; `ship unlock` releases it"),
            }),
        }
    })
    .await;
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_names_holder_age_and_command() {
        let t = (Utc::now() - chrono::Duration::seconds(125)).to_rfc3339();
        let d = json!({"holder": "ana@laptop", "pid": 42, "time": t, "command": "deploy", "message": "incident 7"});
        assert_eq!(describe(&d.to_string()), "held by ana@laptop (pid 42) for 2m 5s, running `deploy`: incident 7");
        assert_eq!(describe("{}"), "held by someone (no details.json)");
    }
}
