//! Making a release live on one host, and taking it back: switch `current`
//! and restart (one round trip, under `restart_timeout`), the health
//! command (a round trip of its own, which a first Ctrl-C cuts short), the
//! URL check, and the `after_switch` hooks (each under `[hooks] timeout`). Deploy waves, reverts and rollback all use these.

use crate::event::Reporter;
use crate::fleet::Slot;
use crate::health;
use crate::outcome::Step;
use crate::release::ReleaseId;
use crate::remote::{self, HookEnv};
use crate::settings::Settings;
use crate::spool::Input;
use crate::ssh::StepControl;

/// Switches `slot` to `target`, restarts and health-checks it. On error,
/// `slot.release` says whether the switch happened.
pub async fn activate(
    slot: &mut Slot,
    s: &Settings,
    target: &ReleaseId,
    env: &HookEnv,
    after_switch: &[String],
    r: &dyn Reporter,
) -> Result<(), (Step, String)> {
    let layout = slot.host.layout();
    let mut steps = vec![(Step::Switch, remote::switch(&layout, target))];
    if let Some(cmd) = &s.config.app.restart {
        steps.push((Step::Restart, remote::in_release(&layout, target, env, cmd)));
    }
    let ctl = if s.config.app.restart.is_some() { s.restart_step() } else { StepControl::default() };
    let result = slot.run_steps(&steps, &Input::default(), &mut |_| {}, None, ctl, r).await;
    match &result {
        Err((Step::Switch, _)) => {}
        _ => {
            slot.release = Some(target.clone());
            slot.switched_at = Some(chrono::Utc::now());
        }
    }
    result?;
    // The health check is a round trip of its own: it is a wait, which a
    // first Ctrl-C cuts short (a restart in flight is left to finish).
    if let Some(cmd) = &s.health.command {
        let secs = s.health.timeout.as_secs_f64().ceil().max(1.0) as u64;
        let interval = format!("{}", s.health.interval.as_secs_f64());
        let step = [(Step::Health, remote::health(&layout, target, env, cmd, secs, &interval))];
        slot.run_steps(&step, &Input::default(), &mut |_| {}, None, s.health_step(), r).await?;
    }
    if let Some(url) = &s.health.url {
        r.emit(crate::event::Event::Phase { host: slot.host.name.clone(), step: Step::Health });
        let session = slot.session.as_ref().ok_or((Step::Health, "not connected".to_string()))?;
        let checked = match session.shutdown() {
            Some(stop) => tokio::select! {
                res = health::check_url(session, url, s.health.timeout, s.health.interval) => res,
                _ = stop.wait() => Err(format!("{url}: {}", crate::ssh::Cut::Interrupted)),
            },
            None => health::check_url(session, url, s.health.timeout, s.health.interval).await,
        };
        if checked.is_err() && session.shutdown().is_some_and(crate::shutdown::Shutdown::requested) {
            slot.cut_short.store(true, std::sync::atomic::Ordering::Release);
        }
        checked.map_err(|e| (Step::Health, e))?;
    }
    // Each hook under its own time limit.
    for h in after_switch {
        let hook = [(Step::AfterSwitch, remote::in_release(&layout, target, env, h))];
        slot.run_steps(&hook, &Input::default(), &mut |_| {}, None, s.hook_step(), r).await?;
    }
    Ok(())
}

/// Puts `slot` back on `previous` (switch + restart), or removes `current`
/// when the host had no release before. When the switch back worked but the
/// restart failed, `slot.release` is `previous` and the error says so.
pub async fn revert(
    slot: &mut Slot,
    s: &Settings,
    previous: Option<&ReleaseId>,
    env: &HookEnv,
    r: &dyn Reporter,
) -> Result<(), String> {
    let layout = slot.host.layout();
    let mut steps = Vec::new();
    match previous {
        Some(prev) => {
            steps.push((Step::Revert, remote::switch(&layout, prev)));
            if let Some(cmd) = &s.config.app.restart {
                steps.push((Step::Restart, remote::in_release(&layout, prev, env, cmd)));
            }
        }
        None => steps.push((Step::Revert, remote::unswitch(&layout))),
    }
    let ctl = if s.config.app.restart.is_some() { s.restart_step() } else { StepControl::default() };
    let result = slot.run_steps(&steps, &Input::default(), &mut |_| {}, None, ctl, r).await;
    if !matches!(result, Err((Step::Revert, _))) {
        slot.release = previous.cloned();
        slot.reverted = true;
    }
    result.map(|_| ()).map_err(|(step, e)| match step {
        Step::Revert => e,
        _ => format!("restarting it failed: {e}"),
    })
}
