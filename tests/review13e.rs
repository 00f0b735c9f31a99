//! Review round 5 of issue 13: reproductions against real sshd hosts, in
//! the situations users meet on day one. Each test fails on the code it
//! was written against (main at ac79c7e).

use crate::support::hostbin::{path_with_wrapped, which};
use crate::support::Fleet;

/// Round 4's fix: pruned releases are renamed into `.ship/trash` and
/// deleted after the unlock, "if this is cut short, the next run that
/// takes the lock finishes it", and round 3's promise that `[ssh]
/// command_timeout` limits only ship's own quick scripts. The next run
/// finishes it inside its lock step, under `command_timeout`: when
/// deleting what an earlier prune left (a big node_modules on a slow
/// disk; here `rm` is slow under `.ship/trash`) takes longer than that,
/// the lock step is cut and the deploy fails in preflight, for garbage it
/// did not need to wait for. Every later deploy fails the same way until
/// the trash happens to be empty.
#[test]
fn leftover_trash_makes_the_next_deploy_fail_in_preflight() {
    let mut f = Fleet::start(1);
    let rm = which("rm");
    let wrapper =
        format!("#!/bin/sh\nfor a in \"$@\"; do case \"$a\" in */.ship/trash/*) [ -e \"$a\" ] && sleep 20;; esac; done\nexec {rm} \"$@\"\n");
    let bin = path_with_wrapped(f.dir.path(), "rm", &wrapper);
    f.hosts[0].sshd.add_config(&format!("SetEnv PATH={}", bin.display()));
    f.configure(
        &format!("keep_releases = 2\nrestart = '{}'\n", crate::support::fleet::RESTART),
        "command_timeout = \"3s\"\n",
    );
    for v in ["v1", "v2", "v3"] {
        let b = f.build(v, &[("index.html", v)]);
        f.ship(&["deploy", b.to_str().unwrap()]).expect(0);
    }
    let trash: Vec<String> = std::fs::read_dir(f.hosts[0].deploy_to.join(".ship/trash"))
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    let v4 = f.build("v4", &[("index.html", "v4")]);
    let run = f.ship(&["deploy", v4.to_str().unwrap()]);
    assert_eq!(
        (run.code, f.read_current(0, "index.html")),
        (0, "v4".to_string()),
        "the deploy after a prune failed (trash before it: {trash:?})\n{}",
        run.all()
    );
}

/// Issue 13 item 11 ("every remote step has a deadline") and round 3's
/// promise that `[ssh] command_timeout` limits only ship's own quick
/// scripts, while a transfer "lasts as long as the bytes take". A full
/// deploy hashes every byte it sent with no time limit; a delta deploy
/// of the same build hashes the unchanged files of the current release
/// (relink) under `command_timeout`. A large release on a slow disk
/// (here `openssl` is slow at hashing the linked files) makes every delta
/// deploy fail while `--full` of the very same bytes succeeds: a
/// legitimate deploy cut by a quick-script deadline. Now the check of the
/// linked files gets `command_timeout` plus a second per MiB they hold
/// (here 3 s + 8 s for 8 MiB that hash in 6 s).
#[test]
fn a_delta_deploy_of_a_large_release_is_cut_by_command_timeout() {
    let mut f = Fleet::start(1);
    let big = String::from_utf8(crate::support::fleet::noise(8 << 20).iter().map(|b| b'a' + b % 26).collect()).unwrap();
    let v1 = f.build("v1", &[("index.html", "v1"), ("vendor.js", &big)]);
    f.ship(&["deploy", v1.to_str().unwrap()]).expect(0);
    let (openssl, sha) = (which("openssl"), which("sha256sum"));
    // Hashing named files (relink's `./path` arguments) is slow; hashing
    // stdin (the upload's verify) is not.
    let slow = "#!/bin/sh\ncase \" $* \" in *\" ./\"*) sleep 6;; esac\nexec REAL \"$@\"\n";
    let bin = path_with_wrapped(f.dir.path(), "openssl", &slow.replace("REAL", &openssl));
    std::fs::remove_file(bin.join("sha256sum")).unwrap();
    std::fs::write(bin.join("sha256sum"), slow.replace("REAL", &sha)).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(bin.join("sha256sum"), std::fs::Permissions::from_mode(0o755)).unwrap();
    f.hosts[0].sshd.add_config(&format!("SetEnv PATH={}", bin.display()));
    f.configure(
        &format!("keep_releases = 5\nrestart = '{}'\n", crate::support::fleet::RESTART),
        "command_timeout = \"3s\"\n",
    );
    let v2 = f.build("v2", &[("index.html", "v2"), ("vendor.js", &big)]);
    let run = f.ship(&["deploy", v2.to_str().unwrap()]);
    assert_eq!(
        (run.code, f.read_current(0, "index.html")),
        (0, "v2".to_string()),
        "a delta deploy of v2 failed\n{}",
        run.all()
    );
}

