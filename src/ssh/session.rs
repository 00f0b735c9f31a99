//! One SSH connection to one host, and the commands run over it.
//!
//! Every channel gets a reader from the moment it opens (ARCHITECTURE.md SSH pitfall 1),
//! connect and authentication run under a timeout (pitfall 3), keepalives
//! detect dead or frozen hosts, and a channel closed without an exit status
//! is a failure (pitfall 5).

use super::auth::authenticate;
use super::credentials::Credentials;
use super::known_hosts::{self, KnownHosts};
use super::output::{Output, StepControl, STDOUT_CAP};
use super::shell_loop::{Agent, Health};
use super::transfer::other_message;
use super::verify::{other_key_types, remove_old, Verifier};
use crate::config::HostKeyChecking;
use crate::spool::Input;
use russh::client::{self, Handle};
use russh::keys::Algorithm;
use russh::{cipher, ChannelMsg};
use std::borrow::Cow;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Where and as whom to connect.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// Address to connect to.
    pub address: String,
    /// TCP port.
    pub port: u16,
    /// Login user.
    pub user: String,
    /// Jump hosts to go through, in order (empty: connect directly).
    pub jumps: Vec<Target>,
}

/// A byte stream SSH can run over: a TCP socket, or a channel of a jump host.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

/// Everything a connection needs that is the same for every host.
#[derive(Clone)]
pub(crate) struct SshContext {
    config: Arc<client::Config>,
    keepalive: (Duration, usize),
    known: Arc<Mutex<KnownHosts>>,
    checking: HostKeyChecking,
    credentials: Arc<Credentials>,
    connect_timeout: Duration,
    secrets: Arc<Vec<(String, String)>>,
    /// Paces handshakes: sshd drops unauthenticated connections beyond its
    /// MaxStartups, so hundreds of hosts through one bastion must queue.
    handshakes: Arc<tokio::sync::Semaphore>,
    /// The run's Ctrl-C / SIGTERM state, for steps to be stopped by.
    stop: Option<crate::shutdown::Shutdown>,
    /// The limit of ship's own scripts (`[ssh] command_timeout`).
    command_limit: Duration,
}

/// Why a connection or a command failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SshError {
    /// TCP connect failed.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// address:port
        addr: String,
        /// The socket error.
        source: std::io::Error,
    },
    /// Connect + handshake + auth took too long.
    #[error("no SSH answer from {addr} within {after:?} (connect_timeout): is the host up and the port right?")]
    Timeout {
        /// address:port
        addr: String,
        /// The limit that ran out.
        after: Duration,
    },
    /// The host key was refused; the message says why and what to do.
    #[error("{0}")]
    HostKey(String),
    /// No credential was accepted.
    #[error("authentication as `{user}` failed ({detail}): check [ssh] user and identity_file, and the host's authorized_keys")]
    Auth {
        /// The login user.
        user: String,
        /// What was tried.
        detail: String,
    },
    /// The SSH protocol failed (connection dropped, channel refused, …).
    #[error("ssh: {0}")]
    Protocol(String),
}

impl From<russh::Error> for SshError {
    fn from(e: russh::Error) -> Self {
        SshError::Protocol(e.to_string())
    }
}

impl SshContext {
    /// Builds the shared client configuration (AES-GCM preferred, keepalives on).
    pub(crate) fn new(
        known: KnownHosts,
        checking: HostKeyChecking,
        credentials: Credentials,
        connect_timeout: Duration,
        keepalive: (Duration, usize),
    ) -> SshContext {
        SshContext {
            config: Arc::new(client_config(keepalive, None)),
            keepalive,
            known: Arc::new(Mutex::new(known)),
            checking,
            credentials: Arc::new(credentials),
            connect_timeout,
            secrets: Arc::new(Vec::new()),
            handshakes: Arc::new(tokio::sync::Semaphore::new(8)),
            stop: None,
            command_limit: Duration::from_secs(2 * 60),
        }
    }

    /// Ship's own scripts over these connections end after `limit`.
    pub(crate) fn with_command_limit(mut self, limit: Duration) -> SshContext {
        self.command_limit = limit;
        self
    }

