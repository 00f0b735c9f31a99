//! `ship deploy`: the phases of docs/ARCHITECTURE.md, in order.
//!
//! 1. Run `local_before` hooks; package the build once.
//! 2. Connect to every host, take its lock, preflight it.
//! 3. Stage every host: upload, verify the sha256, link, rename into
//!    releases/, `before_switch` hooks. Then `run_once` on one host. Any
//!    failure or Ctrl-C up to here removes the new release from every host,
//!    and no host switches.
//! 4. Release wave by wave (one wave when parallel): switch, restart,
//!    health-check, `after_switch`. A failed wave is reverted, and so are
//!    earlier waves with `on_failure = revert-all`; the release is marked bad.
//! 5. Finalize every host in one round trip: mark bad, log, prune, unlock.
//!    Then `local_after` hooks.

pub(crate) mod activate;
pub(crate) mod health;
pub(crate) mod hooks;
pub(crate) mod payload;
mod revert;
pub(crate) mod stage;
pub(crate) mod waves;

use crate::build::artifact::Artifact;
use crate::error::Error;
use crate::event::{Event, Reporter};
use crate::fleet::lock::{self, LockDetails};
use crate::fleet::{self, Slot};
use crate::outcome::{Status, Step, Summary};
use crate::release::ReleaseId;
use crate::remote::log::{LogEntry, LogEvent};
use crate::remote::meta::{BadMark, ReleaseMeta};
use crate::remote::{self, HookEnv};
use crate::settings::Settings;
use crate::shutdown::Shutdown;
use crate::spool::Input;
use chrono::Utc;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What to deploy.
#[derive(Debug, Clone)]
pub(crate) struct DeployArgs {
    /// Build directory or .tar.gz.
    pub path: PathBuf,
    /// `--version` label, or [`git_label`] resolved by the caller.
    pub label: Option<String>,
}

/// The label when none is given: `git describe --always --dirty` of the
/// build's work tree, if it is in one.
pub(crate) fn git_label(path: &Path) -> Option<String> {
    let dir = if path.is_dir() { path } else { path.parent()? };
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["describe", "--always", "--dirty"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let label = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !label.is_empty()).then_some(label)
}

/// Everything one deploy run shares.
struct Run<'a> {
    s: &'a Settings,
    r: &'a dyn Reporter,
    stop: &'a Shutdown,
    token: String,
    t0: Instant,
    label: Option<String>,
}

impl Run<'_> {
    fn env(&self, slot: &Slot, release: &str) -> HookEnv {
        let previous = slot.state.current_name.as_deref().unwrap_or_default();
        hooks::host_env(self.s, slot, release, previous, self.label.as_deref())
    }

    /// `parallel` or `rolling`, as in hosts.toml.
    fn strategy(&self) -> String {
        self.s.rollout.kind.name().to_string()
    }

    fn summary(&self, release: Option<ReleaseId>, hosts: Vec<crate::outcome::HostOutcome>) -> Summary {
        Summary { command: "deploy", release, hosts, duration: self.t0.elapsed(), interrupted: self.stop.requested() }
    }

    /// Releases locks, closes connections, reports.
    async fn end(&self, slots: &mut [Slot], release: Option<ReleaseId>) -> Summary {
        lock::release(slots, &self.token, self.s.concurrency, self.r).await;
        let hosts = fleet::finish(slots, self.r).await;
        self.summary(release, hosts)
    }
}

/// Runs a deploy; the summary says how each host ended.
pub(crate) async fn run(s: &Settings, args: &DeployArgs, r: &dyn Reporter, stop: &Shutdown) -> Result<Summary, Error> {
    match recipe(s, args, r, stop).await {
        Ok(summary) | Err(End::Early(summary)) => Ok(summary),
        Err(End::Failed(e)) => Err(e),
    }
}

