//! The one preflight judgement: what in a host's state would make a deploy
//! fail or unsafe. Deploy, sync and `ship plan` refuse the host with the
//! first [`Problem`]; `ship check` shows each in its row. One wording, so
//! the doctor says what the deploy would say.

use crate::remote::state::HostState;
use crate::remote::Layout;
use crate::text::human_bytes;

/// Room left beyond the unpacked release, so a deploy never fills the disk.
pub(crate) const DISK_MARGIN: u64 = 64 << 20;

/// Something that refuses a host at preflight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Problem {
    /// `current` is a real directory (a manual install): never replaced.
    CurrentIsDir,
    /// Linked files not in `shared/` yet (names relative to it).
    MissingLinked(Vec<String>),
    /// Free bytes below what the release needs plus [`DISK_MARGIN`].
    LowDisk { need: u64, free: u64 },
}

impl Problem {
    /// The `ship check` row it belongs to.
    pub(crate) fn area(&self) -> &'static str {
        match self {
            Problem::CurrentIsDir | Problem::MissingLinked(_) => "layout",
            Problem::LowDisk { .. } => "disk",
        }
    }

    /// What is wrong and what to do, naming the path on the host.
    pub(crate) fn message(&self, layout: &Layout) -> String {
        match self {
            Problem::CurrentIsDir => format!(
                "{} is a real directory, not a symlink: ship will not replace it. Move it aside (e.g. into releases/) and deploy again",
                layout.current()
            ),
            Problem::MissingLinked(names) => {
                let paths: Vec<String> = names.iter().map(|m| format!("{}/{m}", layout.shared())).collect();
                format!("linked file(s) missing on the host: {}; create them, then deploy again", paths.join(", "))
            }
            Problem::LowDisk { need, free } => format!(
                "not enough disk space in {}: the release needs {} (with margin), {} is free; free space or prune",
                layout.root(),
                human_bytes(*need),
                human_bytes(*free)
            ),
        }
    }
}

/// Every problem of a host whose state is `state`, for a release that
/// unpacks to `unpacked` bytes, in the order a deploy reports them.
pub(crate) fn problems(state: &HostState, unpacked: u64) -> Vec<Problem> {
    let mut found = Vec::new();
    if state.current_is_dir {
        found.push(Problem::CurrentIsDir);
    }
    if !state.missing.is_empty() {
        found.push(Problem::MissingLinked(state.missing.clone()));
    }
    let need = unpacked.saturating_add(DISK_MARGIN);
    if let Some(free) = state.free_kb.map(|kb| kb.saturating_mul(1024)) {
        if free < need {
            found.push(Problem::LowDisk { need, free });
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_in_deploy_order_with_one_wording() {
        let l = Layout::new("/srv/app");
        let state = HostState {
            current_is_dir: true,
            missing: vec![".env".into()],
            free_kb: Some(1024),
            ..HostState::default()
        };
        let found = problems(&state, 10 << 20);
        let text: Vec<(&str, String)> = found.iter().map(|p| (p.area(), p.message(&l))).collect();
        assert_eq!(
            text,
            [
                ("layout", "/srv/app/current is a real directory, not a symlink: ship will not replace it. Move it aside (e.g. into releases/) and deploy again".to_string()),
                ("layout", "linked file(s) missing on the host: /srv/app/shared/.env; create them, then deploy again".to_string()),
                ("disk", "not enough disk space in /srv/app: the release needs 74.0 MiB (with margin), 1.0 MiB is free; free space or prune".to_string()),
            ]
        );
        let fine = HostState { free_kb: Some(1 << 30), ..HostState::default() };
        assert_eq!(problems(&fine, 10 << 20), []);
        // No df output: nothing to judge the disk by.
        assert_eq!(problems(&HostState::default(), u64::MAX), []);
    }
}
