//! Typed errors for the whole run and the exit codes they map to.
//!
//! A single host's failure is not an `Error`: it is a [`crate::outcome::HostOutcome`]
//! so the other hosts' results survive. `Error` is what ends the run as a whole.

use std::path::PathBuf;

/// Exit code: every selected host did what was asked.
pub(crate) const EXIT_OK: i32 = 0;
/// Exit code: at least one host failed (the summary says which, and at which step).
pub(crate) const EXIT_HOST_FAILED: i32 = 1;
/// Exit code: bad command line, configuration or build input; nothing was changed.
pub(crate) const EXIT_USAGE: i32 = 2;
/// Exit code: a host is locked by another deploy.
pub(crate) const EXIT_LOCKED: i32 = 3;
/// Exit code: interrupted by Ctrl-C; every host still serves a complete release.
pub(crate) const EXIT_INTERRUPTED: i32 = 130;

/// What ended a run.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// hosts.toml could not be read or is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Command-line values that do not make sense together.
    #[error("{0}")]
    Usage(String),
    /// The build to ship could not be packaged or read.
    #[error("build {}: {message}", path.display())]
    Artifact {
        /// The build directory or archive given on the command line.
        path: PathBuf,
        /// What is wrong with it and what to do.
        message: String,
    },
    /// SSH credentials could not be loaded (key file, passphrase, agent).
    #[error("{0}")]
    Credentials(String),
    /// The operation was refused before any host changed (e.g. a rollback
    /// target missing on some hosts).
    #[error("{0}")]
    Refused(String),
    /// An inventory source failed (command exit, timeout, bad output).
    #[error("{0}")]
    Inventory(String),
    /// A host is locked by someone else; nothing was changed.
    #[error("{0}")]
    Locked(String),
    /// A local hook (local_before / local_after) failed.
    #[error("{0}")]
    Hook(String),
    /// Ctrl-C was pressed; the run stopped at a step boundary.
    #[error("interrupted: {0}")]
    Interrupted(String),
    /// Writing the report failed (e.g. a closed pipe).
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
}

impl Error {
    /// The process exit code for this error, as documented in README.md.
    pub(crate) fn code(&self) -> i32 {
        match self {
            Error::Config(_)
            | Error::Usage(_)
            | Error::Artifact { .. }
            | Error::Credentials(_)
            | Error::Inventory(_) => EXIT_USAGE,
            Error::Refused(_) | Error::Output(_) | Error::Hook(_) => EXIT_HOST_FAILED,
            Error::Locked(_) => EXIT_LOCKED,
            Error::Interrupted(_) => EXIT_INTERRUPTED,
        }
    }
}

/// A problem in hosts.toml, located by file and (when known) line.
#[derive(Debug, thiserror::Error)]
#[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
pub(crate) struct ConfigError {
    /// The configuration file.
    pub path: PathBuf,
    /// 1-based line of the offending key, when the parser knows it.
    pub line: Option<usize>,
    /// What is wrong and what to do about it.
    pub message: String,
}

impl ConfigError {
    /// An error about the file as a whole (no line).
    pub(crate) fn file(path: &std::path::Path, message: impl Into<String>) -> Self {
        ConfigError { path: path.to_path_buf(), line: None, message: message.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_error_names_file_and_line() {
        let e = ConfigError { path: "hosts.toml".into(), line: Some(7), message: "unknown key `colour`".into() };
        assert_eq!(e.to_string(), "hosts.toml:7: unknown key `colour`");
        assert_eq!(Error::from(e).code(), EXIT_USAGE);
    }

    #[test]
    fn exit_codes_are_the_documented_ones() {
        assert_eq!(Error::Interrupted("x".into()).code(), 130);
        assert_eq!(Error::Usage("x".into()).code(), 2);
    }
}
