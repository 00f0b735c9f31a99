//! The reporters: how a run's progress shows. Plain timestamped lines
//! (logs, CI), progress bars on a terminal, JSON Lines (`--format json`
//! with deploy, rollback, sync), and the quiet JSON reporter that keeps
//! stdout for the one result document.

use super::*;
/// One line for a [`Event::Delta`].
pub(super) fn delta_text(event: &Event) -> String {
    let Event::Delta { hosts, files, unchanged, bytes, full_bytes } = event else {
        return String::new();
    };
    format!(
        "delta to {}: {} of {files} files changed, sending {} instead of {}",
        hosts.join(", "),
        files - unchanged,
        human_bytes(*bytes),
        human_bytes(*full_bytes)
    )
}

/// Plain lines: one per step per host, for logs and CI.
pub(super) struct Plain {
    pub(super) o: OutputSettings,
}

impl Reporter for Plain {
    fn confirm(&self, question: &str) -> bool {
        ask(question)
    }

    fn emit(&self, event: Event) {
        match event {
            Event::Plan { command, hosts, release, bytes } if !self.o.quiet => {
                let rel = release.map(|r| format!(" release {r}")).unwrap_or_default();
                let size = bytes.map(|b| format!(" ({} each)", human_bytes(b))).unwrap_or_default();
                err_line("", &format!("{} {command}{rel} to {hosts} host(s){size}", stamp()));
            }
            Event::Packaging { path } if !self.o.quiet => err_line("", &format!("{} packaging {path}", stamp())),
            Event::Phase { host, step } if !self.o.quiet => err_line("", &format!("{} {host:<12} {step}", stamp())),
            Event::Wave { number, of, hosts } if !self.o.quiet => {
                err_line("", &format!("{} wave {number}/{of}: {}", stamp(), hosts.join(", ")))
            }
            Event::Progress { host, sent, total } if self.o.verbose => {
                err_line("", &format!("{} {host:<12} sent {} of {}", stamp(), human_bytes(sent), human_bytes(total)))
            }
            Event::Delta { .. } if !self.o.quiet => err_line("", &format!("{} {}", stamp(), delta_text(&event))),
            Event::Warning { host, message } => err_line(
                &format!("{} {} ", stamp(), paint("warning:", Paint::Yellow, true)),
                &format!("{}{message}", host.map(|h| format!("{h}: ")).unwrap_or_default()),
            ),
            other => render_result(&other),
        }
    }
}

/// Progress bars: one aggregate line, then one line per host (up to 20).
pub(super) struct Bars {
    multi: MultiProgress,
    total: ProgressBar,
    hosts: Mutex<HashMap<String, ProgressBar>>,
}

pub(super) const MAX_HOST_BARS: usize = 20;

impl Bars {
    pub(super) fn new() -> Bars {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let total = multi.add(ProgressBar::new(0));
        total.set_style(ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} hosts {msg}").unwrap());
        total.set_prefix("ship");
        Bars { multi, total, hosts: Mutex::new(HashMap::new()) }
    }

    /// Takes every bar off the terminal, so that what follows prints clean.
    fn clear(&self) {
        self.total.finish_and_clear();
        for b in self.hosts.lock().unwrap().values() {
            b.finish_and_clear();
        }
        let _ = self.multi.clear();
    }

    fn bar(&self, host: &str) -> Option<ProgressBar> {
        let mut hosts = self.hosts.lock().unwrap();
        if let Some(b) = hosts.get(host) {
            return Some(b.clone());
        }
        if hosts.len() >= MAX_HOST_BARS {
            return None;
        }
        let b = self.multi.add(ProgressBar::new(0));
        b.set_style(ProgressStyle::with_template("{prefix:>12} {msg:10} {bytes:>10}/{total_bytes:<10}").unwrap());
        b.set_prefix(one_line(host));
        hosts.insert(host.to_string(), b.clone());
        Some(b)
    }
}

impl Reporter for Bars {
    fn confirm(&self, question: &str) -> bool {
        self.multi.suspend(|| ask(question))
    }

    fn settle(&self) {
        self.clear();
    }

