//! One real OpenSSH sshd on a loopback address and a free port, in a temp
//! dir with its own generated host key. Ready when it sends its banner;
//! killed and waited on drop; its log is printed when a test fails.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The sshd binary: `SSHD` from the environment, else /usr/sbin/sshd.
pub fn sshd_path() -> PathBuf {
    let p = std::env::var_os("SSHD").map(PathBuf::from).unwrap_or_else(|| "/usr/sbin/sshd".into());
    if !p.exists() {
        panic!(
            "sshd not found at {} (set SSHD, or install openssh-server: scripts/test.sh does it as root)",
            p.display()
        );
    }
    p
}

/// Runs ssh-keygen to make an unencrypted ed25519 key pair at `path`.
pub fn keygen(path: &Path) {
    keygen_type(path, "ed25519");
}

/// Runs ssh-keygen to make an unencrypted key pair of `kind` (`ed25519`,
/// `ecdsa`, `rsa`) at `path`.
pub fn keygen_type(path: &Path, kind: &str) {
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", kind, "-N", "", "-C", "ship-test", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .expect("ssh-keygen (openssh-client) is needed by the tests");
    assert!(st.success(), "ssh-keygen failed");
}

/// A running sshd.
pub struct Sshd {
    /// Loopback address it listens on.
    pub address: String,
    /// Port it listens on.
    pub port: u16,
    /// Its directory (config, host key, log).
    pub dir: PathBuf,
    child: Option<Child>,
    frozen: bool,
}

impl Sshd {
    /// Starts sshd in `dir` on `address`, trusting `authorized_keys`, logging
    /// at `log_level` (DEBUG levels also send debug lines to the client's stderr).
    pub fn start(dir: &Path, address: &str, authorized_keys: &Path, log_level: &str) -> Sshd {
        std::fs::create_dir_all(dir).unwrap();
        let host_key = dir.join("host_ed25519");
        if !host_key.exists() {
            keygen(&host_key);
        }
        if is_root() {
            // Privilege separation needs it; a fresh container may lack it.
            let _ = std::fs::create_dir_all("/run/sshd");
        }
        let mut last_log = String::new();
        for _ in 0..5 {
            let port = free_port(address);
            let config = dir.join("sshd_config");
            std::fs::write(
                &config,
                format!(
                    "Port {port}\nListenAddress {address}\nHostKey {}\nPidFile {}\nAuthorizedKeysFile {}\n\
StrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nLogLevel {log_level}\nMaxStartups 100:30:200\n",
                    host_key.display(),
                    dir.join("sshd.pid").display(),
                    authorized_keys.display()
                ),
            )
            .unwrap();
            let mut sshd =
                Sshd { address: address.to_string(), port, dir: dir.to_path_buf(), child: None, frozen: false };
            sshd.spawn();
            if sshd.wait_ready(Duration::from_secs(10)) {
                return sshd;
            }
            last_log = sshd.log();
            sshd.stop();
        }
        panic!("sshd on {address} did not start; last log:\n{last_log}");
    }

