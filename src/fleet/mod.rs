//! The parts every command shares: build the SSH context once, connect to
//! every selected host in parallel (bounded), run a step's script on a host
//! and turn its result into a value.

pub(crate) mod lock;
pub(crate) mod parallel;

use crate::config::HostKeyChecking;
use crate::error::Error;
use crate::event::{Event, Reporter};
use crate::inventory::Host;
use crate::outcome::{HostError, HostOutcome, Status, Step};
use crate::release::ReleaseId;
use crate::remote;
use crate::remote::state::HostState;
use crate::settings::Settings;
use crate::spool::Input;
use crate::ssh::known_hosts::KnownHosts;
use crate::ssh::{Credentials, Cut, Output, Session, SshContext, StepControl};
use bytes::Bytes;
use std::time::Instant;

/// One selected host through a run: its connection, what it told us, and
/// how it is doing.
pub(crate) struct Slot {
    /// The host.
    pub host: Host,
    /// The connection, once made.
    pub session: Option<Session>,
    /// What the host reported at the first step.
    pub state: HostState,
    /// The first step's raw stdout (for commands that read more than state).
    pub first_output: String,
    /// Set at the first failure; later steps skip this host.
    pub status: Option<Status>,
    /// When work on this host began.
    pub started: Instant,
    /// The release `current` points at, as far as we know.
    pub release: Option<ReleaseId>,
    /// A failed wave took this host back to its previous release.
    pub reverted: bool,

    /// When `current` was switched to the new release (for the log).
    pub switched_at: Option<chrono::DateTime<chrono::Utc>>,
    /// How to connect again after the connection dropped.
    pub ctx: Option<SshContext>,
    /// A step here was ended (or not started) by Ctrl-C or SIGTERM rather
    /// than failing by itself.
    pub cut_short: std::sync::atomic::AtomicBool,
}

/// How long each cleanup script may take after a forced stop.
pub(crate) const CLEANUP_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Why a step did not run after a forced stop.
pub(crate) const NOT_STARTED: &str = "not started: ship was stopped at once (second Ctrl-C or SIGTERM)";

impl Slot {
    /// Whether no failure has been recorded.
    pub(crate) fn alive(&self) -> bool {
        self.status.is_none()
    }

