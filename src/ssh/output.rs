//! What a remote command gave back, kept within bounds (stdout's head,
//! stderr's tail), and how a step may be limited or stopped.

use std::time::Duration;

/// What a remote command produced.
#[derive(Debug, Clone, Default)]
pub(crate) struct Output {
    /// Exit status; `None` when the channel closed without one (killed, dropped).
    pub status: Option<u32>,
    /// Standard output (capped), as text.
    pub stdout: String,
    /// Standard output (capped), as bytes.
    pub raw: Vec<u8>,
    /// The tail of standard error.
    pub stderr: String,
    /// Why the command was ended before it finished, if it was.
    pub cut: Option<Cut>,
}

/// Why a remote step was ended before it finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cut {
    /// It ran past its time limit, the setting `key`.
    Deadline {
        /// The limit.
        after: Duration,
        /// The hosts.toml key that sets it.
        key: &'static str,
    },
    /// A first Ctrl-C ended a step that is only a wait (a health check).
    Interrupted,
    /// A second Ctrl-C or SIGTERM.
    Forced,
}

/// How long a remote step may run, and what ends it early.
#[derive(Debug, Clone, Default)]
pub(crate) struct StepControl {
    /// The time limit and the hosts.toml key that sets it. The host ends
    /// the step's whole process group at the limit (coreutils `timeout`);
    /// ship gives up a little later if the host does not.
    pub deadline: Option<(Duration, &'static str)>,
    /// A forced stop ends the step where it is.
    pub stop: Option<crate::shutdown::Shutdown>,
    /// A first Ctrl-C ends it too (for steps that are waits, e.g. health).
    pub on_interrupt: bool,
    /// Told the name of each step of a sequence ([`crate::remote::sequence`])
    /// as it starts on the host, not only once the script has ended.
    /// The sequence's step marker ([`crate::remote::step_marker`]) and where
    /// the names go.
    pub on_step: Option<(String, tokio::sync::mpsc::UnboundedSender<String>)>,
}

/// The most stdout kept from a script; anything past it is dropped.
pub(crate) const STDOUT_CAP: usize = 4 << 20;
pub(super) const STDERR_CAP: usize = 16 << 10;

/// Appends `data` to a stream of which only the last [`STDERR_CAP`] bytes
/// (give or take) matter, for messages.
pub(super) fn keep_tail(kept: &mut Vec<u8>, data: &[u8]) {
    kept.extend_from_slice(data);
    if kept.len() > 2 * STDERR_CAP {
        kept.drain(..kept.len() - STDERR_CAP);
        // A secret the cut went through could no longer be masked.
        kept.drain(..crate::secret::cut_at_start(kept));
    }
}

impl std::fmt::Display for Cut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cut::Deadline { after, key } => write!(
                f,
                "did not finish within {} ({key}); it and everything it started were stopped",
                crate::config::duration::show(*after)
            ),
            Cut::Interrupted => f.write_str("interrupted by Ctrl-C; it was stopped"),
            Cut::Forced => f.write_str("stopped at once (second Ctrl-C or SIGTERM)"),
        }
    }
}

impl Output {
    /// Exit status 0.
    pub(crate) fn success(&self) -> bool {
        self.status == Some(0)
    }

    /// A one-line description of a failure, with the last stderr lines.
    pub(crate) fn failure(&self) -> String {
        let status = match (self.cut, self.status) {
            (Some(cut), _) => cut.to_string(),
            (None, Some(s)) => format!("exit status {s}"),
            (None, None) => "closed without an exit status (killed or disconnected)".to_string(),
        };
        let tail: Vec<&str> = self.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        let tail = tail[tail.len().saturating_sub(3)..].join(" | ");
        if tail.is_empty() {
            status
        } else {
            format!("{status}: {tail}")
        }
    }
}
