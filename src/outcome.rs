//! A host's result as a value: one host failing never drops the others'
//! results, and the summary can say what happened where.

use crate::release::ReleaseId;
use std::time::Duration;

/// The named steps of a deploy or rollback, used in events and failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    /// TCP, host key, authentication.
    Connect,
    /// Reading the host's state, disk and linked-file checks.
    Preflight,
    /// Streaming the archive into staging.
    Upload,
    /// Comparing the sha256 of what arrived.
    Verify,
    /// Linking shared paths and moving staging into releases/.
    Link,
    /// Swapping `current`.
    Switch,
    /// The user's restart command.
    Restart,
    /// Pruning and the audit log.
    Finish,
    /// Removing a staged release after another host failed.
    Abort,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = serde_json::to_value(self).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        f.write_str(&s)
    }
}

/// How a host ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Did everything asked.
    Ok,
    /// Failed at `step`.
    Failed {
        /// Where it failed.
        step: Step,
        /// What went wrong and what to do.
        message: String,
    },
    /// Left unchanged because another host failed (or Ctrl-C).
    Unchanged {
        /// Why nothing was done here.
        reason: String,
    },
}

/// One host's result.
#[derive(Debug, Clone)]
pub struct HostOutcome {
    /// Host name.
    pub host: String,
    /// How it ended.
    pub status: Status,
    /// The release `current` points at afterwards, as far as ship knows.
    pub release: Option<ReleaseId>,
    /// Wall time spent on this host.
    pub duration: Duration,
}

impl HostOutcome {
    /// Whether this host did what was asked.
    pub fn ok(&self) -> bool {
        self.status == Status::Ok
    }
}

/// The end of a deploy, rollback or prune.
#[derive(Debug, Clone)]
pub struct Summary {
    /// `deploy`, `rollback` or `prune`.
    pub command: &'static str,
    /// The release deployed or rolled back to, when one was chosen.
    pub release: Option<ReleaseId>,
    /// Per-host results, in host order.
    pub hosts: Vec<HostOutcome>,
    /// Wall time of the whole run.
    pub duration: Duration,
    /// Ctrl-C stopped the run at a step boundary.
    pub interrupted: bool,
}

impl Summary {
    /// Hosts that did not end `Ok`.
    pub fn failed(&self) -> usize {
        self.hosts.iter().filter(|h| !h.ok()).count()
    }
}
