//! Telling the team: `[notify] webhook` (a documented JSON body) and
//! `slack_webhook` (Slack's incoming-webhook `{"text": …}`) on deploy start,
//! success, failure, revert, interruption and rollback. A notification is
//! sent with a timeout, in parallel with the work it reports on; when it
//! fails, ship warns and carries on: it never fails or holds up a deploy.
//! The URLs carry tokens, so they are registered as secrets (never printed).
//! Every body is masked like what ship prints (string by string, before
//! encoding), so no secret leaves in a notification either.

use crate::event::{Event, Reporter};
use crate::outcome::Summary;
use crate::settings::{Settings, Target};
use serde_json::{json, Value};
use std::time::Duration;

/// One thing that happened.
#[derive(Debug, Clone, Default)]
pub(crate) struct Note {
    /// `deploy.started`, `deploy.succeeded`, `deploy.failed`,
    /// `deploy.reverted`, `deploy.interrupted`, `rollback.succeeded`, `rollback.failed`.
    pub event: String,
    /// The release, when one was chosen.
    pub release: Option<String>,
    /// The version label.
    pub version: Option<String>,
    /// Seconds the run took (not for `started`).
    pub duration_s: Option<f64>,
    /// Hosts that did not end well.
    pub failed_hosts: Vec<String>,
    /// The error, when the run ended with one.
    pub error: Option<String>,
}

/// Sends [`Note`]s to every configured target.
#[derive(Debug, Clone)]
pub(crate) struct Notifier {
    /// Configured targets (none: nothing is sent).
    pub targets: Vec<Target>,
    /// Limit per notification.
    pub timeout: Duration,
    app: String,
    env: Option<String>,
    who: String,
    hosts: Vec<String>,
}

impl Notifier {
    /// From `[notify]`, for the selected hosts.
    pub(crate) fn new(s: &Settings) -> Notifier {
        Notifier {
            targets: s.notify.targets.clone(),
            timeout: s.notify.timeout,
            app: s.config.app.name.get_ref().clone(),
            env: s.config.env_name.clone(),
            who: s.deployer.clone(),
            hosts: s.hosts.iter().map(|h| h.name.clone()).collect(),
        }
    }

    /// The webhook body (documented in README "Notifications").
    pub(crate) fn body(&self, n: &Note) -> Value {
        json!({
            "event": n.event, "app": self.app, "env": self.env, "release": n.release, "version": n.version,
            "who": self.who, "hosts": self.hosts, "failed_hosts": n.failed_hosts, "duration_s": n.duration_s,
            "error": n.error,
        })
    }

    /// The one-line Slack message.
    pub(crate) fn slack_text(&self, n: &Note) -> String {
        let what = match n.event.as_str() {
            "deploy.started" => "is deploying",
            "deploy.succeeded" => "deployed",
            "deploy.failed" => "FAILED to deploy",
            "deploy.reverted" => "FAILED to deploy (reverted)",
            "deploy.interrupted" => "interrupted the deploy of",
            "rollback.succeeded" => "rolled back",
            _ => "FAILED to roll back",
        };
        let env = self.env.as_ref().map(|e| format!(" to {e}")).unwrap_or_default();
        let rel = n.release.as_ref().map(|r| format!(" {r}")).unwrap_or_default();
        let ver = n.version.as_ref().map(|v| format!(" ({v})")).unwrap_or_default();
        let took = n.duration_s.map(|d| format!(" in {d:.1}s")).unwrap_or_default();
        let mut t = format!("{} {what} {}{rel}{ver}{env}: {} host(s){took}", self.who, self.app, self.hosts.len());
        if !n.failed_hosts.is_empty() {
            t += &format!("; failed: {}", n.failed_hosts.join(", "));
        }
        if let Some(e) = &n.error {
            t += &format!("; {e}");
        }
        t
    }

    /// Where `n` goes for target `t`, the encoded body, and the target's
    /// name. The body has the mask the reporter uses on every string,
    /// before encoding: an error may quote a hook's output, secrets and all.
    pub(crate) fn request(&self, t: &Target, n: &Note) -> (String, String, &'static str) {
        let (url, body, kind) = match t {
            Target::Webhook(u) => (u.clone(), self.body(n), "webhook"),
            Target::Slack(u) => (u.clone(), json!({"text": self.slack_text(n)}), "slack_webhook"),
        };
        (url, crate::secret::mask_json(body).to_string(), kind)
    }