    /// Starts the sshd process from the config already in `dir`, appending to its log.
    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("sshd.log")).unwrap();
        let child = Command::new(sshd_path())
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(self.dir.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("cannot start sshd");
        self.child = Some(child);
    }

    /// Starts a stopped sshd again on the same address, port and host key.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
        assert!(self.wait_ready(Duration::from_secs(10)), "sshd did not come back:\n{}", self.log());
    }

    /// Polls until the SSH banner arrives, or the process died, or time ran out.
    fn wait_ready(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(Ok(Some(_))) = self.child.as_mut().map(|c| c.try_wait()) {
                return false;
            }
            if let Ok(mut s) = TcpStream::connect_timeout(
                &std::net::SocketAddr::new(self.address.parse().unwrap(), self.port),
                Duration::from_millis(500),
            ) {
                s.set_read_timeout(Some(Duration::from_secs(2))).ok();
                let mut buf = [0u8; 8];
                if s.read_exact(&mut buf).is_ok() && buf.starts_with(b"SSH-2.0") {
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        false
    }

    /// The public host key line (`type base64 comment`).
    pub fn host_public_key(&self) -> String {
        std::fs::read_to_string(self.dir.join("host_ed25519.pub")).unwrap().trim().to_string()
    }

    /// The public host key line of type `kind` (see [`Sshd::serve_host_keys`]).
    pub fn host_public_key_of(&self, kind: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("host_{kind}.pub"))).unwrap().trim().to_string()
    }

    /// Restarts sshd on the same address and port serving only host keys of
    /// `kinds` (`ed25519`, `ecdsa`, `rsa`), generated on first use: e.g. an
    /// impostor that answers with another key type than known_hosts has.
    pub fn serve_host_keys(&mut self, kinds: &[&str]) {
        let config = self.dir.join("sshd_config");
        let text = std::fs::read_to_string(&config).unwrap();
        let mut lines: Vec<String> = text.lines().filter(|l| !l.starts_with("HostKey ")).map(String::from).collect();
        for kind in kinds {
            let key = self.dir.join(format!("host_{kind}"));
            if !key.exists() {
                keygen_type(&key, kind);
            }
            lines.push(format!("HostKey {}", key.display()));
        }
        std::fs::write(&config, lines.join("\n") + "\n").unwrap();
        self.restart();
    }

    /// The sshd log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
    }

    /// Appends lines to sshd_config and restarts sshd with it.
    pub fn add_config(&mut self, lines: &str) {
        let config = self.dir.join("sshd_config");
        let text = std::fs::read_to_string(&config).unwrap() + lines + "\n";
        std::fs::write(&config, text).unwrap();
        self.restart();
    }

    /// The listener and every process under it (sessions, the commands
    /// they run), listener first.
    pub fn processes(&self) -> Vec<u32> {
        let Some(root) = self.child.as_ref().map(Child::id) else { return Vec::new() };
        let mut parents: Vec<(u32, u32)> = Vec::new();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
            let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else { continue };
            // The command name may hold spaces: fields resume after its last ')'.
            let rest = &stat[stat.rfind(')').map_or(0, |i| i + 1)..];
            if let Some(ppid) = rest.split_whitespace().nth(1).and_then(|p| p.parse().ok()) {
                parents.push((pid, ppid));
            }
        }
        let mut tree = vec![root];
        let mut i = 0;
        while i < tree.len() {
            let p = tree[i];
            tree.extend(parents.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
            i += 1;
        }
        tree
    }

    fn signal(pids: &[u32], sig: &str) {
        if pids.is_empty() {
            return;
        }
        let _ = Command::new("kill").arg(format!("-{sig}")).args(pids.iter().map(u32::to_string)).status();
    }

    /// Freezes the host: SIGSTOP to sshd and everything it runs. Its TCP
    /// connections stay open but nothing answers.
    pub fn freeze(&mut self) {
        Sshd::signal(&self.processes(), "STOP");
        self.frozen = true;
    }

    /// Undoes [`Sshd::freeze`].
    pub fn thaw(&mut self) {
        Sshd::signal(&self.processes(), "CONT");
        self.frozen = false;
    }

    /// Kills sshd and every session and command under it, as a host dying
    /// would, and waits for the listener.
    pub fn kill_all(&mut self) {
        let pids = self.processes();
        Sshd::signal(&pids[1.min(pids.len())..], "KILL");
        self.stop();
    }

    /// Kills the listener and waits for it (existing sessions are children
    /// of their own and end with their connections).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("----- sshd {}:{} log -----\n{}", self.address, self.port, self.log());
        }
        if self.frozen {
            // Sessions of a frozen host would otherwise stay stopped forever.
            let pids = self.processes();
            Sshd::signal(&pids, "KILL");
        }
        self.stop();
    }
}

/// A port that was free on `address` a moment ago.
pub fn free_port(address: &str) -> u16 {
    TcpListener::bind((address, 0)).unwrap().local_addr().unwrap().port()
}

/// Whether the tests run as root (CI does).
pub fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false)
}

/// The local user name (sshd only lets us log in as ourselves unless root).
pub fn whoami() -> String {
    let o = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}
