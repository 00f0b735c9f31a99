//! The fault matrix: each fault is done for real (a host's sshd killed or
//! frozen, a full or read-only filesystem, a corrupted checksum, a missing
//! restart command, a failing health check, Ctrl-C in each phase, a
//! connection dropped between switch and restart), under both `parallel`
//! and `rolling`. After ship exits, [`check`] walks every host and asserts
//! the invariants: `current` points at a complete release whose files are
//! exactly its build's, no directory under releases/ is partial, staging is
//! empty (or cleaned by the next run), and locks are where they should be.
//!
//! Faults covered elsewhere: two deploys at once and a held `ship lock`
//! (locks.rs), host keys (host_keys.rs), `current` as a real directory and a
//! second deploy in the same second (deploy.rs), inventories (inventory.rs
//! and unit tests).

use crate::support::background::{exit_within, sigint, spawn, wait_for};
use crate::support::fleet::noise;
use crate::support::sshd::is_root;
use crate::support::{Fleet, Run};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The restart command of every case: a script on the host, so a case can
/// remove it (missing command) or make it drop the connection.
const RESTART: &str = r#""$SHIP_DEPLOY_TO/../bin/restart-app""#;

/// What `bin/restart-app` does: log the restart; when `../drop` exists,
/// remove it and kill the sshd session running us (the connection drops
/// between switch and restart, as a flaky network would); when it holds
/// a pid (the host's sshd listener), that too (the host stays
/// unreachable, as one rebooting would).
const RESTART_APP: &str = r#"#!/bin/sh
here="$SHIP_DEPLOY_TO/.."
if [ -e "$here/drop" ]; then
  listener=$(cat "$here/drop")
  rm -f "$here/drop"
  p=$$
  while [ "$p" -gt 1 ]; do
    if [ "$(cat /proc/$p/comm)" = sshd ]; then kill -9 $listener "$p"; exit 1; fi
    p=$(cut -d " " -f 4 /proc/$p/stat)
  done
  exit 1
fi
echo "$PWD" >> "$here/restarts.log"
"#;

/// A `mv` the host's sshd puts first on PATH: the real one, then, when
/// `../drop-switch` exists and `current` was the destination, the sshd
/// session running it is killed: the connection drops right after the
/// atomic switch, before its step could report.
const MV_THEN_DROP: &str = r#"#!/bin/sh
/bin/mv "$@" || exit $?
case "$*" in *"/app/current") ;; *) exit 0 ;; esac
here="$(dirname "$0")/.."
[ -e "$here/drop-switch" ] || exit 0
rm -f "$here/drop-switch"
p=$$
while [ "$p" -gt 1 ]; do
  pp=$(cut -d " " -f 4 /proc/$p/stat)
  if [ "$(cat /proc/$p/comm)" = sshd ]; then kill -9 "$p"; exit 1; fi
  p=$pp
done
"#;

/// A fleet set up for one case, with the builds deployed so far by label.
struct Case {
    f: Fleet,
    builds: BTreeMap<String, PathBuf>,
}

impl Case {
    /// `n` hosts; `strategy` is `parallel` or `rolling` (batch 1, so every
    /// host is its own wave); `tables` and `ssh` are extra hosts.toml lines.
    fn start(n: usize, strategy: &str, tables: &str, ssh: &str) -> Case {
        let f = Fleet::start(n);
        let rollout = if strategy == "rolling" { "kind = \"rolling\"\nbatch = 1\n" } else { "kind = \"parallel\"\n" };
        f.configure(&format!("keep_releases = 5\nrestart = '{RESTART}'\n\n[strategy]\n{rollout}\n{tables}"), ssh);
        for i in 0..n {
            let bin = f.hosts[i].deploy_to.parent().unwrap().join("bin");
            std::fs::create_dir_all(&bin).unwrap();
            write_executable(&bin.join("restart-app"), RESTART_APP);
        }
        Case { f, builds: BTreeMap::new() }
    }