/// Issue 13 item 11: "every remote step has a deadline ... the first
/// Ctrl-C is acknowledged at once and cuts waits short", and round 4's
/// fix for pull downloads ("a host's download fails when its server
/// stalls"; "a first Ctrl-C cuts them"). `ship sync` copying a release
/// from a host (the cache is gone: a cleaned CI runner) reads the
/// source's `tar` stream with no deadline and no stall limit, and only a
/// forced stop ends it: when the source stalls mid-copy (a slow or stale
/// disk; here its `tar` hangs) the sync waits for ever with every host
/// locked, and the CI job's Ctrl-C does not cut it short.
#[test]
fn a_sync_copy_from_a_stalled_source_ignores_ctrl_c_and_never_ends() {
    use crate::support::background::{exit_within, sigint, spawn, wait_for};
    use std::time::Duration;
    let mut f = Fleet::start(2);
    let v1 = f.build("v1", &[("index.html", "v1")]);
    f.ship(&["--hosts", "web1", "deploy", v1.to_str().unwrap()]).expect(0);
    std::fs::remove_dir_all(f.dir.path().join(".cache")).unwrap();
    let tar = which("tar");
    let wrapper = format!("#!/bin/sh\ncase \" $* \" in *\" -czf \"*) sleep 120;; esac\nexec {tar} \"$@\"\n");
    let bin = path_with_wrapped(f.dir.path(), "tar", &wrapper);
    f.hosts[0].sshd.add_config(&format!("SetEnv PATH={}", bin.display()));
    let (mut child, rx) = spawn(&f, &["sync"]);
    let mut said = wait_for(&rx, "copying it from this host");
    std::thread::sleep(Duration::from_secs(3));
    sigint(&child);
    // Far longer than any step of this sync takes on loopback.
    let code = exit_within(&mut child, Duration::from_secs(60));
    let locked: Vec<bool> = f.hosts.iter().map(|h| h.deploy_to.join(".ship/lock").exists()).collect();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(2)) {
        said.push(line);
    }
    assert!(
        code.is_some(),
        "ship sync was still running 60 s after Ctrl-C (host locks held: {locked:?}); it said:\n{}",
        said.join("\n")
    );
    assert_eq!(locked, [false, false], "locks left held:\n{}", said.join("\n"));
}

/// Issue 13: "never trust an unverified host key", and
/// `known_hosts_files`' promise to read known_hosts files "as OpenSSH
/// reads them". OpenSSH reads a host's `UserKnownHostsFile` for that host
/// only; ship pools every selected host's files and accepts a key found
/// in any of them. A lab box whose ssh_config block keeps its own
/// known_hosts file (which also holds a line for an address and port
/// that now leads to production, e.g. a reused tunnel port) makes ship
/// trust that line's key for the production host, whose own known_hosts
/// records another key: `ssh` would say "REMOTE HOST IDENTIFICATION HAS
/// CHANGED"; ship deploys to the impostor. Deployed alone, the same host
/// is refused.
#[test]
fn another_hosts_user_known_hosts_file_vouches_for_an_impostor() {
    let f = Fleet::start(2);
    let (lab, prod) = (&f.hosts[0], &f.hosts[1]);
    let home = f.dir.path();
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    // What this machine recorded for production: another key.
    let recorded = home.join("prod_real_key");
    crate::support::sshd::keygen(&recorded);
    let real = std::fs::read_to_string(recorded.with_extension("pub")).unwrap();
    let real = real.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    std::fs::write(home.join(".ssh/known_hosts"), format!("[{}]:{} {real}\n", prod.sshd.address, prod.sshd.port))
        .unwrap();
    // The lab's own file: the lab box, and a stale line for the address and
    // port production answers on now, with the key the impostor presents.
    let lab_file = home.join(".ssh/known_hosts.lab");
    std::fs::write(&lab_file, format!("{}\n{}\n", f.known_line(lab), f.known_line(prod))).unwrap();
    std::fs::write(
        home.join(".ssh/config"),
        format!(
            "Host lab-box\n  HostName {}\n  Port {}\n  UserKnownHostsFile {}\n",
            lab.sshd.address,
            lab.sshd.port,
            lab_file.display()
        ),
    )
    .unwrap();
    let cfg = format!(
        "[app]\nname = \"demo\"\ndeploy_to = \"/nonexistent/ship-test\"\nrestart = 'true'\n\n[ssh]\nuser = \"{}\"\n\
identity_file = \"{}\"\nconnect_timeout = \"5s\"\n\n[[hosts]]\nname = \"lab\"\naddress = \"lab-box\"\ndeploy_to = \"{}\"\n\n\
[[hosts]]\nname = \"prod\"\naddress = \"{}\"\nport = {}\ndeploy_to = \"{}\"\n",
        f.user,
        f.key.display(),
        lab.deploy_to.display(),
        prod.sshd.address,
        prod.sshd.port,
        prod.deploy_to.display()
    );
    std::fs::write(&f.config, cfg).unwrap();
    let build = f.build("v1", &[("index.html", "v1")]);
    let alone = f.ship(&["--hosts", "prod", "deploy", build.to_str().unwrap()]);
    let both = f.ship(&["deploy", build.to_str().unwrap()]);
    assert!(
        prod.deploy_to.join("current").symlink_metadata().is_err(),
        "ship deployed to a host presenting a key that its known_hosts does not record \
(deployed alone it exited {}: {})\n--- with the lab selected too (exit {})\n{}",
        alone.code,
        alone.stdout.lines().chain(alone.stderr.lines()).find(|l| l.contains("key")).unwrap_or(""),
        both.code,
        both.all()
    );
}

