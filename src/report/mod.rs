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

mod progress;
mod render;

// The reporters and renderers use the helpers here; the tests use them all.
use progress::*;
use render::*;

use crate::commands::inspect::HostView;
use crate::event::{Event, Reporter};
use crate::inventory::Host;
use crate::outcome::{HostError, Status, Summary};
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

fn stamp() -> String {
    chrono::Local::now().format("%H:%M:%S").to_string()
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
            status: Status::Failed(HostError::new(Step::Health, "unhealthy after 5s")),
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
                status: Status::Failed(HostError::new(Step::Hook, "exit status 1: bad\x1b[2J\nok")),
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
