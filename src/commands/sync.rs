//! `ship sync`: bring hosts that lack the fleet's current release (new
//! autoscaled hosts, hosts that were down during a deploy) to it, with the
//! same release id as the rest of the fleet and the same stage / switch /
//! restart / health steps. The archive comes from the local cache when its
//! sha256 is the one release.json records, or is packed on a healthy host,
//! streamed into a temporary file and verified against the release's
//! manifest before any other host sees it.

use crate::build::artifact::Artifact;
use crate::deploy::activate;
use crate::error::Error;
use crate::event::{Event, Reporter};
use crate::fleet::lock::{self};
use crate::fleet::{self, Slot};
use crate::outcome::{Status, Step, Summary};
use crate::release::ReleaseId;
use crate::remote::judge::{self, Problem};
use crate::remote::log::{LogEntry, LogEvent};
use crate::remote::meta::ReleaseMeta;
use crate::remote::{self, HookEnv};
use crate::settings::Settings;
use crate::shutdown::Shutdown;
use std::collections::BTreeMap;
use std::time::Instant;

/// The release most reachable hosts serve, by the name `current` resolves
/// to under `releases/` (whatever tool made it). A tie is no answer: which
/// side is right (a rollback of some hosts, a deploy to others) is for the
/// operator to say, so it is an error naming each side.
pub(crate) fn fleet_release(slots: &[Slot]) -> Result<Option<ReleaseId>, String> {
    let mut count: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for x in slots.iter().filter(|x| x.alive()) {
        if let Some(c) = &x.state.current_name {
            count.entry(c).or_default().push(&x.host.name);
        }
    }
    let Some(best) = count.values().map(Vec::len).max() else { return Ok(None) };
    let top: Vec<(&&str, &Vec<&str>)> = count.iter().filter(|(_, h)| h.len() == best).collect();
    if top.len() > 1 {
        let sides: Vec<String> = top.iter().map(|(id, hosts)| format!("{} on {id}", hosts.join(", "))).collect();
        return Err(format!(
            "hosts are split evenly ({}): ship will not guess which release the fleet should serve; \
bring them together with `ship --hosts … rollback --to ID` or a deploy",
            sides.join("; ")
        ));
    }
    Ok(top.first().and_then(|(id, _)| ReleaseId::existing(id)))
}

/// Runs a sync; the summary says what each host ends on.
pub(crate) async fn run(s: &Settings, r: &dyn Reporter, stop: &Shutdown) -> Result<Summary, Error> {
    let t0 = Instant::now();
    let ctx = fleet::context(s, r)?.with_shutdown(stop.clone());
    let (details, mut slots) = lock::take(s, &ctx, "sync", None, r).await?;
    let summary = |hosts, release| Summary {
        command: "sync",
        release,
        hosts,
        duration: t0.elapsed(),
        interrupted: stop.requested(),
    };
    let id = match fleet_release(&slots) {
        Ok(Some(id)) => id,
        other => {
            lock::release(&mut slots, &details.token, s.concurrency, r).await;
            fleet::finish(&slots, r).await;
            let why = other.err().unwrap_or_else(|| "no reachable host serves a release yet: deploy first".into());
            return Err(Error::Refused(why));
        }
    };
    r.emit(Event::Plan { command: "sync", hosts: s.hosts.len(), release: Some(id.clone()), bytes: None });
    let on = |x: &Slot| x.state.current_name.as_deref() == Some(id.as_str());
    let drifted: Vec<usize> = (0..slots.len()).filter(|&i| slots[i].alive() && !on(&slots[i])).collect();
    let already: Vec<usize> = (0..slots.len()).filter(|&i| slots[i].alive() && on(&slots[i])).collect();
    let on_it = Status::Unchanged { reason: format!("already on {id}") };
    for &i in &already {
        slots[i].status = Some(on_it.clone());
    }
    if !drifted.is_empty() {
        bring(&mut slots, &drifted, &id, s, r, stop).await;
    }
    // Hosts already on the release count as fine.
    for &i in &already {
        if slots[i].status.as_ref() == Some(&on_it) {
            slots[i].status = None;
        }
    }
    lock::release(&mut slots, &details.token, s.concurrency, r).await;
    let hosts = fleet::finish(&slots, r).await;
    Ok(summary(hosts, Some(id)))
}

/// Stages (where missing) and activates `id` on the `drifted` hosts.
async fn bring(slots: &mut [Slot], drifted: &[usize], id: &ReleaseId, s: &Settings, r: &dyn Reporter, stop: &Shutdown) {
    copy_where_missing(slots, drifted, id, s, r, stop).await;
    switch_drifted(slots, drifted, id, s, r, stop).await;
}

