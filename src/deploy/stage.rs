//! Staging a release on one host, in one round trip: upload the archive
//! while hashing it, verify the sha256, (for a delta) hard-link and check
//! the unchanged files, write release.json, link shared paths, rename into
//! releases/, run `before_switch` hooks. Deploy and sync
//! both stage this way.

use crate::build::artifact::Artifact;
use crate::event::{Event, Reporter};
use crate::fleet::Slot;
use crate::outcome::{HostError, Step};
use crate::release::ReleaseId;
use crate::remote::{self, HookEnv};
use crate::settings::Settings;
use crate::shutdown::Shutdown;
use crate::spool::Input;
use bytes::Bytes;

/// Why a host cannot take part in pull mode.
pub(crate) const NO_FETCHER: &str =
    "neither curl nor wget is on the host; install one, or deploy without pull mode (--from-url / [artifact] url)";

/// Stages `artifact` as release `id` on `slot`: sent by ship, or with
/// `pull_url` downloaded by the host itself. With `cancel`, Ctrl-C cuts the
/// upload short (the host's commands then fail and end by themselves).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn stage(
    slot: &Slot,
    s: &Settings,
    r: &dyn Reporter,
    cancel: Option<&Shutdown>,
    artifact: &Artifact,
    pull_url: Option<&str>,
    id: &ReleaseId,
    release_json: &str,
    env: &HookEnv,
) -> Result<(), HostError> {
    let layout = slot.host.layout();
    let host = slot.host.name.clone();
    let total = artifact.size;
    let mut last = 0u64;
    let mut progress = |sent: u64| {
        // Every 4 MiB and at the end: enough for a smooth bar, cheap for many hosts.
        if sent - last >= 4 << 20 || sent == total {
            last = sent;
            r.emit(Event::Progress { host: host.clone(), sent, total });
        }
    };
    let (first, input) = match pull_url {
        Some(url) => {
            let fetcher = slot.state.fetcher.ok_or_else(|| HostError::new(Step::Preflight, NO_FETCHER))?;
            let script = remote::fetch(&layout, id, fetcher, &artifact.sha256);
            (script, Input { head: vec![Bytes::from(fetcher.input(url))], spool: None })
        }
        None => {
            r.emit(Event::Progress { host: host.clone(), sent: 0, total });
            (remote::receive(&layout, id), Input { head: Vec::new(), spool: Some(artifact.spool.clone()) })
        }
    };
    // The transfer has no time limit (it lasts as long as the bytes take;
    // keepalives catch a dead host, and a host's download fails when its
    // server stalls); a first Ctrl-C cuts a download short as it cuts an
    // upload short.
    let steps = [(Step::Upload, first), (Step::Verify, remote::verify(&layout, id, &artifact.sha256))];
    let ctl = crate::ssh::StepControl { on_interrupt: pull_url.is_some(), ..Default::default() };
    let out = slot
        .run_steps(
            &steps,
            &input,
            &mut |sent| {
                if pull_url.is_none() {
                    progress(sent)
                }
            },
            cancel,
            ctl,
            r,
        )
        .await?;
    // The host compared already; this guards against a host that did not.
    let got = out.stdout.lines().find_map(|l| l.strip_prefix("sha256=")).unwrap_or("");
    if got != artifact.sha256 {
        return Err(HostError::new(
            Step::Verify,
            format!("host reported sha256 {got:?}, expected {}", artifact.sha256),
        ));
    }
    // Checking a delta's linked files and placing the release are ship's
    // own work on the host: a round trip of their own, under
    // `[ssh] command_timeout` plus a second per MiB of linked files.
    let mut steps = Vec::new();
    if artifact.linked > 0 {
        steps.push((Step::Verify, remote::relink(&layout, id)));
    }
    steps.push((Step::Link, remote::promote(&layout, id, release_json, &s.linked_dirs(), &s.linked_files())));
    slot.run_steps(&steps, &Input::default(), &mut |_| {}, None, s.command_step(artifact.linked_bytes), r).await?;
    // Each hook in a round trip of its own, under `[hooks] timeout`.
    for h in &s.config.hooks.before_switch {
        if cancel.is_some_and(Shutdown::requested) {
            return Err(HostError::new(Step::Hook, "interrupted by Ctrl-C"));
        }
        let hook = [(Step::Hook, remote::in_release(&layout, id, env, h))];
        slot.run_steps(&hook, &Input::default(), &mut |_| {}, None, s.hook_step(), r).await?;
    }
    Ok(())
}
