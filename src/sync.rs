//! `ship sync`: bring hosts that lack the fleet's current release (new
//! autoscaled hosts, hosts that were down during a deploy) to it, with the
//! same release id as the rest of the fleet and the same stage / switch /
//! restart / health steps. The archive comes from the local cache, or is
//! packed on a healthy host when the cache lacks it.

use crate::activate;
use crate::artifact::Artifact;
use crate::error::Error;
use crate::event::{Event, Reporter};
use crate::fleet::{self, Slot};
use crate::lock::{self, LockDetails};
use crate::outcome::{Status, Step, Summary};
use crate::release::ReleaseId;
use crate::remote::{self, HookEnv};
use crate::settings::Settings;
use crate::shutdown::Shutdown;
use chrono::Utc;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Instant;

/// The release most reachable hosts serve (the newest on a tie).
pub fn fleet_release(slots: &[Slot]) -> Option<ReleaseId> {
    let mut count: BTreeMap<&ReleaseId, usize> = BTreeMap::new();
    for x in slots.iter().filter(|x| x.alive()) {
        if let Some(c) = &x.state.current {
            *count.entry(c).or_default() += 1;
        }
    }
    let best = count.values().max()?;
    count.iter().filter(|(_, n)| *n == best).map(|(id, _)| (*id).clone()).next_back()
}

/// Runs a sync; the summary says what each host ends on.
pub async fn run(s: &Settings, r: &dyn Reporter, stop: &Shutdown) -> Result<Summary, Error> {
    let t0 = Instant::now();
    let ctx = fleet::context(s, r)?.with_shutdown(stop.clone());
    let details = LockDetails::new(s, "sync", None);
    let json = details.json();
    let script = |h: &crate::inventory::Host| remote::lock(&h.layout(), &json) + &remote::state(&h.layout());
    let mut slots = fleet::reach(&s.hosts, &ctx, s.concurrency, script, r).await;
    if let Some(err) = lock::held_by_others(&slots) {
        lock::release(&mut slots, &details.token, s.concurrency, r).await;
        fleet::finish(&slots, r).await;
        return Err(err);
    }
    let summary = |hosts, release| Summary {
        command: "sync",
        release,
        hosts,
        duration: t0.elapsed(),
        interrupted: stop.requested(),
    };
    let Some(id) = fleet_release(&slots) else {
        lock::release(&mut slots, &details.token, s.concurrency, r).await;
        fleet::finish(&slots, r).await;
        return Err(Error::Refused("no reachable host serves a release yet: deploy first".into()));
    };
    r.emit(Event::Plan { command: "sync", hosts: s.hosts.len(), release: Some(id.clone()), bytes: None });
    let drifted: Vec<usize> =
        (0..slots.len()).filter(|&i| slots[i].alive() && slots[i].state.current.as_ref() != Some(&id)).collect();
    for x in slots.iter_mut().filter(|x| x.alive() && x.state.current.as_ref() == Some(&id)) {
        x.status = Some(Status::Unchanged { reason: format!("already on {id}") });
    }
    if !drifted.is_empty() {
        bring(&mut slots, &drifted, &id, s, r, stop).await;
    }
    // Hosts already on the release count as fine.
    for x in &mut slots {
        if matches!(&x.status, Some(Status::Unchanged { reason }) if reason.starts_with("already on")) {
            x.status = None;
        }
    }
    lock::release(&mut slots, &details.token, s.concurrency, r).await;
    let hosts = fleet::finish(&slots, r).await;
    Ok(summary(hosts, Some(id)))
}