/// How a phase ends the deploy before the next one.
enum End {
    /// Hosts were left as they were (or put back); the summary says why.
    Early(Summary),
    /// The run as a whole failed.
    Failed(Error),
}

impl From<Error> for End {
    fn from(e: Error) -> End {
        End::Failed(e)
    }
}

/// The phases of a deploy (docs/ARCHITECTURE.md), in order.
async fn recipe(s: &Settings, args: &DeployArgs, r: &dyn Reporter, stop: &Shutdown) -> Result<Summary, End> {
    let mut run = Run { s, r, stop, token: String::new(), t0: Instant::now(), label: args.label.clone() };
    let local_env = hooks::local_env(s, run.label.as_deref());
    hooks::local_hooks("local_before", &s.config.hooks.local_before, &local_env, stop).await?;
    let (slots, artifact) = run.package_and_connect(args).await?;
    let mut slots = run.preflight(slots, &artifact).await?;
    let id = run.mint_and_confirm(&mut slots, &artifact).await?;
    run.stage(&mut slots, &artifact, &id).await?;
    let all_ok = run.release(&mut slots, &id).await;
    let summary = run.finish(&mut slots, &artifact, &id, all_ok).await;
    if all_ok {
        let env = HookEnv { release: id.to_string(), ..local_env };
        if let Err(e) = hooks::local_hooks("local_after", &s.config.hooks.local_after, &env, stop).await {
            r.emit(Event::Summary(summary));
            return Err(e.into());
        }
    }
    Ok(summary)
}

