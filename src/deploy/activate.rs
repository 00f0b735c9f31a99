//! Making a release live on one host, and taking it back: switch `current`
//! and restart (one round trip, under `restart_timeout`), the health
//! command (a round trip of its own, which a first Ctrl-C cuts short), the
//! URL check, and the `after_switch` hooks (each under `[hooks] timeout`). Deploy waves, reverts and rollback all use these.

use crate::deploy::health;
use crate::event::Reporter;
use crate::fleet::Slot;
use crate::outcome::{HostError, Step};
use crate::release::ReleaseId;
use crate::remote::{self, HookEnv};
use crate::settings::{Service, Settings};
use crate::spool::Input;
use crate::ssh::StepControl;

/// Which way a switch goes: to a release this run made (it must carry
/// ship's completeness marker), or back to one already on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction<'a> {
    /// A new release: refused unless `.ship/release.json` is there.
    Forward,
    /// Rollback: any directory under `releases/`, whatever tool made it.
    Back,
    /// Rollback to what served before, by the exact link `current` had
    /// then (`releases/57/public`).
    Restore(&'a [u8]),
}

/// Switches `slot` to `target`, restarts and health-checks it. On error,
/// `slot.release` says whether the switch happened.
pub(crate) async fn activate(
    slot: &mut Slot,
    s: &Settings,
    target: &ReleaseId,
    direction: Direction<'_>,
    env: &HookEnv,
    after_switch: &[String],
    r: &dyn Reporter,
) -> Result<(), HostError> {
    let result = match balance(slot, s, target, env, r, Step::Drain).await {
        Ok(()) => switch_and_prove(slot, s, target, direction, env, after_switch, r).await,
        Err(e) => Err(e),
    };
    // A host that failed before its switch (a drain hook included) still
    // serves what it served:
    // it goes back into the load balancer. One that switched is reverted
    // (and put back then) or kept out, per `on_failure`.
    if result.is_err() && slot.release.as_ref() != Some(target) {
        if let Err(e) = balance(slot, s, target, env, r, Step::Undrain).await {
            r.emit(crate::event::Event::Warning { host: Some(slot.host.name.clone()), message: e.message });
        }
    }
    result
}

/// The switch, restart, health check, proof of serving, undrain and
/// `after_switch` hooks of [`activate`].
async fn switch_and_prove(
    slot: &mut Slot,
    s: &Settings,
    target: &ReleaseId,
    direction: Direction<'_>,
    env: &HookEnv,
    after_switch: &[String],
    r: &dyn Reporter,
) -> Result<(), HostError> {
    let layout = slot.host.layout();
    let switch = match direction {
        Direction::Forward => remote::switch(&layout, target),
        Direction::Back => remote::switch_back(&layout, target),
        Direction::Restore(link) => remote::restore_current(&layout, link),
    };
    let services = s.services(&slot.host);
    let mut steps = vec![(Step::Switch, switch)];
    // Every service of the host (each of its roles') restarts, in order;
    // one command shared by two roles runs once.
    for cmd in restarts(&services) {
        steps.push((Step::Restart, remote::in_release(&layout, target, env, cmd)));
    }
    let ctl = if Settings::any_restart(&services) { s.restart_step() } else { StepControl::default() };
    let result = slot.run_steps(&steps, &Input::default(), &mut |_| {}, None, ctl, r).await;
    match result {
        Err(HostError { step: Step::Switch, message: e }) => {
            // The step failed, but `mv -T` may have run before the
            // connection dropped: ask the host (again) which release it
            // serves rather than assume it kept the old one.
            return Err(HostError::new(
                Step::Switch,
                match probe_switch(slot, target, r).await {
                    Ok(false) => e,
                    Ok(true) => {
                        slot.release = Some(target.clone());
                        slot.switched_at = Some(chrono::Utc::now());
                        format!("{e}; the connection dropped after `current` was switched to {target}")
                    }
                    Err(why) => {
                        // Unknown: count it as switched, so that it is reverted
                        // (or reported) rather than called unchanged.
                        slot.release = Some(target.clone());
                        format!(
                            "{e}; the host could not be reached again ({why}): it may serve {target} or its previous \
release; check it with `ship status`"
                        )
                    }
                },
            ));
        }
        _ => {
            slot.release = Some(target.clone());
            slot.switched_at = Some(chrono::Utc::now());
        }
    }
    result?;
    prove(slot, s, target, env, r).await?;
    balance(slot, s, target, env, r, Step::Undrain).await?;
    // Each hook under its own time limit.
    for h in after_switch {
        let hook = [(Step::AfterSwitch, remote::in_release(&layout, target, env, h))];
        slot.run_steps(&hook, &Input::default(), &mut |_| {}, None, s.hook_step(), r).await?;
    }
    Ok(())
}

/// The restart commands of `services`, in order, each once.
fn restarts(services: &[Service]) -> Vec<&String> {
    let mut out: Vec<&String> = Vec::new();
    for cmd in services.iter().filter_map(|x| x.restart.as_ref()) {
        if !out.contains(&cmd) {
            out.push(cmd);
        }
    }
    out
}

