//! Ctrl-C (SIGINT) or SIGTERM: the run stops at the next step boundary instead of dying mid-step,
//! so every host keeps serving a complete release.

use tokio::sync::watch;

/// A cloneable view of "has Ctrl-C been pressed?".
#[derive(Debug, Clone)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
}

impl Shutdown {
    /// Listens for SIGINT and SIGTERM for the rest of the process. The
    /// handlers are installed before this returns: a signal that arrives
    /// before the listening task first runs is still caught (it used to kill
    /// ship outright when it came during packaging).
    pub fn on_ctrl_c() -> Shutdown {
        use tokio::signal::unix::{signal, SignalKind};
        let (tx, rx) = watch::channel(false);
        let int = signal(SignalKind::interrupt()).ok();
        let term = signal(SignalKind::terminate()).ok();
        tokio::spawn(async move {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = wait(int) => {}
                _ = wait(term) => {}
            }
            let _ = tx.send(true);
            // Keep the sender alive so receivers never see a closed channel.
            std::future::pending::<()>().await;
        });
        Shutdown { rx }
    }

    /// Whether Ctrl-C was pressed.
    pub fn requested(&self) -> bool {
        *self.rx.borrow()
    }

    /// A receiver for code that must poll the flag from another task.
    pub fn receiver(&self) -> watch::Receiver<bool> {
        self.rx.clone()
    }

    /// Resolves when Ctrl-C is pressed.
    pub async fn wait(&self) {
        let mut rx = self.rx.clone();
        let _ = rx.wait_for(|v| *v).await;
    }
}
