//! One long-lived remote shell per connection that runs every script of a
//! run ([`crate::remote::agent_loop`]): a host pays for a channel, sshd's
//! session set-up and its login shell's start-up once per run instead of
//! once per step (four times per deploy before). Scripts, their exit
//! statuses and their output are framed on the channel's streams.
//!
//! The channel is drained from the moment it opens (ARCHITECTURE.md SSH pitfall 1) by a
//! task that also frames what it reads: it keeps the running script's
//! output up to its caps (the head of stdout, the tail of stderr) and hands
//! on only the markers and the channel's other messages. A host cannot make
//! ship buffer without bound, and a script that prints much more than is
//! kept (a verbose asset build) is slowed to ship's pace by the SSH window,
//! never failed for it. A script's result is complete when both end
//! markers have arrived; they are found wherever they fall, so output that
//! follows them (a background job the script left writing) cannot hide
//! them. A loop whose framing can no longer be trusted (a script failed
//! with input unread, left processes behind, or something wrote after its
//! end; the upload was cut short; the channel closed) is dropped, and the
//! next script starts a new one.
//!
//! Each script runs in a process group of its own on the host, under the
//! step's time limit there (coreutils `timeout`); ship keeps a deadline of
//! its own a little longer, and on a forced stop (or a first Ctrl-C, for
//! steps that are waits) ends the group through a second channel.