    fn emit(&self, event: Event) {
        match event {
            Event::Plan { command, hosts, release, .. } => {
                self.total.set_length(hosts as u64);
                self.total.set_message(format!("{command} {}", release.map(|r| r.to_string()).unwrap_or_default()));
            }
            Event::Phase { host, step } => {
                if let Some(b) = self.bar(&host) {
                    b.set_message(step.to_string());
                }
            }
            Event::Progress { host, sent, total } => {
                if let Some(b) = self.bar(&host) {
                    b.set_length(total);
                    b.set_position(sent);
                }
            }
            Event::Warning { host, message } => {
                let line = format!("warning: {}{message}", host.map(|h| format!("{h}: ")).unwrap_or_default());
                let _ = self.multi.println(one_line(&line));
            }
            Event::Packaging { path } => self.total.set_message(one_line(&format!("packaging {path}"))),
            Event::Delta { .. } => {
                let _ = self.multi.println(one_line(&delta_text(&event)));
            }
            Event::Wave { number, of, hosts } => {
                let _ = self.multi.println(one_line(&format!("wave {number}/{of}: {}", hosts.join(", "))));
            }
            Event::HostDone(o) => {
                self.total.inc(1);
                if let Some(b) = self.bar(&o.host) {
                    b.set_message(if o.ok() { "done".to_string() } else { "FAILED".to_string() });
                    b.finish();
                }
            }
            other => {
                self.clear();
                render_result(&other);
            }
        }
    }
}

/// JSON Lines for deploy, rollback and sync: one object per event on
/// stdout as it happens, each with a `type`; the last is the `summary` (or
/// an `error`). The schema is in README and pinned by `json_lines_schema`.
pub(super) struct JsonLines;

impl Reporter for JsonLines {
    fn confirm(&self, question: &str) -> bool {
        ask(question)
    }

    fn emit(&self, event: Event) {
        out_json(event_line(&event));
    }
}

/// The JSON Lines form of an event.
pub(crate) fn event_line(event: &Event) -> Value {
    match event {
        Event::Packaging { path } => json!({"type": "packaging", "path": path}),
        Event::Plan { command, hosts, release, bytes } => {
            json!({"type": "plan", "command": command, "hosts": hosts, "release": release, "bytes": bytes})
        }
        Event::Wave { number, of, hosts } => json!({"type": "wave", "number": number, "of": of, "hosts": hosts}),
        Event::Phase { host, step } => json!({"type": "phase", "host": host, "step": step.to_string()}),
        Event::Progress { host, sent, total } => {
            json!({"type": "progress", "host": host, "sent": sent, "total": total})
        }
        Event::Warning { host, message } => json!({"type": "warning", "host": host, "message": message}),
        Event::Delta { hosts, files, unchanged, bytes, full_bytes } => json!({
            "type": "delta", "hosts": hosts, "files": files, "unchanged": unchanged,
            "bytes": bytes, "full_bytes": full_bytes,
        }),
        Event::HostDone(h) => {
            let mut v = host_json(h);
            v["type"] = json!("host");
            v
        }
        Event::Summary(s) => {
            let mut v = summary_json(s);
            v["type"] = json!("summary");
            v
        }
        Event::Error { message, code } => json!({"type": "error", "error": message, "code": code}),
    }
}

/// JSON: results as one JSON document on stdout; progress is not printed.
pub(super) struct Json;

impl Reporter for Json {
    fn confirm(&self, question: &str) -> bool {
        ask(question)
    }

    fn emit(&self, event: Event) {
        let v = match &event {
            Event::Summary(s) => summary_json(s),
            Event::Error { message, code } => json!({"error": message, "code": code}),
            Event::Warning { host, message } => {
                err_line(
                    "warning: ",
                    &format!("{}{message}", host.as_ref().map(|h| format!("{h}: ")).unwrap_or_default()),
                );
                return;
            }
            _ => return,
        };
        out_json(v);
    }
}

pub(super) fn render_result(event: &Event) {
    match event {
        Event::Error { message, .. } => err_line(&format!("{} ", paint("error:", Paint::Red, true)), message),
        Event::Summary(s) => out_coloured(&summary_text(s)),
        _ => {}
    }
}
