//! The on-host log, `.ship/log.jsonl`: one [`LogEntry`] per line, written
//! by every command that changes a host and read back to find what served
//! before `current` (ARCHITECTURE.md "On-host layout").
//!
//! One type for every writer, so deploy, rollback, sync, prune and the lock
//! commands cannot drift apart in how they spell a field, and one lenient
//! reader: a line another tool or a hand edit wrote with a field of another
//! type loses that field, not the whole line.

use serde::{Deserialize, Deserializer, Serialize};

/// What a line records. Lines with an event ship does not know read as
/// [`LogEvent::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum LogEvent {
    /// A deploy switched this host to its release.
    Deploy,
    /// A deploy switched this host, then switched it back (a failed wave).
    Revert,
    /// A deploy failed on this host before it switched.
    DeployFailed,
    /// A deploy stopped (another host failed, or Ctrl-C) before this host switched.
    NotReleased,
    Sync,
    Rollback,
    Prune,
    Lock,
    Unlock,
    ForceUnlock,
    #[default]
    #[serde(other)]
    Other,
}

/// A field a line of this event always carries, `null` when it has no value
/// (`previous` on a host's first deploy), as opposed to one the event does
/// not have at all (`None`, left out).
pub(crate) type Nullable<T> = Option<Option<T>>;

/// One line of the host log. The fields are in alphabetical order, and each
/// event writes the same fields as before this type existed (lines were
/// built with `json!`, which sorts keys): a host's log does not change shape
/// with the ship version that wrote it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct LogEntry {
    /// Deploy: the release the host serves after this run.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub current: Nullable<String>,
    #[serde(default, deserialize_with = "lenient_or_default")]
    pub deployer: String,
    #[serde(default, deserialize_with = "lenient_or_default")]
    pub event: LogEvent,
    /// Rollback: the target was named (`ship rollback ID`), not implied.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub explicit: Option<bool>,
    #[serde(default, deserialize_with = "lenient_or_default")]
    pub host: String,
    /// Prune: how many releases it kept.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub keep: Option<usize>,
    /// Lock: the holder's message.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub message: Nullable<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub ok: Option<bool>,
    /// The release `current` named before this run.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub previous: Nullable<String>,
    /// `current`'s exact link before this run, when it is not how ship
    /// spells a release (a host migrated from another tool).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub previous_link: Nullable<String>,
    /// Deploy: the releases it pruned.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub pruned: Option<Vec<String>>,
    /// The release this run was about.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub release: Option<String>,
    /// Prune: the releases it removed.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub removed: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub strategy: Option<String>,
    /// Deploy: when `current` moved (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub switched_at: Nullable<String>,
    /// RFC 3339, UTC.
    #[serde(default, deserialize_with = "lenient_or_default")]
    pub time: String,
    /// Deploy: the `--version` label.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub version: Nullable<String>,
    /// Unlock: the lock it released, described.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub was: Option<String>,
}

impl LogEntry {
    /// An entry of `event` on `host` by `deployer`, stamped now.
    pub(crate) fn new(event: LogEvent, host: &str, deployer: &str) -> LogEntry {
        LogEntry {
            event,
            host: host.to_string(),
            deployer: deployer.to_string(),
            time: chrono::Utc::now().to_rfc3339(),
            ..LogEntry::default()
        }
    }

    /// The line as written to the log (no newline).
    pub(crate) fn to_line(&self) -> String {
        serde_json::to_string(self).expect("a log entry is plain data")
    }

    /// A line of the log, if it is a JSON object.
    pub(crate) fn parse(line: &str) -> Option<LogEntry> {
        let v: serde_json::Value = serde_json::from_str(line).ok()?;
        if !v.is_object() {
            return None;
        }
        serde_json::from_value(v).ok()
    }

    /// Whether a run ended well on the host, as the line says.
    pub(crate) fn ok(&self) -> bool {
        self.ok == Some(true)
    }

    /// `previous`, when the line has one.
    pub(crate) fn previous(&self) -> Option<&str> {
        self.previous.as_ref()?.as_deref()
    }

    /// `previous_link`, when the line has one.
    pub(crate) fn previous_link(&self) -> Option<&str> {
        self.previous_link.as_ref()?.as_deref()
    }
}

/// A field of the wrong type reads as absent rather than losing the line.
pub(super) fn lenient<'de, D: Deserializer<'de>, T: serde::de::DeserializeOwned>(d: D) -> Result<Option<T>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(serde_json::from_value(v).ok())
}

pub(super) fn lenient_or_default<'de, D: Deserializer<'de>, T: serde::de::DeserializeOwned + Default>(
    d: D,
) -> Result<T, D::Error> {
    Ok(lenient(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stamped(e: LogEntry) -> LogEntry {
        LogEntry { time: "T".into(), ..e }
    }

    #[test]
    fn each_event_writes_the_line_json_wrote_before() {
        let deploy = stamped(LogEntry {
            release: Some("20261122070102".into()),
            previous: Some(None),
            previous_link: Some(None),
            current: Some(Some("20261122070102".into())),
            version: Some(Some("v1".into())),
            ok: Some(true),
            strategy: Some("parallel".into()),
            pruned: Some(vec![]),
            switched_at: Some(None),
            ..LogEntry::new(LogEvent::Deploy, "web1", "ana@laptop")
        });
        let was = json!({
            "time": "T", "event": "deploy", "release": "20261122070102", "previous": null,
            "previous_link": null, "current": "20261122070102", "version": "v1", "deployer": "ana@laptop",
            "host": "web1", "ok": true, "strategy": "parallel", "pruned": [], "switched_at": null,
        });
        assert_eq!(deploy.to_line(), was.to_string());

        let lock = stamped(LogEntry { message: Some(None), ..LogEntry::new(LogEvent::Lock, "web1", "ana") });
        let was = json!({"time": "T", "host": "web1", "deployer": "ana", "event": "lock", "message": null});
        assert_eq!(lock.to_line(), was.to_string());

        let unlock = stamped(LogEntry { was: Some("held".into()), ..LogEntry::new(LogEvent::ForceUnlock, "w", "a") });
        let was = json!({"time": "T", "event": "force-unlock", "host": "w", "deployer": "a", "was": "held"});
        assert_eq!(unlock.to_line(), was.to_string());

        let prune = stamped(LogEntry {
            removed: Some(vec!["1".into()]),
            keep: Some(5),
            ..LogEntry::new(LogEvent::Prune, "w", "a")
        });
        let was = json!({"time": "T", "event": "prune", "removed": ["1"], "keep": 5, "deployer": "a", "host": "w"});
        assert_eq!(prune.to_line(), was.to_string());
    }

    #[test]
    fn reading_is_lenient_per_field() {
        let e = LogEntry::parse(r#"{"event":"rollback","ok":"yes","previous":"57","explicit":1,"extra":[1]}"#).unwrap();
        assert_eq!((e.event, e.ok(), e.previous(), e.explicit), (LogEvent::Rollback, false, Some("57"), None));
        let e = LogEntry::parse(r#"{"event":"auto-revert","release":5}"#).unwrap();
        assert_eq!((e.event, e.release), (LogEvent::Other, None));
        assert_eq!(LogEntry::parse(r#"{"previous":null}"#).unwrap().previous(), None);
        assert!(LogEntry::parse("[1]").is_none());
        assert!(LogEntry::parse("lock=taken {").is_none());
    }
}