use super::output::{Cut, Output, StepControl, STDERR_CAP};
use super::session::SshError;
use super::verify::Verifier;
use crate::shutdown::Level;
use crate::spool::Input;
use bytes::Bytes;
use russh::client::Msg;
use russh::{ChannelMsg, ChannelWriteHalf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How long past a step's time limit ship waits for the host's own
/// `timeout` (which escalates to SIGKILL after 5 s) before acting itself.
const GRACE: Duration = Duration::from_secs(10);

/// How long ship waits for a stopped step's markers before giving up on
/// the loop.
const STOP_WAIT: Duration = Duration::from_secs(4);

/// What the reader task hands on.
enum Item {
    /// A channel message other than output.
    Msg(ChannelMsg),
    /// A marker of the loop, found in the output.
    Mark(Mark),
}

/// The framing of the script that runs now, shared with the reader task.
struct Frames {
    out: Framer,
    err: Framer,
    /// Where the names of steps seen in stdout go, as they arrive.
    on_step: Option<mpsc::UnboundedSender<String>>,
}

impl Frames {
    /// Frames for the next script. Output that came before any script ran
    /// (a login file that prints) stays with the first one, as it would
    /// with a plain exec; after a script, both streams start afresh.
    fn rearm(&mut self, tag: &str, stdout_cap: usize, on_step: Option<(String, mpsc::UnboundedSender<String>)>) {
        if self.out.done || self.err.done {
            self.out = Framer::new(tag, stdout_cap, false);
            self.err = Framer::new(tag, STDERR_CAP, true);
        } else {
            self.out.cap = stdout_cap;
        }
        let (marker, tell) = on_step.unzip();
        self.out.step_marker = marker.map(String::into_bytes).unwrap_or_default();
        self.on_step = tell;
    }
}

/// A running loop on one host.
pub(super) struct Agent {
    tag: String,
    write: Arc<ChannelWriteHalf<Msg>>,
    items: mpsc::UnboundedReceiver<Item>,
    frames: Arc<Mutex<Frames>>,
}

/// What [`Agent::run`] found out about the loop itself.
pub(super) enum Health {
    /// It can run the next script.
    Reusable,
    /// It ended or its framing is lost: start a new one.
    Spent,
}

impl Agent {
    /// Opens a channel and starts the loop in it.
    pub(super) async fn start(handle: &russh::client::Handle<Verifier>) -> Result<Agent, SshError> {
        let channel = handle.channel_open_session().await?;
        let (mut read, write) = channel.split();
        let tag = format!("ship{}", crate::text::hex(&rand::random::<[u8; 8]>()));
        let (tx, items) = mpsc::unbounded_channel();
        let frames = Arc::new(Mutex::new(Frames {
            out: Framer::new(&tag, super::output::STDOUT_CAP, false),
            err: Framer::new(&tag, STDERR_CAP, true),
            on_step: None,
        }));
        let shared = frames.clone();
        tokio::spawn(async move {
            // A slow pass here slows the host's output through the SSH
            // window; it never stops the connection.
            while let Some(msg) = read.wait().await {
                let marks = match &msg {
                    ChannelMsg::Data { data } => {
                        let mut f = lock(&shared);
                        let marks = f.out.push(data);
                        let started = std::mem::take(&mut f.out.steps);
                        if let Some(tell) = &f.on_step {
                            for name in started {
                                let _ = tell.send(name);
                            }
                        }
                        marks
                    }
                    ChannelMsg::ExtendedData { data, .. } => lock(&shared).err.push(data),
                    _ => {
                        if tx.send(Item::Msg(msg)).is_err() {
                            break;
                        }
                        continue;
                    }
                };
                if marks.into_iter().any(|m| tx.send(Item::Mark(m)).is_err()) {
                    break;
                }
            }
        });
        write.exec(true, crate::remote::agent_loop(&tag)).await?;
        Ok(Agent { tag, write: Arc::new(write), items, frames })
    }

    /// Whether nothing arrived since the last script ended: output between
    /// scripts comes from something a script left running, and the next
    /// script's output could not be told from it.
    pub(super) fn idle(&mut self) -> bool {
        let mut clean = true;
        while let Ok(item) = self.items.try_recv() {
            // Replies and window updates are harmless; a marker or an end is not.
            if matches!(
                item,
                Item::Mark(_)
                    | Item::Msg(
                        ChannelMsg::Eof
                            | ChannelMsg::Close
                            | ChannelMsg::ExitStatus { .. }
                            | ChannelMsg::ExitSignal { .. }
                    )
            ) {
                clean = false;
            }
        }
        let f = lock(&self.frames);
        clean && f.out.trailing + f.err.trailing == 0
    }

    /// Ends the loop without waiting: closing stdin makes a script still
    /// reading it fail, and the loop stop at its next read; closing the
    /// channel makes sshd close the pipes whatever still holds them.
    pub(super) fn discard(self) {
        let write = self.write;
        tokio::spawn(async move {
            let _ = write.eof().await;
            let _ = write.close().await;
        });
    }

    /// Runs `script` with `input` on its stdin; stdout is kept up to
    /// `stdout_cap` bytes, stderr's tail. A channel that closes before the
    /// end markers gives an output without status, as a plain exec would.
    /// `ctl` sets the step's time limit and what stops it early.
    ///
    /// Long on purpose: one `select!` loop over the channel's messages, the
    /// input writer, the deadline, silence and the stop signals, because
    /// they share the step's state (bytes framed so far, markers seen, the
    /// cut); split into functions, each would need all of it.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn run(
        &mut self,
        handle: &russh::client::Handle<Verifier>,
        script: &str,
        input: &Input,
        progress: &mut (dyn FnMut(u64) + Send),
        cancel: Option<tokio::sync::watch::Receiver<bool>>,
        stdout_cap: usize,
        ctl: &StepControl,
    ) -> (Output, Health) {
        let input_len = input.len();
        // Before the script is sent, so that none of its output is missed.
        lock(&self.frames).rearm(&self.tag, stdout_cap, ctl.on_step.clone());
        let secs = ctl.deadline.map_or(0, |(d, _)| d.as_secs_f64().ceil().max(1.0) as u64);
        let mut head = crate::remote::agent_frame(&self.tag, script, input_len, secs).into_bytes();
        head.extend_from_slice(script.as_bytes());
        let mut chunks = input.reader();
        let (sent_tx, mut sent_rx) = mpsc::unbounded_channel();
        let write = self.write.clone();
        let mut writer = tokio::spawn(async move {
            write.data_bytes(Bytes::from(head)).await?;
            let mut total = 0u64;
            while let Some(chunk) = chunks.next().await {
                // Cancelled (or the build unreadable): stop sending and close
                // stdin; the script fails on its truncated input and the loop
                // ends by itself.
                let chunk = match chunk {
                    Ok(c) if !cancel.as_ref().is_some_and(|c| *c.borrow()) => c,
                    _ => {
                        write.eof().await?;
                        return Ok(false);
                    }
                };
                total += chunk.len() as u64;
                write.data_bytes(chunk).await?;
                let _ = sent_tx.send(total);
            }
            Ok::<bool, russh::Error>(true)
        });
        let started = Instant::now();
        let mut status = None;
        let mut pid: Option<u32> = None;
        let mut end: Option<bool> = None; // Some(last)
        let mut closed = false;
        let mut writer_done: Option<bool> = None;
        let mut levels = ctl.stop.as_ref().map(|s| s.levels());
        // Why the step is being ended early, and when ship gives up waiting.
        let mut cut: Option<Cut> = None;
        let mut give_up: Option<tokio::time::Instant> = None;
        let mut kills = 0;
        let mut kill_at: Option<tokio::time::Instant> = None;
        let mut seen = Level::Running;
        let backstop = ctl.deadline.map(|(d, _)| tokio::time::Instant::from_std(started) + d + GRACE);
        let far = tokio::time::Instant::now() + Duration::from_secs(365 * 86_400);
        while status.is_none() || end.is_none() {
            tokio::select! {
                biased;
                Some(total) = sent_rx.recv(), if writer_done.is_none() => progress(total),
                done = &mut writer, if writer_done.is_none() => {
                    writer_done = Some(matches!(done, Ok(Ok(true))));
                }
                level = changed(&mut levels, &mut seen), if cut.is_none() => {
                    let stop = match level {
                        Level::Forced => Some(Cut::Forced),
                        Level::Requested if ctl.on_interrupt => Some(Cut::Interrupted),
                        _ => None,
                    };
                    if let Some(c) = stop {
                        cut = Some(c);
                        kill_at = Some(tokio::time::Instant::now());
                        give_up = Some(tokio::time::Instant::now() + STOP_WAIT);
                    }
                }
                _ = tokio::time::sleep_until(backstop.unwrap_or(far)), if cut.is_none() && backstop.is_some() => {
                    cut = ctl.deadline.map(|(after, key)| Cut::Deadline { after, key });
                    kill_at = Some(tokio::time::Instant::now());
                    give_up = Some(tokio::time::Instant::now() + STOP_WAIT);
                }
                // TERM to the script's process group; KILL if its markers
                // are still missing half-way to giving up.
                _ = tokio::time::sleep_until(kill_at.unwrap_or(far)), if kill_at.is_some() && pid.is_some() => {
                    let script = crate::remote::stop_step(pid.unwrap_or_default(), kills > 0);
                    let _ = tokio::time::timeout(Duration::from_secs(3), super::session::run_quick(handle, &script)).await;
                    kills += 1;
                    kill_at = (kills < 2).then(|| tokio::time::Instant::now() + STOP_WAIT / 2);
                }
                _ = tokio::time::sleep_until(give_up.unwrap_or(far)), if give_up.is_some() => break,
                item = self.items.recv() => match item {
                    Some(Item::Mark(Mark::Rc(rc))) => status = Some(rc),
                    // The loop prints the script's pid before running it:
                    // the first one is the loop's own.
                    Some(Item::Mark(Mark::Pid(p))) => pid = pid.or(Some(p)),
                    Some(Item::Mark(Mark::End)) => end = Some(false),
                    Some(Item::Mark(Mark::Last)) => end = Some(true),
                    Some(Item::Msg(ChannelMsg::ExitSignal { signal_name, .. })) => {
                        lock(&self.frames).err.note(format!("\nkilled by signal {signal_name:?}").as_bytes());
                    }
                    Some(Item::Msg(ChannelMsg::Close)) | None => {
                        closed = true;
                        break;
                    }
                    Some(Item::Msg(_)) => {}
                }
            }
        }
        // The host's own `timeout` ended it: say so, whatever code it chose.
        if cut.is_none() {
            if let (Some((after, key)), Some(rc)) = (ctl.deadline, status) {
                if (rc == 124 || rc == 137) && started.elapsed() + Duration::from_millis(500) >= after {
                    cut = Some(Cut::Deadline { after, key });
                }
            }
        }
        let complete = status.is_some() && end.is_some();
        let (out, err, trailing) = {
            let mut f = lock(&self.frames);
            if !complete {
                f.out.flush();
                f.err.flush();
            }
            (std::mem::take(&mut f.out.kept), std::mem::take(&mut f.err.kept), f.out.trailing + f.err.trailing)
        };
        if !complete {
            writer.abort();
            let mut o = output(if closed { None } else { status }, out, &err);
            if !closed {
                o.status = None;
            }
            o.cut = cut;
            return (o, Health::Spent);
        }
        // The script is done. With success every byte of input was read, so
        // the writer finishes; otherwise what it still sends is unwanted.
        let finished = match writer_done {
            Some(all) => all,
            None if status == Some(0) => matches!(writer.await, Ok(Ok(true))),
            None => {
                writer.abort();
                false
            }
        };
        let health = if finished && end == Some(false) && trailing == 0 && (status == Some(0) || input_len == 0) {
            Health::Reusable
        } else {
            Health::Spent
        };
        let mut o = output(status, out, &err);
        o.cut = cut;
        (o, health)
    }
}

