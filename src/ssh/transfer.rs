//! Data out of a host: a command whose stdout is the payload (a large
//! manifest, a release packed for `ship sync`), read within bounds and
//! ended on a silent host, Ctrl-C or SIGTERM.

use super::output::{keep_tail, Output};
use super::session::{Session, SshError};
use crate::spool::Input;
use russh::ChannelMsg;

impl Session {
    /// Runs a command whose stdout is data (up to `limit` bytes), e.g. a
    /// release packed on another host, in a channel of its own.
    pub(crate) async fn download(&self, command: &str, limit: usize) -> Result<Output, SshError> {
        let (input, mut progress) = (Input::default(), |_| {});
        let work =
            tokio::time::timeout(self.command_limit, self.exec_channel(command, &input, &mut progress, None, limit));
        let stopped = async {
            match &self.stop {
                Some(stop) => stop.wait_forced().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            out = work => out.map_err(|_| SshError::Protocol(format!(
                "did not finish within {} ([ssh] command_timeout)",
                crate::config::duration::show(self.command_limit)
            )))?,
            () = stopped => Err(SshError::Protocol("stopped at once (second Ctrl-C or SIGTERM)".into())),
        }
    }

    /// Runs a command whose stdout is data of any size (e.g. a release
    /// packed on another host) in a channel of its own, handing stdout to
    /// `sink` as it arrives instead of keeping it: memory stays bounded
    /// (the SSH window) whatever the size. When `sink` returns false the
    /// channel is closed and the rest is drained unread; the sink keeps its
    /// own reason. The output's stdout is empty.
    pub(crate) async fn download_into(
        &self,
        command: &str,
        sink: &mut (dyn FnMut(&[u8]) -> bool + Send),
    ) -> Result<Output, SshError> {
        let mut channel = self.handle.channel_open_session().await?;
        channel.exec(true, command).await?;
        let mut out = Output::default();
        let mut stderr = Vec::new();
        let mut taking = true;
        // Read until the channel closes (ARCHITECTURE.md SSH pitfall 1), a
        // Ctrl-C (a transfer is cut short like an upload), or a source
        // that sends nothing for `[ssh] command_timeout`: a stalled source
        // must not hold ship, nor the locks it has taken.
        let stopped = async {
            match &self.stop {
                Some(stop) => stop.wait().await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(stopped);
        // A source that trickles is as stuck as a silent one: under
        // MIN_RATE over a window of command_timeout (10 s at least), the
        // copy ends too.
        let window = self.command_limit.max(std::time::Duration::from_secs(10));
        let (mut since, mut got) = (std::time::Instant::now(), 0u64);
        loop {
            if since.elapsed() >= window {
                if got < MIN_RATE * window.as_secs() {
                    let _ = channel.close().await;
                    return Err(SshError::Protocol(format!(
                        "the host sent {got} bytes in {}, under 1 KiB/s ([ssh] command_timeout)",
                        crate::config::duration::show(window)
                    )));
                }
                (since, got) = (std::time::Instant::now(), 0);
            }
            let msg = tokio::select! {
                m = tokio::time::timeout(self.command_limit, channel.wait()) => match m {
                    Ok(m) => m,
                    Err(_) => {
                        let _ = channel.close().await;
                        return Err(SshError::Protocol(format!(
                            "the host sent nothing for {} ([ssh] command_timeout)",
                            crate::config::duration::show(self.command_limit)
                        )));
                    }
                },
                () = &mut stopped => {
                    let _ = channel.close().await;
                    return Err(SshError::Protocol("the copy was stopped (Ctrl-C or SIGTERM)".into()));
                }
            };
            let Some(msg) = msg else { break };
            match msg {
                ChannelMsg::Data { data } if taking && !sink(&data) => {
                    taking = false;
                    let _ = channel.close().await;
                }
                ChannelMsg::Data { data } => got += data.len() as u64,
                other => {
                    if !other_message(other, &mut out, &mut stderr) {
                        break;
                    }
                }
            }
        }
        out.stderr = String::from_utf8_lossy(&stderr).into_owned();
        Ok(out)
    }
}

/// The slowest a copy may run, in bytes a second (as curl's
/// `--speed-limit` in pull mode).
const MIN_RATE: u64 = 1024;

/// What a channel's reader does with anything but stdout: keeps stderr's
/// tail, the exit status and a signal's name. `false` when the channel
/// closed.
pub(super) fn other_message(msg: ChannelMsg, out: &mut Output, stderr: &mut Vec<u8>) -> bool {
    match msg {
        ChannelMsg::ExtendedData { data, .. } => keep_tail(stderr, &data),
        ChannelMsg::ExitStatus { exit_status } => out.status = Some(exit_status),
        ChannelMsg::ExitSignal { signal_name, .. } => {
            keep_tail(stderr, format!("\nkilled by signal {signal_name:?}").as_bytes())
        }
        ChannelMsg::Close => return false,
        _ => {}
    }
    true
}
