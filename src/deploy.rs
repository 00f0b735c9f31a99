//! `ship deploy`: the steps of DESIGN.md, in order.
//!
//! 1. Package the build once.
//! 2. Connect to and preflight every host.
//! 3. Stage every host: upload, verify the sha256, link, rename into
//!    releases/. Any failure or Ctrl-C up to here removes the new release
//!    from every host, and no host switches.
//! 4. Switch `current`, restart.
//! 5. Prune, log.

use crate::artifact::Artifact;
use crate::error::Error;
use crate::event::{Event, Reporter};
use crate::fleet::{self, Slot};
use crate::outcome::{Step, Summary};
use crate::release::ReleaseId;
use crate::remote;
use crate::settings::Settings;
use crate::shutdown::Shutdown;
use chrono::Utc;
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;

/// What to deploy.
#[derive(Debug, Clone)]
pub struct DeployArgs {
    /// Build directory or .tar.gz.
    pub path: PathBuf,
    /// `--version` label.
    pub label: Option<String>,
}

/// Room left free beyond the unpacked size, so a deploy never fills a disk.
const DISK_MARGIN: u64 = 64 << 20;

/// Runs a deploy; the summary says how each host ended.
pub async fn run(
    s: &Settings,
    args: &DeployArgs,
    r: &dyn Reporter,
    stop: &Shutdown,
) -> Result<Summary, Error> {
    let t0 = Instant::now();
    let path = args.path.clone();
    let artifact = tokio::task::spawn_blocking(move || Artifact::prepare(&path))
        .await
        .map_err(|e| Error::Artifact {
            path: args.path.clone(),
            message: e.to_string(),
        })?
        .map_err(|message| Error::Artifact {
            path: args.path.clone(),
            message,
        })?;
    if stop.requested() {
        return Err(Error::Interrupted(
            "while packaging; no host was touched".into(),
        ));
    }
    let ctx = fleet::context(s, r)?;
    r.emit(Event::Plan {
        command: "deploy",
        hosts: s.hosts.len(),
        release: None,
        bytes: Some(artifact.size),
    });

    let linked_files = s.linked_files();
    let mut slots = fleet::reach(
        &s.hosts,
        &ctx,
        s.concurrency,
        |h| remote::preflight(&h.layout(), &linked_files),
        r,
    )
    .await;
    for slot in slots.iter_mut().filter(|x| x.alive()) {
        check_preflight(slot, &artifact);
    }
    let summary = |release: Option<ReleaseId>, hosts| Summary {
        command: "deploy",
        release,
        hosts,
        duration: t0.elapsed(),
        interrupted: stop.requested(),
    };
    if slots.iter().any(|x| !x.alive()) || stop.requested() {
        let reason = if stop.requested() {
            "not deployed: interrupted before upload".to_string()
        } else {
            format!(
                "not deployed: {} failed before upload",
                fleet::failed_names(&slots)
            )
        };
        fleet::leave_unchanged(&mut slots, &reason);
        let hosts = fleet::finish(&slots, r).await;
        return Ok(summary(None, hosts));
    }

    let id = ReleaseId::mint(Utc::now(), |id| {
        slots.iter().any(|x| x.state.releases.contains(id))
    });
    r.emit(Event::Plan {
        command: "deploy",
        hosts: s.hosts.len(),
        release: Some(id.clone()),
        bytes: Some(artifact.size),
    });
    let release_json = json!({
        "id": id, "app": s.config.app.name.get_ref(), "version": args.label, "sha256": artifact.sha256,
        "size": artifact.size, "entries": artifact.entries, "deployer": s.deployer, "time": Utc::now().to_rfc3339(),
    })
    .to_string();

    let stage_all = crate::parallel::map(slots.iter_mut().collect(), s.concurrency, |_, slot| {
        let (artifact, release_json, id) = (&artifact, &release_json, &id);
        async move {
            tokio::select! {
                res = stage(slot, s, artifact, id, release_json, r) => if let Err((step, e)) = res { slot.fail(step, e) },
                _ = stop.wait() => slot.fail(Step::Upload, "interrupted by Ctrl-C"),
            }
        }
    });
    stage_all.await;

    if slots.iter().any(|x| !x.alive()) {
        abort_all(&mut slots, &id, s, r).await;
        let reason = format!(
            "new release removed: {} failed before the switch",
            fleet::failed_names(&slots)
        );
        fleet::leave_unchanged(&mut slots, &reason);
        let hosts = fleet::finish(&slots, r).await;
        return Ok(summary(Some(id), hosts));
    }

    let keep = s.keep_releases();
    crate::parallel::map(slots.iter_mut().collect(), s.concurrency, |_, slot| {
        let (id, label, sha) = (&id, &args.label, &artifact.sha256);
        async move { release(slot, s, id, label.as_deref(), sha, keep, r).await }
    })
    .await;
    let hosts = fleet::finish(&slots, r).await;
    Ok(summary(Some(id), hosts))
}