/// The frames, whatever a panicking holder left in them.
fn lock(frames: &Mutex<Frames>) -> MutexGuard<'_, Frames> {
    frames.lock().unwrap_or_else(|e| e.into_inner())
}

/// The shutdown's level once it rises above `seen`; never without one.
async fn changed(levels: &mut Option<tokio::sync::watch::Receiver<Level>>, seen: &mut Level) -> Level {
    let Some(rx) = levels else { return std::future::pending().await };
    loop {
        let now = *rx.borrow_and_update();
        if now > *seen {
            *seen = now;
            return now;
        }
        if rx.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}

fn output(status: Option<u32>, stdout: Vec<u8>, stderr: &[u8]) -> Output {
    Output {
        status,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        raw: stdout,
        stderr: String::from_utf8_lossy(stderr).into_owned(),
        cut: None,
    }
}

/// A marker of the loop, found in one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    /// `<tag>-rc=<status>` on stdout: the script's exit status; stdout ends.
    Rc(u32),
    /// `<tag>-pid=<pid>` on stderr: the script's process (group) id.
    Pid(u32),
    /// `<tag>-end` on stderr: stderr ends; the loop goes on.
    End,
    /// `<tag>-last` on stderr: stderr ends, and so does the loop.
    Last,
}

/// Splits one stream into the script's output and the loop's markers, each
/// `\n<tag>-<word>\n`, wherever they fall: across packets, mid-line, or
/// followed by output of something the script left running (counted as
/// trailing, never kept). Keeps the first `cap` bytes of output, or with
/// `tail` the last ones.
struct Framer {
    prefix: Vec<u8>,
    cap: usize,
    tail: bool,
    kept: Vec<u8>,
    /// Bytes that may be the start of a marker.
    pending: Vec<u8>,
    /// The stream's last marker has been seen.
    done: bool,
    /// Bytes that came after it.
    trailing: usize,
    /// The head is kept whole: what follows is dropped.
    full: bool,
    /// The start of the line being received, while it may still be a
    /// step's start marker ([`crate::remote::step_marker`]); `None` once
    /// it cannot be.
    line: Option<Vec<u8>>,
    /// Steps whose start marker arrived and was not handed on yet.
    steps: Vec<String>,
    /// The marker of this script's steps (none: not looked for).
    step_marker: Vec<u8>,
}

