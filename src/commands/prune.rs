//! `ship prune`: under the lock, remove the oldest releases of every host
//! down to `keep`, never the one `current` resolves to nor the rollback
//! target ([`crate::remote::state::HostState::prune_plan`]).

use crate::error::Error;
use crate::event::{Event, Reporter};
use crate::fleet;
use crate::outcome::{Step, Summary};
use crate::release::ReleaseId;
use crate::remote;
use crate::remote::log::{LogEntry, LogEvent};
use crate::settings::Settings;
use std::time::Instant;

/// Prunes every host to `keep` releases (never current, never the rollback
/// target; names that are not release ids are left alone with a warning).
pub(crate) async fn prune(s: &Settings, keep: usize, r: &dyn Reporter) -> Result<Summary, Error> {
    let t0 = Instant::now();
    let ctx = fleet::context(s, r)?;
    r.emit(Event::Plan { command: "prune", hosts: s.hosts.len(), release: None, bytes: None });
    let (details, mut slots) = crate::fleet::lock::take(s, &ctx, "prune", None, r).await?;
    let total: usize = slots.iter().map(|x| x.state.prune_plan(keep).len()).sum();
    if s.ask && total > 0 {
        let q = format!("Prune {total} release(s) on {} host(s), keeping {keep}?", slots.len());
        if !r.confirm(&q) {
            crate::fleet::lock::release(&mut slots, &details.token, s.concurrency, r).await;
            fleet::finish(&slots, r).await;
            return Err(Error::Refused("prune declined; nothing was changed".into()));
        }
    }
    crate::fleet::parallel::map(
        slots.iter_mut().filter(|x| x.alive()).collect(),
        s.concurrency,
        |_, slot| async move {
            let doomed = slot.state.prune_plan(keep);
            if doomed.is_empty() {
                return;
            }
            let line = LogEntry {
                removed: Some(doomed.iter().map(ReleaseId::to_string).collect()),
                keep: Some(keep),
                ..LogEntry::new(LogEvent::Prune, &slot.host.name, &s.deployer)
            }
            .to_line();
            if let Err(e) = slot
                .run(
                    Step::Finish,
                    &(remote::finish(&slot.host.layout(), &doomed, &line) + &remote::empty_trash(&slot.host.layout())),
                    r,
                )
                .await
            {
                slot.fail(Step::Finish, e);
            }
        },
    )
    .await;
    crate::fleet::lock::release(&mut slots, &details.token, s.concurrency, r).await;
    let hosts = fleet::finish(&slots, r).await;
    Ok(Summary { command: "prune", release: None, hosts, duration: t0.elapsed(), interrupted: false })
}
