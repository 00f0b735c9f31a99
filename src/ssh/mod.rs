//! SSH: russh sessions, credentials and our own known_hosts matcher.
//! Nothing here shells out to the `ssh` binary.

mod auth;
pub(crate) mod credentials;
pub(crate) mod known_hosts;
mod output;
pub(crate) mod session;
mod shell_loop;
pub(crate) mod ssh_config;
mod transfer;
mod verify;

pub(crate) use credentials::{CredentialSource, Credentials};
pub(crate) use output::{Cut, Output, StepControl, STDOUT_CAP};
pub(crate) use session::{Session, SshContext, SshError, Target};