/// A marker's word is short: `rc=4294967295` at most.
const WORD_MAX: usize = 24;

impl Framer {
    fn new(tag: &str, cap: usize, tail: bool) -> Framer {
        Framer {
            prefix: format!("\n{tag}-").into_bytes(),
            cap,
            tail,
            kept: Vec::new(),
            pending: Vec::new(),
            done: false,
            trailing: 0,
            full: false,
            line: Some(Vec::new()),
            steps: Vec::new(),
            step_marker: Vec::new(),
        }
    }

    fn keep(&mut self, data: &[u8]) {
        // Where output is cut, a secret the cut went through could no
        // longer be masked: its piece goes too.
        if self.tail {
            self.kept.extend_from_slice(data);
            if self.kept.len() > 2 * self.cap {
                self.kept.drain(..self.kept.len() - self.cap);
                self.kept.drain(..crate::secret::cut_at_start(&self.kept));
            }
        } else if !self.full {
            let room = self.cap.saturating_sub(self.kept.len());
            self.kept.extend_from_slice(&data[..data.len().min(room)]);
            if data.len() > room {
                self.full = true;
                let piece = crate::secret::cut_at_end(&self.kept);
                self.kept.truncate(self.kept.len() - piece);
            }
        }
    }

    /// Text ship adds itself (e.g. a signal's name).
    fn note(&mut self, text: &[u8]) {
        self.keep(text);
    }