    /// Steps run over these connections can be stopped by `stop`.
    pub(crate) fn with_shutdown(mut self, stop: crate::shutdown::Shutdown) -> SshContext {
        self.stop = Some(stop);
        self
    }

    /// At most `n` handshakes in progress at once.
    pub(crate) fn with_handshake_limit(mut self, n: usize) -> SshContext {
        self.handshakes = Arc::new(tokio::sync::Semaphore::new(n.max(1)));
        self
    }

    /// `[hooks] secret_env` names and values, for the sessions to hand to
    /// user commands.
    pub(crate) fn with_secrets(mut self, secrets: Vec<(String, String)>) -> SshContext {
        self.secrets = Arc::new(secrets);
        self
    }
}

/// The client configuration: AES-GCM preferred, keepalives on, and when
/// `host_keys` is given, only those host key algorithms offered.
fn client_config(keepalive: (Duration, usize), host_keys: Option<Vec<Algorithm>>) -> client::Config {
    let mut preferred = russh::Preferred {
        cipher: Cow::Borrowed(&[cipher::AES_256_GCM, cipher::AES_128_GCM, cipher::CHACHA20_POLY1305]),
        ..Default::default()
    };
    if let Some(keys) = host_keys {
        preferred.key = Cow::Owned(keys);
    }
    client::Config {
        nodelay: true,
        preferred,
        keepalive_interval: Some(keepalive.0),
        keepalive_max: keepalive.1,
        inactivity_timeout: None,
        ..Default::default()
    }
}

/// An authenticated connection to one host.
pub(crate) struct Session {
    pub(super) handle: Handle<Verifier>,
    secrets: Arc<Vec<(String, String)>>,
    /// The shell that runs this connection's scripts, once started.
    agent: tokio::sync::Mutex<Option<Agent>>,
    /// The run's Ctrl-C / SIGTERM state.
    pub(super) stop: Option<crate::shutdown::Shutdown>,
    /// The limit of ship's own scripts.
    pub(super) command_limit: Duration,
    /// The jump hosts' connections, kept open as long as this one.
    _jumps: Vec<Handle<Verifier>>,
}

/// Key exchange (host key verified) and authentication over `stream`.
///
/// A host with keys on file is offered only their host key algorithms
/// (unless host_key_checking is off), so it must prove itself with one of
/// them: one that has none of those types is a changed host, never a new one.
async fn handshake(target: &Target, stream: Box<dyn Io>, ctx: &SshContext) -> Result<Handle<Verifier>, SshError> {
    let (address, port) = (target.address.as_str(), target.port);
    let (config, on_file, remove) = {
        let known = ctx.known.lock().unwrap();
        let algorithms = known.host_key_algorithms(address, port);
        let remove = remove_old(&known_hosts::host_name(address, port), &known.files_on_file(address, port));
        if ctx.checking == HostKeyChecking::Off || algorithms.is_empty() {
            (ctx.config.clone(), Vec::new(), remove)
        } else {
            (Arc::new(client_config(ctx.keepalive, Some(algorithms))), known.keys_on_file(address, port), remove)
        }
    };
    let refusal = Arc::new(Mutex::new(None));
    let verifier =
        Verifier { target: target.clone(), known: ctx.known.clone(), checking: ctx.checking, refusal: refusal.clone() };
    let mut handle = match client::connect_stream(config, stream, verifier).await {
        Ok(h) => h,
        Err(e) => {
            if let Some(msg) = refusal.lock().unwrap().take() {
                return Err(SshError::HostKey(msg));
            }
            return Err(match e {
                russh::Error::NoCommonAlgo { kind: russh::AlgorithmKind::Key, theirs, .. } if !on_file.is_empty() => {
                    SshError::HostKey(other_key_types(address, port, &theirs, &on_file, &remove))
                }
                e => SshError::Protocol(format!("handshake with {address}:{port} failed: {e}")),
            });
        }
    };
    authenticate(&mut handle, &target.user, &ctx.credentials).await?;
    Ok(handle)
}