/// Issue 13 item 11: "every remote step has a deadline", and round 4's
/// fix putting a delta deploy's reads of the current release under
/// `[ssh] command_timeout`. A current release with many files (a
/// node_modules: here 20,000 files, a manifest over 4 MiB) has its
/// manifest read a second time in a channel of its own, with no deadline
/// and no forced stop: when that read never returns (a stale mount, a
/// disk that stalls; here `cat` of the manifest hangs from its second
/// call on) the deploy hangs in preflight with every host locked, and
/// SIGTERM ("any SIGTERM ends the run promptly") does not end it either.
#[test]
fn a_large_manifest_read_has_no_deadline_and_outlives_sigterm() {
    use crate::support::background::{exit_within, spawn};
    use std::time::Duration;
    let mut f = Fleet::start(1);
    let dir = format!("{}/{}", "d".repeat(100), "e".repeat(60));
    let names: Vec<String> = (0..20_000).map(|i| format!("{dir}/file-{i:06}.js")).collect();
    let mut files: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "x")).collect();
    files.push(("index.html", "v1"));
    let v1 = f.build("v1", &files);
    f.ship(&["deploy", v1.to_str().unwrap()]).expect(0);
    let manifest = f.hosts[0].deploy_to.join("current/.ship/manifest");
    let size = std::fs::metadata(&manifest).unwrap().len();
    assert!(size > 4 << 20, "the manifest is only {size} bytes");
    let cat = which("cat");
    let marker = f.dir.path().join("read-once");
    let wrapper = format!(
        "#!/bin/sh\ncase \"$*\" in */.ship/manifest) if [ -e {m} ]; then sleep 120; fi; : > {m};; esac\nexec {cat} \"$@\"\n",
        m = marker.display()
    );
    let bin = path_with_wrapped(f.dir.path(), "cat", &wrapper);
    f.hosts[0].sshd.add_config(&format!("SetEnv PATH={}", bin.display()));
    f.configure(
        &format!("keep_releases = 5\nrestart = '{}'\n", crate::support::fleet::RESTART),
        "command_timeout = \"5s\"\n",
    );
    files.pop();
    files.push(("index.html", "v2"));
    let v2 = f.build("v2", &files);
    let (mut child, rx) = spawn(&f, &["deploy", v2.to_str().unwrap()]);
    // Far longer than its 5 s deadline; then SIGTERM, as a CI runner
    // cancelling the job sends, which must end the run promptly.
    let mut code = exit_within_keep(&mut child, Duration::from_secs(20));
    if code.is_none() {
        crate::support::background::sigterm(&child);
        code = exit_within(&mut child, Duration::from_secs(30));
    }
    let locked = f.hosts[0].deploy_to.join(".ship/lock").exists();
    let mut said = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(2)) {
        said.push(line);
    }
    assert!(
        code.is_some(),
        "ship was still running 20 s into the deploy and 30 s after SIGTERM (host lock held: {locked}; manifest read once: {}); it said:\n{}",
        marker.exists(),
        said.join("\n")
    );
}

/// Waits at most `limit` for ship to exit, leaving it running if it does
/// not.
fn exit_within_keep(child: &mut std::process::Child, limit: std::time::Duration) -> Option<i32> {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if let Some(st) = child.try_wait().unwrap() {
            return Some(st.code().unwrap_or(-1));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    None
}
