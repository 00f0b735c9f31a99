//! The one place that says what hooks see. Every remote hook, `restart`
//! and health command of a deploy, rollback or sync gets the same
//! variables ([`HookEnv`], README "Hooks"), built here; local hooks get
//! those that apply on the machine running ship.

use crate::error::Error;
use crate::fleet::Slot;
use crate::remote::HookEnv;
use crate::settings::Settings;

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
/// is an error with its output.
pub(crate) fn local_hooks(which: &str, hooks: &[String], env: &HookEnv) -> Result<(), Error> {
    for cmd in hooks {
        let out = std::process::Command::new("/bin/sh")
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
            .output()
            .map_err(|e| Error::Hook(format!("{which} hook `{cmd}` could not start: {e}")))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            let tail: Vec<&str> = err.lines().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect();
            return Err(Error::Hook(format!("{which} hook `{cmd}` failed ({}): {}", out.status, tail.join(" | "))));
        }
    }
    Ok(())
}