    /// A build labelled `label`: index.html plus `extra` files.
    fn build(&mut self, label: &str, extra: &[(&str, Vec<u8>)]) -> PathBuf {
        let dir = self.f.build(label, &[("index.html", label)]);
        for (path, body) in extra {
            let p = dir.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, body).unwrap();
        }
        self.builds.insert(label.to_string(), dir.clone());
        dir
    }

    /// Deploys build `label` with `--version label`.
    fn deploy(&mut self, label: &str) -> Run {
        let dir = self.builds.get(label).cloned().unwrap_or_else(|| self.build(label, &[]));
        self.f.ship(&["deploy", dir.to_str().unwrap(), "--version", label])
    }

    /// Starts a deploy of `label` in the background.
    fn spawn(&self, label: &str) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
        let dir = &self.builds[label];
        spawn(&self.f, &["deploy", dir.to_str().unwrap(), "--version", label])
    }

    fn host_dir(&self, i: usize) -> PathBuf {
        self.f.hosts[i].deploy_to.parent().unwrap().to_path_buf()
    }

    /// The invariant checker; returns the label each host serves.
    ///
    /// On every host: each entry of releases/ is a complete release (its
    /// release.json names a known build and its files are exactly that
    /// build's); `current` is absent or a symlink to one of them; staging is
    /// empty unless the host is in `dirty_staging`; the lock is held exactly
    /// on the hosts in `locked`.
    #[track_caller]
    fn check(&self, dirty_staging: &[usize], locked: &[usize]) -> Vec<Option<String>> {
        let mut serving = Vec::new();
        for (i, h) in self.f.hosts.iter().enumerate() {
            let d = &h.deploy_to;
            let mut labels = BTreeMap::new();
            for id in self.f.releases(i) {
                assert!(id.len() == 14 && id.bytes().all(|b| b.is_ascii_digit()), "{}: releases/{id}", h.name);
                let rel = d.join("releases").join(&id);
                let json = std::fs::read_to_string(rel.join(".ship/release.json"))
                    .unwrap_or_else(|e| panic!("{}: releases/{id} has no release.json ({e}): partial", h.name));
                let v: serde_json::Value = serde_json::from_str(&json).unwrap();
                let label = v["version"].as_str().unwrap().to_string();
                let build = self.builds.get(&label).unwrap_or_else(|| panic!("{}: unknown label {label}", h.name));
                assert!(tree(build) == tree(&rel), "{}: releases/{id} differs from build {label}", h.name);
                labels.insert(id, label);
            }
            let cur = d.join("current");
            let now = match std::fs::symlink_metadata(&cur) {
                Err(_) => None,
                Ok(m) => {
                    assert!(m.file_type().is_symlink(), "{}: current is not a symlink", h.name);
                    let target = std::fs::read_link(&cur).unwrap();
                    let id = target.file_name().unwrap().to_string_lossy().into_owned();
                    assert_eq!(target, d.join("releases").join(&id), "{}: current -> {}", h.name, target.display());
                    Some(labels.get(&id).unwrap_or_else(|| panic!("{}: current -> missing {id}", h.name)).clone())
                }
            };
            if !dirty_staging.contains(&i) {
                assert!(self.f.staging(i).is_empty(), "{}: staging {:?}", h.name, self.f.staging(i));
            }
            let lock = d.join(".ship/lock").exists();
            assert_eq!(lock, locked.contains(&i), "{}: lock held = {lock}", h.name);
            serving.push(now);
        }
        serving
    }
}

