//! One long-lived remote shell per connection that runs every script of a
//! run ([`crate::remote::agent_loop`]): a host pays for a channel, sshd's
//! session set-up and its login shell's start-up once per run instead of
//! once per step (four times per deploy before). Scripts, their exit
//! statuses and their output are framed on the channel's streams.
//!
//! The channel is drained from the moment it opens (RUSSH.md pitfall 1) by a
//! task that forwards every message; a script's result is complete when both
//! end markers have arrived. A loop whose framing can no longer be trusted
//! (a script failed with input unread, the upload was cut short, the
//! channel closed) is dropped, and the next script starts a new one.

use super::session::{Output, SshError, STDERR_CAP};
use crate::spool::Input;
use bytes::Bytes;
use russh::client::Msg;
use russh::{ChannelMsg, ChannelWriteHalf};
use std::sync::Arc;
use tokio::sync::mpsc;

/// A running loop on one host.
pub(super) struct Agent {
    tag: String,
    write: Arc<ChannelWriteHalf<Msg>>,
    messages: mpsc::UnboundedReceiver<ChannelMsg>,
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
    pub(super) async fn start(handle: &russh::client::Handle<super::session::Verifier>) -> Result<Agent, SshError> {
        let channel = handle.channel_open_session().await?;
        let (mut read, write) = channel.split();
        let (tx, messages) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(msg) = read.wait().await {
                if tx.send(msg).is_err() {
                    break;
                }
            }
        });
        let tag = format!("ship{}", crate::artifact::hex(&rand::random::<[u8; 8]>()));
        write.exec(true, crate::remote::agent_loop(&tag)).await?;
        Ok(Agent { tag, write: Arc::new(write), messages })
    }

    /// Ends the loop without waiting: closing stdin makes a script still
    /// reading it fail, and the loop stop at its next read.
    pub fn discard(self) {
        let write = self.write;
        tokio::spawn(async move {
            let _ = write.eof().await;
            let _ = write.close().await;
        });
    }

    /// Runs `script` with `input` on its stdin; stdout is kept up to
    /// `stdout_cap` bytes, stderr's tail. A channel that closes before the
    /// end markers gives an output without status, as a plain exec would.
    pub async fn run(
        &mut self,
        script: &str,
        input: &Input,
        progress: &mut (dyn FnMut(u64) + Send),
        cancel: Option<tokio::sync::watch::Receiver<bool>>,
        stdout_cap: usize,
    ) -> (Output, Health) {
        let input_len = input.len();
        let mut head = crate::remote::agent_frame(&self.tag, script, input_len).into_bytes();
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
        let rc_marker = format!("\n{}-rc=", self.tag);
        let end_marker = format!("\n{}-end\n", self.tag);
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        // The last bytes of each stream, where the markers show up whatever the caps kept.
        let (mut out_tail, mut err_tail) = (Vec::new(), Vec::new());
        let mut status = None;
        let mut err_done = false;
        let mut closed = false;
        let mut writer_done: Option<bool> = None;
        while status.is_none() || !err_done {
            tokio::select! {
                biased;
                Some(total) = sent_rx.recv(), if writer_done.is_none() => progress(total),
                done = &mut writer, if writer_done.is_none() => {
                    writer_done = Some(matches!(done, Ok(Ok(true))));
                }
                msg = self.messages.recv() => match msg {
                    Some(ChannelMsg::Data { data }) => {
                        if stdout.len() < stdout_cap {
                            stdout.extend_from_slice(&data);
                        }
                        push_tail(&mut out_tail, &data);
                        status = rc_at_end(&out_tail, &rc_marker);
                    }
                    Some(ChannelMsg::ExtendedData { data, .. }) => {
                        stderr.extend_from_slice(&data);
                        if stderr.len() > 2 * STDERR_CAP {
                            stderr.drain(..stderr.len() - STDERR_CAP);
                        }
                        push_tail(&mut err_tail, &data);
                        err_done = err_tail.ends_with(end_marker.as_bytes());
                    }
                    Some(ChannelMsg::ExitSignal { signal_name, .. }) => {
                        stderr.extend_from_slice(format!("\nkilled by signal {signal_name:?}").as_bytes());
                    }
                    Some(ChannelMsg::Close) | None => {
                        closed = true;
                        break;
                    }
                    Some(_) => {}
                }
            }
        }
        if closed {
            writer.abort();
            return (output(None, stdout, &stderr), Health::Spent);
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
        strip_suffix(&mut stdout, status.map(|s| format!("{rc_marker}{s}\n")));
        strip_suffix(&mut stderr, Some(end_marker));
        let health = if finished && (status == Some(0) || input_len == 0) { Health::Reusable } else { Health::Spent };
        (output(status, stdout, &stderr), health)
    }
}

fn output(status: Option<u32>, stdout: Vec<u8>, stderr: &[u8]) -> Output {
    Output {
        status,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        raw: stdout,
        stderr: String::from_utf8_lossy(stderr).into_owned(),
    }
}

const TAIL: usize = 128;

fn push_tail(tail: &mut Vec<u8>, data: &[u8]) {
    tail.extend_from_slice(data);
    if tail.len() > TAIL {
        tail.drain(..tail.len() - TAIL);
    }
}

/// The status in a `<marker><digits>\n` that ends `tail`, if it does.
fn rc_at_end(tail: &[u8], marker: &str) -> Option<u32> {
    let body = tail.strip_suffix(b"\n")?;
    let at = body.windows(marker.len()).rposition(|w| w == marker.as_bytes())?;
    std::str::from_utf8(&body[at + marker.len()..]).ok()?.parse().ok()
}

fn strip_suffix(buf: &mut Vec<u8>, suffix: Option<String>) {
    if let Some(s) = suffix {
        if buf.ends_with(s.as_bytes()) {
            buf.truncate(buf.len() - s.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_is_read_only_from_a_complete_marker_at_the_end() {
        assert_eq!(rc_at_end(b"out\n\nshipT-rc=0\n", "\nshipT-rc="), Some(0));
        assert_eq!(rc_at_end(b"\nshipT-rc=127\n", "\nshipT-rc="), Some(127));
        assert_eq!(rc_at_end(b"\nshipT-rc=12", "\nshipT-rc="), None);
        assert_eq!(rc_at_end(b"\nshipT-rc=0\nmore\n", "\nshipT-rc="), None);
        assert_eq!(rc_at_end(b"\nshipX-rc=0\n", "\nshipT-rc="), None);
    }

    #[test]
    fn tails_keep_the_last_bytes() {
        let mut t = Vec::new();
        push_tail(&mut t, &[b'a'; 200]);
        push_tail(&mut t, b"xyz");
        assert_eq!(t.len(), TAIL);
        assert!(t.ends_with(b"axyz"));
    }
}
