//! The only code that prints. Three reporters share one renderer:
//! progress bars on a TTY, plain timestamped lines otherwise, JSON with
//! `--format json`. Progress goes to stderr; results go to stdout.
//!
//! Everything printed is masked first ([`crate::secret`]), then made safe
//! for a terminal. JSON: every string is masked before encoding (never the
//! encoded text, where a secret holding `"` or `\` reads differently), and
//! control characters are written as JSON escapes ([`json_text`]), so values
//! stay exact.
//! Text: [`escape`] shows every control character a host could send
//! (an escape sequence in a lock message, a directory name, a hook's stderr)
//! as `\xHH` (C0 and DEL) or `\u{HH}` (C1), except the tab and, in
//! multi-line output (tables, `ship exec`'s output per host), the newline.
//! A one-line value (a message, a table cell) shows a newline as `\x0a`, so
//! it cannot print a line of its own. Colour is added after escaping.

use crate::commands::inspect::HostView;
use crate::event::{Event, Reporter};
use crate::inventory::Host;
use crate::outcome::{Status, Summary};
use crate::settings::OutputSettings;
use crate::text::human_bytes;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{json, Value};
use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;

// Set once by [`reporter`]; read by [`paint`]. Off unless asked for, so
// the text builders stay plain in tests.
static COLOR_OUT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static COLOR_ERR: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// ANSI colours used for results.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Paint {
    /// Success.
    Green = 32,
    /// Failure.
    Red = 31,
    /// Unchanged, warnings.
    Yellow = 33,
}

/// `text` in `colour` when colour is on for stdout (`err`: stderr).
pub(crate) fn paint(text: &str, colour: Paint, err: bool) -> String {
    let on = if err { &COLOR_ERR } else { &COLOR_OUT };
    if on.load(std::sync::atomic::Ordering::Relaxed) {
        format!("\x1b[{}m{text}\x1b[0m", colour as u8)
    } else {
        text.to_string()
    }
}

/// Picks the reporter for these settings.
pub(crate) fn reporter(o: OutputSettings) -> Box<dyn Reporter> {
    COLOR_OUT.store(o.color.0 && !o.json, std::sync::atomic::Ordering::Relaxed);
    COLOR_ERR.store(o.color.1, std::sync::atomic::Ordering::Relaxed);
    if o.json && o.stream {
        Box::new(JsonLines)
    } else if o.json {
        Box::new(Json)
    } else if o.bars && !o.quiet {
        Box::new(Bars::new())
    } else {
        Box::new(Plain { o })
    }
}

/// `text` with every control character but the tab (and with
/// `keep_newlines`, the newline) shown as `\xHH` (C0 and DEL) or `\u{HH}`
/// (C1): what a host sends cannot move the cursor, retitle the window or
/// hide a line.
pub(crate) fn escape(text: &str, keep_newlines: bool) -> Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && c != '\t' && !(keep_newlines && c == '\n');
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c as u32 {
            _ if !unsafe_char(c) => out.push(c),
            n if n < 0x80 => out += &format!("\\x{n:02x}"),
            n => out += &format!("\\u{{{n:x}}}"),
        }
    }
    Cow::Owned(out)
}

/// A value printed on one line (a message, a table cell): masked, then
/// escaped, newlines included.
pub(crate) fn one_line(text: &str) -> String {
    escape(&crate::secret::mask(text), false).into_owned()
}

/// Multi-line text (a table, a question, `ship exec` output): masked, then
/// escaped, newlines kept.
fn block(text: &str) -> String {
    escape(&crate::secret::mask(text), true).into_owned()
}

// Everything printed goes through these (and the bars, which use
// [`one_line`]): masked and escaped.
fn out(text: &str) {
    write_out(&block(text));
}

/// Text whose builder already passed every value through [`one_line`]
/// and coloured it: written as is.
fn out_coloured(text: &str) {
    write_out(text);
}

fn write_out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