/// Stages `id` on the `drifted` hosts that do not have it, copied from the
/// local cache or a host that serves it; a host it cannot reach fails.
async fn copy_where_missing(
    slots: &mut [Slot],
    drifted: &[usize],
    id: &ReleaseId,
    s: &Settings,
    r: &dyn Reporter,
    stop: &Shutdown,
) {
    // Any connected host serving the release can be the source.
    let source = slots.iter().position(|x| x.session.is_some() && x.state.current_name.as_deref() == Some(id.as_str()));
    let has = |x: &Slot| x.state.has(id.as_str());
    let need_upload: Vec<usize> = drifted.iter().copied().filter(|&i| !has(&slots[i])).collect();
    if !need_upload.is_empty() && !id.is_minted() {
        // Another tool made it: there is no release.json or archive of it
        // to check a copy against.
        for &i in &need_upload {
            slots[i].fail(
                Step::Upload,
                format!("release {id} was not made by ship and is not on this host: ship sync cannot copy it; deploy instead"),
            );
        }
    } else if !need_upload.is_empty() {
        let prepared = match source {
            Some(src) => {
                let peers: Vec<&Slot> = slots
                    .iter()
                    .enumerate()
                    .filter(|(i, x)| *i != src && x.session.is_some() && has(x))
                    .map(|(_, x)| x)
                    .collect();
                prepare(&slots[src], &peers, id, s, r).await
            }
            None => Err("no healthy host serves it".to_string()),
        };
        match prepared {
            Ok((artifact, release_json)) => {
                let targets: Vec<&mut Slot> =
                    slots.iter_mut().enumerate().filter(|(i, _)| need_upload.contains(i)).map(|(_, x)| x).collect();
                crate::fleet::parallel::map(targets, s.concurrency, |_, slot| {
                    let (artifact, release_json) = (&artifact, &release_json);
                    async move {
                        preflight(slot, s, Some(artifact.unpacked), r).await;
                        if !slot.alive() {
                            return;
                        }
                        let env = hook_env(slot, s, id);
                        if let Err(e) =
                            crate::deploy::stage::stage(slot, s, r, Some(stop), artifact, None, id, release_json, &env)
                                .await
                        {
                            let _ = slot.run(Step::Abort, &remote::abort(&slot.host.layout(), id), r).await;
                            slot.fail_with(e);
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
}

/// The same preflight as a deploy (layout, linked files and, when a
/// release of `unpacked` bytes is to be placed, the disk), refreshing what
/// the host said; the first problem fails it ([`crate::remote::judge`]).
async fn preflight(slot: &mut Slot, s: &Settings, unpacked: Option<u64>, r: &dyn Reporter) {
    let script = remote::preflight(&slot.host.layout(), &s.linked_files(), None);
    let out = match slot.run(Step::Preflight, &script, r).await {
        Ok(out) => out,
        Err(e) => return slot.fail(Step::Preflight, e),
    };
    let fresh = crate::remote::state::HostState::parse(&out.stdout);
    slot.state.free_kb = fresh.free_kb;
    slot.state.missing = fresh.missing;
    slot.state.current_is_dir = fresh.current_is_dir;
    let problems = judge::problems(&slot.state, unpacked.unwrap_or(0));
    let room = |p: &&Problem| unpacked.is_some() || !matches!(p, Problem::LowDisk { .. });
    if let Some(p) = problems.iter().find(room) {
        let msg = p.message(&slot.host.layout());
        slot.fail(Step::Preflight, msg);
    }
}

/// Switches the `drifted` hosts still alive to `id`, restarting and
/// health-checking each; a failure goes back to what the host served.
/// Each host's sync is logged on it.
async fn switch_drifted(
    slots: &mut [Slot],
    drifted: &[usize],
    id: &ReleaseId,
    s: &Settings,
    r: &dyn Reporter,
    stop: &Shutdown,
) {
    let targets: Vec<&mut Slot> =
        slots.iter_mut().enumerate().filter(|(i, x)| drifted.contains(i) && x.alive()).map(|(_, x)| x).collect();
    crate::fleet::parallel::map(targets, s.concurrency, |_, slot| async move {
        if stop.requested() {
            slot.status = Some(Status::Unchanged { reason: "not synced: interrupted".into() });
            return;
        }
        // A release this sync staged is switched to as a deploy would (its
        // completeness marker checked); one the host already had, whatever
        // tool made it, is gone back to as a rollback would, after the
        // preflight the copy would have had (no room needed).
        let had = slot.state.has(id.as_str());
        if had {
            preflight(slot, s, None, r).await;
            if !slot.alive() {
                return;
            }
        }
        let env = hook_env(slot, s, id);
        let previous = slot.state.current_name.clone();
        let before = slot.state.current_link.clone();
        let direction = if had { activate::Direction::Back } else { activate::Direction::Forward };
        if let Err(mut e) = activate::activate(slot, s, id, direction, &env, &s.config.hooks.after_switch, r).await {
            let back = slot.state.serving();
            let how = if slot.release.as_ref() == Some(id) {
                let prev = previous.as_deref().and_then(ReleaseId::existing);
                match activate::revert(slot, s, before.as_deref(), prev.as_ref(), id, &env, r).await {
                    Ok(()) => format!("; reverted to {back}"),
                    Err(re) => format!("; could not go back to {back}: {re}"),
                }
            } else {
                String::new()
            };
            e.message += &how;
            slot.fail_with(e);
        }
        let line = LogEntry {
            release: Some(id.to_string()),
            previous: Some(previous),
            previous_link: Some(slot.state.current_target.clone()),
            ok: Some(slot.alive()),
            ..LogEntry::new(LogEvent::Sync, &slot.host.name, &s.deployer)
        }
        .to_line();
        if let Err(e) = slot.run(Step::Finish, &remote::append_log(&slot.host.layout(), &line), r).await {
            r.emit(Event::Warning {
                host: Some(slot.host.name.clone()),
                message: format!("could not log the sync: {e}"),
            });
        }
    })
    .await;
}

/// The archive of `id` and its release.json: from the local cache when it
/// holds an archive whose sha256 is the one release.json records, else
/// packed on `source` into a temporary file (never held in memory) and
/// verified file by file against the release's manifest before any host
/// sees it ([`Artifact::from_release_copy`]).
async fn prepare(
    source: &Slot,
    peers: &[&Slot],
    id: &ReleaseId,
    s: &Settings,
    r: &dyn Reporter,
) -> Result<(Artifact, String), String> {
    let layout = source.host.layout();
    let host = &source.host.name;
    let release_json =
        source.run(Step::Preflight, &remote::release_json(&layout, id), r).await?.stdout.trim().to_string();
    let recorded = ReleaseMeta::parse(&release_json)
        .map_err(|e| format!("its .ship/release.json on {host} is not JSON ({e}); deploy the release again"))?;
    let want = recorded.sha256.clone();
    let (dir, rid, sum) = (s.cache_dir.clone(), id.clone(), want.clone());
    let cached =
        tokio::task::spawn_blocking(move || dir.map_or(Ok(None), |d| crate::build::cache::load(&d, &rid, &sum)))
            .await
            .map_err(|e| e.to_string())?;
    let message = match cached {
        Ok(Some(artifact)) => return Ok((artifact, release_json)),
        Ok(None) => format!("{id} is not in the local cache; copying it from this host"),
        Err(why) => format!("{why}; ignoring it and copying {id} from this host"),
    };
    r.emit(Event::Warning { host: Some(host.clone()), message });
    // The copy is checked against its own manifest: every other host that
    // holds the release must have the same one, or one of them was edited.
    async fn manifest_sum(x: &Slot, id: &ReleaseId, r: &dyn Reporter) -> Option<String> {
        let out = x.run(Step::Preflight, &remote::release_manifest_sum(&x.host.layout(), id), r).await.ok()?;
        out.stdout.lines().find_map(|l| l.strip_prefix("manifest=")).map(str::to_string)
    }
    let mine = manifest_sum(source, id, r).await;
    for peer in peers {
        let theirs = manifest_sum(peer, id, r).await;
        if theirs.is_some() && theirs != mine {
            return Err(format!(
                "its .ship/manifest on {host} differs from the one on {}: one of them was edited after the deploy; \
sync from a machine whose artifact cache holds the release, or deploy again",
                peer.host.name
            ));
        }
    }
    let session = source.session.as_ref().ok_or("not connected")?;
    // Bounded on disk too: a copy far larger than the release was is not it.
    let limit = recorded.size.map_or(COPY_CAP, |size| size.saturating_mul(2).saturating_add(64 << 20));
    let temp = tempfile::NamedTempFile::new().map_err(|e| format!("cannot make a temporary file: {e}"))?;
    let (mut file, path) = temp.into_parts();
    let mut written = 0u64;
    let mut failed: Option<String> = None;
    let mut sink = |data: &[u8]| {
        written += data.len() as u64;
        let res = if written > limit {
            Err(format!("the copy from {host} is larger than {} MiB, far more than the release was", limit >> 20))
        } else {
            std::io::Write::write_all(&mut file, data).map_err(|e| format!("cannot write a temporary file: {e}"))
        };
        res.map_err(|e| failed = Some(e)).is_ok()
    };
    let out = session.download_into(&remote::pack_release(&layout, id), &mut sink).await.map_err(|e| e.to_string())?;
    if let Some(why) = failed {
        return Err(why);
    }
    if !out.success() {
        return Err(format!("packing it on {host} failed: {}", out.failure()));
    }
    drop(file);
    let linked = s.linked_paths();
    let artifact = tokio::task::spawn_blocking(move || Artifact::from_release_copy(path, &linked))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| {
            format!(
                "the copy from {host} was refused: {e}; put the release on {host} back as deployed, \
deploy again, or sync from a machine whose artifact cache holds it"
            )
        })?;
    Ok((artifact, release_json))
}

/// The most ship copies from a host when release.json does not say how
/// large the release was.
const COPY_CAP: u64 = 64 << 30;

fn hook_env(slot: &Slot, s: &Settings, id: &ReleaseId) -> HookEnv {
    let previous = slot.state.current_name.as_deref().unwrap_or_default();
    crate::deploy::hooks::host_env(s, slot, id.as_str(), previous, None)
}