impl Session {
    /// Connects, verifies the host key and authenticates, all within the
    /// connect timeout, which starts once the handshake's turn has come.
    /// A forced stop (second Ctrl-C, SIGTERM) ends the attempt at once: a
    /// host that accepts TCP but never answers must not hold ship for the
    /// whole connect timeout.
    pub(crate) async fn connect(target: &Target, ctx: &SshContext) -> Result<Session, SshError> {
        let attempt = async {
            let _turn = ctx.handshakes.acquire().await.map_err(|e| SshError::Protocol(e.to_string()))?;
            match tokio::time::timeout(ctx.connect_timeout, Session::connect_inner(target, ctx)).await {
                Ok(r) => r,
                Err(_) => Err(SshError::Timeout {
                    addr: format!("{}:{}", target.address, target.port),
                    after: ctx.connect_timeout,
                }),
            }
        };
        match &ctx.stop {
            Some(stop) => tokio::select! {
                r = attempt => r,
                _ = stop.wait_forced() => Err(SshError::Protocol(
                    "not connected: stopped at once (second Ctrl-C or SIGTERM)".into(),
                )),
            },
            None => attempt.await,
        }
    }

    async fn connect_inner(target: &Target, ctx: &SshContext) -> Result<Session, SshError> {
        let first = target.jumps.first().unwrap_or(target);
        let addr = format!("{}:{}", first.address, first.port);
        let socket = tokio::net::TcpStream::connect((first.address.as_str(), first.port))
            .await
            .map_err(|source| SshError::Connect { addr: addr.clone(), source })?;
        socket.set_nodelay(true).ok();
        let mut stream: Box<dyn Io> = Box::new(socket);
        let mut jumps = Vec::new();
        for (i, hop) in target.jumps.iter().enumerate() {
            let via =
                |e: SshError| SshError::Protocol(format!("jump host {}@{}:{}: {e}", hop.user, hop.address, hop.port));
            let handle = handshake(hop, stream, ctx).await.map_err(via)?;
            let next = target.jumps.get(i + 1).unwrap_or(target);
            let channel = handle
                .channel_open_direct_tcpip(next.address.clone(), u32::from(next.port), "127.0.0.1", 0)
                .await
                .map_err(|e| {
                    SshError::Protocol(format!(
                        "jump host {}:{} could not reach {}:{}: {e}",
                        hop.address, hop.port, next.address, next.port
                    ))
                })?;
            stream = Box::new(channel.into_stream());
            jumps.push(handle);
        }
        let handle = handshake(target, stream, ctx).await?;
        Ok(Session {
            handle,
            secrets: ctx.secrets.clone(),
            agent: tokio::sync::Mutex::new(None),
            stop: ctx.stop.clone(),
            command_limit: ctx.command_limit,
            _jumps: jumps,
        })
    }

    /// Whether the connection is gone (dropped, killed, timed out).
    pub(crate) fn is_closed(&self) -> bool {
        self.handle.is_closed()
    }

    /// `[hooks] secret_env` names and values.
    pub(crate) fn secrets(&self) -> &[(String, String)] {
        &self.secrets
    }

    /// How long one of ship's own scripts may run (`[ssh] command_timeout`).
    pub(crate) fn command_limit(&self) -> Duration {
        self.command_limit
    }

    /// The run's Ctrl-C / SIGTERM state, when it has one.
    pub(crate) fn shutdown(&self) -> Option<&crate::shutdown::Shutdown> {
        self.stop.as_ref()
    }

    /// Runs one of ship's own scripts and collects its output, under
    /// `[ssh] command_timeout`; a forced stop ends it.
    pub(crate) async fn exec(&self, command: &str) -> Result<Output, SshError> {
        let ctl = StepControl {
            deadline: Some((self.command_limit, "[ssh] command_timeout")),
            stop: self.stop.clone(),
            ..StepControl::default()
        };
        self.exec_step(command, &Input::default(), &mut |_| {}, None, &ctl).await
    }

    /// Runs a command, streams `input` to its stdin (shared 1 MiB chunks,
    /// ARCHITECTURE.md SSH pitfall 2) and collects its output, under `ctl`:
    /// a time limit, and what ends the command early. `progress` is called
    /// with the bytes sent so far; when `cancel` turns true, sending stops
    /// early and stdin is closed.
    pub(crate) async fn exec_step(
        &self,
        command: &str,
        input: &Input,
        progress: &mut (dyn FnMut(u64) + Send),
        cancel: Option<tokio::sync::watch::Receiver<bool>>,
        ctl: &StepControl,
    ) -> Result<Output, SshError> {
        self.exec_capped(command, input, progress, cancel, STDOUT_CAP, ctl).await
    }

