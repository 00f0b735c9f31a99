//! SSH: russh sessions, credentials and our own known_hosts matcher.
//! Nothing here shells out to the `ssh` binary.

pub mod credentials;
pub mod known_hosts;
pub mod session;
mod shell_loop;
pub mod ssh_config;

pub use credentials::{CredentialSource, Credentials};
pub use session::{Cut, Output, Session, SshContext, SshError, StepControl, Target, STDOUT_CAP};
