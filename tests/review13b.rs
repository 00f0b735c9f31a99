//! Review round 2 of issue 13 (items 5, 11, 12, 13, 14, 15, 21, 22):
//! reproductions against real sshd hosts. Each test fails on the code it
//! was written against.

use crate::support::background::{exit_within, spawn, still_runs};
use crate::support::{Fleet, Run};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn finish(
    mut child: std::process::Child,
    rx: std::sync::mpsc::Receiver<String>,
    limit: Duration,
) -> (Option<i32>, Run) {
    use std::io::Read;
    let code = exit_within(&mut child, limit);
    let mut stdout = String::new();
    child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    let stderr: Vec<String> = rx.try_iter().collect();
    (code, Run { code: code.unwrap_or(-1), stdout, stderr: stderr.join("\n") })
}

/// A directory of links to every command on this machine except `setsid`
/// and `timeout`: a host (busybox, minimal images) that lacks them.
fn path_without_setsid_and_timeout(dir: &Path) -> PathBuf {
    let bin = dir.join("nobin");
    std::fs::create_dir_all(&bin).unwrap();
    for d in ["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"] {
        let Ok(entries) = std::fs::read_dir(d) else { continue };
        for e in entries.flatten() {
            let name = e.file_name();
            if name == "setsid" || name == "timeout" || bin.join(&name).symlink_metadata().is_ok() {
                continue;
            }
            let _ = std::os::unix::fs::symlink(e.path(), bin.join(&name));
        }
    }
    bin
}

/// Issue 13 item 11: "every remote step has a deadline ... it and
/// everything it started were stopped". On a host without `setsid` and
/// `timeout` the restart's limit ends only the step's /bin/sh: the helper
/// it started keeps running although ship says it was stopped.
#[test]
fn item11_restart_timeout_on_a_host_without_setsid_or_timeout_leaves_what_it_started_running() {
    let restart = r#"sleep 120 & echo $! > "$SHIP_DEPLOY_TO/../helper.pid"; wait"#;
    let (mut f, v1, v2) = Fleet::serving_v1(1, restart, "restart_timeout = \"2s\"\n");
    let bin = path_without_setsid_and_timeout(f.dir.path());
    f.hosts[0].sshd.add_config(&format!("SetEnv PATH={}", bin.display()));
    let (child, rx) = spawn(&f, &["deploy", v2.to_str().unwrap()]);
    let (code, run) = finish(child, rx, Duration::from_secs(40));
    let pid = std::fs::read_to_string(f.host_dir(0).join("helper.pid")).unwrap_or_default();
    let alive = !pid.is_empty() && still_runs(&pid);
    if alive {
        let _ = std::process::Command::new("kill").arg(pid.trim()).status();
    }
    assert_eq!(code, Some(1), "{}", run.all());
    assert_eq!(f.current(0).unwrap(), v1, "{}", run.all());
    assert!(!alive, "the restart's helper (pid {}) outlived restart_timeout; ship said:\n{}", pid.trim(), run.all());
}