    /// Whether a step here was ended by Ctrl-C or SIGTERM.
    pub(crate) fn was_cut_short(&self) -> bool {
        self.cut_short.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Records a failure at `step`.
    pub(crate) fn fail(&mut self, step: Step, message: impl Into<String>) {
        self.fail_with(HostError::new(step, message));
    }

    /// Records `e` as the host's failure, unless it already failed.
    pub(crate) fn fail_with(&mut self, e: HostError) {
        if self.status.is_none() {
            self.status = Some(Status::Failed(e));
        }
    }

    /// Makes sure the host can be talked to: when its connection has
    /// dropped (a host rebooting, sshd restarted), connects again once.
    pub(crate) async fn reconnect_if_closed(&mut self) -> Result<(), String> {
        if self.session.as_ref().is_some_and(|s| !s.is_closed()) {
            return Ok(());
        }
        let ctx = self.ctx.as_ref().ok_or("not connected")?;
        let session = Session::connect(&self.host.target(), ctx).await.map_err(|e| e.to_string())?;
        self.session = Some(session);
        Ok(())
    }

    /// Runs `script` as step `step`; a non-zero exit is an error with the
    /// tail of stderr.
    pub(crate) async fn run(&self, step: Step, script: &str, r: &dyn Reporter) -> Result<Output, String> {
        let out = self.run_output(step, script, r).await?;
        if out.success() {
            Ok(out)
        } else {
            Err(out.failure())
        }
    }

    /// Runs `script` as step `step` and returns its output whatever its
    /// exit status; the error is only for a script that could not run.
    pub(crate) async fn run_output(&self, step: Step, script: &str, r: &dyn Reporter) -> Result<Output, String> {
        r.emit(Event::Phase { host: self.host.name.clone(), step });
        let session = self.session.as_ref().ok_or("not connected")?;
        // After a forced stop only cleanup runs (unlock, log, abort), and
        // briefly: a host that does not answer is left for `ship unlock`.
        let ctl = match session.shutdown().is_some_and(crate::shutdown::Shutdown::forced) {
            true => {
                StepControl { deadline: Some((CLEANUP_LIMIT, "cleanup after a forced stop")), ..Default::default() }
            }
            // Otherwise it has `[ssh] command_timeout`, and a forced stop
            // ends it where it is (a preflight hung on a stale mount must
            // not hold the lock for ever, nor outlive SIGTERM).
            false => StepControl {
                deadline: Some((session.command_limit(), "[ssh] command_timeout")),
                stop: session.shutdown().cloned(),
                ..Default::default()
            },
        };
        session.exec_step(script, &Input::default(), &mut |_| {}, None, &ctl).await.map_err(|e| e.to_string())
    }

    /// Runs several steps in one round trip ([`remote::sequence`]), feeding
    /// `input` to the first one's stdin (cut short when `cancel` fires),
    /// under `ctl`'s time limit. A forced stop (second Ctrl-C or SIGTERM)
    /// ends them where they are, and after one nothing starts. A failure
    /// names the step it happened in, read from the step markers.
    pub(crate) async fn run_steps(
        &self,
        steps: &[(Step, String)],
        input: &Input,
        progress: &mut (dyn FnMut(u64) + Send),
        cancel: Option<&crate::shutdown::Shutdown>,
        ctl: StepControl,
        r: &dyn Reporter,
    ) -> Result<Output, HostError> {
        let first = steps.first().map_or(Step::Finish, |(s, _)| *s);
        r.emit(Event::Phase { host: self.host.name.clone(), step: first });
        let session = self.session.as_ref().ok_or_else(|| HostError::new(first, "not connected"))?;
        let mut ctl = ctl;
        if ctl.stop.is_none() {
            ctl.stop = session.shutdown().cloned();
        }
        if ctl.stop.as_ref().is_some_and(crate::shutdown::Shutdown::forced) {
            self.cut_short.store(true, std::sync::atomic::Ordering::Release);
            return Err(HostError::new(first, NOT_STARTED));
        }
        let named: Vec<(&str, String)> = steps.iter().map(|(s, script)| (s.name(), script.clone())).collect();
        // Secrets go first on stdin, one line each, read by the script's
        // preamble; progress counts only the caller's bytes.
        let secrets = session.secrets();
        let names: Vec<String> = secrets.iter().map(|(n, _)| n.clone()).collect();
        let marker = remote::step_marker(&crate::text::hex(&rand::random::<[u8; 6]>()));
        let script = remote::read_secrets(&names) + &remote::sequence(&named, &marker);
        let mut all = input.clone();
        let lines: String = secrets.iter().map(|(_, v)| format!("{v}\n")).collect();
        let skip = lines.len() as u64;
        if !lines.is_empty() {
            all.head.insert(0, Bytes::from(lines));
        }
        let mut counted = |sent: u64| progress(sent.saturating_sub(skip));
        // Each later step is reported as it starts on the host.
        let (tell, mut started) = tokio::sync::mpsc::unbounded_channel();
        ctl.on_step = Some((marker.clone(), tell));
        let mut last = first;
        let run = session.exec_step(&script, &all, &mut counted, cancel.map(|c| c.receiver()), &ctl);
        tokio::pin!(run);
        let out = loop {
            tokio::select! {
                out = &mut run => break out,
                Some(name) = started.recv() => {
                    if let Some(step) = Step::from_name(&name).filter(|s| *s != last) {
                        r.emit(Event::Phase { host: self.host.name.clone(), step });
                        last = step;
                    }
                }
            }
        };
        while let Ok(name) = started.try_recv() {
            if let Some(step) = Step::from_name(&name).filter(|s| *s != last) {
                r.emit(Event::Phase { host: self.host.name.clone(), step });
                last = step;
            }
        }
        let out = out.map_err(|e| HostError::new(first, e.to_string()))?;
        if matches!(out.cut, Some(Cut::Interrupted | Cut::Forced)) {
            self.cut_short.store(true, std::sync::atomic::Ordering::Release);
        }
        let reached = out
            .stdout
            .lines()
            .filter_map(|l| l.strip_prefix(marker.as_str()))
            .filter_map(Step::from_name)
            .next_back()
            .unwrap_or(first);
        if reached != last {
            r.emit(Event::Phase { host: self.host.name.clone(), step: reached });
        }
        if out.success() {
            Ok(out)
        } else {
            Err(HostError::new(reached, out.failure()))
        }
    }

    /// The final outcome (Ok unless something was recorded).
    pub(crate) fn outcome(&self) -> HostOutcome {
        HostOutcome {
            host: self.host.name.clone(),
            status: self.status.clone().unwrap_or(Status::Ok),
            release: self.release.clone(),
            duration: self.started.elapsed(),
            reverted: self.reverted,
        }
    }
}

/// Loads known_hosts and credentials once for the whole run.
pub(crate) fn context(s: &Settings, r: &dyn Reporter) -> Result<SshContext, Error> {
    let known = KnownHosts::load_all(&s.ssh.known_hosts)
        .map_err(|(p, e)| Error::Credentials(format!("cannot read known_hosts {}: {e}", p.display())))?
        .scoped(&s.ssh.known_hosts_of);
    if s.ssh.checking == HostKeyChecking::Off {
        r.emit(Event::Warning {
            host: None,
            message:
                "host_key_checking = \"off\": host keys are NOT verified; anyone on the path can impersonate your hosts"
                    .into(),
        });
    }
    let creds = Credentials::load(&s.ssh.credentials).map_err(Error::Credentials)?;
    Ok(SshContext::new(known, s.ssh.checking, creds, s.ssh.connect_timeout, s.ssh.keepalive)
        .with_secrets(s.secrets.clone())
        .with_handshake_limit(s.ssh.max_handshakes)
        .with_command_limit(s.ssh.command_timeout))
}

/// Connects to every host and runs `first` (a read of the host's state) on
/// each, `limit` at a time. Failures are recorded in the slots.
pub(crate) async fn reach(
    hosts: &[Host],
    ctx: &SshContext,
    limit: usize,
    first: impl Fn(&Host) -> String,
    r: &dyn Reporter,
) -> Vec<Slot> {
    let slots = connect(hosts, ctx, limit, false, r).await;
    first_step(slots, limit, first, r).await
}

/// Connects to every host, `limit` at a time, and with `warm` starts each
/// one's remote shell ([`Session::warm`]); runs nothing on them.
pub(crate) async fn connect(hosts: &[Host], ctx: &SshContext, limit: usize, warm: bool, r: &dyn Reporter) -> Vec<Slot> {
    let slots: Vec<Slot> = hosts
        .iter()
        .map(|h| Slot {
            host: h.clone(),
            session: None,
            state: HostState::default(),
            first_output: String::new(),
            status: None,
            started: Instant::now(),
            release: None,
            reverted: false,
            switched_at: None,
            ctx: Some(ctx.clone()),
            cut_short: Default::default(),
        })
        .collect();
    crate::fleet::parallel::map(slots, limit, |_, mut slot| async move {
        slot.started = Instant::now();
        r.emit(Event::Phase { host: slot.host.name.clone(), step: Step::Connect });
        match Session::connect(&slot.host.target(), ctx).await {
            Ok(s) => {
                if warm {
                    s.warm().await;
                }
                slot.session = Some(s);
            }
            Err(e) => slot.fail(Step::Connect, e.to_string()),
        }
        slot
    })
    .await
}

/// Runs `first` (a read of the host's state) on every connected host,
/// `limit` at a time, and keeps what it reports.
pub(crate) async fn first_step(
    slots: Vec<Slot>,
    limit: usize,
    first: impl Fn(&Host) -> String,
    r: &dyn Reporter,
) -> Vec<Slot> {
    let first = &first;
    crate::fleet::parallel::map(slots, limit, |_, mut slot| async move {
        if !slot.alive() {
            return slot;
        }
        match slot.run_output(Step::Preflight, &first(&slot.host), r).await {
            Ok(out) if !out.success() => {
                // A script that took the lock and then failed (e.g. `shared`
                // is a file) still said so: the lock is released on the way out.
                slot.state.lock_taken = HostState::parse(&out.stdout).lock_taken;
                slot.fail(Step::Preflight, out.failure());
            }
            Ok(out) => {
                slot.state = HostState::parse(&out.stdout);
                slot.first_output = out.stdout;
                slot.release = slot.state.current.clone();
                for name in &slot.state.strangers {
                    r.emit(Event::Warning {
                        host: Some(slot.host.name.clone()),
                        message: format!("releases/{name} is not a release id (14 digits); left alone"),
                    });
                }
            }
            Err(e) => slot.fail(Step::Preflight, e),
        }
        slot
    })
    .await
}

/// One line per host, `name  current -> target`, for confirmation questions.
pub(crate) fn change_list(slots: &[Slot], target: &ReleaseId) -> String {
    slots
        .iter()
        .map(|x| {
            let cur = x.state.current_name.as_deref().unwrap_or("(none)");
            format!("  {:<16} {cur} -> {target}\n", x.host.name)
        })
        .collect()
}

/// Marks every still-alive slot as unchanged for `reason`.
pub(crate) fn leave_unchanged(slots: &mut [Slot], reason: &str) {
    for s in slots.iter_mut().filter(|s| s.alive()) {
        s.status = Some(Status::Unchanged { reason: reason.to_string() });
    }
}

/// Names of the failed hosts, for messages.
pub(crate) fn failed_names(slots: &[Slot]) -> String {
    let names: Vec<&str> =
        slots.iter().filter(|s| matches!(s.status, Some(Status::Failed(_)))).map(|s| s.host.name.as_str()).collect();
    names.join(", ")
}

/// Closes every connection and reports each host's outcome.
pub(crate) async fn finish(slots: &[Slot], r: &dyn Reporter) -> Vec<HostOutcome> {
    for s in slots {
        if let Some(sess) = &s.session {
            sess.close().await;
        }
        r.emit(Event::HostDone(s.outcome()));
    }
    slots.iter().map(Slot::outcome).collect()
}