    /// The stream ended without its marker: what was held back is output.
    fn flush(&mut self) {
        let rest = std::mem::take(&mut self.pending);
        self.keep(&rest);
    }

    /// Notes the steps whose start marker line is complete in `data`, as
    /// it arrives: the rest of a line may be held back as a possible frame
    /// marker, and the step that follows may run for minutes.
    fn scan_steps(&mut self, data: &[u8]) {
        if self.step_marker.is_empty() {
            return;
        }
        let longest = self.step_marker.len() + 32;
        let mut rest = data;
        loop {
            let nl = memchr::memchr(b'\n', rest);
            let piece = &rest[..nl.unwrap_or(rest.len())];
            if let Some(line) = &mut self.line {
                if line.len() + piece.len() > longest {
                    self.line = None;
                } else {
                    line.extend_from_slice(piece);
                }
            }
            let Some(nl) = nl else { return };
            if let Some(name) = self.line.as_deref().and_then(|l| l.strip_prefix(&self.step_marker[..])) {
                self.steps.push(String::from_utf8_lossy(name).into_owned());
            }
            self.line = Some(Vec::new());
            rest = &rest[nl + 1..];
        }
    }

    fn push(&mut self, data: &[u8]) -> Vec<Mark> {
        let mut marks = Vec::new();
        if self.done {
            self.trailing += data.len();
            return marks;
        }
        if !self.tail {
            self.scan_steps(data);
        }
        self.pending.extend_from_slice(data);
        let plen = self.prefix.len();
        let mut from = 0;
        loop {
            let Some(i) = memchr::memmem::find(&self.pending[from..], &self.prefix).map(|i| i + from) else {
                // Keep back what could be the start of a marker.
                let cut = self.pending.len().saturating_sub(plen - 1).max(from);
                self.keep_pending(cut);
                return marks;
            };
            let word_at = i + plen;
            let Some(nl) =
                memchr::memchr(b'\n', &self.pending[word_at..(word_at + WORD_MAX + 1).min(self.pending.len())])
            else {
                if self.pending.len() - word_at > WORD_MAX {
                    from = i + 1; // too long to be a marker
                    continue;
                }
                self.keep_pending(i);
                return marks;
            };
            let word = std::str::from_utf8(&self.pending[word_at..word_at + nl]).unwrap_or("");
            let mark = match word.split_once('=') {
                Some(("rc", n)) => n.parse().ok().map(Mark::Rc),
                Some(("pid", n)) => n.parse().ok().map(Mark::Pid),
                None if word == "end" => Some(Mark::End),
                None if word == "last" => Some(Mark::Last),
                _ => None,
            };
            let Some(mark) = mark else {
                from = i + 1;
                continue;
            };
            self.keep_pending(i);
            self.pending.drain(..plen + nl + 1);
            marks.push(mark);
            from = 0;
            if !matches!(mark, Mark::Pid(_)) {
                self.done = true;
                self.trailing += self.pending.len();
                self.pending.clear();
                return marks;
            }
        }
    }