impl Run<'_> {
    /// Phase 1: packages the build while connecting: each host's remote shell
    /// starts up (login shell and all) in the meantime. No script runs on a
    /// host before the build is packaged and checked, so a bad build
    /// touches no host.
    async fn package_and_connect(&self, args: &DeployArgs) -> Result<(Vec<Slot>, Artifact), Error> {
        let (s, r, stop) = (self.s, self.r, self.stop);
        let path = args.path.clone();
        if s.pull_url.is_some() && path.is_dir() {
            return Err(Error::Usage(format!(
                "{} is a directory: with --from-url / [artifact] url, PATH must be the .tar.gz the URL serves \
(ship hashes and checks it; the hosts download it)",
                path.display()
            )));
        }
        r.emit(Event::Packaging { path: path.display().to_string() });
        let rx = stop.receiver();
        let (linked, level) = (s.linked_paths(), s.compression.level());
        let packing =
            tokio::task::spawn_blocking(move || Artifact::prepare_until(&path, &linked, level, &|| *rx.borrow()));
        let ctx = fleet::context(s, r)?.with_shutdown(stop.clone());
        r.emit(Event::Plan { command: "deploy", hosts: s.hosts.len(), release: None, bytes: None });
        let (slots, packed) = tokio::join!(fleet::connect(&s.hosts, &ctx, s.concurrency, true, r), packing);
        if stop.requested() {
            return Err(Error::Interrupted("while packaging; no host was touched".into()));
        }
        let artifact = packed
            .map_err(|e| Error::Artifact { path: args.path.clone(), message: e.to_string() })?
            .map_err(|message| Error::Artifact { path: args.path.clone(), message })?;
        Ok((slots, artifact))
    }

    /// Phase 2: takes the lock and reads every host in one round trip, then
    /// judges layout, linked files, disk and tools; one host that cannot
    /// take the release stops the deploy before any upload.
    async fn preflight(&mut self, slots: Vec<Slot>, artifact: &Artifact) -> Result<Vec<Slot>, End> {
        let s = self.s;
        let details = LockDetails::new(s, "deploy", None);
        self.token = details.token.clone();
        let lock_json = details.json();
        let linked_files = s.linked_files();
        let mut slots = fleet::first_step(
            slots,
            s.concurrency,
            |h| remote::preflight(&h.layout(), &linked_files, Some(&lock_json)),
            self.r,
        )
        .await;
        if let Some(err) = lock::held_by_others(&slots) {
            self.end(&mut slots, None).await;
            return Err(End::Failed(err));
        }
        for slot in slots.iter_mut().filter(|x| x.alive()) {
            check_preflight(slot, artifact);
            if s.pull_url.is_some() && slot.state.fetcher.is_none() {
                slot.fail(Step::Preflight, crate::deploy::stage::NO_FETCHER);
            }
        }
        if slots.iter().any(|x| !x.alive()) || self.stop.requested() {
            let reason = if self.stop.requested() {
                "not deployed: interrupted before upload".to_string()
            } else {
                format!("not deployed: {} failed before upload", fleet::failed_names(&slots))
            };
            fleet::leave_unchanged(&mut slots, &reason);
            return Err(End::Early(self.end(&mut slots, None).await));
        }
        Ok(slots)
    }

    /// Mints the release id (after the newest on any host) and, where the
    /// environment asks for it, has the user confirm the change list.
    async fn mint_and_confirm(&self, slots: &mut [Slot], artifact: &Artifact) -> Result<ReleaseId, End> {
        let (s, r) = (self.s, self.r);
        let id = ReleaseId::mint(Utc::now(), slots.iter().flat_map(|x| &x.state.releases), |id| {
            slots.iter().any(|x| x.state.releases.contains(id))
        });
        r.emit(Event::Plan {
            command: "deploy",
            hosts: s.hosts.len(),
            release: Some(id.clone()),
            bytes: Some(artifact.size),
        });
        if s.ask {
            let q = format!(
                "Deploy {id}{} to {} host(s) of environment `{}`:\n{}Proceed?",
                self.label.as_ref().map(|l| format!(" ({l})")).unwrap_or_default(),
                slots.len(),
                s.config.env_name.as_deref().unwrap_or_default(),
                fleet::change_list(slots, &id)
            );
            if !r.confirm(&q) {
                fleet::leave_unchanged(slots, "not deployed: declined");
                self.end(slots, None).await;
                return Err(End::Failed(Error::Refused("deploy declined; nothing was changed".into())));
            }
        }
        Ok(id)
    }

    /// Phase 3: stages everywhere (hosts that have a release with a manifest get
    /// only what changed), then runs the run_once hooks on one host. Any
    /// failure removes the new release from every host before any switch.
    async fn stage(&self, slots: &mut [Slot], artifact: &Artifact, id: &ReleaseId) -> Result<(), End> {
        let (s, r, stop) = (self.s, self.r, self.stop);
        let release_json = ReleaseMeta {
            id: id.to_string(),
            app: s.config.app.name.get_ref().to_string(),
            version: self.label.clone(),
            sha256: artifact.sha256.clone(),
            size: Some(artifact.size),
            entries: artifact.entries,
            deployer: s.deployer.clone(),
            time: Utc::now().to_rfc3339(),
        }
        .to_json();
        let pull_url = s.pull_url.as_ref().map(|t| t.fill(id.as_str(), &artifact.sha256));
        // A filled placeholder in the query or userinfo changes what to mask.
        crate::secret::register(pull_url.as_deref().map(crate::config::pull::secret_parts).unwrap_or_default());
        let sent = crate::deploy::payload::plan(slots, artifact, !s.full && pull_url.is_none(), r).await;
        crate::fleet::parallel::map(slots.iter_mut().zip(sent).collect(), s.concurrency, |_, (slot, artifact)| {
            let (release_json, pull_url) = (&release_json, pull_url.as_deref());
            // Never dropped half-way: on Ctrl-C the upload is cut short and the
            // host's own commands end, so nothing races the abort below.
            async move {
                let artifact = &*artifact;
                let env = self.env(slot, id.as_str());
                if let Err(e) =
                    crate::deploy::stage::stage(slot, s, r, Some(stop), artifact, pull_url, id, release_json, &env)
                        .await
                {
                    slot.fail(e.step, if stop.requested() { "interrupted by Ctrl-C".to_string() } else { e.message });
                }
            }
        })
        .await;
        if slots.iter().all(Slot::alive) && !stop.requested() && !s.skip_run_once && !s.config.hooks.run_once.is_empty()
        {
            self.run_once(slots, id).await;
        }
        if slots.iter().any(|x| !x.alive()) || stop.requested() {
            abort_all(slots, id, s, r).await;
            let reason = if stop.requested() {
                "new release removed: interrupted before the switch".to_string()
            } else {
                format!("new release removed: {} failed before the switch", fleet::failed_names(slots))
            };
            fleet::leave_unchanged(slots, &reason);
            return Err(End::Early(self.end(slots, Some(id.clone())).await));
        }
        Ok(())
    }

    /// The run_once hooks, on the first host, or the first with
    /// `[hooks] run_once_role` (Capistrano's `primary :db`); with that role
    /// on no selected host, the first host fails and nothing switches.
    async fn run_once(&self, slots: &mut [Slot], id: &ReleaseId) {
        let (s, r) = (self.s, self.r);
        let role = s.config.hooks.run_once_role.as_deref();
        let Some(k) = slots.iter().position(|x| role.is_none_or(|role| x.host.roles.iter().any(|h| h == role))) else {
            let role = role.unwrap_or_default();
            return slots[0].fail(
                Step::RunOnce,
                format!(
                    "no selected host has the role `{role}` that [hooks] run_once_role names: select one \
(--roles, --hosts) or deploy with --skip-run-once"
                ),
            );
        };
        let env = self.env(&slots[k], id.as_str());
        let layout = slots[k].host.layout();
        // Each hook under `[hooks] run_once_timeout`.
        for h in &s.config.hooks.run_once {
            let hook = [(Step::RunOnce, remote::in_release(&layout, id, &env, h))];
            let ran = slots[k].run_steps(&hook, &Input::default(), &mut |_| {}, None, s.run_once_step(), r).await;
            if let Err(e) = ran {
                slots[k].fail_with(e);
                break;
            }
        }
    }

    /// Phase 4: releases in waves: switch, restart, health check and
    /// `after_switch` per host; a failed or interrupted wave is settled per
    /// `on_failure`; then (phase 5) finalizes every host. Whether every host
    /// released.
    async fn release(&self, slots: &mut [Slot], id: &ReleaseId) -> bool {
        let (s, r, stop) = (self.s, self.r, self.stop);
        let plan = crate::deploy::waves::waves(slots.len(), s.rollout.kind, s.rollout.batch, s.rollout.canary);
        let mut released: Vec<usize> = Vec::new();
        let mut failed_wave: Option<usize> = None;
        for (w, wave) in plan.iter().enumerate() {
            if w > 0 && !s.rollout.pause.is_zero() {
                tokio::select! {
                    _ = tokio::time::sleep(s.rollout.pause) => {}
                    _ = stop.wait() => {}
                }
            }
            if stop.requested() {
                break;
            }
            let names: Vec<String> = wave.iter().map(|&i| slots[i].host.name.clone()).collect();
            r.emit(Event::Wave { number: w + 1, of: plan.len(), hosts: names });
            let members: Vec<&mut Slot> =
                slots.iter_mut().enumerate().filter(|(i, _)| wave.contains(i)).map(|(_, x)| x).collect();
            crate::fleet::parallel::map(members, s.concurrency, |_, slot| async move {
                let env = self.env(slot, id.as_str());
                let after = &s.config.hooks.after_switch;
                if let Err(mut e) = activate::activate(slot, s, id, activate::Direction::Forward, &env, after, r).await
                {
                    if e.step == Step::Switch && slot.release.as_ref() != Some(id) {
                        e.message += "; the host still serves its previous release";
                    }
                    slot.fail_with(e);
                }
            })
            .await;
            released.extend(wave);
            // A host whose step Ctrl-C or SIGTERM ended did not fail by itself:
            // the wave is interrupted, not failed (and the release not marked bad).
            if wave.iter().any(|&i| !slots[i].alive() && !slots[i].was_cut_short()) {
                failed_wave = Some(w);
                break;
            }
            if wave.iter().any(|&i| slots[i].was_cut_short()) {
                break;
            }
        }
        let baking =
            failed_wave.is_none() && released.len() == slots.len() && !stop.requested() && !s.health.bake.is_zero();
        if baking {
            failed_wave = self.bake(slots, id, &plan).await;
        }
        let cut = slots.iter().any(Slot::was_cut_short);
        // Ctrl-C during the bake, in a probe or between two, is an
        // interruption like one between waves: `on_failure` applies.
        let interrupted = stop.requested() && failed_wave.is_none() && (released.len() < slots.len() || cut || baking);
        if failed_wave.is_some() || interrupted {
            revert::settle_failure(slots, self, id, &plan, &released, failed_wave).await;
        }
        let why = failed_wave.is_some().then(|| {
            BadMark {
                release: id.to_string(),
                marked_by: s.deployer.clone(),
                time: Utc::now().to_rfc3339(),
                why: format!("deploy failed on {}", fleet::failed_names(slots)),
            }
            .to_json()
        });
        self.finalize_all(slots, id, why.as_deref()).await;
        slots.iter().all(Slot::alive) && !stop.requested()
    }

    /// `[health] bake`: after the last wave, checks every host again (health
    /// and `[verify]`) every `[health] interval` until the bake time has
    /// passed. The wave of the first host that fails, which then counts as
    /// a failed wave (reverted per `on_failure`, the release marked bad).
    async fn bake(&self, slots: &mut [Slot], id: &ReleaseId, plan: &[Vec<usize>]) -> Option<usize> {
        let (s, r, stop) = (self.s, self.r, self.stop);
        let end = tokio::time::Instant::now() + s.health.bake;
        while tokio::time::Instant::now() < end && !stop.requested() {
            crate::fleet::parallel::map(slots.iter_mut().collect(), s.concurrency, |_, slot| async move {
                let env = self.env(slot, id.as_str());
                if let Err(mut e) = activate::prove(slot, s, id, &env, r).await {
                    e.message =
                        format!("during the bake ({}s after the last wave): {}", s.health.bake.as_secs(), e.message);
                    slot.fail_with(e);
                }
            })
            .await;
            if let Some(i) = slots.iter().position(|x| !x.alive() && !x.was_cut_short()) {
                return plan.iter().position(|w| w.contains(&i));
            }
            let pause = s.health.interval.min(end.saturating_duration_since(tokio::time::Instant::now()));
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stop.wait() => {}
            }
        }
        None
    }

    /// Phase 5, on every host: mark bad, log, prune, in one round trip each.
    async fn finalize_all(&self, slots: &mut [Slot], id: &ReleaseId, why: Option<&str>) {
        let keep = self.s.keep_releases();
        crate::fleet::parallel::map(
            slots.iter_mut().filter(|x| x.session.is_some()).collect(),
            self.s.concurrency,
            |_, slot| async move { finalize(slot, self, id, why, keep).await },
        )
        .await;
    }

    /// Keeps the artifact of a release that went out (so `ship sync` can
    /// bring new hosts to it; a failed one never pushes the release the
    /// fleet serves out of the cache), then unlocks and reports.
    async fn finish(&self, slots: &mut [Slot], artifact: &Artifact, id: &ReleaseId, all_ok: bool) -> Summary {
        if all_ok {
            if let Some(dir) = self.s.cache_dir.clone() {
                let (art, rid, keep) = (artifact.clone(), id.clone(), self.s.keep_releases());
                let stored =
                    tokio::task::spawn_blocking(move || crate::build::cache::store(&dir, &rid, &art, keep)).await;
                if let Ok(Err(e)) | Err(e) = stored.map_err(std::io::Error::other) {
                    self.r.emit(Event::Warning {
                        host: None,
                        message: format!("could not cache the artifact for `ship sync`: {e}"),
                    });
                }
            }
        }
        self.end(slots, Some(id.clone())).await
    }
}