/// Runs `service`'s health command and fetches its health URL, as
/// configured. Each is a round trip of its own: it is a wait, which a first
/// Ctrl-C cuts short (a restart in flight is left to finish).
async fn check_health(
    slot: &mut Slot,
    s: &Settings,
    service: &Service,
    target: &ReleaseId,
    env: &HookEnv,
    r: &dyn Reporter,
) -> Result<(), HostError> {
    let layout = slot.host.layout();
    let h = &service.health;
    // `[health] expect_release`: the answer must come from the new release:
    // its id, or its label unless the release served before had the same
    // one (then the old process's answer would pass too).
    let before = slot.state.current_name.as_deref().filter(|c| *c != target.as_str());
    let shared = before.and_then(|c| slot.state.label_of(c)).is_some_and(|l| l == env.version);
    let label = Some(env.version.clone()).filter(|v| !v.is_empty() && !shared);
    let expect: Vec<String> = match h.expect_release {
        true => [Some(target.to_string()), label].into_iter().flatten().collect(),
        false => Vec::new(),
    };
    if let Some(cmd) = &h.command {
        let secs = h.timeout.as_secs_f64().ceil().max(1.0) as u64;
        let interval = format!("{}", h.interval.as_secs_f64());
        let step = [(Step::Health, remote::health(&layout, target, env, cmd, secs, &interval, &expect))];
        slot.run_steps(&step, &Input::default(), &mut |_| {}, None, s.health_step(h), r).await?;
    }
    // A host's own health_url stands for the app's `[health] url`.
    let own = slot.host.health_url.as_ref().filter(|_| service.role.is_none());
    if let Some(template) = own.or(h.url.as_ref()) {
        r.emit(crate::event::Event::Phase { host: slot.host.name.clone(), step: Step::Health });
        let url = &template.fill(&slot.host.name, &slot.host.address).map_err(|e| HostError::new(Step::Health, e))?;
        let session = slot.session.as_ref().ok_or_else(|| HostError::new(Step::Health, "not connected"))?;
        let checked = match session.shutdown() {
            Some(stop) => tokio::select! {
                res = health::check_url(session, url, h.timeout, h.interval, &expect) => res,
                _ = stop.wait() => Err(format!("{url}: {}", crate::ssh::Cut::Interrupted)),
            },
            None => health::check_url(session, url, h.timeout, h.interval, &expect).await,
        };
        if checked.is_err() && session.shutdown().is_some_and(crate::shutdown::Shutdown::requested) {
            slot.cut_short.store(true, std::sync::atomic::Ordering::Release);
        }
        checked.map_err(|e| HostError::new(Step::Health, e))?;
    }
    Ok(())
}

/// That `slot`'s host is healthy on `target` and its processes run it:
/// for each service it runs (each of its roles'), the health check, then
/// `[verify]`. A role's failure names the role.
pub(crate) async fn prove(
    slot: &mut Slot,
    s: &Settings,
    target: &ReleaseId,
    env: &HookEnv,
    r: &dyn Reporter,
) -> Result<(), HostError> {
    for service in s.services(&slot.host) {
        let proved = match check_health(slot, s, &service, target, env, r).await {
            Ok(()) => check_serving(slot, &service, target, r).await,
            Err(e) => Err(e),
        };
        if let (Err(mut e), Some(role)) = (proved.clone(), &service.role) {
            e.message = format!("role {role}: {}", e.message);
            return Err(e);
        }
        proved?;
    }
    Ok(())
}

/// Runs the load balancer hooks of `step` for `slot`'s host: for
/// [`Step::Drain`] `local_drain` here then `drain` on the host, for
/// [`Step::Undrain`] `undrain` on the host then `local_undrain` here.
/// Remote ones run in `target`'s directory under `[hooks] timeout`.
async fn balance(
    slot: &Slot,
    s: &Settings,
    target: &ReleaseId,
    env: &HookEnv,
    r: &dyn Reporter,
    step: Step,
) -> Result<(), HostError> {
    let h = &s.config.hooks;
    let (local_name, local, remote) = match step {
        Step::Drain => ("local_drain", &h.local_drain, &h.drain),
        _ => ("local_undrain", &h.local_undrain, &h.undrain),
    };
    let run_local = || async {
        if local.is_empty() {
            return Ok(());
        }
        r.emit(crate::event::Event::Phase { host: slot.host.name.clone(), step });
        let (_keep, idle) = crate::shutdown::Shutdown::manual();
        let stop = slot.session.as_ref().and_then(|x| x.shutdown()).unwrap_or(&idle);
        crate::deploy::hooks::local_hooks_within(local_name, local, env, stop, Some(s.hook_step_limit()))
            .await
            .map_err(|e| HostError::new(step, e.to_string()))
    };
    if step == Step::Drain {
        run_local().await?;
    }
    let layout = slot.host.layout();
    for cmd in remote {
        let hook = [(step, remote::in_release(&layout, target, env, cmd))];
        slot.run_steps(&hook, &Input::default(), &mut |_| {}, None, s.hook_step(), r).await?;
    }
    if step == Step::Undrain {
        run_local().await?;
    }
    Ok(())
}