/// One JSON value on a line: every string masked, then encoded.
fn out_json(v: Value) {
    write_out(&format!("{}\n", json_text(v)));
}

/// `v` masked and encoded. The encoder escapes C0 controls; DEL and C1
/// (which it leaves raw, and some terminals obey) are written as `\u00XX`
/// too. They can only occur inside strings, so every value stays exact.
pub(crate) fn json_text(v: Value) -> String {
    let text = crate::secret::mask_json(v).to_string();
    if !text.chars().any(char::is_control) {
        return text;
    }
    text.chars().fold(String::with_capacity(text.len() + 16), |mut out, c| {
        if c.is_control() {
            out += &format!("\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
        out
    })
}

/// A generated document, byte for byte (never masked: it holds no values).
fn document(bytes: &[u8]) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(bytes);
    let _ = stdout.flush();
}

/// A line on stderr: `prefix` (ours, maybe coloured) then `text`, masked
/// and escaped to one line.
fn err_line(prefix: &str, text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{prefix}{}", one_line(text));
}

/// One line for a [`Event::Delta`].
fn delta_text(event: &Event) -> String {
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

fn stamp() -> String {
    chrono::Local::now().format("%H:%M:%S").to_string()
}

/// Plain lines: one per step per host, for logs and CI.
struct Plain {
    o: OutputSettings,
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
struct Bars {
    multi: MultiProgress,
    total: ProgressBar,
    hosts: Mutex<HashMap<String, ProgressBar>>,
}

const MAX_HOST_BARS: usize = 20;

impl Bars {
    fn new() -> Bars {
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
struct JsonLines;

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
struct Json;

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

fn render_result(event: &Event) {
    match event {
        Event::Error { message, .. } => err_line(&format!("{} ", paint("error:", Paint::Red, true)), message),
        Event::Summary(s) => out_coloured(&summary_text(s)),
        _ => {}
    }
}

/// What a command found, rendered by the printer alone once the run's
/// progress is over (progress travels as [`Event`]s).
#[derive(Debug, Clone)]
pub(crate) enum Output {
    /// `ship hosts`
    Hosts(Vec<Host>),
    /// A generated document (completions, man page), printed as is.
    Document(Vec<u8>),
    /// `ship plan`, `ship deploy --dry-run`
    DeployPlan(Box<crate::commands::plan::DeployPlan>),
    /// `ship exec`
    Exec(Vec<crate::commands::exec::ExecResult>),
    /// `ship check`
    Check(Vec<crate::commands::check::CheckRow>),
    /// `ship status`
    Status(Vec<HostView>),
    /// `ship releases`
    Releases(Vec<HostView>),
    /// `ship log`: entries newest first.
    Log(Vec<serde_json::Value>),
}

/// Prints a command's result on stdout: text, or one JSON document with
/// `--format json`. A document is printed byte for byte either way.
pub(crate) fn print(output: &Output, o: OutputSettings) {
    if let Output::Document(bytes) = output {
        return document(bytes);
    }
    if o.json {
        out_json(match output {
            Output::Hosts(h) => hosts_json(h),
            Output::Check(rows) => check_json(rows),
            Output::Exec(results) => exec_json(results),
            Output::DeployPlan(p) => plan_json(p),
            Output::Status(v) => status_json(v),
            Output::Releases(v) => releases_json(v),
            Output::Log(entries) => json!(entries),
            Output::Document(_) => return,
        });
        return;
    }
    match output {
        Output::Hosts(h) => out(&hosts_text(h)),
        Output::Check(rows) => out_coloured(&check_text(rows)),
        Output::Exec(results) => out(&exec_text(results)),
        Output::DeployPlan(p) => out(&plan_text(p)),
        Output::Status(v) => out(&status_text(v)),
        Output::Releases(v) => out(&releases_text(v)),
        Output::Log(entries) => out(&log_text(entries)),
        Output::Document(_) => {}
    }
}

/// Prints `question` to stderr and reads a line from stdin: `y` or `yes` is yes.
pub(crate) fn ask(question: &str) -> bool {
    let _ = write!(std::io::stderr().lock(), "{} [y/N] ", block(question));
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    if std::io::stdin().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// Seconds as `1.5s`.
fn secs(d: std::time::Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// The table printed after a deploy, rollback or prune (coloured, so every
/// value goes through [`one_line`] here).
pub(crate) fn summary_text(s: &Summary) -> String {
    let mut t = format!("{:<16} {:<10} {:<16} {:>8}\n", "HOST", "RESULT", "RELEASE", "TIME");
    for h in &s.hosts {
        let result = match &h.status {
            Status::Ok => paint(&format!("{:<10}", "ok"), Paint::Green, false),
            Status::Failed { .. } => paint(&format!("{:<10}", "FAILED"), Paint::Red, false),
            Status::Unchanged { .. } => paint(&format!("{:<10}", "unchanged"), Paint::Yellow, false),
        };
        let rel = h.release.as_ref().map(|r| r.to_string()).unwrap_or_else(|| "-".into());
        t += &format!("{:<16} {result} {:<16} {:>8}\n", one_line(&h.host), rel, secs(h.duration));
        match &h.status {
            Status::Failed { step, message } => t += &format!("  at {step}: {}\n", one_line(message)),
            Status::Unchanged { reason } => t += &format!("  {}\n", one_line(reason)),
            Status::Ok => {}
        }
    }
    let failed = s.failed();
    let what = s.release.as_ref().map(|r| format!(" {r}")).unwrap_or_default();
    if s.interrupted {
        t += "interrupted by Ctrl-C or SIGTERM: each host above is on the release shown\n";
    }
    t += &if failed == 0 {
        format!("{}{what}: {} host(s) ok in {}\n", s.command, s.hosts.len(), secs(s.duration))
    } else {
        format!("{}{what}: {failed} of {} host(s) not ok in {}\n", s.command, s.hosts.len(), secs(s.duration))
    };
    t
}

/// `{"command","release","ok","duration_ms","hosts":[{"name","ok","result","step","error","release","duration_ms"}]}`
pub(crate) fn summary_json(s: &Summary) -> Value {
    let hosts: Vec<Value> = s.hosts.iter().map(host_json).collect();
    json!({"command": s.command, "release": s.release, "ok": s.failed() == 0,
           "interrupted": s.interrupted, "duration_ms": s.duration.as_millis() as u64, "hosts": hosts})
}

/// One host's outcome, as in the summary's `hosts`.
fn host_json(h: &crate::outcome::HostOutcome) -> Value {
    let (result, step, error) = match &h.status {
        Status::Ok => ("ok", None, None),
        Status::Failed { step, message } => ("failed", Some(step.to_string()), Some(message.clone())),
        Status::Unchanged { reason } => ("unchanged", None, Some(reason.clone())),
    };
    json!({"name": h.host, "ok": h.ok(), "result": result, "step": step, "error": error,
           "release": h.release, "duration_ms": h.duration.as_millis() as u64})
}

/// `ship check`: one row per host (`ok`, `warn`, `FAIL`, `-` per column),
/// then a line per problem and a verdict (coloured, so every value goes
/// through [`one_line`] here).
pub(crate) fn check_text(rows: &[crate::commands::check::CheckRow]) -> String {
    use crate::commands::check::{Verdict, COLUMNS};
    let width = rows.iter().map(|r| r.host.len()).max().unwrap_or(4).max(4);
    let mut t = format!("{:<width$}", "HOST");
    for c in COLUMNS {
        t += &format!("  {c:<w$}", w = c.len().max(4));
    }
    t = t.trim_end().to_string() + "\n";
    let mut problems = String::new();
    for row in rows {
        let mut line = format!("{:<width$}", one_line(&row.host));
        for c in &row.checks {
            let (mark, colour) = match c.verdict {
                Verdict::Ok => ("ok", Some(Paint::Green)),
                Verdict::Warn => ("warn", Some(Paint::Yellow)),
                Verdict::Fail => ("FAIL", Some(Paint::Red)),
                Verdict::Skipped => ("-", None),
            };
            let cell = format!("{mark:<w$}", w = c.name.len().max(4));
            line += "  ";
            line += &colour.map_or(cell.clone(), |p| paint(&cell, p, false));
            if matches!(c.verdict, Verdict::Fail | Verdict::Warn) {
                problems += &format!("{}: {}: {}\n", one_line(&row.host), c.name, one_line(&c.detail));
            }
        }
        t += line.trim_end();
        t += "\n";
    }
    t += &problems;
    let failing: Vec<String> = rows.iter().filter(|r| !r.ready()).map(|r| one_line(&r.host)).collect();
    if failing.is_empty() {
        t += &format!("{} host(s) ready to deploy\n", rows.len());
    } else {
        t += &format!("a deploy would fail on {} of {} host(s): {}\n", failing.len(), rows.len(), failing.join(", "));
    }
    t
}

/// `ship check --format json`: `[{host, ready, checks: {name: {verdict, detail}}}]`.
pub(crate) fn check_json(rows: &[crate::commands::check::CheckRow]) -> Value {
    let rows: Vec<Value> = rows
        .iter()
        .map(|r| {
            let checks: serde_json::Map<String, Value> = r
                .checks
                .iter()
                .map(|c| (c.name.to_string(), json!({"verdict": c.verdict, "detail": c.detail})))
                .collect();
            json!({"host": r.host, "ready": r.ready(), "checks": checks})
        })
        .collect();
    json!(rows)
}

/// `ship plan`: the release, size, strategy and waves, one line per host
/// (source, current -> new, lock, problem), the hooks, and a verdict.
pub(crate) fn plan_text(p: &crate::commands::plan::DeployPlan) -> String {
    let label = p.label.as_ref().map(|l| format!(" ({})", one_line(l))).unwrap_or_default();
    let mut t = format!(
        "plan: deploy {}{label} to {} host(s); nothing was changed\n\
upload: {} to each host (full archive), {} unpacked\nstrategy: {}\n",
        p.release,
        p.hosts.len(),
        human_bytes(p.bytes),
        human_bytes(p.unpacked),
        p.strategy
    );
    for (i, w) in p.waves.iter().enumerate() {
        t += &format!("wave {}/{}: {}\n", i + 1, p.waves.len(), one_line(&w.join(", ")));
    }
    let width = p.hosts.iter().map(|h| h.name.len()).max().unwrap_or(4).max(4);
    let src = p.hosts.iter().map(|h| h.source.len()).max().unwrap_or(6).max(6);
    t += &format!("{:<width$}  {:<src$}  CHANGE\n", "HOST", "SOURCE");
    for h in &p.hosts {
        let cur = h.current.as_ref().map_or("(none)".to_string(), ToString::to_string);
        let mut line = format!("{:<width$}  {:<src$}  {cur} -> {}", one_line(&h.name), one_line(&h.source), p.release);
        if let Some(l) = &h.lock {
            line += &format!("  LOCKED: {}", one_line(l));
        }
        if let Some(e) = &h.problem {
            line += &format!("  WOULD FAIL: {}", one_line(e));
        }
        t += &line;
        t += "\n";
    }
    for (kind, cmds) in &p.hooks {
        t += &format!("hooks {kind}: {}\n", one_line(&cmds.join("; ")));
    }
    if p.ready() {
        t += "ready: `ship deploy` would proceed\n";
    } else {
        t += "not ready: `ship deploy` would stop before any upload (see above)\n";
    }
    t
}

/// `ship plan --format json`.
pub(crate) fn plan_json(p: &crate::commands::plan::DeployPlan) -> Value {
    json!({
        "release": p.release, "version": p.label, "bytes": p.bytes, "unpacked": p.unpacked,
        "strategy": p.strategy, "waves": p.waves, "ready": p.ready(),
        "hosts": p.hosts.iter().map(|h| json!({
            "host": h.name, "source": h.source, "current": h.current, "new": p.release,
            "lock": h.lock, "problem": h.problem,
        })).collect::<Vec<_>>(),
        "hooks": p.hooks.iter().map(|(k, c)| (k.to_string(), json!(c))).collect::<serde_json::Map<String, Value>>(),
    })
}

/// `ship exec`: each host's output under a `== host (exit N) ==` header, in
/// host order, then a verdict line.
pub(crate) fn exec_text(results: &[crate::commands::exec::ExecResult]) -> String {
    let mut t = String::new();
    for x in results {
        let how = match (&x.error, x.status) {
            (Some(e), _) => format!("not run: {}", one_line(e)),
            (None, Some(code)) => format!("exit {code}"),
            (None, None) => "killed or disconnected".to_string(),
        };
        t += &format!("== {} ({how}) ==\n", one_line(&x.host));
        for part in [&x.stdout, &x.stderr] {
            if !part.is_empty() {
                t += part;
                if !part.ends_with('\n') {
                    t.push('\n');
                }
            }
        }
    }
    let failed: Vec<String> = results.iter().filter(|x| !x.ok()).map(|x| one_line(&x.host)).collect();
    if failed.is_empty() {
        t += &format!("ok on {} host(s)\n", results.len());
    } else {
        t += &format!("failed on {} of {} host(s): {}\n", failed.len(), results.len(), failed.join(", "));
    }
    t
}

/// `ship exec --format json`: `[{host, ok, exit, stdout, stderr, error}]`.
pub(crate) fn exec_json(results: &[crate::commands::exec::ExecResult]) -> Value {
    json!(results
        .iter()
        .map(|x| json!({"host": x.host, "ok": x.ok(), "exit": x.status, "stdout": x.stdout, "stderr": x.stderr,
                        "error": x.error}))
        .collect::<Vec<_>>())
}

/// The host table; a VIA column (the jump chain in use, `-` for direct)
/// appears when any host goes through a jump host.
fn hosts_text(hosts: &[Host]) -> String {
    let via = hosts.iter().any(|h| h.jump.is_some());
    let row = |cells: [&str; 7]| {
        let line = format!(
            "{:<16} {:<24} {:>5} {:<12} {:<16} {:<12}",
            cells[0], cells[1], cells[2], cells[3], cells[4], cells[5]
        );
        if via {
            format!("{line} {}\n", cells[6])
        } else {
            format!("{}\n", line.trim_end())
        }
    };
    let mut t = row(["NAME", "ADDRESS", "PORT", "USER", "ROLES", "SOURCE", "VIA"]);
    for h in hosts {
        let roles = if h.roles.is_empty() { "-".to_string() } else { h.roles.join(",") };
        let port = h.port.to_string();
        let jump = h.jump.as_deref().unwrap_or("-");
        let cells = [&h.name, &h.address, &port, &h.user, &roles, &h.source, jump].map(one_line);
        t += &row(cells.each_ref().map(String::as_str));
    }
    t
}

/// `[{"name","address","port","user","roles","deploy_to","source","jump"?}]`,
/// `jump` (the chain in use, each hop `user@address:port` where known) only
/// for hosts reached through jump hosts.
pub(crate) fn hosts_json(hosts: &[Host]) -> Value {
    json!(hosts)
}

fn fleet_line(views: &[HostView]) -> String {
    let mut by_release: HashMap<String, Vec<String>> = HashMap::new();
    for v in views {
        let key = match (&v.error, &v.state.current) {
            (Some(_), _) => "unreachable".to_string(),
            (None, Some(r)) => r.to_string(),
            (None, None) => "no release".to_string(),
        };
        by_release.entry(key).or_default().push(one_line(&v.host));
    }
    if by_release.len() == 1 {
        let (k, _) = by_release.iter().next().unwrap();
        return format!("fleet consistent: all {} host(s) on {k}\n", views.len());
    }
    let mut groups: Vec<String> = by_release.iter().map(|(k, hs)| format!("{k}: {}", hs.join(", "))).collect();
    groups.sort();
    format!("fleet drifts: {}\n", groups.join("; "))
}

fn status_text(views: &[HostView]) -> String {
    let mut t = format!("{:<16} {:<12} {:<16} {:>8}  {}\n", "HOST", "STATE", "CURRENT", "RELEASES", "LOCK");
    for v in views {
        match &v.error {
            Some(e) => {
                t += &format!(
                    "{:<16} {:<12} {:<16} {:>8}  -\n  {}\n",
                    one_line(&v.host),
                    "unreachable",
                    "-",
                    "-",
                    one_line(e)
                )
            }
            None => {
                let cur = one_line(&current_text(&v.state));
                let lock =
                    v.state.lock.as_deref().map_or("-".to_string(), |l| one_line(&crate::fleet::lock::describe(l)));
                t += &format!(
                    "{:<16} {:<12} {:<16} {:>8}  {lock}\n",
                    one_line(&v.host),
                    "ok",
                    cur,
                    v.state.releases.len()
                );
            }
        }
    }
    t + &fleet_line(views)
}

fn log_text(entries: &[Value]) -> String {
    let mut t =
        format!("{:<20} {:<12} {:<13} {:<16} {:<18} {}\n", "TIME (UTC)", "HOST", "EVENT", "RELEASE", "BY", "DETAILS");
    for e in entries {
        let f = |k: &str| one_line(e.get(k).and_then(Value::as_str).unwrap_or("-"));
        let time = f("time").chars().take(19).collect::<String>().replace('T', " ");
        let mut details = Vec::new();
        if let Some(v) = e.get("version").and_then(Value::as_str) {
            details.push(format!("version {}", one_line(v)));
        }
        if let Some(p) = e.get("previous").and_then(Value::as_str) {
            details.push(format!("from {}", one_line(p)));
        }
        if e.get("ok") == Some(&Value::Bool(false)) {
            details.push("FAILED".into());
        }
        if let Some(m) = e.get("message").and_then(Value::as_str) {
            details.push(one_line(m));
        }
        t += &format!(
            "{time:<20} {:<12} {:<13} {:<16} {:<18} {}\n",
            f("host"),
            f("event"),
            f("release"),
            f("deployer"),
            details.join(", ")
        );
    }
    t
}

fn current_text(s: &crate::remote::state::HostState) -> String {
    match (&s.current, &s.current_target, s.current_is_dir) {
        (Some(r), _, _) => r.to_string(),
        (None, _, true) => "NOT A SYMLINK".into(),
        (None, Some(t), _) => format!("? {t}"),
        (None, None, _) => "-".into(),
    }
}

/// `{"consistent","release","hosts":[{"name","reachable","error","current","releases"}]}`
pub(crate) fn status_json(views: &[HostView]) -> Value {
    let hosts: Vec<Value> = views
        .iter()
        .map(|v| {
            let lock: Option<Value> = v.state.lock.as_deref().map(|l| serde_json::from_str(l).unwrap_or(json!({})));
            json!({"name": v.host, "reachable": v.error.is_none(), "error": v.error,
                   "current": v.state.current, "releases": v.state.releases.len(), "lock": lock})
        })
        .collect();
    let first = views.first().and_then(|v| v.state.current.clone());
    let consistent = views.iter().all(|v| v.error.is_none() && v.state.current.is_some() && v.state.current == first);
    json!({"consistent": consistent, "release": if consistent { first } else { None }, "hosts": hosts})
}

fn releases_text(views: &[HostView]) -> String {
    let mut t = String::new();
    for v in views {
        t += &format!("{}:\n", one_line(&v.host));
        if let Some(e) = &v.error {
            t += &format!("  unreachable: {}\n", one_line(e));
            continue;
        }
        if v.state.releases.is_empty() && v.state.strangers.is_empty() {
            t += "  (no releases)\n";
        }
        for r in v.state.releases.iter().rev() {
            let current = Some(r) == v.state.current.as_ref();
            let mut notes = Vec::new();
            if current {
                notes.push("current");
            }
            if v.state.bad.contains(r) {
                notes.push("bad: a deploy of it failed");
            }
            let notes = if notes.is_empty() { String::new() } else { format!("  ({})", notes.join(", ")) };
            t += &format!("{}{r}{notes}\n", if current { "* " } else { "  " });
        }
        // Entries another tool made (`57`): rollback --to can go to them.
        for name in &v.state.strangers {
            let current = v.state.current_name.as_deref() == Some(name.as_str());
            let note = if current { "current, not made by ship" } else { "not made by ship" };
            t += &format!("{}{}  ({note})\n", if current { "* " } else { "  " }, one_line(name));
        }
    }
    t
}

/// `[{"name","error","current","releases":[{"id","current"}]}]`, newest first.
pub(crate) fn releases_json(views: &[HostView]) -> Value {
    json!(views
        .iter()
        .map(|v| {
            let rel: Vec<Value> = v
                .state
                .releases
                .iter()
                .rev()
                .map(|r| json!({"id": r, "current": Some(r) == v.state.current.as_ref(), "bad": v.state.bad.contains(r)}))
                .collect();
            let others: Vec<Value> = v
                .state
                .strangers
                .iter()
                .map(|n| json!({"name": n, "current": v.state.current_name.as_deref() == Some(n.as_str())}))
                .collect();
            json!({"name": v.host, "error": v.error, "current": v.state.current, "current_name": v.state.current_name,
                   "releases": rel, "other_entries": others})
        })
        .collect::<Vec<_>>())
}

#[cfg(test)]
mod tests {
    /// The JSON Lines schema of README "JSON output", one line per event
    /// type. Changing this breaks CI systems reading it: bump it on purpose.
    #[test]
    fn json_lines_schema() {
        use crate::outcome::{HostOutcome, Status, Step, Summary};
        use crate::release::ReleaseId;
        use std::time::Duration;
        let id = ReleaseId::parse("20261122170405").unwrap();
        let host = HostOutcome {
            host: "web2".into(),
            status: Status::Failed { step: Step::Health, message: "unhealthy after 5s".into() },
            release: Some(id.clone()),
            duration: Duration::from_millis(1500),
            reverted: false,
        };
        let events = [
            Event::Packaging { path: "./dist".into() },
            Event::Plan { command: "deploy", hosts: 2, release: Some(id.clone()), bytes: Some(1024) },
            Event::Wave { number: 1, of: 2, hosts: vec!["web1".into()] },
            Event::Phase { host: "web1".into(), step: Step::Upload },
            Event::Progress { host: "web1".into(), sent: 512, total: 1024 },
            Event::Warning { host: Some("web1".into()), message: "m".into() },
            Event::Delta { hosts: vec!["web1".into()], files: 10, unchanged: 9, bytes: 100, full_bytes: 1000 },
            Event::HostDone(host.clone()),
            Event::Summary(Summary {
                command: "deploy",
                release: Some(id),
                hosts: vec![host],
                duration: Duration::from_millis(2500),
                interrupted: false,
            }),
            Event::Error { message: "e".into(), code: 3 },
        ];
        let lines: Vec<String> = events.iter().map(|e| event_line(e).to_string()).collect();
        let web2 = r#""duration_ms":1500,"error":"unhealthy after 5s","name":"web2","ok":false,"release":"20261122170405","result":"failed","step":"health""#;
        assert_eq!(
            lines,
            [
                r#"{"path":"./dist","type":"packaging"}"#.to_string(),
                r#"{"bytes":1024,"command":"deploy","hosts":2,"release":"20261122170405","type":"plan"}"#.into(),
                r#"{"hosts":["web1"],"number":1,"of":2,"type":"wave"}"#.into(),
                r#"{"host":"web1","step":"upload","type":"phase"}"#.into(),
                r#"{"host":"web1","sent":512,"total":1024,"type":"progress"}"#.into(),
                r#"{"host":"web1","message":"m","type":"warning"}"#.into(),
                r#"{"bytes":100,"files":10,"full_bytes":1000,"hosts":["web1"],"type":"delta","unchanged":9}"#.into(),
                format!("{{{web2},\"type\":\"host\"}}"),
                format!(
                    "{{\"command\":\"deploy\",\"duration_ms\":2500,\"hosts\":[{{{web2}}}],\"interrupted\":false,\"ok\":false,\"release\":\"20261122170405\",\"type\":\"summary\"}}"
                ),
                r#"{"code":3,"error":"e","type":"error"}"#.into(),
            ]
        );
    }

    use super::*;
    use crate::remote::state::HostState;

    #[test]
    fn json_is_exact_and_has_no_raw_controls() {
        let v = json!({"lock": {"holder": "ana\u{1b}[2J", "message": "a\u{9b}31m\u{7f}\n\té"}});
        let text = json_text(v.clone());
        assert_eq!(text, r#"{"lock":{"holder":"ana\u001b[2J","message":"a\u009b31m\u007f\n\té"}}"#);
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), v);
    }

    #[test]
    fn escape_shows_every_control_but_tab_and_kept_newlines() {
        let hostile = "a\x1b[2J\tb\nc\u{9b}31m\x7f\r\x07é";
        assert_eq!(escape(hostile, true), "a\\x1b[2J\tb\nc\\u{9b}31m\\x7f\\x0d\\x07é");
        assert_eq!(escape(hostile, false), "a\\x1b[2J\tb\\x0ac\\u{9b}31m\\x7f\\x0d\\x07é");
        assert!(matches!(escape("plain\ttext\n", true), Cow::Borrowed(_)));
        assert_eq!(one_line("two\nlines"), "two\\x0alines");
    }

    /// Host-controlled values in a table stay in their cell: a hook's
    /// stderr in the summary, a lock message in `ship status`.
    #[test]
    fn tables_keep_host_values_on_their_line() {
        use crate::outcome::{HostOutcome, Step};
        let s = Summary {
            command: "deploy",
            release: None,
            hosts: vec![HostOutcome {
                host: "web1".into(),
                status: Status::Failed { step: Step::Hook, message: "exit status 1: bad\x1b[2J\nok".into() },
                release: None,
                duration: std::time::Duration::ZERO,
                reverted: false,
            }],
            duration: std::time::Duration::ZERO,
            interrupted: false,
        };
        assert!(summary_text(&s).contains("\n  at hook: exit status 1: bad\\x1b[2J\\x0aok\n"), "{}", summary_text(&s));
        let lock = serde_json::json!({"holder": "ana", "message": "m\nfleet consistent"}).to_string();
        let v = HostView {
            host: "web1".into(),
            error: None,
            state: HostState::parse(&format!("current=/d/releases/20260101000001\nlock=held {lock}\n")),
        };
        let t = status_text(&[v]);
        assert_eq!(t.lines().count(), 3, "{t}");
        assert!(t.contains("held by ana: m\\x0afleet consistent\n"), "{t}");
    }

    #[test]
    fn bytes_are_human() {}

    #[test]
    fn fleet_line_names_drifting_hosts() {
        let v = |h: &str, cur: &str| HostView {
            host: h.into(),
            error: None,
            state: HostState {
                current: crate::release::ReleaseId::parse(cur),
                current_name: Some(cur.into()),
                ..HostState::default()
            },
        };
        assert_eq!(
            fleet_line(&[v("a", "20260101000001"), v("b", "20260101000001")]),
            "fleet consistent: all 2 host(s) on 20260101000001\n"
        );
        assert_eq!(
            fleet_line(&[v("a", "20260101000001"), v("b", "20260101000002")]),
            "fleet drifts: 20260101000001: a; 20260101000002: b\n"
        );
    }
}
