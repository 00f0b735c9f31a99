//! `ship deploy --dry-run` and `ship plan`: what a deploy would do, worked
//! out from the real hosts without changing any of them. The build is
//! packaged (locally) to know its size; each host is read with the same
//! read-only probe as `ship check`; no lock is taken, no hook runs.

use crate::build::artifact::Artifact;
use crate::error::Error;
use crate::event::{Event, Reporter};
use crate::outcome::HostError;
use crate::release::ReleaseId;
use crate::settings::Settings;
use chrono::Utc;
use std::path::Path;

/// One host in the plan.
#[derive(Debug, Clone)]
pub(crate) struct PlanHost {
    /// Host name.
    pub name: String,
    /// Where the host came from (hosts.toml, an inventory).
    pub source: String,
    /// The release `current` serves now, however it is named (`57` on a
    /// host migrated from Capistrano).
    pub current: Option<String>,
    /// The lock's holder, when someone holds it.
    pub lock: Option<String>,
    /// Why the deploy would fail or refuse this host.
    pub problem: Option<String>,
}

/// What `ship deploy` would do.
#[derive(Debug, Clone)]
pub(crate) struct DeployPlan {
    /// The release id the deploy would mint if it started now.
    pub release: ReleaseId,
    /// The version label.
    pub label: Option<String>,
    /// Bytes each host would receive (the whole archive: no delta yet).
    pub bytes: u64,
    /// Unpacked size on each host.
    pub unpacked: u64,
    /// `parallel` or `rolling`, and the policy for a failed wave.
    pub strategy: String,
    /// Host names per wave, in order.
    pub waves: Vec<Vec<String>>,
    /// Every selected host.
    pub hosts: Vec<PlanHost>,
    /// Hook kind and commands, in the order they would run.
    pub hooks: Vec<(&'static str, Vec<String>)>,
}

impl DeployPlan {
    /// Whether the deploy would get past preflight on every host.
    pub(crate) fn ready(&self) -> bool {
        self.hosts.iter().all(|h| h.problem.is_none() && h.lock.is_none())
    }
}

/// Works out the plan for deploying `path`.
pub(crate) async fn plan(
    s: &Settings,
    path: &Path,
    label: Option<String>,
    r: &dyn Reporter,
) -> Result<DeployPlan, Error> {
    let label = label.or_else(|| crate::deploy::git_label(path));
    for message in s.blind_spots() {
        r.emit(Event::Warning { host: None, message });
    }
    r.emit(Event::Packaging { path: path.display().to_string() });
    // Packed exactly as the deploy would, so the bytes shown are the ones sent.
    let (p, linked, level) = (path.to_path_buf(), s.linked_paths(), s.compression.level());
    let artifact = tokio::task::spawn_blocking(move || Artifact::prepare_until(&p, &linked, level, &|| false))
        .await
        .map_err(|e| Error::Artifact { path: path.to_path_buf(), message: e.to_string() })?
        .map_err(|message| Error::Artifact { path: path.to_path_buf(), message })?;
    let ctx = crate::fleet::context(s, r)?;
    let linked = s.linked_files();
    let mut slots =
        crate::fleet::reach(&s.hosts, &ctx, s.concurrency, |h| crate::remote::check(&h.layout(), &linked, None), r)
            .await;
    for slot in slots.iter_mut().filter(|x| x.alive()) {
        crate::deploy::check_preflight(slot, &artifact);
    }
    crate::fleet::finish(&slots, r).await;
    let release = ReleaseId::mint(Utc::now(), slots.iter().flat_map(|x| &x.state.releases), |id| {
        slots.iter().any(|x| x.state.releases.contains(id))
    });
    let hosts = slots
        .iter()
        .map(|x| PlanHost {
            name: x.host.name.clone(),
            source: x.host.source.clone(),
            current: x.state.current_name.clone(),
            lock: x.state.lock.as_deref().map(crate::fleet::lock::describe),
            problem: match &x.status {
                Some(crate::outcome::Status::Failed(HostError { step, message })) => Some(format!("{step}: {message}")),
                _ => None,
            },
        })
        .collect();
    let plan = crate::deploy::waves::waves(slots.len(), s.rollout.kind, s.rollout.batch, s.rollout.canary);
    let waves = plan.iter().map(|w| w.iter().map(|&i| slots[i].host.name.clone()).collect()).collect();
    let h = &s.config.hooks;
    let mut hooks = vec![("local_before", h.local_before.clone()), ("before_switch", h.before_switch.clone())];
    if !s.skip_run_once {
        hooks.push(("run_once", h.run_once.clone()));
    }
    hooks.extend([
        ("local_drain", h.local_drain.clone()),
        ("drain", h.drain.clone()),
        ("undrain", h.undrain.clone()),
        ("local_undrain", h.local_undrain.clone()),
        ("after_switch", h.after_switch.clone()),
        ("local_after", h.local_after.clone()),
    ]);
    hooks.retain(|(_, cmds)| !cmds.is_empty());
    Ok(DeployPlan {
        release,
        label,
        bytes: artifact.size,
        unpacked: artifact.unpacked,
        strategy: format!("{}, on_failure = {}", s.rollout.kind.name(), s.rollout.on_failure.name()),
        waves,
        hosts,
        hooks,
    })
}