/// Issue 13 item 5: "a copied release is verified (every file against the
/// manifest ship recorded ...) before any other host sees it, or refused".
/// The check covered regular files only: a symlink of the release
/// re-pointed on the source host, or one added there, spread to the new
/// host. The manifest now records links, and the copy is checked against
/// them; the release as deployed, links and all, still syncs.
#[test]
fn item5_sync_refuses_a_copy_whose_symlinks_changed_on_the_source_host() {
    let f = Fleet::start(2);
    let (one, full) = f.without_last_host();
    std::fs::write(&f.config, &one).unwrap();
    let v1 = f.build("v1", &[("index.html", "v1"), ("assets/app-1.css", "body{}")]);
    std::os::unix::fs::symlink("app-1.css", v1.join("assets/app.css")).unwrap();
    f.ship(&["deploy", v1.to_str().unwrap()]).expect(0);
    std::fs::remove_dir_all(f.dir.path().join(".cache")).unwrap();
    std::fs::write(&f.config, &full).unwrap();
    let live = f.hosts[0].deploy_to.join("current");
    let web2 = f.hosts[1].deploy_to.join("current");

    // On web1 someone adds a link to the live release...
    std::os::unix::fs::symlink("/", live.join("root")).unwrap();
    let run = f.ship(&["sync"]);
    assert!(
        run.code != 0 && f.releases(1).is_empty() && run.stdout.contains("the link root is not in its manifest"),
        "a release with an added link was copied to web2 (root -> {:?}); exit {}\n{}",
        std::fs::read_link(web2.join("root")).ok(),
        run.code,
        run.all()
    );

    // ...or re-points one.
    std::fs::remove_file(live.join("root")).unwrap();
    std::fs::remove_file(live.join("assets/app.css")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", live.join("assets/app.css")).unwrap();
    let run = f.ship(&["sync"]);
    assert!(
        run.code != 0
            && f.releases(1).is_empty()
            && run.stdout.contains("the link assets/app.css points at /etc/passwd, its manifest says app-1.css"),
        "a re-pointed link was copied to web2 (assets/app.css -> {:?}); exit {}\n{}",
        std::fs::read_link(web2.join("assets/app.css")).ok(),
        run.code,
        run.all()
    );

    // Put back as deployed, the release is copied, links and all.
    std::fs::remove_file(live.join("assets/app.css")).unwrap();
    std::os::unix::fs::symlink("app-1.css", live.join("assets/app.css")).unwrap();
    f.ship(&["sync"]).expect(0);
    assert_eq!(std::fs::read_link(web2.join("assets/app.css")).unwrap(), Path::new("app-1.css"));
    assert_eq!(f.read_current(1, "assets/app.css"), "body{}");
}

/// A tmpfs mounted on a path for the test's duration.
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(at: &Path, size: &str) -> Mount {
        std::fs::create_dir_all(at).unwrap();
        let st = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .unwrap();
        assert!(st.success(), "cannot mount a tmpfs (needs root)");
        Mount(at.to_path_buf())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the file system holding `dir` with `dir/fill`.
fn fill_disk(dir: &Path) {
    use std::io::Write;
    let mut file = std::fs::File::create(dir.join("fill")).unwrap();
    let block = vec![0u8; 4096];
    while file.write_all(&block).is_ok() {}
}

/// Issue 13 item 14: "a lock taken is released on every exit path". On a
/// full disk the lock directory is made but its details.json cannot be
/// written; preflight then fails (no space) and the unlock, which looks for
/// the run's token in details.json, leaves the lock. Once space is freed
/// the next deploy is refused (exit 3) for a lock nobody holds.
#[test]
fn item14_a_deploy_refused_for_a_full_disk_leaves_its_lock() {
    let f = Fleet::start(1);
    let _m = Mount::tmpfs(&f.hosts[0].deploy_to, "80m");
    let v1 = f.build("v1", &[("index.html", "v1")]);
    f.ship(&["deploy", v1.to_str().unwrap()]).expect(0);
    fill_disk(&f.hosts[0].deploy_to);
    let v2 = f.build("v2", &[("index.html", "v2")]);
    let full = f.ship(&["deploy", v2.to_str().unwrap()]);
    assert_ne!(full.code, 0, "{}", full.all());
    std::fs::remove_file(f.hosts[0].deploy_to.join("fill")).unwrap();
    let lock = f.hosts[0].deploy_to.join(".ship/lock");
    let left = lock.exists();
    let next = f.ship(&["deploy", v2.to_str().unwrap()]);
    assert!(
        !left && next.code == 0,
        "lock left after the failed deploy: {left}; next deploy exit {}\n--- failed deploy\n{}\n--- next deploy\n{}",
        next.code,
        full.all(),
        next.all()
    );
}

/// Issue 13 item 12: the inventory command's "whole process group ends
/// within the timeout". A command that succeeded, but started a helper in
/// a session of its own (`setsid`, as daemons and agents do) that keeps
/// stdout open, is reported as timed out "and everything it started were
/// stopped" while the helper runs on; the deploy cannot use the inventory.
#[test]
fn item12_an_inventory_helper_in_its_own_session_fails_the_command_and_survives_the_claimed_stop() {
    let f = Fleet::start(1);
    let base = std::fs::read_to_string(&f.config).unwrap();
    let pid = f.dir.path().join("leftover.pid");
    let json = r#"{"_meta": {"hostvars": {"extra": {"ansible_host": "127.0.0.1"}}}, "web": ["extra"]}"#;
    let command = format!("setsid sleep 60 & echo $! > {}; echo '{json}'", pid.display());
    std::fs::write(&f.config, format!("{base}\n[[inventory]]\ncommand = '''{command}'''\ntimeout = \"3s\"\n")).unwrap();
    let run = f.ship(&["hosts"]);
    let leftover = std::fs::read_to_string(&pid).unwrap_or_default();
    let alive = !leftover.is_empty() && still_runs(&leftover);
    if alive {
        let _ = std::process::Command::new("kill").arg(leftover.trim()).status();
    }
    assert!(
        run.code == 0 && run.stdout.contains("extra"),
        "the command printed its inventory and exited 0, yet ship exited {} (helper still running: {alive})\n{}",
        run.code,
        run.all()
    );
}

/// Issue 13 item 11: "a second Ctrl-C or any SIGTERM ends the run
/// promptly". While one host does not answer its SSH handshake (a hung
/// machine: TCP accepted, no banner) and `connect_timeout` is generous,
/// SIGTERM is acknowledged ("stopping at once") but ship keeps waiting for
/// the connect timeout; a CI runner's SIGKILL comes first.
#[test]
fn item11_sigterm_while_a_host_hangs_in_connect_waits_for_connect_timeout() {
    use crate::support::background::sigterm;
    let mut f = Fleet::start(2);
    let v1 = f.build("v1", &[("index.html", "v1")]);
    let cfg =
        std::fs::read_to_string(&f.config).unwrap().replace("connect_timeout = \"5s\"", "connect_timeout = \"60s\"");
    std::fs::write(&f.config, cfg).unwrap();
    f.hosts[1].sshd.freeze();
    let (child, rx) = spawn(&f, &["deploy", v1.to_str().unwrap()]);
    std::thread::sleep(Duration::from_millis(2000));
    sigterm(&child);
    let t0 = std::time::Instant::now();
    let (code, run) = finish(child, rx, Duration::from_secs(15));
    let took = t0.elapsed();
    f.hosts[1].sshd.thaw();
    assert!(code.is_some(), "ship still ran {took:?} after SIGTERM (killed by the test)\n{}", run.all());
}

/// Issue 13 items 11 and 14 ("output ... never confuses the protocol"; "a
/// lock taken is released on every exit path"). A login shell that prints
/// something without a final newline (here the common unguarded xterm
/// title sequence `printf '\033]0;%s\007' ...` in a bash start-up file)
/// glues it to the first line of the preflight's output, `lock=taken`:
/// ship then takes its own fresh lock for someone else's, refuses the
/// deploy (exit 3) and leaves that lock on every host, so every later
/// deploy is refused too.
#[test]
fn item14_a_login_banner_without_newline_makes_ship_refuse_and_leak_its_own_lock() {
    let mut f = Fleet::start(2);
    let env = f.dir.path().join("bash_env.sh");
    std::fs::write(&env, "printf '\\033]0;%s\\007' \"$(hostname)\"\n").unwrap();
    for h in f.hosts.iter_mut() {
        h.sshd.add_config(&format!("SetEnv BASH_ENV={}", env.display()));
    }
    let v1 = f.build("v1", &[("index.html", "v1")]);
    let first = f.ship(&["deploy", v1.to_str().unwrap()]);
    let locks: Vec<bool> = (0..2).map(|i| f.hosts[i].deploy_to.join(".ship/lock").exists()).collect();
    assert!(
        first.code == 0 && locks == [false, false],
        "exit {} (a deploy that only ran into its own lock); lock left on web1/web2: {locks:?}\n{}",
        first.code,
        first.all()
    );
}

/// Issue 13 item 5: a copied release is verified "against the manifest
/// ship recorded". The manifest checked is the one in the copy itself: a
/// hot fix on web1 whose author also updated `.ship/manifest` passes, and
/// spreads to the new host, though web2 holds the same release with the
/// manifest ship recorded (its sha256 differs, and preflight reads it).
#[test]
fn item5_sync_checks_the_copy_against_a_manifest_edited_on_the_source_host() {
    use sha2::Digest;
    let f = Fleet::start(3);
    let (two, full) = f.without_last_host();
    std::fs::write(&f.config, &two).unwrap();
    let v1 = f.build("v1", &[("index.html", "v1")]);
    f.ship(&["deploy", v1.to_str().unwrap()]).expect(0);
    std::fs::remove_dir_all(f.dir.path().join(".cache")).unwrap();
    std::fs::write(&f.config, &full).unwrap();

    let live = f.hosts[0].deploy_to.join("current");
    let body = "hot fix";
    std::fs::write(live.join("index.html"), body).unwrap();
    let manifest = std::fs::read_to_string(live.join(".ship/manifest")).unwrap();
    let sha: String = sha2::Sha256::digest(body).iter().map(|b| format!("{b:02x}")).collect();
    let edited: String = manifest
        .lines()
        .map(|l| {
            let parts: Vec<&str> = l.splitn(4, ' ').collect();
            if parts.get(3) == Some(&"index.html") {
                format!("{sha} {} {} index.html\n", parts[1], body.len())
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    assert_ne!(edited, manifest);
    std::fs::write(live.join(".ship/manifest"), edited).unwrap();
    let run = f.ship(&["sync"]);
    let got = std::fs::read_to_string(f.hosts[2].deploy_to.join("current/index.html")).ok();
    assert_ne!(got.as_deref(), Some(body), "web1's hot fix spread to web3; exit {}\n{}", run.code, run.all());
}

/// Issue 13 item 11: "a host cannot make ship buffer unbounded output".
/// The bound was enforced by failing the step: ship drained the channel
/// into an unbounded queue and called output "unread" once its own parsing
/// fell 8 MiB behind, so a before_switch hook that printed 30 MB (verbose
/// asset builds, migrations) and exited 0 failed the deploy. Now the
/// reader keeps only what it shows (and the SSH window paces the host): the
/// hook succeeds, and one that fails after 30 MB on stderr is reported
/// with its last words, not its 30 MB.
#[test]
fn item11_a_hook_printing_30_mb_succeeds_and_keeps_only_a_tail() {
    let hooks = "\n[hooks]\nbefore_switch = ['yes b | head -c 30000000']\n";
    let (f, _v1, v2) = Fleet::serving_v1(1, crate::support::fleet::RESTART, hooks);
    let run = f.ship(&["deploy", v2.to_str().unwrap()]);
    assert!(run.code == 0 && f.read_current(0, "index.html") == "v2", "exit {}\n{}", run.code, run.all());
    let serving = f.current(0).unwrap();

    let loud = "yes b | head -c 30000000 >&2; echo the-last-words >&2; exit 3";
    f.configure(
        &format!("restart = '{}'\n\n[hooks]\nbefore_switch = ['{loud}']\n", crate::support::fleet::RESTART),
        "",
    );
    let v3 = f.build("v3", &[("index.html", "v3")]);
    let run = f.ship(&["deploy", v3.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_eq!(f.current(0).unwrap(), serving);
    assert!(run.all().contains("the-last-words"), "{}", run.all());
    assert!(run.all().len() < 1 << 20, "ship printed {} bytes", run.all().len());
}

/// Issue 13 item 13 (what a given `.tar.gz` may place in a release): a
/// build directory with a top-level `.ship` is refused, a given archive
/// with one was not. An archive made from a release directory (`tar czf
/// app.tgz -C releases/<id> .`, to redeploy a known version) that carried
/// `.ship/bad` deployed, and ship took its own marker from the archive:
/// the serving release was called bad and rollback refused to go back to
/// it. Now such an archive is refused like such a directory, before any
/// host is touched.
#[test]
fn item13_a_given_tarball_with_ship_markers_makes_its_release_bad() {
    let f = Fleet::start(1);
    let build = f.build("app", &[("index.html", "tgz"), (".ship/bad", "health check failed\n")]);
    let tgz = f.dir.path().join("app.tar.gz");
    let st = std::process::Command::new("tar").arg("czf").arg(&tgz).arg("-C").arg(&build).arg(".").status().unwrap();
    assert!(st.success());
    let run = f.ship(&["deploy", tgz.to_str().unwrap()]);
    run.expect(2);
    assert!(run.stderr.contains("under a top-level `.ship`") && run.stderr.contains("repack it"), "{}", run.stderr);
    assert!(f.current(0).is_none() && f.releases(0).is_empty(), "{:?}", f.releases(0));
}

/// Issue 13 item 22 (the cache keeps what `ship sync` needs): every deploy
/// stores its archive before its release goes out, and the cache keeps
/// the newest `keep_releases` archives whatever became of them. Two
/// deploys that failed their health check and were reverted push the
/// archive of the release the fleet still serves out of the cache; a new
/// host then cannot be synced (a release from a .tar.gz has no manifest to
/// check a copy against).
#[test]
fn item22_failed_deploys_push_the_serving_release_out_of_the_cache() {
    let f = Fleet::start(2);
    let (one, full) = f.without_last_host();
    let one = one.replace("keep_releases = 5", "keep_releases = 2");
    let full = full.replace("keep_releases = 5", "keep_releases = 2");
    std::fs::write(&f.config, &one).unwrap();
    let build = f.build("app", &[("index.html", "good")]);
    let tgz = f.dir.path().join("app.tar.gz");
    let st = std::process::Command::new("tar").arg("czf").arg(&tgz).arg("-C").arg(&build).arg(".").status().unwrap();
    assert!(st.success());
    f.ship(&["deploy", tgz.to_str().unwrap()]).expect(0);
    let id = f.current(0).unwrap();
    let failing = format!("{one}\n[health]\ncommand = 'false'\ntimeout = \"1s\"\ninterval = \"200ms\"\n");
    let failing = failing.replacen(
        "\n[[hosts]]",
        "\n[health]\ncommand = 'false'\ntimeout = \"1s\"\ninterval = \"200ms\"\n\n[[hosts]]",
        1,
    );
    let failing = failing[..failing.rfind("\n[health]").unwrap()].to_string();
    std::fs::write(&f.config, &failing).unwrap();
    for n in 0..2 {
        let bad = f.build(&format!("bad{n}"), &[("index.html", "broken")]);
        f.ship(&["deploy", bad.to_str().unwrap()]).expect(1);
        assert_eq!(f.current(0).unwrap(), id, "reverted");
    }
    std::fs::write(&f.config, &full).unwrap();
    let run = f.ship(&["sync"]);
    assert!(
        run.code == 0 && f.current(1).as_deref() == Some(id.as_str()),
        "web2 could not be brought to {id}, which web1 serves; exit {}\n{}",
        run.code,
        run.all()
    );
}

/// Issue 13 items 11 and 14: "every remote step has a deadline"; "any
/// SIGTERM ends the run promptly"; "a lock taken is released on every exit
/// path". The preflight (which takes the lock) runs without deadline and
/// without the forced stop: on a host where it hangs (`df` on a stale NFS
/// mount, simulated by a `df` that sleeps) ship ignores SIGTERM until the
/// step ends by itself.
#[test]
fn item11_sigterm_during_a_hung_preflight_is_not_honoured() {
    use crate::support::background::{sigterm, wait_for_file};
    let mut f = Fleet::start(1);
    let v1 = f.build("v1", &[("index.html", "v1")]);
    f.ship(&["deploy", v1.to_str().unwrap()]).expect(0);
    let bin = f.dir.path().join("hang-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let marker = f.dir.path().join("df-called");
    let df = bin.join("df");
    std::fs::write(&df, format!("#!/bin/sh\ntouch {}\nexec sleep 60\n", marker.display())).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&df, std::fs::Permissions::from_mode(0o755)).unwrap();
    f.hosts[0].sshd.add_config(&format!("SetEnv PATH={}:/usr/local/bin:/usr/bin:/bin", bin.display()));
    let v2 = f.build("v2", &[("index.html", "v2")]);
    let (child, rx) = spawn(&f, &["deploy", v2.to_str().unwrap()]);
    wait_for_file(&marker);
    std::thread::sleep(Duration::from_millis(500));
    sigterm(&child);
    let t0 = std::time::Instant::now();
    let (code, run) = finish(child, rx, Duration::from_secs(20));
    let took = t0.elapsed();
    assert!(code.is_some(), "ship still ran {took:?} after SIGTERM (killed by the test)\n{}", run.all());
    assert!(
        !f.hosts[0].deploy_to.join(".ship/lock").exists(),
        "the lock the hung preflight took was left behind\n{}",
        run.all()
    );
    assert_eq!(f.read_current(0, "index.html"), "v1");
}

/// Issue 13 items 5 and 11: SIGTERM during `ship sync`'s copy from a host
/// whose packing stalls (a slow or hung disk; here a `tar` that sleeps) is
/// acknowledged but not honoured: ship waits for the copy to end by itself.
#[test]
fn item11_sigterm_during_a_stalled_sync_copy_is_not_honoured() {
    use crate::support::background::{sigterm, wait_for_file};
    use std::os::unix::fs::PermissionsExt;
    let mut f = Fleet::start(2);
    let (one, full) = f.without_last_host();
    std::fs::write(&f.config, &one).unwrap();
    let v1 = f.build("v1", &[("index.html", "v1")]);
    f.ship(&["deploy", v1.to_str().unwrap()]).expect(0);
    std::fs::remove_dir_all(f.dir.path().join(".cache")).unwrap();
    std::fs::write(&f.config, &full).unwrap();
    let bin = f.dir.path().join("slow-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let marker = f.dir.path().join("tar-called");
    let tar = bin.join("tar");
    std::fs::write(&tar, format!("#!/bin/sh\ntouch {}\nsleep 60\nexec /bin/tar \"$@\"\n", marker.display())).unwrap();
    std::fs::set_permissions(&tar, std::fs::Permissions::from_mode(0o755)).unwrap();
    f.hosts[0].sshd.add_config(&format!("SetEnv PATH={}:/usr/local/bin:/usr/bin:/bin", bin.display()));
    let (child, rx) = spawn(&f, &["sync"]);
    wait_for_file(&marker);
    std::thread::sleep(Duration::from_millis(500));
    sigterm(&child);
    let t0 = std::time::Instant::now();
    let (code, run) = finish(child, rx, Duration::from_secs(20));
    let took = t0.elapsed();
    assert!(code.is_some(), "ship still ran {took:?} after SIGTERM (killed by the test)\n{}", run.all());
}

/// Issue 13 items 11 and 12: SIGTERM (a CI runner cancelling the job)
/// while the inventory command runs. The command runs in a process group
/// of its own, so the runner's signal to ship's group does not reach it;
/// ship itself does not end it either.
#[test]
fn item12_sigterm_while_the_inventory_command_runs() {
    use crate::support::background::{sigterm, wait_for_file};
    let f = Fleet::start(1);
    let base = std::fs::read_to_string(&f.config).unwrap();
    let pid = f.dir.path().join("inventory.pid");
    let json = r#"{"_meta": {"hostvars": {"extra": {"ansible_host": "127.0.0.1"}}}, "web": ["extra"]}"#;
    let command = format!("echo $$ > {}; sleep 40; echo '{json}'", pid.display());
    std::fs::write(&f.config, format!("{base}\n[[inventory]]\ncommand = '''{command}'''\ntimeout = \"60s\"\n"))
        .unwrap();
    let v1 = f.build("v1", &[("index.html", "v1")]);
    let (child, rx) = spawn(&f, &["deploy", v1.to_str().unwrap()]);
    wait_for_file(&pid);
    std::thread::sleep(Duration::from_millis(300));
    sigterm(&child);
    let t0 = std::time::Instant::now();
    let (code, run) = finish(child, rx, Duration::from_secs(15));
    let took = t0.elapsed();
    let shell = std::fs::read_to_string(&pid).unwrap();
    let alive = still_runs(&shell);
    if alive {
        let _ = std::process::Command::new("kill").arg("-KILL").arg(shell.trim()).status();
    }
    assert!(
        code.is_some() && !alive,
        "after SIGTERM: ship exited {code:?} after {took:?}; the inventory command still runs: {alive}\n{}",
        run.all()
    );
}

/// A build whose `app.js` is large enough that a delta is worth sending.
fn big_build(f: &Fleet, name: &str, index: &str) -> PathBuf {
    let b = f.build(name, &[("index.html", index)]);
    std::fs::write(b.join("app.js"), crate::support::fleet::noise(300_000)).unwrap();
    b
}

/// Issue 13 items 13 and 15: "hosts extract without foreign owners"; a
/// delta checks a linked file's "mode as well as content". A file of the
/// live release handed to another user on the host (`chown www-data`, here
/// nobody) is hard-linked into the next release as it is: the new release
/// holds a file owned, and so writable, by that user, which a full deploy
/// never gives it; the deploy reports ok.
#[test]
fn item15_a_delta_keeps_a_foreign_owner_set_on_the_host() {
    use std::os::unix::fs::MetadataExt;
    let f = Fleet::start(1);
    let v1 = big_build(&f, "v1", "v1");
    f.ship(&["deploy", v1.to_str().unwrap()]).expect(0);
    let live = f.hosts[0].deploy_to.join("current/app.js");
    let st = std::process::Command::new("chown").arg("nobody").arg(&live).status().unwrap();
    assert!(st.success());
    let nobody = std::fs::metadata(&live).unwrap().uid();
    assert_ne!(nobody, 0);
    let v2 = big_build(&f, "v2", "v2");
    let run = f.ship(&["deploy", v2.to_str().unwrap()]);
    let id = f.current(0).unwrap();
    let uid = std::fs::metadata(f.hosts[0].deploy_to.join("releases").join(&id).join("app.js")).unwrap().uid();
    assert!(
        run.code != 0 || uid != nobody,
        "the new release {id} holds app.js owned by uid {uid} (nobody); exit {}\n{}",
        run.code,
        run.all()
    );
}

/// Issue 13 item 15 (a delta links only what is as deployed): a file of
/// the live release replaced on the host by a symlink to a copy elsewhere
/// (same content and mode) is followed by the delta's `cp -l`: the new
/// release's file is a hard link to that outside file (same inode), so
/// whoever edits the outside file edits the release ship just checked.
#[test]
fn item15_a_delta_hard_links_a_file_outside_the_release_through_a_host_symlink() {
    use std::os::unix::fs::MetadataExt;
    let f = Fleet::start(1);
    let v1 = big_build(&f, "v1", "v1");
    f.ship(&["deploy", v1.to_str().unwrap()]).expect(0);
    let outside = f.dir.path().join("outside.js");
    let live = f.hosts[0].deploy_to.join("current/app.js");
    std::fs::copy(&live, &outside).unwrap();
    std::fs::set_permissions(&outside, std::fs::metadata(&live).unwrap().permissions()).unwrap();
    std::fs::remove_file(&live).unwrap();
    std::os::unix::fs::symlink(&outside, &live).unwrap();
    let v2 = big_build(&f, "v2", "v2");
    let run = f.ship(&["deploy", v2.to_str().unwrap()]);
    let id = f.current(0).unwrap();
    let new = f.hosts[0].deploy_to.join("releases").join(&id).join("app.js");
    let same =
        std::fs::symlink_metadata(&new).map(|m| m.ino()).ok() == Some(std::fs::metadata(&outside).unwrap().ino());
    assert!(
        run.code != 0 || !same,
        "release {id}'s app.js is the file {} outside the release (same inode); exit {}\n{}",
        outside.display(),
        run.code,
        run.all()
    );
}
