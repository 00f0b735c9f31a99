//! `ship status`, `ship releases` and `ship log`: read every host's state
//! or log (one round trip each) and hand it to the printer. Nothing here
//! changes a host.

use crate::error::Error;
use crate::event::{Event, Reporter};
use crate::fleet;
use crate::outcome::HostError;
use crate::remote;
use crate::remote::state::HostState;
use crate::settings::Settings;
use serde_json::json;

/// A host's state as read by `status` and `releases`, or why it could not be.
#[derive(Debug, Clone)]
pub(crate) struct HostView {
    /// Host name.
    pub host: String,
    /// The connection or read error, if any.
    pub error: Option<String>,
    /// What the host reported.
    pub state: HostState,
}

/// Reads every host's state without changing anything.
pub(crate) async fn views(s: &Settings, r: &dyn Reporter) -> Result<Vec<HostView>, Error> {
    let ctx = fleet::context(s, r)?;
    let slots = fleet::reach(&s.hosts, &ctx, s.concurrency, |h| remote::state(&h.layout()), r).await;
    let mut out = Vec::new();
    for x in &slots {
        if let Some(sess) = &x.session {
            sess.close().await;
        }
        let error = match &x.status {
            Some(crate::outcome::Status::Failed(HostError { step, message })) => Some(format!("{step}: {message}")),
            _ => None,
        };
        out.push(HostView { host: x.host.name.clone(), error, state: x.state.clone() });
    }
    Ok(out)
}

/// `ship log`: every host's `.ship/log.jsonl`, merged, newest first.
pub(crate) async fn log(s: &Settings, n: usize, r: &dyn Reporter) -> Result<(Vec<serde_json::Value>, bool), Error> {
    let ctx = fleet::context(s, r)?;
    let slots = fleet::reach(&s.hosts, &ctx, s.concurrency, |h| remote::read_log(&h.layout(), n), r).await;
    let mut entries: Vec<serde_json::Value> = Vec::new();
    let mut all_ok = true;
    for x in &slots {
        if let Some(sess) = &x.session {
            sess.close().await;
        }
        if !x.alive() {
            all_ok = false;
            r.emit(Event::Warning {
                host: Some(x.host.name.clone()),
                message: "unreachable; its log is missing below".into(),
            });
        }
    }
    // The log lines came back as the first script's stdout, kept in the slot's state.
    // Shown as the host holds them, not as a `LogEntry`: lines written by
    // other tools or a newer ship keep the fields this version does not know.
    for x in &slots {
        for line in x.first_output.lines() {
            if let Ok(mut v) = serde_json::from_str::<serde_json::Value>(line) {
                if v.get("host").is_none() {
                    v["host"] = json!(x.host.name);
                }
                entries.push(v);
            }
        }
    }
    entries.sort_by(|a, b| b["time"].as_str().unwrap_or("").cmp(a["time"].as_str().unwrap_or("")));
    entries.truncate(n);
    Ok((entries, all_ok))
}
