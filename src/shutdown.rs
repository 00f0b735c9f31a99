//! Ctrl-C (SIGINT) or SIGTERM: the run stops at the next step boundary instead of dying mid-step,
//! so every host keeps serving a complete release.

use tokio::sync::watch;

/// A cloneable view of "has Ctrl-C been pressed?".
#[derive(Debug, Clone)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
}

impl Shutdown {
    /// Listens for SIGINT and SIGTERM for the rest of the process.
    pub fn on_ctrl_c() -> Shutdown {
        let (tx, rx) = watch::channel(false);
        tokio::spawn(async move {
            let term = async {
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(mut s) => {
                        s.recv().await;
                    }
                    Err(_) => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term => {}
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