/// Marks bad, logs, prunes and unlocks one host, in one round trip.
async fn finalize(slot: &mut Slot, run: &Run<'_>, id: &ReleaseId, why: Option<&str>, keep: usize) {
    let s = run.s;
    let on_new = slot.release.as_ref() == Some(id);
    let ok = slot.alive() && on_new;
    let mut after = slot.state.clone();
    after.releases.push(id.clone());
    after.releases.sort();
    after.current = slot.release.clone();
    if on_new {
        // What the host will say once this run's log line is written: the
        // rollback target prune must keep is the release this one replaced.
        let path = slot.host.layout().release(id);
        after.current_name = Some(id.to_string());
        after.current_link = Some(path.clone().into_bytes());
        after.current_real = Some(path);
        after.log.push(
            LogEntry {
                ok: Some(true),
                release: Some(id.to_string()),
                previous: Some(slot.state.current_name.clone()),
                ..LogEntry::new(LogEvent::Deploy, &slot.host.name, &s.deployer)
            }
            .to_line(),
        );
    }
    let doomed = if ok && why.is_none() { after.prune_plan(keep) } else { Vec::new() };
    let event = if slot.reverted {
        LogEvent::Revert
    } else if on_new {
        LogEvent::Deploy
    } else if matches!(slot.status, Some(Status::Failed(_))) {
        LogEvent::DeployFailed
    } else {
        LogEvent::NotReleased
    };
    let line = LogEntry {
        release: Some(id.to_string()),
        previous: Some(slot.state.current_name.clone()),
        previous_link: Some(slot.state.current_target.clone()),
        current: Some(slot.release.as_ref().map(ReleaseId::to_string)),
        version: Some(run.label.clone()),
        ok: Some(ok),
        strategy: Some(run.strategy()),
        pruned: Some(doomed.iter().map(ReleaseId::to_string).collect()),
        switched_at: Some(slot.switched_at.map(|t| t.to_rfc3339())),
        ..LogEntry::new(event, &slot.host.name, &s.deployer)
    }
    .to_line();
    let script = remote::finalize(&slot.host.layout(), why.map(|w| (id, w)), &line, &doomed, &run.token);
    match slot.run(Step::Finish, &script, run.r).await {
        Ok(_) => slot.state.lock_taken = false,
        Err(e) => run.r.emit(Event::Warning {
            host: Some(slot.host.name.clone()),
            message: format!("logging, pruning or unlocking failed: {e}; `ship unlock` releases a stale lock"),
        }),
    }
}

/// Refuses a host whose state would make the deploy fail or unsafe, with
/// the first problem [`crate::remote::judge`] finds.
pub(crate) fn check_preflight(slot: &mut Slot, artifact: &Artifact) {
    if let Some(p) = crate::remote::judge::problems(&slot.state, artifact.unpacked).first() {
        let msg = p.message(&slot.host.layout());
        slot.fail(Step::Preflight, msg);
    }
}

/// Removes the staged release from every host that was reached.
pub(crate) async fn abort_all(slots: &mut [Slot], id: &ReleaseId, s: &Settings, r: &dyn Reporter) {
    crate::fleet::parallel::map(
        slots.iter_mut().filter(|x| x.session.is_some()).collect(),
        s.concurrency,
        |_, slot| async move {
            let script = remote::abort(&slot.host.layout(), id);
            if let Err(e) = slot.run(Step::Abort, &script, r).await {
                r.emit(Event::Warning {
                    host: Some(slot.host.name.clone()),
                    message: format!(
                        "could not remove the staged release {id}: {e}; `ship prune` or a later deploy cleans it"
                    ),
                });
            }
        },
    )
    .await;
}