/// Refuses a host whose state would make the deploy fail or unsafe.
fn check_preflight(slot: &mut Slot, artifact: &Artifact) {
    let layout = slot.host.layout();
    if slot.state.current_is_dir {
        let msg = format!(
            "{} is a real directory, not a symlink: ship will not replace it. Move it aside (e.g. into releases/) and deploy again",
            layout.current()
        );
        return slot.fail(Step::Preflight, msg);
    }
    if !slot.state.missing.is_empty() {
        let paths: Vec<String> = slot
            .state
            .missing
            .iter()
            .map(|m| format!("{}/{m}", layout.shared()))
            .collect();
        let msg = format!(
            "linked file(s) missing on the host: {}; create them, then deploy again",
            paths.join(", ")
        );
        return slot.fail(Step::Preflight, msg);
    }
    if let Some(free_kb) = slot.state.free_kb {
        let need = artifact.unpacked + DISK_MARGIN;
        if free_kb.saturating_mul(1024) < need {
            let msg = format!(
                "not enough disk space in {}: the release needs {} (with margin), {} is free; free space or prune",
                layout.root(),
                crate::report::human_bytes(need),
                crate::report::human_bytes(free_kb * 1024)
            );
            slot.fail(Step::Preflight, msg);
        }
    }
}

/// Upload + verify + link + rename into releases/ on one host, in one
/// round trip.
async fn stage(
    slot: &Slot,
    s: &Settings,
    artifact: &Artifact,
    id: &ReleaseId,
    release_json: &str,
    r: &dyn Reporter,
) -> Result<(), (Step, String)> {
    let layout = slot.host.layout();
    let host = slot.host.name.clone();
    let total = artifact.size;
    let mut last = 0u64;
    let mut progress = |sent: u64| {
        // Every 4 MiB and at the end: enough for a smooth bar, cheap for many hosts.
        if sent - last >= 4 << 20 || sent == total {
            last = sent;
            r.emit(Event::Progress {
                host: host.clone(),
                sent,
                total,
            });
        }
    };
    r.emit(Event::Progress {
        host: host.clone(),
        sent: 0,
        total,
    });
    let steps = [
        (Step::Upload, remote::receive(&layout, id)),
        (Step::Verify, remote::verify(&layout, id, &artifact.sha256)),
        (
            Step::Link,
            remote::promote(
                &layout,
                id,
                release_json,
                &s.linked_dirs(),
                &s.linked_files(),
            ),
        ),
    ];
    let out = slot
        .run_steps(&steps, &artifact.chunks, &mut progress, r)
        .await?;
    // The host compared already; this guards against a host that did not.
    let got = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("sha256="))
        .unwrap_or("");
    if got != artifact.sha256 {
        return Err((
            Step::Verify,
            format!("host reported sha256 {got:?}, expected {}", artifact.sha256),
        ));
    }
    Ok(())
}

/// Removes the staged release from every host that was reached.
async fn abort_all(slots: &mut [Slot], id: &ReleaseId, s: &Settings, r: &dyn Reporter) {
    crate::parallel::map(slots.iter_mut().filter(|x| x.session.is_some()).collect(), s.concurrency, |_, slot| async move {
        let script = remote::abort(&slot.host.layout(), id);
        if let Err(e) = slot.run(Step::Abort, &script, r).await {
            r.emit(Event::Warning {
                host: Some(slot.host.name.clone()),
                message: format!("could not remove the staged release {id}: {e}; `ship prune` or a later deploy cleans it"),
            });
        }
    })
    .await;
}

/// Switch, restart, prune and log on one host.
async fn release(
    slot: &mut Slot,
    s: &Settings,
    id: &ReleaseId,
    label: Option<&str>,
    sha: &str,
    keep: usize,
    r: &dyn Reporter,
) {
    let previous = slot.state.current.clone();
    let mut after = slot.state.clone();
    after.releases.push(id.clone());
    after.releases.sort();
    after.current = Some(id.clone());
    let doomed = after.prune_plan(keep);
    let host = slot.host.name.clone();
    let log = |ok: bool| {
        json!({
            "time": Utc::now().to_rfc3339(), "event": "deploy", "release": id, "previous": previous,
            "version": label, "sha256": sha, "deployer": s.deployer, "host": host,
            "ok": ok, "pruned": if ok { doomed.clone() } else { vec![] },
        })
        .to_string()
    };
    crate::activate::activate(slot, s, id, &doomed, log, r).await;
}
