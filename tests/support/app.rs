//! A test app on the hosts, for proof-of-serving tests: a restart that
//! starts the release's `server.sh` (or sends it SIGHUP when it runs), and
//! a guard that stops every app a test started.

use super::Fleet;

/// Starts the app from the release (in its own session), or sends it
/// SIGHUP when it runs; the app writes its pid to `shared/app.pid`.
pub const RESTART: &str = "p=\"$SHIP_DEPLOY_TO/shared/app.pid\"; if [ -f \"$p\" ] && kill -0 \"$(cat \"$p\")\" 2>/dev/null; \
then kill -HUP \"$(cat \"$p\")\"; else DEPLOY=\"$SHIP_DEPLOY_TO\" setsid sh ./server.sh </dev/null >/dev/null 2>&1 & fi";

/// Stops every app a test started (their process groups) when dropped.
pub struct Apps<'a>(pub &'a Fleet);

impl Drop for Apps<'_> {
    fn drop(&mut self) {
        for h in &self.0.hosts {
            if let Ok(pid) = std::fs::read_to_string(h.deploy_to.join("shared/app.pid")) {
                let _ = std::process::Command::new("kill").args(["-KILL", "--", &format!("-{}", pid.trim())]).status();
            }
        }
    }
}

/// What the app on host 0 wrote to `shared/served` (the release it runs).
pub fn served(f: &Fleet) -> String {
    std::fs::read_to_string(f.hosts[0].deploy_to.join("shared/served")).unwrap_or_default().trim().to_string()
}