    /// Runs the user's own shell code in the login shell (as `ssh host CMD`
    /// would), in a channel of its own.
    pub(crate) async fn exec_login_shell(&self, command: &str) -> Result<Output, SshError> {
        self.exec_channel(command, &Input::default(), &mut |_| {}, None, STDOUT_CAP).await
    }

    /// Starts this connection's remote shell now, without waiting for it:
    /// the host's login shell starts up while ship still packages the
    /// build. A failure here is left for the first script to report.
    pub(crate) async fn warm(&self) {
        let mut slot = self.agent.lock().await;
        if slot.is_none() {
            *slot = Agent::start(&self.handle).await.ok();
        }
    }

    /// Runs a script in this connection's [`Agent`], started on first use
    /// and again after one is spent. Scripts of one connection run one at a
    /// time; one asked for while another runs gets a channel of its own.
    async fn exec_capped(
        &self,
        command: &str,
        input: &Input,
        progress: &mut (dyn FnMut(u64) + Send),
        cancel: Option<tokio::sync::watch::Receiver<bool>>,
        stdout_cap: usize,
        ctl: &StepControl,
    ) -> Result<Output, SshError> {
        let Ok(mut slot) = self.agent.try_lock() else {
            return self.exec_channel(command, input, progress, cancel, stdout_cap).await;
        };
        // Output since the last script came from something it left running:
        // this loop's framing can no longer be trusted.
        if slot.as_mut().is_some_and(|a| !a.idle()) {
            if let Some(a) = slot.take() {
                a.discard();
            }
        }
        let agent = match slot.as_mut() {
            Some(a) => a,
            None => slot.insert(Agent::start(&self.handle).await?),
        };
        let (out, health) = agent.run(&self.handle, command, input, progress, cancel, stdout_cap, ctl).await;
        if let Health::Spent = health {
            if let Some(a) = slot.take() {
                a.discard();
            }
        }
        Ok(out)
    }

    /// Runs `command` in an exec channel of its own (when the host's shell
    /// loop is busy or spent): input written by a task of its own while
    /// output is read, `cancel` ending the input early. Long for the same
    /// reason as the shell loop's `run`: one read loop that `select!`s
    /// over the channel and the writer, sharing the output being built.
    pub(super) async fn exec_channel(
        &self,
        command: &str,
        input: &Input,
        progress: &mut (dyn FnMut(u64) + Send),
        cancel: Option<tokio::sync::watch::Receiver<bool>>,
        stdout_cap: usize,
    ) -> Result<Output, SshError> {
        let channel = self.handle.channel_open_session().await?;
        let (mut read, write) = channel.split();
        // Drain from the first moment so the connection never stalls.
        let reader = tokio::spawn(async move {
            let mut out = Output::default();
            let mut stdout = Vec::new();
            let mut stderr = Vec::new();
            let mut cut = false;
            while let Some(msg) = read.wait().await {
                match msg {
                    ChannelMsg::Data { data } if stdout.len() < stdout_cap => stdout.extend_from_slice(&data),
                    ChannelMsg::Data { .. } => cut = true,
                    other => {
                        if !other_message(other, &mut out, &mut stderr) {
                            break;
                        }
                    }
                }
            }
            if cut {
                // A secret the cut went through could no longer be masked.
                stdout.truncate(stdout.len() - crate::secret::cut_at_end(&stdout));
            }
            out.stdout = String::from_utf8_lossy(&stdout).into_owned();
            out.raw = stdout;
            out.stderr = String::from_utf8_lossy(&stderr).into_owned();
            out
        });
        // The writer is a task of its own, so many hosts' uploads are
        // scheduled fairly across the runtime's threads.
        let mut chunks = input.reader();
        let (sent_tx, mut sent_rx) = tokio::sync::mpsc::unbounded_channel();
        let command = command.to_string();
        let writer = tokio::spawn(async move {
            let res = async {
                write.exec(true, command).await?;
                let mut total = 0u64;
                while let Some(chunk) = chunks.next().await {
                    let chunk = chunk.map_err(russh::Error::IO)?;
                    // Cancelled: stop sending and close stdin; the remote
                    // side fails on the truncated input and exits by itself,
                    // so nothing is left running on the host.
                    if cancel.as_ref().is_some_and(|c| *c.borrow()) {
                        break;
                    }
                    total += chunk.len() as u64;
                    write.data_bytes(chunk).await?;
                    let _ = sent_tx.send(total);
                }
                write.eof().await
            }
            .await;
            // Hand the write half back: the channel stays open until the
            // reader has seen the exit status.
            (res, write)
        });
        // Watch the reader too: when the channel closes or the connection
        // dies (host killed, keepalives unanswered), a writer waiting for
        // window space is never woken, so it is stopped here instead.
        let mut reader = reader;
        let early = loop {
            tokio::select! {
                biased;
                sent = sent_rx.recv() => match sent {
                    Some(total) => progress(total),
                    None => break None,
                },
                out = &mut reader => break Some(out),
            }
        };
        let (sent, out) = match early {
            None => {
                // `_write` keeps the channel open until the reader has the exit status.
                let (sent, _write) =
                    writer.await.map_err(|e| SshError::Protocol(format!("writer task failed: {e}")))?;
                (sent, reader.await)
            }
            Some(out) => {
                writer.abort();
                let sent = if input.is_empty() { Ok(()) } else { Err(russh::Error::SendError) };
                (sent, out)
            }
        };
        // If sending failed, the command most likely exited early: its status
        // and stderr explain why better than the write error does.
        let out = out.map_err(|e| SshError::Protocol(format!("reader task failed: {e}")))?;
        match sent {
            Err(e) if out.status.is_none() => Err(SshError::Protocol(format!("connection lost: {e}"))),
            _ => Ok(out),
        }
    }

