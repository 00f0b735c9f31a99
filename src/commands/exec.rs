//! `ship exec -- CMD`: an ad-hoc command on the selected hosts (like
//! Capistrano's `invoke` or Kamal's `app exec`), `concurrency` at a time, in
//! the current release directory. Output is collected per host and printed
//! grouped, never interleaved. It takes no lock: it is for looking around
//! and one-off tasks, not for changing releases.

use crate::error::Error;
use crate::event::{Event, Reporter};
use crate::outcome::Step;
use crate::remote;
use crate::settings::Settings;
use crate::ssh::Session;

/// What one host did with the command.
#[derive(Debug, Clone)]
pub(crate) struct ExecResult {
    /// Host name.
    pub host: String,
    /// Exit status; `None` when it could not run or was killed.
    pub status: Option<u32>,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error (the tail, when long).
    pub stderr: String,
    /// Why it could not run (connection, host key, auth).
    pub error: Option<String>,
}

impl ExecResult {
    /// Ran and exited 0.
    pub(crate) fn ok(&self) -> bool {
        self.error.is_none() && self.status == Some(0)
    }
}

/// Runs `command` (shell code) on every selected host.
pub(crate) async fn run(s: &Settings, command: &str, r: &dyn Reporter) -> Result<Vec<ExecResult>, Error> {
    let ctx = crate::fleet::context(s, r)?;
    let results = crate::fleet::parallel::map(s.hosts.clone(), s.concurrency, |_, host| {
        let ctx = &ctx;
        async move {
            let mut res = ExecResult {
                host: host.name.clone(),
                status: None,
                stdout: String::new(),
                stderr: String::new(),
                error: None,
            };
            r.emit(Event::Phase { host: host.name.clone(), step: Step::Connect });
            let session = match Session::connect(&host.target(), ctx).await {
                Ok(x) => x,
                Err(e) => {
                    res.error = Some(e.to_string());
                    return res;
                }
            };
            match session.exec_login_shell(&remote::exec_in_current(&host.layout(), command)).await {
                Ok(out) => {
                    res.status = out.status;
                    res.stdout = out.stdout;
                    res.stderr = out.stderr;
                }
                Err(e) => res.error = Some(e.to_string()),
            }
            session.close().await;
            res
        }
    })
    .await;
    Ok(results)
}
