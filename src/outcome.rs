//! A host's result as a value: one host failing never drops the others'
//! results, and the summary can say what happened where.

use crate::release::ReleaseId;
use std::time::Duration;

/// The named steps of a deploy or rollback, used in events and failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Step {
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
    /// `before_switch` hooks in the staged release.
    Hook,
    /// `run_once` hooks on one host.
    RunOnce,
    /// The health check after a restart.
    Health,
    /// `[verify]`: the service's processes run the new release.
    Serving,
    /// `drain` / `local_drain` hooks before a host's switch.
    Drain,
    /// `undrain` / `local_undrain` hooks once the host serves again.
    Undrain,
    /// `after_switch` hooks after a healthy switch.
    AfterSwitch,
    /// Going back to the previous release after a failed wave.
    Revert,
}

const STEPS: [Step; 17] = [
    Step::Connect,
    Step::Preflight,
    Step::Upload,
    Step::Verify,
    Step::Link,
    Step::Switch,
    Step::Restart,
    Step::Finish,
    Step::Abort,
    Step::Hook,
    Step::RunOnce,
    Step::Health,
    Step::Serving,
    Step::Drain,
    Step::Undrain,
    Step::AfterSwitch,
    Step::Revert,
];

impl Step {
    /// The lower-case name used in output, JSON and step markers.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Step::Connect => "connect",
            Step::Preflight => "preflight",
            Step::Upload => "upload",
            Step::Verify => "verify",
            Step::Link => "link",
            Step::Switch => "switch",
            Step::Restart => "restart",
            Step::Finish => "finish",
            Step::Abort => "abort",
            Step::Hook => "hook",
            Step::RunOnce => "run_once",
            Step::Health => "health",
            Step::Serving => "serving",
            Step::Drain => "drain",
            Step::Undrain => "undrain",
            Step::AfterSwitch => "after_switch",
            Step::Revert => "revert",
        }
    }

    /// The step with this name.
    pub(crate) fn from_name(name: &str) -> Option<Step> {
        STEPS.into_iter().find(|s| s.name() == name)
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A host's failure as a value: the step it happened in and what went
/// wrong, with what to do. Functions that work on one host return it, so a
/// caller records it on that host and goes on with the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostError {
    /// Where it failed.
    pub step: Step,
    /// What went wrong and what to do.
    pub message: String,
}

impl HostError {
    pub(crate) fn new(step: Step, message: impl Into<String>) -> HostError {
        HostError { step, message: message.into() }
    }
}

/// How a host ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Status {
    /// Did everything asked.
    Ok,
    /// Failed.
    Failed(HostError),
    /// Left unchanged because another host failed (or Ctrl-C).
    Unchanged {
        /// Why nothing was done here.
        reason: String,
    },
}

/// One host's result.
#[derive(Debug, Clone)]
pub(crate) struct HostOutcome {
    /// Host name.
    pub host: String,
    /// How it ended.
    pub status: Status,
    /// The release `current` points at afterwards, as far as ship knows.
    pub release: Option<ReleaseId>,
    /// Wall time spent on this host.
    pub duration: Duration,
    /// A failure here or in its wave took it back to the release it served
    /// before (set where the revert is done, never read from a message).
    pub reverted: bool,
}

impl HostOutcome {
    /// Whether this host did what was asked.
    pub(crate) fn ok(&self) -> bool {
        self.status == Status::Ok
    }
}

/// The end of a deploy, rollback or prune.
#[derive(Debug, Clone)]
pub(crate) struct Summary {
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
    pub(crate) fn failed(&self) -> usize {
        self.hosts.iter().filter(|h| !h.ok()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_names_round_trip_and_match_json() {
        for s in STEPS {
            assert_eq!(Step::from_name(s.name()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.name());
        }
    }
}