    /// Moves the first `n` pending bytes to the output.
    fn keep_pending(&mut self, n: usize) {
        let pending = std::mem::take(&mut self.pending);
        self.keep(&pending[..n]);
        self.pending = pending;
        self.pending.drain(..n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_starts_are_seen_as_they_arrive_in_any_split() {
        let mut f = Framer::new("t", 1 << 20, false);
        f.step_marker = b"ship-step=".to_vec();
        f.push(b"hello\nship-step=swi");
        assert!(f.steps.is_empty());
        f.push(b"tch\nship-step=restart\n");
        assert_eq!(std::mem::take(&mut f.steps), ["switch", "restart"]);
        // Only a whole line counts; a long line is not one.
        f.push(b"say ship-step=health\n");
        f.push(&[b'x'; 100]);
        f.push(b"ship-step=health\n");
        assert!(f.steps.is_empty(), "{:?}", f.steps);
        f.push(b"ship-step=health\n");
        assert_eq!(f.steps, ["health"]);
    }

    fn feed(f: &mut Framer, parts: &[&[u8]]) -> Vec<Mark> {
        parts.iter().flat_map(|p| f.push(p)).collect()
    }

    #[test]
    fn markers_are_found_across_packets_and_stripped() {
        let mut f = Framer::new("shipT", 100, false);
        let marks = feed(&mut f, &[b"out\n\nsh", b"ipT-rc", b"=0\n"]);
        assert_eq!(marks, [Mark::Rc(0)]);
        assert_eq!(f.kept, b"out\n");
        assert_eq!(f.trailing, 0);
    }

    #[test]
    fn output_after_the_end_marker_is_trailing_never_kept_and_never_hides_it() {
        // A background job writing on after the step: the status is still
        // read, and what followed is counted, not kept.
        let mut f = Framer::new("shipT", 100, false);
        let marks = feed(&mut f, &[b"a\n\nshipT-rc=3\nlate\n", b"later\n"]);
        assert_eq!(marks, [Mark::Rc(3)]);
        assert_eq!(f.kept, b"a\n");
        assert_eq!(f.trailing, 11);
    }

    #[test]
    fn pid_marks_come_mid_stream_and_other_tags_or_words_are_output() {
        let mut f = Framer::new("shipT", 100, true);
        let marks =
            feed(&mut f, &[b"e1 shipT-pid=7\n", b"\nshipT-pid=42\ne2\n\nshipX-end\n\nshipT-nope\n", b"\nshipT-last\n"]);
        assert_eq!(marks, [Mark::Pid(42), Mark::Last]);
        assert_eq!(f.kept, b"e1 shipT-pid=7\ne2\n\nshipX-end\n\nshipT-nope\n");
    }

    #[test]
    fn output_is_capped_at_the_head_or_the_tail() {
        let mut head = Framer::new("shipT", 4, false);
        head.push(b"abcdefgh");
        head.push(b"\nshipT-rc=0\n");
        assert_eq!(head.kept, b"abcd");
        let mut tail = Framer::new("shipT", 4, true);
        for _ in 0..10 {
            tail.push(b"abcdefgh");
        }
        tail.push(b"\nshipT-end\n");
        assert!(tail.kept.len() <= 8 && tail.kept.ends_with(b"efgh"), "{:?}", tail.kept);
    }

    #[test]
    fn a_stream_cut_before_its_marker_keeps_all_it_said() {
        let mut f = Framer::new("shipT", 100, false);
        f.push(b"ship-step=switch\nship-step=restart\n");
        f.flush();
        assert_eq!(f.kept, b"ship-step=switch\nship-step=restart\n");
    }

    #[test]
    fn a_long_line_that_starts_like_a_marker_is_output() {
        let mut f = Framer::new("shipT", 1000, false);
        let line = format!("\nshipT-{}\n", "x".repeat(40));
        assert!(f.push(line.as_bytes()).is_empty());
        assert_eq!(f.push(b"\nshipT-rc=1\n"), [Mark::Rc(1)]);
        assert_eq!(f.kept, line.as_bytes());
    }
}
