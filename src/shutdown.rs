//! Ctrl-C (SIGINT) and SIGTERM, in two levels.
//!
//! The first Ctrl-C asks the run to stop at the next step boundary: steps in
//! flight on the hosts finish (never a half-done `current`), waits (health
//! polling, pauses between waves) are cut short, and every host keeps
//! serving a complete release. A second Ctrl-C, or any SIGTERM, forces the
//! stop: steps still running on the hosts are ended where they are, nothing
//! new starts except releasing locks, and the summary says where each host
//! was left.

use tokio::sync::watch;

/// How far a stop has gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Level {
    /// No signal yet.
    Running,
    /// One Ctrl-C: stop at the next step boundary.
    Requested,
    /// A second Ctrl-C or SIGTERM: stop now.
    Forced,
}

/// A cloneable view of "has Ctrl-C been pressed, and how often?".
#[derive(Debug, Clone)]
pub(crate) struct Shutdown {
    rx: watch::Receiver<Level>,
}

impl Shutdown {
    /// Listens for SIGINT and SIGTERM for the rest of the process. The
    /// handlers are installed before this returns: a signal that arrives
    /// before the listening task first runs is still caught (it used to kill
    /// ship outright when it came during packaging). Every signal is
    /// counted, never swallowed: the first SIGINT requests a stop, the
    /// second (or any SIGTERM) forces it.
    pub(crate) fn on_ctrl_c() -> Shutdown {
        use tokio::signal::unix::{signal, SignalKind};
        let (tx, rx) = watch::channel(Level::Running);
        let int = signal(SignalKind::interrupt()).ok();
        let term = signal(SignalKind::terminate()).ok();
        tokio::spawn(async move {
            let (mut int, mut term) = (int, term);
            loop {
                let next = tokio::select! {
                    Some(()) = recv(&mut int) => match *tx.borrow() {
                        Level::Running => Level::Requested,
                        _ => Level::Forced,
                    },
                    Some(()) = recv(&mut term) => Level::Forced,
                    else => break,
                };
                tx.send_replace(next);
            }
            // Keep the sender alive so receivers never see a closed channel.
            std::future::pending::<()>().await;
        });
        Shutdown { rx }
    }

    /// A shutdown no signal reaches, driven by hand (tests, and a local
    /// hook of a host whose session follows no shutdown).
    pub(crate) fn manual() -> (watch::Sender<Level>, Shutdown) {
        let (tx, rx) = watch::channel(Level::Running);
        (tx, Shutdown { rx })
    }

    /// Whether Ctrl-C was pressed (or SIGTERM received).
    pub(crate) fn requested(&self) -> bool {
        *self.rx.borrow() >= Level::Requested
    }

    /// Whether the stop is forced: a second Ctrl-C or SIGTERM.
    pub(crate) fn forced(&self) -> bool {
        *self.rx.borrow() >= Level::Forced
    }

    /// A receiver of the level itself.
    pub(crate) fn levels(&self) -> watch::Receiver<Level> {
        self.rx.clone()
    }

    /// A receiver of "a stop was requested", for code that polls a flag
    /// from another task (packaging, uploads).
    pub(crate) fn receiver(&self) -> watch::Receiver<bool> {
        let mut levels = self.rx.clone();
        let (tx, rx) = watch::channel(self.requested());
        tokio::spawn(async move {
            let _ = levels.wait_for(|l| *l >= Level::Requested).await;
            let _ = tx.send(true);
            tx.closed().await;
        });
        rx
    }

    /// Resolves when a stop is requested.
    pub(crate) async fn wait(&self) {
        self.wait_for(Level::Requested).await
    }

    /// Resolves when the stop is forced.
    pub(crate) async fn wait_forced(&self) {
        self.wait_for(Level::Forced).await
    }

    /// Resolves when the level reaches `level`.
    pub(crate) async fn wait_for(&self, level: Level) {
        let mut rx = self.rx.clone();
        if rx.wait_for(|v| *v >= level).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

async fn recv(s: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match s {
        Some(s) => s.recv().await,
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn levels_only_go_up_and_wake_their_waiters() {
        let (tx, stop) = Shutdown::manual();
        assert!(!stop.requested() && !stop.forced());
        let flag = stop.receiver();
        tx.send_replace(Level::Requested);
        stop.wait().await;
        assert!(stop.requested() && !stop.forced());
        let mut flag = flag;
        assert!(*flag.wait_for(|v| *v).await.unwrap());
        tx.send_replace(Level::Forced);
        stop.wait_forced().await;
        assert!(stop.forced() && stop.requested());
    }
}
