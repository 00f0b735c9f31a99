//! Making a release live on one host: switch `current`, restart, then prune
//! and log — in one round trip when all goes well. Deploy and rollback both
//! end here.

use crate::event::{Event, Reporter};
use crate::fleet::Slot;
use crate::outcome::Step;
use crate::release::ReleaseId;
use crate::remote;
use crate::settings::Settings;

/// Switches `slot` to `target`, restarts, prunes `prune` and appends
/// `log(ok)` to the host's log. Failures are recorded in the slot.
pub async fn activate(
    slot: &mut Slot,
    s: &Settings,
    target: &ReleaseId,
    prune: &[ReleaseId],
    log: impl Fn(bool) -> String,
    r: &dyn Reporter,
) {
    let layout = slot.host.layout();
    let mut steps = vec![(Step::Switch, remote::switch(&layout, target))];
    if let Some(cmd) = &s.config.app.restart {
        steps.push((Step::Restart, remote::restart(&layout, target, cmd)));
    }
    steps.push((Step::Finish, remote::finish(&layout, prune, &log(true))));
    match slot.run_steps(&steps, &[], &mut |_| {}, r).await {
        Ok(_) => slot.release = Some(target.clone()),
        Err((Step::Switch, e)) => slot.fail(
            Step::Switch,
            format!("{e}; the host still serves its previous release"),
        ),
        Err((Step::Restart, e)) => {
            slot.release = Some(target.clone());
            slot.fail(
                Step::Restart,
                format!("{e}; `current` points at {target}: fix the service or `ship rollback`"),
            );
            // Still record what happened; keep every release (no prune).
            if let Err(e) = slot
                .run(Step::Finish, &remote::finish(&layout, &[], &log(false)), r)
                .await
            {
                warn(slot, r, format!("could not append to the deploy log: {e}"));
            }
        }
        Err((step, e)) => {
            slot.release = Some(target.clone());
            warn(slot, r, format!("{target} is live, but {step} failed: {e}"));
        }
    }
}

fn warn(slot: &Slot, r: &dyn Reporter, message: String) {
    r.emit(Event::Warning {
        host: Some(slot.host.name.clone()),
        message,
    });
}
