//! The one place that says what hooks see. Every remote hook, `restart`
//! and health command of a deploy, rollback or sync gets the same
//! variables ([`HookEnv`], README "Hooks"), built here; local hooks get
//! those that apply on the machine running ship.

use crate::error::Error;
use crate::fleet::Slot;
use crate::remote::HookEnv;
use crate::settings::Settings;
use crate::shutdown::Shutdown;

/// What a command run on `slot`'s host for `release` sees: `previous` is
/// what `current` served before this run (empty when nothing did),
/// `version` the deploy's label (a rollback or sync has none).
pub(crate) fn host_env(s: &Settings, slot: &Slot, release: &str, previous: &str, version: Option<&str>) -> HookEnv {
    HookEnv {
        host: slot.host.name.clone(),
        release: release.to_string(),
        previous: previous.to_string(),
        ..local_env(s, version)
    }
}

/// What a local hook sees before any host is chosen: the app, the label
/// and the strategy.
pub(crate) fn local_env(s: &Settings, version: Option<&str>) -> HookEnv {
    HookEnv {
        app: s.config.app.name.get_ref().clone(),
        version: version.unwrap_or_default().to_string(),
        strategy: s.rollout.kind.name().to_string(),
        ..HookEnv::default()
    }
}

/// Runs commands on the machine running ship, in order; the first failure
/// is an error with its output. Each runs in a process group of its own:
/// a forced stop (SIGTERM, a second Ctrl-C) ends the group and the run.
pub(crate) async fn local_hooks(which: &str, hooks: &[String], env: &HookEnv, stop: &Shutdown) -> Result<(), Error> {
    local_hooks_within(which, hooks, env, stop, None).await
}

/// [`local_hooks`], each hook stopped (with its process group) past
/// `limit`: a drain hook that hangs must not hold the deploy and its locks.
pub(crate) async fn local_hooks_within(
    which: &str,
    hooks: &[String],
    env: &HookEnv,
    stop: &Shutdown,
    limit: Option<std::time::Duration>,
) -> Result<(), Error> {
    let far = std::time::Duration::from_secs(365 * 86_400);
    for cmd in hooks {
        let child = tokio::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(cmd)
            .envs([
                ("SHIP_APP", &env.app),
                ("SHIP_RELEASE", &env.release),
                ("SHIP_PREVIOUS_RELEASE", &env.previous),
                ("SHIP_VERSION", &env.version),
                ("SHIP_STRATEGY", &env.strategy),
                ("SHIP_HOST", &env.host),
            ])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| Error::Hook(format!("{which} hook `{cmd}` could not start: {e}")))?;
        let group = child.id();
        let out = tokio::select! {
            out = child.wait_with_output() => {
                out.map_err(|e| Error::Hook(format!("{which} hook `{cmd}` could not be waited for: {e}")))?
            }
            () = stop.wait_forced() => {
                if let Some(pid) = group {
                    let _ = std::process::Command::new("kill").args(["-KILL", "--", &format!("-{pid}")]).status();
                }
                return Err(Error::Interrupted(format!("{which} hook `{cmd}` was stopped; no host was touched by it")));
            }
            () = tokio::time::sleep(limit.unwrap_or(far)), if limit.is_some() => {
                if let Some(pid) = group {
                    let _ = std::process::Command::new("kill").args(["-KILL", "--", &format!("-{pid}")]).status();
                }
                let secs = limit.unwrap_or_default().as_secs_f64();
                return Err(Error::Hook(format!(
                    "{which} hook `{cmd}` did not finish within {secs}s ([hooks] timeout); it and what it started were stopped"
                )));
            }
        };
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            let tail: Vec<&str> = err.lines().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect();
            return Err(Error::Hook(format!("{which} hook `{cmd}` failed ({}): {}", out.status, tail.join(" | "))));
        }
    }
    Ok(())
}
