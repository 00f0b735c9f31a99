//! A real static HTTP server on loopback (Python's `http.server`) serving a
//! directory, for pull-mode tests: hosts download artifacts from it. Its
//! request log says who fetched what. Killed and waited on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server.
pub struct StaticServer {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    child: Child,
    log: PathBuf,
}

impl StaticServer {
    /// Serves `dir` on a free loopback port; waits (at most 10 s) until it
    /// accepts connections.
    pub fn start(dir: &Path, log: &Path) -> StaticServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("python3")
            .args(["-u", "-m", "http.server", &port.to_string(), "--bind", "127.0.0.1", "--directory"])
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .expect("python3 is needed for the pull-mode tests");
        let server = StaticServer { url: format!("http://127.0.0.1:{port}"), child, log: log.to_path_buf() };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "http.server did not start: {}", server.log_text());
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// The request lines it logged, e.g. `GET /app.tar.gz HTTP/1.1" 200`.
    pub fn requests(&self) -> Vec<String> {
        self.log_text().lines().filter_map(|l| l.split_once("\"GET ").map(|(_, rest)| format!("GET {rest}"))).collect()
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