fn write_executable(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Path -> sha256 of content or link target, for every file under `dir`
/// except `.ship/`.
fn tree(dir: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if rel == ".ship" {
                continue;
            }
            let t = e.file_type().unwrap();
            if t.is_symlink() {
                out.insert(rel, format!("link {}", std::fs::read_link(&p).unwrap().display()));
            } else if t.is_dir() {
                walk(root, &p, out);
            } else {
                out.insert(rel, format!("{:?}", Sha256::digest(std::fs::read(&p).unwrap()).as_slice()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn labels(v: &[&str]) -> Vec<Option<String>> {
    v.iter().map(|s| Some(s.to_string())).collect()
}

/// Waits until the upload to host `i` is under way: part of the big blob
/// has arrived in staging.
fn wait_mid_upload(c: &Case, i: usize) {
    let staging = c.f.hosts[i].deploy_to.join(".ship/staging");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let found = std::fs::read_dir(&staging)
            .map(|d| d.flatten().any(|e| e.path().join("blob.bin").exists()))
            .unwrap_or(false);
        if found {
            return;
        }
        assert!(Instant::now() < deadline, "the upload to host {i} never started");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Collects a background run's exit code and output.
fn finish(mut child: std::process::Child, rx: std::sync::mpsc::Receiver<String>) -> Run {
    use std::io::Read;
    let code = exit_within(&mut child, Duration::from_secs(100));
    let mut stdout = String::new();
    child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    let stderr: Vec<String> = rx.try_iter().collect();
    let Some(code) = code else {
        panic!("ship did not exit within 100 s (killed)\n--- stdout\n{stdout}\n--- stderr\n{}", stderr.join("\n"))
    };
    Run { code, stdout, stderr: stderr.join("\n") }
}

/// A filesystem mounted for one case (root only), unmounted on drop.
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(at: &Path, options: &str) -> Mount {
        std::fs::create_dir_all(at).unwrap();
        let st = Command::new("mount").args(["-t", "tmpfs", "-o", options, "tmpfs"]).arg(at).status().unwrap();
        assert!(st.success(), "mount -t tmpfs -o {options} failed (tests run as root in CI)");
        Mount(at.to_path_buf())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Cases needing mount(8) say so and pass when not root (CI runs as root).
fn root_or_skip(case: &str) -> bool {
    if !is_root() {
        eprintln!("skipping {case}: mounting a filesystem needs root");
    }
    is_root()
}

/// A 64 MiB incompressible file: uploads last long enough to act mid-way.
fn blob() -> (&'static str, Vec<u8>) {
    ("blob.bin", noise(64 << 20))
}

mod cases {
    use super::*;

    /// Fault 1: A host dies mid-upload: no host switches, the others are cleaned
    /// up; the dead host keeps its lock (named in the output) and its
    /// partial staging, which the next run clears.
    pub fn host_killed_mid_upload(strategy: &str) {
        let mut c = Case::start(3, strategy, "", "");
        c.deploy("v1").expect(0);
        c.build("v2", &[blob()]);
        let (child, rx) = c.spawn("v2");
        wait_mid_upload(&c, 1);
        c.f.hosts[1].sshd.kill_all();
        let run = finish(child, rx);
        run.expect(1);
        assert!(run.stdout.contains("web2") && run.stdout.contains("upload"), "{}", run.all());
        assert!(run.all().contains("ship unlock"), "says how to clear the lock left on web2:\n{}", run.all());
        assert_eq!(c.check(&[1], &[1]), labels(&["v1", "v1", "v1"]));
        recover(&mut c, 1);
    }

    /// Fault 2: A host frozen mid-upload (SIGSTOP): ship gives up on it after the
    /// keepalives go unanswered, instead of waiting forever.
    pub fn host_frozen_mid_upload(strategy: &str) {
        let mut c = Case::start(3, strategy, "", "keepalive_interval = \"1s\"\nkeepalive_max = 3\n");
        c.deploy("v1").expect(0);
        c.build("v2", &[blob()]);
        let (child, rx) = c.spawn("v2");
        wait_mid_upload(&c, 1);
        c.f.hosts[1].sshd.freeze();
        let t0 = Instant::now();
        let run = finish(child, rx);
        let waited = t0.elapsed();
        c.f.hosts[1].sshd.thaw();
        run.expect(1);
        assert!(waited < Duration::from_secs(60), "ship waited {waited:?} for a frozen host");
        assert!(run.stdout.contains("web2") && run.stdout.contains("upload"), "{}", run.all());
        // The thawed host notices its client is gone and ends its commands.
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(c.check(&[1], &[1]), labels(&["v1", "v1", "v1"]));
        recover(&mut c, 1);
    }

    /// After a host died holding its lock: `ship unlock`, deploy again; the
    /// next run clears the stale staging and every host serves v3.
    fn recover(c: &mut Case, dead: usize) {
        if c.f.hosts[dead].sshd.processes().is_empty() {
            c.f.hosts[dead].sshd.restart();
        }
        c.f.ship(&["unlock"]).expect(0);
        c.deploy("v3").expect(0);
        assert_eq!(c.check(&[], &[]), labels(&["v3", "v3", "v3"]));
    }

    /// Fault 3a: The disk fills during extraction (a tmpfs that runs out of
    /// inodes, which the byte-count preflight cannot foresee).
    pub fn disk_full_during_extraction(strategy: &str) {
        if !root_or_skip("disk_full_during_extraction") {
            return;
        }
        let mut c = Case::start(2, strategy, "", "");
        let _fs = Mount::tmpfs(&c.f.hosts[0].deploy_to, "size=200m,nr_inodes=200");
        c.deploy("v1").expect(0);
        let many: Vec<(String, Vec<u8>)> = (0..400).map(|n| (format!("assets/f{n}.txt"), vec![b'x'; 10])).collect();
        let many: Vec<(&str, Vec<u8>)> = many.iter().map(|(p, b)| (p.as_str(), b.clone())).collect();
        c.build("v2", &many);
        let run = c.deploy("v2");
        run.expect(1);
        assert!(
            run.stdout.contains("web1") && run.stdout.contains("upload") && run.all().contains("No space left"),
            "{}",
            run.all()
        );
        assert_eq!(c.check(&[], &[]), labels(&["v1", "v1"]));
    }

    /// Fault 3b: The preflight disk check refuses a release that would not fit,
    /// before anything is uploaded.
    pub fn preflight_disk_check(strategy: &str) {
        if !root_or_skip("preflight_disk_check") {
            return;
        }
        let mut c = Case::start(2, strategy, "", "");
        let _fs = Mount::tmpfs(&c.f.hosts[1].deploy_to, "size=70m");
        c.deploy("v1").expect(0);
        c.build("v2", &[("big.bin", noise(10 << 20))]);
        let run = c.deploy("v2");
        run.expect(1);
        assert!(run.stdout.contains("web2") && run.stdout.contains("not enough disk space"), "{}", run.all());
        assert_eq!(c.check(&[], &[]), labels(&["v1", "v1"]));
        for i in 0..2 {
            assert_eq!(c.f.releases(i).len(), 1, "host {i}: nothing was uploaded");
        }
    }

    /// Fault 4: What arrived does not hash to what was sent (a host whose
    /// sha256sum reports another sum stands in for corruption in transit).
    pub fn checksum_mismatch(strategy: &str) {
        let mut c = Case::start(3, strategy, "", "");
        c.deploy("v1").expect(0);
        let fake = c.host_dir(1).join("fakebin");
        std::fs::create_dir_all(&fake).unwrap();
        write_executable(&fake.join("sha256sum"), "#!/bin/sh\ncat >/dev/null\necho \"$(printf '%064d' 0)  -\"\n");
        // The faster hasher ship prefers when the host has it.
        write_executable(&fake.join("openssl"), "#!/bin/sh\ncat >/dev/null\necho \"$(printf '%064d' 0) *stdin\"\n");
        let path =
            format!("SetEnv PATH={}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", fake.display());
        c.f.hosts[1].sshd.add_config(&path);
        let run = c.deploy("v2");
        run.expect(1);
        assert!(
            run.stdout.contains("web2") && run.stdout.contains("verify") && run.stdout.contains("corrupted"),
            "{}",
            run.all()
        );
        assert_eq!(c.check(&[], &[]), labels(&["v1", "v1", "v1"]));
        for i in 0..3 {
            assert_eq!(c.f.releases(i).len(), 1, "host {i}: v2 removed everywhere");
        }
    }

    /// Fault 5: The restart command is missing on one host: that wave fails and
    /// is reverted with every earlier one (on_failure = revert-all).
    pub fn restart_missing(strategy: &str) {
        let mut c = Case::start(3, strategy, "", "");
        c.deploy("v1").expect(0);
        std::fs::remove_file(c.host_dir(1).join("bin/restart-app")).unwrap();
        let run = c.deploy("v2");
        run.expect(1);
        assert!(run.stdout.contains("web2") && run.stdout.contains("at restart"), "{}", run.all());
        assert_eq!(c.check(&[], &[]), labels(&["v1", "v1", "v1"]));
    }

    /// Fault 6: The health check fails on host `sick` (the canary, or a later wave).
    pub fn health_fails_on(strategy: &str, sick: usize) {
        let health =
            "[health]\ncommand = '[ ! -e \"$SHIP_DEPLOY_TO/../sick\" ]'\ntimeout = \"1s\"\ninterval = \"200ms\"\n";
        let mut c = Case::start(3, strategy, health, "");
        c.deploy("v1").expect(0);
        std::fs::write(c.host_dir(sick).join("sick"), "").unwrap();
        let run = c.deploy("v2");
        run.expect(1);
        let name = format!("web{}", sick + 1);
        assert!(run.stdout.contains(&name) && run.stdout.contains("at health"), "{}", run.all());
        assert_eq!(c.check(&[], &[]), labels(&["v1", "v1", "v1"]));
        // Rolling: hosts after the sick one were never switched.
        if strategy == "rolling" {
            for i in sick + 1..3 {
                assert!(run.stdout.contains("not released"), "host {i}: {}", run.stdout);
            }
        }
    }

    /// Fault 7: Ctrl-C in phase `phase`: every host ends on one release, old or
    /// new (never a mix unless a policy says so), no lock, clean staging,
    /// exit 130.
    pub fn ctrl_c_in(strategy: &str, phase: &str) {
        let tables = match phase {
            // The hook says when it runs: phase lines of one round trip
            // are printed when it ends, too late to aim a signal at.
            "hook" => "[hooks]\nbefore_switch = ['touch \"$SHIP_DEPLOY_TO/hook-started\"; sleep 2']\n",
            "health" => "[health]\ncommand = 'sleep 2'\ntimeout = \"10s\"\n",
            _ => "",
        };
        let mut c = Case::start(2, strategy, tables, "");
        c.deploy("v1").expect(0);
        if phase == "restart" {
            // Slow restarts, so the signal lands while one runs.
            let app = RESTART_APP.replace("echo \"$PWD\"", "sleep 2; echo \"$PWD\"");
            for i in 0..2 {
                write_executable(&c.host_dir(i).join("bin/restart-app"), &app);
            }
        }
        let dir = c.build("v2", &[]);
        if phase == "packaging" {
            // 64 GiB of sparse zeros: packaging is still running when the
            // signal lands, and only stops early if ship stops it.
            std::fs::File::create(dir.join("huge.bin")).unwrap().set_len(64 << 30).unwrap();
        }
        let started = c.f.hosts[0].deploy_to.join("hook-started");
        let _ = std::fs::remove_file(&started); // left by v1's deploy
        let (child, rx) = c.spawn("v2");
        if phase == "hook" {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            while !started.exists() && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        } else {
            wait_for(&rx, &format!(" {phase}"));
        }
        sigint(&child);
        let run = finish(child, rx);
        run.expect(130);
        let serving = c.check(&[], &[]);
        if matches!(phase, "packaging" | "hook") {
            assert_eq!(serving, labels(&["v1", "v1"]), "{}", run.all());
            assert_eq!(c.f.releases(0).len(), 1, "the interrupted release is removed: {}", run.all());
        } else {
            assert_eq!(serving[0], serving[1], "the fleet ends on one release: {serving:?}\n{}", run.all());
        }
        if phase == "packaging" {
            assert!(run.all().contains("while packaging; no host was touched"), "{}", run.all());
        }
    }

    /// Fault 11: deploy_to cannot be written (a read-only filesystem, as root is
    /// not stopped by permissions): refused at preflight naming the host
    /// and what to do; no host is touched.
    pub fn deploy_to_not_writable(strategy: &str) {
        if !root_or_skip("deploy_to_not_writable") {
            return;
        }
        let mut c = Case::start(3, strategy, "", "");
        let _fs = Mount::tmpfs(&c.f.hosts[1].deploy_to, "ro,size=1m");
        let run = c.deploy("v1");
        run.expect(1);
        assert!(
            run.stdout.contains("web2") && run.stdout.contains("is not writable") && run.stdout.contains("chown"),
            "{}",
            run.all()
        );
        assert_eq!(c.check(&[], &[]), vec![None, None, None]);
    }

    /// Fault 13: The connection drops between switch and restart, and
    /// sshd answers again: ship connects again, puts that host back with
    /// the others, and leaves no lock.
    pub fn connection_dropped_after_switch(strategy: &str) {
        let mut c = Case::start(3, strategy, "", "");
        c.deploy("v1").expect(0);
        std::fs::write(c.host_dir(1).join("drop"), "").unwrap();
        let run = c.deploy("v2");
        run.expect(1);
        assert!(run.stdout.contains("web2") && run.stdout.contains("restart"), "{}", run.all());
        assert_eq!(c.check(&[], &[]), labels(&["v1", "v1", "v1"]), "{}", run.all());
    }

    /// Fault 13b: the host goes away for good between switch and restart:
    /// it serves the complete new release (it cannot be reverted while
    /// unreachable), the others go back, and the output says what to do.
    pub fn host_gone_after_switch(strategy: &str) {
        let mut c = Case::start(3, strategy, "", "");
        c.deploy("v1").expect(0);
        let v1 = c.f.current(0).unwrap();
        let listener = c.f.hosts[1].sshd.processes()[0];
        std::fs::write(c.host_dir(1).join("drop"), listener.to_string()).unwrap();
        let run = c.deploy("v2");
        run.expect(1);
        assert!(run.stdout.contains("web2") && run.stdout.contains("restart"), "{}", run.all());
        assert!(run.all().contains(&format!("ship rollback --to {v1}")), "{}", run.all());
        assert_eq!(c.check(&[], &[1]), labels(&["v1", "v2", "v1"]));
        // What the output says to do brings the fleet back together.
        c.f.hosts[1].sshd.restart();
        c.f.ship(&["unlock"]).expect(0);
        c.f.ship(&["rollback", "--to", &v1]).expect(0);
        assert_eq!(c.check(&[], &[]), labels(&["v1", "v1", "v1"]));
    }

    /// Fault 13c (issue 13 item 20): the connection drops inside the switch
    /// step, right after `mv -T` ran. The host is not "still on its
    /// previous release": ship asks it again and reverts it.
    pub fn connection_dropped_inside_the_switch(strategy: &str) {
        let mut c = Case::start(2, strategy, "", "");
        c.deploy("v1").expect(0);
        let bin = c.host_dir(1).join("fakebin");
        std::fs::create_dir_all(&bin).unwrap();
        write_executable(&bin.join("mv"), MV_THEN_DROP);
        c.f.hosts[1].sshd.add_config(&format!("SetEnv PATH={}:/usr/bin:/bin", bin.display()));
        std::fs::write(c.host_dir(1).join("drop-switch"), "").unwrap();
        let run = c.deploy("v2");
        run.expect(1);
        assert!(!c.host_dir(1).join("drop-switch").exists(), "the fault never fired\n{}", run.all());
        assert!(!run.all().contains("still serves its previous release"), "{}", run.all());
        assert!(run.all().contains("the connection dropped after `current` was switched"), "{}", run.all());
        assert_eq!(c.check(&[], &[]), labels(&["v1", "v1"]), "{}", run.all());
    }
}

/// One test per case and strategy.
macro_rules! matrix {
    ($($name:ident => |$s:ident| $body:expr;)*) => {
        $(mod $name {
            #[test]
            fn parallel() {
                let $s = "parallel";
                $body
            }
            #[test]
            fn rolling() {
                let $s = "rolling";
                $body
            }
        })*
    };
}

matrix! {
    host_killed_mid_upload => |s| super::cases::host_killed_mid_upload(s);
    host_frozen_mid_upload => |s| super::cases::host_frozen_mid_upload(s);
    disk_full_during_extraction => |s| super::cases::disk_full_during_extraction(s);
    preflight_disk_check => |s| super::cases::preflight_disk_check(s);
    checksum_mismatch => |s| super::cases::checksum_mismatch(s);
    restart_missing => |s| super::cases::restart_missing(s);
    health_fails_on_the_first_wave => |s| super::cases::health_fails_on(s, 0);
    health_fails_on_a_later_wave => |s| super::cases::health_fails_on(s, 2);
    ctrl_c_while_packaging => |s| super::cases::ctrl_c_in(s, "packaging");
    ctrl_c_in_before_switch_hook => |s| super::cases::ctrl_c_in(s, "hook");
    ctrl_c_during_restart => |s| super::cases::ctrl_c_in(s, "restart");
    ctrl_c_during_health => |s| super::cases::ctrl_c_in(s, "health");
    deploy_to_not_writable => |s| super::cases::deploy_to_not_writable(s);
    connection_dropped_after_switch => |s| super::cases::connection_dropped_after_switch(s);
    host_gone_after_switch => |s| super::cases::host_gone_after_switch(s);
    connection_dropped_inside_the_switch => |s| super::cases::connection_dropped_inside_the_switch(s);
}