/// Stages (where missing) and activates `id` on the `drifted` hosts.
async fn bring(slots: &mut [Slot], drifted: &[usize], id: &ReleaseId, s: &Settings, r: &dyn Reporter, stop: &Shutdown) {
    // Any connected host serving the release can be the source.
    let source = slots.iter().position(|x| x.session.is_some() && x.state.current.as_ref() == Some(id));
    let need_upload: Vec<usize> = drifted.iter().copied().filter(|&i| !slots[i].state.releases.contains(id)).collect();
    if !need_upload.is_empty() {
        let prepared = match source {
            Some(src) => prepare(&slots[src], id, s, r).await,
            None => Err("no healthy host serves it".to_string()),
        };
        match prepared {
            Ok((artifact, release_json)) => {
                let targets: Vec<&mut Slot> =
                    slots.iter_mut().enumerate().filter(|(i, _)| need_upload.contains(i)).map(|(_, x)| x).collect();
                crate::parallel::map(targets, s.concurrency, |_, slot| {
                    let (artifact, release_json) = (&artifact, &release_json);
                    async move {
                        // The same preflight as a deploy: layout, disk, linked files.
                        let script = remote::preflight(&slot.host.layout(), &s.linked_files(), None);
                        match slot.run(Step::Preflight, &script, r).await {
                            Ok(out) => {
                                let fresh = crate::host_state::HostState::parse(&out.stdout);
                                slot.state.free_kb = fresh.free_kb;
                                slot.state.missing = fresh.missing;
                                crate::deploy::check_preflight(slot, artifact);
                            }
                            Err(e) => slot.fail(Step::Preflight, e),
                        }
                        if !slot.alive() {
                            return;
                        }
                        let env = hook_env(slot, s, id);
                        if let Err((step, e)) =
                            crate::stage::stage(slot, s, r, Some(stop), artifact, None, id, release_json, &env).await
                        {
                            let _ = slot.run(Step::Abort, &remote::abort(&slot.host.layout(), id), r).await;
                            slot.fail(step, e);
                        }
                    }
                })
                .await;
            }
            Err(e) => {
                for &i in &need_upload {
                    slots[i].fail(Step::Upload, format!("cannot get release {id}: {e}"));
                }
            }
        }
    }
    let targets: Vec<&mut Slot> =
        slots.iter_mut().enumerate().filter(|(i, x)| drifted.contains(i) && x.alive()).map(|(_, x)| x).collect();
    crate::parallel::map(targets, s.concurrency, |_, slot| async move {
        if stop.requested() {
            slot.status = Some(Status::Unchanged { reason: "not synced: interrupted".into() });
            return;
        }
        let env = hook_env(slot, s, id);
        let previous = slot.state.current.clone();
        if let Err((step, e)) = activate::activate(slot, s, id, &env, &s.config.hooks.after_switch, r).await {
            let back = previous.as_ref().map_or("no release".to_string(), ToString::to_string);
            let how = if slot.release.as_ref() == Some(id) {
                match activate::revert(slot, s, previous.as_ref(), &env, r).await {
                    Ok(()) => format!("; reverted to {back}"),
                    Err(re) => format!("; could not go back to {back}: {re}"),
                }
            } else {
                String::new()
            };
            slot.fail(step, format!("{e}{how}"));
        }
        let line = json!({
            "time": Utc::now().to_rfc3339(), "event": "sync", "release": id, "previous": previous,
            "deployer": s.deployer, "host": slot.host.name, "ok": slot.alive(),
        })
        .to_string();
        if let Err(e) = slot.run(Step::Finish, &remote::append_log(&slot.host.layout(), &line), r).await {
            r.emit(Event::Warning {
                host: Some(slot.host.name.clone()),
                message: format!("could not log the sync: {e}"),
            });
        }
    })
    .await;
}

/// The archive of `id` (from the cache, else packed on `source`) and its release.json.
async fn prepare(source: &Slot, id: &ReleaseId, s: &Settings, r: &dyn Reporter) -> Result<(Artifact, String), String> {
    let layout = source.host.layout();
    let release_json =
        source.run(Step::Preflight, &remote::release_json(&layout, id), r).await?.stdout.trim().to_string();
    if let Some(path) = s.cache_dir.as_deref().and_then(|d| crate::cache::find(d, id)) {
        let artifact =
            tokio::task::spawn_blocking(move || Artifact::prepare(&path)).await.map_err(|e| e.to_string())??;
        return Ok((artifact, release_json));
    }
    r.emit(Event::Warning {
        host: Some(source.host.name.clone()),
        message: format!("{id} is not in the local cache; copying it from this host"),
    });
    let session = source.session.as_ref().ok_or("not connected")?;
    let out = session.download(&remote::pack_release(&layout, id), usize::MAX).await.map_err(|e| e.to_string())?;
    if !out.success() {
        return Err(format!("packing it on {} failed: {}", source.host.name, out.failure()));
    }
    let artifact = Artifact::from_tarball(out.raw)?;
    Ok((artifact, release_json))
}

fn hook_env(slot: &Slot, s: &Settings, id: &ReleaseId) -> HookEnv {
    HookEnv {
        app: s.config.app.name.get_ref().clone(),
        release: id.to_string(),
        previous: slot.state.current.as_ref().map(ToString::to_string).unwrap_or_default(),
        host: slot.host.name.clone(),
        strategy: "sync".into(),
        ..HookEnv::default()
    }
}