/// Proves that the service's processes run `target` (`[verify]`), looking
/// again every `[health] interval` until `[verify] timeout`: a phased
/// restart takes a moment to replace its workers. A first Ctrl-C ends the
/// wait.
async fn check_serving(slot: &Slot, service: &Service, target: &ReleaseId, r: &dyn Reporter) -> Result<(), HostError> {
    let Some(v) = &service.verify else { return Ok(()) };
    let script = remote::serving::serving(&slot.host.layout(), target, &v.find);
    let stop = slot.session.as_ref().and_then(|x| x.shutdown()).cloned();
    let deadline = tokio::time::Instant::now() + v.timeout;
    loop {
        let out = slot.run(Step::Serving, &script, r).await.map_err(|e| HostError::new(Step::Serving, e))?;
        let Some(why) = remote::serving::Serving::parse(&out.stdout).problem(target) else { return Ok(()) };
        let late = tokio::time::Instant::now() + v.interval >= deadline;
        if late || stop.as_ref().is_some_and(crate::shutdown::Shutdown::requested) {
            return Err(HostError::new(Step::Serving, why));
        }
        match &stop {
            Some(stop) => tokio::select! {
                _ = tokio::time::sleep(v.interval) => {}
                _ = stop.wait() => {}
            },
            None => tokio::time::sleep(v.interval).await,
        }
    }
}

/// Whether `current` on `slot` resolves to `target`, reconnecting once if
/// the connection dropped; an error when the host cannot be asked.
async fn probe_switch(slot: &mut Slot, target: &ReleaseId, r: &dyn Reporter) -> Result<bool, String> {
    slot.reconnect_if_closed().await?;
    let out = slot.run(Step::Switch, &remote::switched(&slot.host.layout(), target), r).await?;
    Ok(out.stdout.lines().any(|l| l == "switched=1"))
}

/// Puts `slot` back where it was before this run: the exact symlink
/// `current` had (`before`, byte for byte, whatever made it) then a
/// restart in `previous`, the release it resolves into; or, when the host
/// had no `current`, removes the one pointing at `new`. When the switch
/// back worked but the restart failed, `slot.release` is `previous` and the
/// error says so.
pub(crate) async fn revert(
    slot: &mut Slot,
    s: &Settings,
    before: Option<&[u8]>,
    previous: Option<&ReleaseId>,
    new: &ReleaseId,
    env: &HookEnv,
    r: &dyn Reporter,
) -> Result<(), String> {
    let layout = slot.host.layout();
    slot.reconnect_if_closed().await?;
    // Out of the load balancer before the restart, as for the switch; a
    // drain that fails does not keep the host on the failed release.
    if before.is_some() {
        if let Err(e) = balance(slot, s, previous.unwrap_or(new), env, r, Step::Drain).await {
            r.emit(crate::event::Event::Warning { host: Some(slot.host.name.clone()), message: e.message });
        }
    }
    let services = s.services(&slot.host);
    let mut steps = Vec::new();
    match before {
        Some(link) => {
            steps.push((Step::Revert, remote::restore_current(&layout, link)));
            for cmd in restarts(&services) {
                let restart = match previous {
                    Some(prev) => remote::in_release(&layout, prev, env, cmd),
                    None => remote::in_current(&layout, env, cmd),
                };
                steps.push((Step::Restart, restart));
            }
        }
        None => steps.push((Step::Revert, remote::unswitch(&layout, new))),
    }
    let ctl = if Settings::any_restart(&services) { s.restart_step() } else { StepControl::default() };
    let result = slot.run_steps(&steps, &Input::default(), &mut |_| {}, None, ctl, r).await;
    if !matches!(result, Err(HostError { step: Step::Revert, .. })) {
        slot.release = previous.cloned();
        slot.reverted = true;
    }
    let result = result.map(|_| ()).map_err(|e| match e.step {
        Step::Revert => e.message,
        _ => format!("restarting it failed: {}", e.message),
    });
    // A revert is a release too: what the host is back on must be healthy
    // and serve, before it goes back into the load balancer.
    if let (Ok(()), Some(prev)) = (&result, previous) {
        let back = HookEnv { release: prev.to_string(), ..env.clone() };
        if let Err(e) = prove(slot, s, prev, &back, r).await {
            return Err(format!("after going back, its {} check failed: {}", e.step, e.message));
        }
    }
    if result.is_ok() {
        if let Err(e) = balance(slot, s, previous.unwrap_or(new), env, r, Step::Undrain).await {
            r.emit(crate::event::Event::Warning { host: Some(slot.host.name.clone()), message: e.message });
        }
    }
    result
}
