//! What each host receives: the full archive, or a delta cut for it
//! ([`crate::build::delta`]) when its current release carries a manifest.
//!
//! Preflight reports the sha256 of each host's current manifest; hosts are
//! grouped by it, and one host per group is asked for the manifest itself.
//! Each group gets its own delta; a group whose manifest cannot be read
//! gets the full archive, with a warning.

use crate::build::artifact::Artifact;
use crate::build::delta;
use crate::build::manifest::{self, Manifest};
use crate::event::{Event, Reporter};
use crate::fleet::Slot;
use crate::outcome::Step;
use crate::remote;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The largest manifest read from a host (about 600,000 files).
const MANIFEST_CAP: usize = 64 << 20;

/// The current release's manifest on `slot`: through the host's running
/// shell, or, when it is larger than a script's output may be, in a
/// channel of its own.
async fn read(slot: &Slot, r: &dyn Reporter) -> Result<String, String> {
    let script = remote::read_manifest(&slot.host.layout());
    let out = slot.run(Step::Preflight, &script, r).await?;
    if out.raw.len() < crate::ssh::STDOUT_CAP {
        return Ok(out.stdout);
    }
    let session = slot.session.as_ref().ok_or("not connected")?;
    let out = session.download(&script, MANIFEST_CAP).await.map_err(|e| e.to_string())?;
    if !out.success() {
        return Err(out.failure());
    }
    if out.raw.len() >= MANIFEST_CAP {
        return Err(format!("it is larger than {} MiB", MANIFEST_CAP >> 20));
    }
    Ok(out.stdout)
}

/// What each slot receives, by index: the full archive, or (when `delta`)
/// the delta for its group. A group whose manifest cannot be read or parsed
/// gets the full archive, with a warning; so does a group with nothing in
/// common, or whose delta would not be smaller than the full archive.
pub(crate) async fn plan(slots: &[Slot], full: &Artifact, delta: bool, r: &dyn Reporter) -> Vec<Arc<Artifact>> {
    let whole = Arc::new(full.clone());
    let mut out: Vec<Arc<Artifact>> = slots.iter().map(|_| whole.clone()).collect();
    let Some(new) = full.manifest.clone().filter(|_| delta) else {
        return out;
    };
    let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, slot) in slots.iter().enumerate() {
        if let Some(sum) = slot.state.manifest.as_deref() {
            groups.entry(sum).or_default().push(i);
        }
    }
    for members in groups.into_values() {
        let first = &slots[members[0]];
        let names: Vec<String> = members.iter().map(|&i| slots[i].host.name.clone()).collect();
        let fallback = |why: String| Event::Warning {
            host: Some(first.host.name.clone()),
            message: format!("{why}; sending the full archive to {}", names.join(", ")),
        };
        let old = match read(first, r).await {
            Ok(text) => Manifest::parse(&text).map_err(|e| format!("the current release's {} {e}", manifest::PATH)),
            Err(e) => Err(format!("could not read the current release's {}: {e}", manifest::PATH)),
        };
        let old = match old {
            Ok(m) => m,
            Err(why) => {
                r.emit(fallback(why));
                continue;
            }
        };
        let full2 = full.clone();
        let built = tokio::task::spawn_blocking(move || delta::against(&full2, &old))
            .await
            .map_err(|e| e.to_string())
            .and_then(|x| x);
        match built {
            // A tiny build's delta (link list and all) can outweigh it.
            Ok(Some(delta)) if delta.size >= full.size => {}
            Ok(Some(delta)) => {
                r.emit(Event::Delta {
                    hosts: names,
                    files: new.files.len(),
                    unchanged: delta.linked,
                    bytes: delta.size,
                    full_bytes: full.size,
                });
                let delta = Arc::new(delta);
                for &i in &members {
                    out[i] = delta.clone();
                }
            }
            Ok(None) => {}
            Err(why) => r.emit(fallback(format!("could not make the delta archive: {why}"))),
        }
    }
    out
}
