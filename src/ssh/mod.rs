//! SSH: russh sessions, credentials and our own known_hosts matcher.
//! Nothing here shells out to the `ssh` binary.

pub(crate) mod credentials;
pub(crate) mod known_hosts;
pub(crate) mod session;
mod shell_loop;
pub(crate) mod ssh_config;

pub(crate) use credentials::{CredentialSource, Credentials};
pub(crate) use session::{Cut, Output, Session, SshContext, SshError, StepControl, Target, STDOUT_CAP};
