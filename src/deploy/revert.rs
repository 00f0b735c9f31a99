//! Settling a failed or interrupted rollout: which hosts go back per
//! `on_failure`, and how (a revert is a rollout too: wave by wave, each
//! host drained, restarted, checked on what it went back to, undrained),
//! and the status every host ends with.

use super::{activate, Run};
use crate::config::OnFailure;
use crate::fleet::{self, Slot};
use crate::outcome::{HostError, Status, Step};
use crate::release::ReleaseId;

/// After a failed wave (or Ctrl-C between waves): revert per `on_failure`
/// and give every host a status that says where it ends and why.
pub(super) async fn settle_failure(
    slots: &mut [Slot],
    run: &Run<'_>,
    id: &ReleaseId,
    plan: &[Vec<usize>],
    released: &[usize],
    failed_wave: Option<usize>,
) {
    let s = run.s;
    let cause = match failed_wave {
        Some(w) => format!("{} failed in wave {}", fleet::failed_names(slots), w + 1),
        None => "interrupted by Ctrl-C".to_string(),
    };
    let revert: Vec<usize> = match (s.rollout.on_failure, failed_wave) {
        (OnFailure::RevertAll, _) => released.to_vec(),
        // Every wave with a failed host: a bake can fail hosts of several.
        (OnFailure::RevertWave, Some(_)) => plan
            .iter()
            .filter(|wave| wave.iter().any(|&i| matches!(slots[i].status, Some(Status::Failed(_)))))
            .flatten()
            .copied()
            .collect(),
        _ => Vec::new(),
    };
    // A revert is a rollout too: wave by wave, each host health-checked
    // (and verified) on what it goes back to before the next wave; the
    // failed wave first (its hosts are the broken ones), then the others
    // newest first. Only hosts that actually switched need to go back.
    let order = failed_wave.into_iter().chain((0..plan.len()).rev().filter(|w| Some(*w) != failed_wave));
    let mut first = true;
    for wave in order.map(|w| &plan[w]) {
        let targets: Vec<&mut Slot> = slots
            .iter_mut()
            .enumerate()
            .filter(|(i, x)| wave.contains(i) && revert.contains(i) && x.release.as_ref() == Some(id))
            .map(|(_, x)| x)
            .collect();
        if targets.is_empty() {
            continue;
        }
        if !first && !s.rollout.pause.is_zero() {
            tokio::time::sleep(s.rollout.pause).await;
        }
        first = false;
        revert_wave(targets, run, id, &cause).await;
    }
    let policy = s.rollout.on_failure.name();
    for (i, slot) in slots.iter_mut().enumerate() {
        let on_new = slot.release.as_ref() == Some(id);
        match &mut slot.status {
            Some(Status::Failed(HostError { message, .. })) if on_new && !revert.contains(&i) => {
                *message = format!("{message}; NOT reverted (on_failure = {policy}): `current` is {id}")
            }
            None if !released.contains(&i) => {
                slot.status = Some(Status::Unchanged { reason: format!("not released: {cause}") })
            }
            _ => {}
        }
    }
}

/// Reverts one wave's hosts, at once (up to `concurrency`), recording on
/// each how it went.
async fn revert_wave(targets: Vec<&mut Slot>, run: &Run<'_>, id: &ReleaseId, cause: &str) {
    let s = run.s;
    crate::fleet::parallel::map(targets, s.concurrency, |_, slot| {
        async move {
            let previous = slot.state.current_name.as_deref().and_then(ReleaseId::existing);
            let before = slot.state.current_link.clone();
            // The old release restarts as itself: its own label, and the
            // release being left as the previous one.
            let back = previous.as_ref().map(ReleaseId::as_str).unwrap_or("");
            let label = slot.state.current_name.as_deref().and_then(|c| slot.state.label_of(c));
            let env = crate::deploy::hooks::host_env(s, slot, back, id.as_str(), label.as_deref());
            let back = slot.state.serving();
            match activate::revert(slot, s, before.as_deref(), previous.as_ref(), id, &env, run.r).await {
                Ok(()) => match &mut slot.status {
                    Some(Status::Failed(HostError { message, .. })) => {
                        *message = format!("{message}; reverted to {back}")
                    }
                    _ => slot.status = Some(Status::Unchanged { reason: format!("reverted to {back}: {cause}") }),
                },
                // The switch back worked; the restart did not.
                Err(e) if slot.release == previous => {
                    let note = format!("reverted to {back}, but {e}; check its service");
                    match &mut slot.status {
                        Some(Status::Failed(HostError { message, .. })) => *message = format!("{message}; {note}"),
                        _ => {
                            slot.status = Some(Status::Failed(HostError::new(Step::Revert, format!("{cause}; {note}"))))
                        }
                    }
                }
                Err(e) => {
                    let note = format!(
                        "could not go back to {back}: {e}; `current` may still be {id}: run `ship rollback --to {back}`"
                    );
                    match &mut slot.status {
                        Some(Status::Failed(HostError { message, .. })) => *message = format!("{message}; {note}"),
                        _ => slot.status = Some(Status::Failed(HostError::new(Step::Revert, note))),
                    }
                }
            }
        }
    })
    .await;
}
