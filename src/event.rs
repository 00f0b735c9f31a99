//! What logic tells the user, as values. Logic never prints: it emits
//! [`Event`]s to a [`Reporter`], and only `report.rs` decides how they look.

use crate::outcome::{HostOutcome, Step, Summary};
use crate::release::ReleaseId;

/// The progress of a run, and how it ended.
#[derive(Debug, Clone)]
pub(crate) enum Event {
    /// The run is about to act on `hosts` hosts.
    Plan {
        /// `deploy`, `rollback`, `prune`.
        command: &'static str,
        /// Number of selected hosts.
        hosts: usize,
        /// The release being deployed or rolled back to, once known.
        release: Option<ReleaseId>,
        /// Bytes each host will receive.
        bytes: Option<u64>,
    },
    /// The build is being packaged (before any host is contacted).
    Packaging {
        /// The build directory or tarball.
        path: String,
    },
    /// A wave of a deploy starts.
    Wave {
        /// 1-based wave number.
        number: usize,
        /// Number of waves.
        of: usize,
        /// Host names in this wave.
        hosts: Vec<String>,
    },
    /// A host entered a step.
    Phase {
        /// Host name.
        host: String,
        /// The step.
        step: Step,
    },
    /// Upload progress for a host.
    Progress {
        /// Host name.
        host: String,
        /// Bytes sent so far.
        sent: u64,
        /// Bytes to send.
        total: u64,
    },
    /// Hosts sharing a current release get only what changed.
    Delta {
        /// The hosts of the group.
        hosts: Vec<String>,
        /// Files in the new release's manifest.
        files: usize,
        /// Of those, files the hosts already have (hard-linked, not sent).
        unchanged: usize,
        /// Bytes each of these hosts receives.
        bytes: u64,
        /// Bytes of the full archive.
        full_bytes: u64,
    },
    /// Something the user should know that does not fail the run.
    Warning {
        /// The host concerned, if any.
        host: Option<String>,
        /// The message.
        message: String,
    },
    /// A host finished.
    HostDone(HostOutcome),
    /// A deploy, rollback or prune ended.
    Summary(Summary),
    /// The run ended with an error (before or instead of a summary).
    Error {
        /// The message, naming what is wrong and what to do.
        message: String,
        /// The exit code it maps to.
        code: i32,
    },
}

/// The one sink for events, and the one place that may ask the user.
pub(crate) trait Reporter: Send + Sync {
    /// Shows (or records) an event.
    fn emit(&self, event: Event);

    /// Asks a yes/no question on the terminal; anything but yes is no.
    fn confirm(&self, question: &str) -> bool;

    /// The run's progress is over and a result is about to be printed:
    /// clear whatever is drawn.
    fn settle(&self) {}
}
