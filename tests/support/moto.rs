//! A real local EC2-compatible API: moto's server mode (from PyPI, installed
//! by scripts/test.sh into target/moto-venv), on a loopback port, killed and
//! waited on drop. Instances are created through its API with boto3.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running moto_server.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    bin: PathBuf,
}

impl Moto {
    /// Starts moto_server, or returns None (outside CI) when it is not installed.
    pub fn start() -> Option<Moto> {
        let bin = std::env::var_os("MOTO_SERVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/moto-venv/bin/moto_server"));
        if !bin.exists() {
            assert!(
                std::env::var_os("CI").is_none(),
                "moto_server not found at {}: scripts/test.sh installs it",
                bin.display()
            );
            eprintln!("skipping: moto_server not found at {} (run scripts/test.sh)", bin.display());
            return None;
        }
        let port = super::sshd::free_port("127.0.0.1");
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start moto_server");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(Moto { child, endpoint: format!("http://127.0.0.1:{port}"), bin })
    }

    /// Runs `script` with the venv's python (boto3 comes with moto); the
    /// endpoint is `sys.argv[1]`.
    pub fn python(&self, script: &str) -> String {
        let python = self.bin.parent().unwrap().join("python3");
        let out = Command::new(python)
            .arg("-c")
            .arg(script)
            .arg(&self.endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .unwrap();
        assert!(out.status.success(), "boto3 script failed:\n{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
