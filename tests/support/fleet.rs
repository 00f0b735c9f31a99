//! A fleet of real sshd hosts, each with its own deploy_to, plus the client
//! key, known_hosts and hosts.toml that point ship at them.

use super::sshd::{keygen, whoami, Sshd};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// One host of the fleet.
pub struct Host {
    /// Name in hosts.toml (`web1`, …).
    pub name: String,
    /// The running sshd.
    pub sshd: Sshd,
    /// Its deploy_to directory.
    pub deploy_to: PathBuf,
}

/// Several sshd hosts and the files that describe them to ship.
pub struct Fleet {
    /// Everything lives here and goes with the test.
    pub dir: tempfile::TempDir,
    /// The hosts, in hosts.toml order.
    pub hosts: Vec<Host>,
    /// Client private key.
    pub key: PathBuf,
    /// known_hosts holding every host's key.
    pub known_hosts: PathBuf,
    /// hosts.toml.
    pub config: PathBuf,
    /// Login user.
    pub user: String,
}

/// The result of one ship invocation.
#[derive(Debug)]
pub struct Run {
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Asserts exit code `code`, showing the output when it differs.
    #[track_caller]
    pub fn expect(&self, code: i32) -> &Run {
        assert_eq!(
            self.code, code,
            "ship exited {}, expected {code}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    /// stdout and stderr together, for message checks.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// The restart command the default config uses: records the directory it ran in.
pub const RESTART: &str = r#"echo "$PWD" >> "$SHIP_DEPLOY_TO/../restarts.log""#;

impl Fleet {
    /// Starts `n` hosts on distinct 127.0.0.x addresses.
    pub fn start(n: usize) -> Fleet {
        Fleet::start_with_log_level(n, "VERBOSE")
    }

    /// Like [`Fleet::start`], with the sshd's LogLevel.
    pub fn start_with_log_level(n: usize, log_level: &str) -> Fleet {
        let dir = tempfile::Builder::new().prefix("ship-test").tempdir().unwrap();
        let key = dir.path().join("client_ed25519");
        keygen(&key);
        let authorized = dir.path().join("authorized_keys");
        std::fs::copy(dir.path().join("client_ed25519.pub"), &authorized).unwrap();
        let base = NEXT.fetch_add(n, Ordering::SeqCst);
        let mut hosts = Vec::new();
        for i in 0..n {
            let name = format!("web{}", i + 1);
            let address = format!("127.0.0.{}", 10 + (base + i) % 240);
            let hdir = dir.path().join(&name);
            let sshd = Sshd::start(&hdir.join("sshd"), &address, &authorized, log_level);
            hosts.push(Host { name, sshd, deploy_to: hdir.join("app") });
        }
        let fleet = Fleet {
            known_hosts: dir.path().join("known_hosts"),
            config: dir.path().join("hosts.toml"),
            user: whoami(),
            key,
            hosts,
            dir,
        };
        fleet.trust_all();
        fleet.configure(&format!("keep_releases = 5\nrestart = '{RESTART}'\n"), "");
        fleet
    }

    /// Writes known_hosts with every host's real key.
    pub fn trust_all(&self) {
        let lines: Vec<String> = self.hosts.iter().map(|h| self.known_line(h)).collect();
        std::fs::write(&self.known_hosts, lines.join("\n") + "\n").unwrap();
    }

    /// The known_hosts line for a host's real key.
    pub fn known_line(&self, h: &Host) -> String {
        format!("[{}]:{} {}", h.sshd.address, h.sshd.port, h.sshd.host_public_key())
    }

    /// Writes hosts.toml: `app` lines go into [app], `ssh` lines into [ssh].
    pub fn configure(&self, app: &str, ssh: &str) {
        let mut t = format!(
            "[app]\nname = \"demo\"\ndeploy_to = \"/nonexistent/ship-test\"\n{app}\n[ssh]\nuser = \"{}\"\nidentity_file = \"{}\"\n\
known_hosts = \"{}\"\nconnect_timeout = \"5s\"\n{ssh}\n",
            self.user,
            self.key.display(),
            self.known_hosts.display()
        );
        for h in &self.hosts {
            t += &format!(
                "\n[[hosts]]\nname = \"{}\"\naddress = \"{}\"\nport = {}\ndeploy_to = \"{}\"\nroles = [\"web\"]\n",
                h.name,
                h.sshd.address,
                h.sshd.port,
                h.deploy_to.display()
            );
        }
        std::fs::write(&self.config, t).unwrap();
    }

    /// Runs ship with this fleet's hosts.toml; never waits more than 120 s.
    pub fn ship(&self, args: &[&str]) -> Run {
        self.ship_env(&[], args)
    }

    /// [`Fleet::ship`] with `env` set (a secret, a passphrase): the one way
    /// tests launch ship against a fleet, with one scrub and one timeout.
    pub fn ship_env(&self, env: &[(&str, &str)], args: &[&str]) -> Run {
        let mut cmd = ship_command(self.dir.path());
        cmd.arg("-c").arg(&self.config).arg("--no-progress").args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        run_with_timeout(cmd)
    }

    /// Makes a build directory with the given files.
    pub fn build(&self, name: &str, files: &[(&str, &str)]) -> PathBuf {
        let root = self.dir.path().join("builds").join(name);
        for (path, body) in files {
            let p = root.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, body).unwrap();
        }
        root
    }

    /// The release id `current` points at on host `i`.
    pub fn current(&self, i: usize) -> Option<String> {
        let link = std::fs::read_link(self.hosts[i].deploy_to.join("current")).ok()?;
        Some(link.file_name()?.to_string_lossy().into_owned())
    }

    /// Entries of releases/ on host `i`, sorted.
    pub fn releases(&self, i: usize) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.hosts[i].deploy_to.join("releases"))
            .map(|d| d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Entries of .ship/staging on host `i`.
    pub fn staging(&self, i: usize) -> Vec<String> {
        std::fs::read_dir(self.hosts[i].deploy_to.join(".ship/staging"))
            .map(|d| d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default()
    }

    /// A file of the current release on host `i`.
    pub fn read_current(&self, i: usize, path: &str) -> String {
        std::fs::read_to_string(self.hosts[i].deploy_to.join("current").join(path)).unwrap()
    }

    /// A fleet of `n` hosts serving v1 (whose release id is returned),
    /// then hosts.toml gets `restart` and `extra`; and a v2 build.
    pub fn serving_v1(n: usize, restart: &str, extra: &str) -> (Fleet, String, PathBuf) {
        let f = Fleet::start(n);
        let v1 = f.build("v1", &[("index.html", "v1")]);
        f.ship(&["deploy", v1.to_str().unwrap()]).expect(0);
        let id = f.current(0).unwrap();
        f.configure(&format!("restart = '{restart}'\n{extra}"), "");
        let v2 = f.build("v2", &[("index.html", "v2")]);
        (f, id, v2)
    }

    /// Host `i`'s own directory (deploy_to's parent: its restart log, pids).
    pub fn host_dir(&self, i: usize) -> PathBuf {
        self.hosts[i].deploy_to.parent().unwrap().to_path_buf()
    }

    /// hosts.toml without the last host's [[hosts]] table, and as it is:
    /// a fleet that grows by one host.
    pub fn without_last_host(&self) -> (String, String) {
        let full = std::fs::read_to_string(&self.config).unwrap();
        let last = self.hosts.last().unwrap();
        let cut = full.find(&format!("\n[[hosts]]\nname = \"{}\"", last.name)).unwrap();
        (full[..cut].to_string(), full)
    }

    /// `text` with what changes from run to run replaced: `<dir>`,
    /// `<user>`, `<address>`, `<port>`, `<fp>` (SHA256 fingerprints),
    /// `<id>` (release ids); for tests that compare exact output.
    pub fn normalise(&self, text: &str) -> String {
        let mut t = text
            .replace(&self.dir.path().display().to_string(), "<dir>")
            .replace(&format!("`{}`", self.user), "`<user>`");
        for h in &self.hosts {
            t = t.replace(&format!("[{}]:{}", h.sshd.address, h.sshd.port), "[<address>]:<port>");
            t = t.replace(&format!("{}:{}", h.sshd.address, h.sshd.port), "<address>:<port>");
            t = t.replace(&format!("-p {} {}", h.sshd.port, h.sshd.address), "-p <port> <address>");
        }
        // SHA256:<43 base64 chars>, every occurrence.
        let mut from = 0;
        while let Some(i) = t[from..].find("SHA256:").map(|i| i + from) {
            if t.len() >= i + 7 + 43 {
                t.replace_range(i + 7..i + 7 + 43, "<fp>");
            }
            from = i + 7;
        }
        // 14-digit release ids
        let bytes: Vec<char> = t.chars().collect();
        let mut out = String::new();
        let mut i = 0;
        while i < bytes.len() {
            let run = bytes[i..].iter().take_while(|c| c.is_ascii_digit()).count();
            if run == 14 {
                out += "<id>";
                i += 14;
            } else if run > 0 {
                out.extend(&bytes[i..i + run]);
                i += run;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        out
    }

    /// Lines of host `i`'s restart log.
    pub fn restarts(&self, i: usize) -> Vec<String> {
        let p = self.hosts[i].deploy_to.parent().unwrap().join("restarts.log");
        std::fs::read_to_string(p).unwrap_or_default().lines().map(str::to_string).collect()
    }
}

/// The ship binary, ready to run in `cwd` with a clean environment
/// ([`scrub`]); set variables on it to give them to ship.
pub fn ship_command(cwd: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ship"));
    scrub(&mut cmd, cwd);
    cmd
}

/// The one environment scrub for anything that runs ship in a test (ship
/// itself, or a wrapper such as `script` or `unshare`): HOME is `cwd`
/// (so known_hosts, ssh_config and the artifact cache are the test's
/// own), and nothing of the caller's steers ship: no agent, no
/// SHIP_CONFIG/SHIP_ENV, no passphrase, no cache dir. Call it before
/// setting the variables a test wants.
pub fn scrub(cmd: &mut Command, cwd: &Path) {
    for var in ["SSH_AUTH_SOCK", "SHIP_CONFIG", "SHIP_ENV", "SHIP_KEY_PASSPHRASE", "XDG_CACHE_HOME"] {
        cmd.env_remove(var);
    }
    cmd.current_dir(cwd).env("HOME", cwd);
}

/// Runs `cmd` (from [`ship_command`], or scrubbed) to its end, killing it
/// after 120 s: the one timeout.
pub fn run_with_timeout(mut cmd: Command) -> Run {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("cannot run ship");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        out.read_to_string(&mut s).ok();
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        err.read_to_string(&mut s).ok();
        s
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ship did not finish within 120 s; stderr:\n{}", t_err.join().unwrap());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run { code: status.code().unwrap_or(-1), stdout: t_out.join().unwrap(), stderr: t_err.join().unwrap() }
}

/// `len` bytes of incompressible noise from a fixed seed (xorshift).
pub fn noise(len: usize) -> Vec<u8> {
    let mut data = vec![0u8; len];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for b in data.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    data
}

/// Every path under `dir` with its modification time: a change detector.
pub fn snapshot(dir: &Path) -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for e in entries.flatten() {
            let m = std::fs::symlink_metadata(e.path()).unwrap();
            out.push(format!("{} {:?}", e.path().display(), m.modified().unwrap()));
            if m.is_dir() {
                walk(&e.path(), out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, &mut out);
    out.sort();
    out
}