    /// Sends `n` to every target at once; each failure is a warning.
    pub(crate) async fn send(&self, n: Note, r: &dyn Reporter) {
        let sends = self.targets.iter().map(|t| {
            let (url, body, kind) = self.request(t, &n);
            let timeout = self.timeout;
            let event = n.event.clone();
            async move {
                let post = tokio::task::spawn_blocking(move || post(&url, &body, timeout));
                let res = match tokio::time::timeout(timeout + Duration::from_secs(1), post).await {
                    Ok(Ok(r)) => r,
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err(format!("no answer within {timeout:?}")),
                };
                if let Err(e) = res {
                    r.emit(Event::Warning {
                        host: None,
                        message: format!("[notify] {kind}: {event} not sent: {e}; the run is not affected"),
                    });
                }
            }
        });
        futures_util::future::join_all(sends).await;
    }
}

/// POSTs a JSON body; any status but 2xx is an error.
fn post(url: &str, body: &str, timeout: Duration) -> Result<(), String> {
    let agent: ureq::Agent = ureq::Agent::config_builder().timeout_global(Some(timeout)).build().into();
    match agent.post(url).header("content-type", "application/json").send(body) {
        Ok(_) => Ok(()),
        Err(ureq::Error::StatusCode(code)) => Err(format!("HTTP status {code}")),
        Err(e) => Err(e.to_string()),
    }
}

/// The note for a finished deploy or rollback (or its error).
pub(crate) fn outcome(command: &str, result: &Result<Summary, crate::error::Error>, version: Option<String>) -> Note {
    match result {
        Err(e) => Note { event: format!("{command}.failed"), version, error: Some(e.to_string()), ..Note::default() },
        Ok(s) => {
            let failed: Vec<String> = s.hosts.iter().filter(|h| !h.ok()).map(|h| h.host.clone()).collect();
            // "Reverted" only when every host that failed went back: one
            // left on the failed release (its revert failed) is a failure.
            let stranded = s.hosts.iter().any(|h| !h.ok() && h.release.is_some() && h.release == s.release);
            let reverted = s.hosts.iter().any(|h| h.reverted) && !stranded;
            let event = if s.interrupted {
                "interrupted"
            } else if failed.is_empty() {
                "succeeded"
            } else if reverted {
                "reverted"
            } else {
                "failed"
            };
            Note {
                event: format!("{command}.{event}"),
                release: s.release.as_ref().map(ToString::to_string),
                version,
                duration_s: Some(s.duration.as_secs_f64()),
                failed_hosts: failed,
                error: None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notifier() -> Notifier {
        Notifier {
            targets: vec![],
            timeout: Duration::from_secs(1),
            app: "shop".into(),
            env: Some("production".into()),
            who: "ana@laptop".into(),
            hosts: vec!["web1".into(), "web2".into()],
        }
    }

    #[test]
    fn body_and_slack_text() {
        let n = Note {
            event: "deploy.failed".into(),
            release: Some("20260101000000".into()),
            version: Some("v1.2".into()),
            duration_s: Some(12.34),
            failed_hosts: vec!["web2".into()],
            error: None,
        };
        assert_eq!(
            notifier().body(&n).to_string(),
            r#"{"app":"shop","duration_s":12.34,"env":"production","error":null,"event":"deploy.failed","failed_hosts":["web2"],"hosts":["web1","web2"],"release":"20260101000000","version":"v1.2","who":"ana@laptop"}"#
        );
        assert_eq!(
            notifier().slack_text(&n),
            "ana@laptop FAILED to deploy shop 20260101000000 (v1.2) to production: 2 host(s) in 12.3s; failed: web2"
        );
    }

    #[test]
    fn bodies_are_masked_before_encoding() {
        crate::secret::register(["n\"ote\\s3cret".to_string()]);
        let n =
            Note { event: "deploy.failed".into(), error: Some("hook said n\"ote\\s3cret".into()), ..Note::default() };
        let (_, body, _) = notifier().request(&Target::Webhook("http://h/x".into()), &n);
        assert!(body.contains(r#""error":"hook said ***""#), "{body}");
        let (_, body, _) = notifier().request(&Target::Slack("http://h/y".into()), &n);
        assert!(body.ends_with(r#"; hook said ***"}"#), "{body}");
    }

    #[test]
    fn a_refused_or_tls_less_port_is_an_error_not_a_panic() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        assert!(post(&format!("http://127.0.0.1:{port}/x"), "{}", Duration::from_secs(2)).is_err());
        // A plain TCP listener that never speaks TLS: the handshake fails or times out.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("https://127.0.0.1:{}/x", l.local_addr().unwrap().port());
        assert!(post(&url, "{}", Duration::from_millis(500)).is_err());
    }
}