    /// A plain HTTP/1.0 GET of `url`, connected from the host's side through
    /// a direct-tcpip channel. Returns the status and up to 64 KiB of body.
    pub(crate) async fn http_get(&self, url: &crate::config::HttpUrl) -> Result<(u16, String), SshError> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let channel = self
            .handle
            .channel_open_direct_tcpip(url.host.clone(), u32::from(url.port), "127.0.0.1", 0)
            .await
            .map_err(|e| SshError::Protocol(format!("cannot open a tunnel to {url}: {e}")))?;
        let mut stream = channel.into_stream();
        let request =
            format!("GET {} HTTP/1.0\r\nHost: {}\r\nUser-Agent: ship\r\nConnection: close\r\n\r\n", url.path, url.host);
        stream.write_all(request.as_bytes()).await.map_err(|e| SshError::Protocol(format!("{url}: {e}")))?;
        stream.flush().await.map_err(|e| SshError::Protocol(format!("{url}: {e}")))?;
        let mut buf = Vec::new();
        // Read right away (ARCHITECTURE.md SSH pitfall 1), and never more than 64 KiB.
        (&mut stream)
            .take(64 << 10)
            .read_to_end(&mut buf)
            .await
            .map_err(|e| SshError::Protocol(format!("{url}: {e}")))?;
        let text = String::from_utf8_lossy(&buf);
        let status = text
            .lines()
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| SshError::Protocol(format!("{url}: not an HTTP answer (is the service listening?)")))?;
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
        Ok((status, body))
    }

    /// Says goodbye politely; errors are irrelevant at this point.
    pub(crate) async fn close(&self) {
        let _ = self.handle.disconnect(russh::Disconnect::ByApplication, "", "en").await;
    }
}

/// Runs a short command in a channel of its own and waits for it to end
/// (e.g. stopping a step that another channel is running).
pub(super) async fn run_quick(handle: &Handle<Verifier>, command: &str) -> Result<(), SshError> {
    let channel = handle.channel_open_session().await?;
    let (mut read, write) = channel.split();
    write.exec(true, command.to_string()).await?;
    let _ = write.eof().await;
    while let Some(msg) = read.wait().await {
        if matches!(msg, ChannelMsg::Close | ChannelMsg::ExitStatus { .. }) {
            break;
        }
    }
    let _ = write.close().await;
    Ok(())
}
