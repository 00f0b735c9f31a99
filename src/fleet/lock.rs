//! The on-host deploy lock: `mkdir <deploy_to>/.ship/lock` (atomic) plus a
//! `details.json` saying who holds it. Deploys, rollbacks and prunes take it
//! on every host in their first round trip and release it on every exit
//! path; only the holder's random token releases it. The commands that hold
//! and break it by hand are [`crate::commands::lock`].

use crate::error::Error;
use crate::event::{Event, Reporter};
use crate::fleet::{self, Slot};
use crate::outcome::Step;
use crate::remote;
use crate::settings::Settings;
use chrono::{DateTime, Utc};
use serde_json::Value;

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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn describe_names_holder_age_and_command() {
        let t = (Utc::now() - chrono::Duration::seconds(125)).to_rfc3339();
        let d = json!({"holder": "ana@laptop", "pid": 42, "time": t, "command": "deploy", "message": "incident 7"});
        assert_eq!(describe(&d.to_string()), "held by ana@laptop (pid 42) for 2m 5s, running `deploy`: incident 7");
        assert_eq!(describe("{}"), "held by someone (no details.json)");
    }
}
