//! Deploys against real sshd hosts: the happy path, archives, pruning,
//! linked paths, failures before the switch, hostile values.

use crate::support::fleet::RESTART;
use crate::support::Fleet;
use serde_json::Value;

fn release_json(f: &Fleet, i: usize) -> Value {
    serde_json::from_str(&f.read_current(i, ".ship/release.json")).unwrap()
}

#[test]
fn deploy_to_three_hosts_switches_all_to_one_release() {
    let f = Fleet::start(3);
    let build = f.build("app", &[("index.html", "hello v1"), ("bin/run", "#!/bin/sh\necho run\n")]);
    let run = f.ship(&["deploy", build.to_str().unwrap(), "--version", "v1.0"]);
    run.expect(0);
    let id = f.current(0).expect("current on web1");
    assert_eq!(id.len(), 14, "release id {id}");
    for i in 0..3 {
        assert_eq!(f.current(i).as_deref(), Some(id.as_str()), "host {i} on the same release");
        assert_eq!(f.read_current(i, "index.html"), "hello v1");
        let rel = release_json(&f, i);
        assert_eq!(rel["id"], id.as_str());
        assert_eq!(rel["version"], "v1.0");
        assert_eq!(rel["sha256"].as_str().unwrap().len(), 64);
        // restart ran exactly once, in the new release directory
        let release_dir = f.hosts[i].deploy_to.join("releases").join(&id);
        assert_eq!(f.restarts(i), [release_dir.display().to_string()]);
        let log = std::fs::read_to_string(f.hosts[i].deploy_to.join(".ship/log.jsonl")).unwrap();
        let lines: Vec<Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0]["event"], "deploy");
        assert_eq!(lines[0]["release"], id.as_str());
        assert!(f.staging(i).is_empty(), "staging left behind: {:?}", f.staging(i));
    }
    assert!(run.stdout.contains("deploy") && run.stdout.contains("3 host(s) ok"), "{}", run.stdout);
}

#[test]
fn compression_trades_size_for_time_and_any_level_deploys() {
    let f = Fleet::start(1);
    let build = f.build("app", &[("a.txt", &"the same line again\n".repeat(20_000)), ("b.txt", "b")]);
    let mut sizes = Vec::new();
    for level in ["none", "best"] {
        let run = f.ship(&["--format", "json", "deploy", "--full", "--compression", level, build.to_str().unwrap()]);
        run.expect(0);
        let plan =
            run.stdout.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).find(|v| v["bytes"].is_u64());
        sizes.push(plan.unwrap()["bytes"].as_u64().unwrap());
        assert_eq!(f.read_current(0, "a.txt"), "the same line again\n".repeat(20_000));
    }
    assert!(sizes[0] > 400_000 && sizes[1] < sizes[0] / 20, "none vs best: {sizes:?}");
    let run = f.ship(&["deploy", "--compression", "max", build.to_str().unwrap()]);
    run.expect(2);
    assert!(run.stderr.contains("none, fast, default, best"), "{}", run.stderr);
}

#[test]
fn deploy_an_existing_tarball() {
    let f = Fleet::start(1);
    let build = f.build("app", &[("public/app.js", "console.log(1)"), ("VERSION", "7")]);
    let tgz = f.dir.path().join("build.tar.gz");
    let st = std::process::Command::new("tar").arg("czf").arg(&tgz).arg("-C").arg(&build).arg(".").status().unwrap();
    assert!(st.success());
    f.ship(&["deploy", tgz.to_str().unwrap()]).expect(0);
    assert_eq!(f.read_current(0, "public/app.js"), "console.log(1)");
    assert_eq!(f.read_current(0, "VERSION"), "7");
}

#[test]
fn keep_releases_prunes_old_ones_but_never_current_nor_rollback_target() {
    let f = Fleet::start(2);
    f.configure(&format!("keep_releases = 2\nrestart = '{RESTART}'\n"), "");
    let build = f.build("app", &[("a", "1")]);
    let mut ids = Vec::new();
    for _ in 0..3 {
        f.ship(&["deploy", build.to_str().unwrap()]).expect(0);
        ids.push(f.current(0).unwrap());
    }
    // Back-to-back deploys in one second still get distinct ids.
    assert!(ids[0] < ids[1] && ids[1] < ids[2], "{ids:?}");
    for i in 0..2 {
        assert_eq!(f.releases(i), [ids[1].clone(), ids[2].clone()], "host {i}");
    }
    // Roll back, then prune hard: current (ids[1]) must survive, and ids[2]
    // (newer than current) is what goes.
    f.ship(&["rollback"]).expect(0);
    assert_eq!(f.current(0).unwrap(), ids[1]);
    f.ship(&["prune", "--keep", "1"]).expect(0);
    for i in 0..2 {
        assert_eq!(f.releases(i), [ids[1].clone()], "host {i}");
        assert_eq!(f.current(i).unwrap(), ids[1]);
    }
}

#[test]
fn prune_leaves_oddly_named_dirs_alone_with_a_warning() {
    let f = Fleet::start(1);
    let build = f.build("app", &[("a", "1")]);
    for _ in 0..3 {
        f.ship(&["deploy", build.to_str().unwrap()]).expect(0);
    }
    std::fs::create_dir(f.hosts[0].deploy_to.join("releases/backup-old")).unwrap();
    let run = f.ship(&["prune", "--keep", "1"]);
    run.expect(0);
    assert!(run.stderr.contains("releases/backup-old is not a release id"), "{}", run.stderr);
    let left = f.releases(0);
    assert!(left.contains(&"backup-old".to_string()), "{left:?}");
    // current and its rollback target are kept even with --keep 1
    assert_eq!(left.len(), 3, "{left:?}");
}

#[test]
fn linked_dirs_and_files_point_into_shared() {
    let f = Fleet::start(2);
    f.configure(
        &format!("restart = '{RESTART}'\nlinked_dirs = [\"log\", \"tmp/cache\"]\nlinked_files = [\"config/.env\"]\n"),
        "",
    );
    for h in &f.hosts {
        std::fs::create_dir_all(h.deploy_to.join("shared/config")).unwrap();
        std::fs::write(h.deploy_to.join("shared/config/.env"), format!("HOST={}", h.name)).unwrap();
    }
    // The build ships its own log/ dir: the link replaces it.
    let build = f.build("app", &[("log/dev.log", "x"), ("config/app.yml", "a: 1")]);
    f.ship(&["deploy", build.to_str().unwrap()]).expect(0);
    for (i, h) in f.hosts.iter().enumerate() {
        let cur = h.deploy_to.join("current");
        assert_eq!(std::fs::read_link(cur.join("log")).unwrap(), h.deploy_to.join("shared/log"));
        assert_eq!(std::fs::read_link(cur.join("tmp/cache")).unwrap(), h.deploy_to.join("shared/tmp/cache"));
        assert!(h.deploy_to.join("shared/log").is_dir());
        assert_eq!(f.read_current(i, "config/.env"), format!("HOST={}", h.name));
        assert_eq!(f.read_current(i, "config/app.yml"), "a: 1");
    }
}

#[test]
fn missing_linked_file_fails_before_any_upload_and_names_the_path() {
    let f = Fleet::start(2);
    let build = f.build("app", &[("a", "1")]);
    f.ship(&["deploy", build.to_str().unwrap()]).expect(0);
    let before = f.current(0).unwrap();
    f.configure("linked_files = [\".env\"]\n", "");
    std::fs::write(f.hosts[0].deploy_to.join("shared/.env"), "ok").unwrap();
    let run = f.ship(&["deploy", build.to_str().unwrap()]);
    run.expect(1);
    let missing = f.hosts[1].deploy_to.join("shared/.env");
    assert!(run.all().contains(&format!("linked file(s) missing on the host: {}", missing.display())), "{}", run.all());
    for i in 0..2 {
        assert_eq!(f.current(i).unwrap(), before);
        assert_eq!(f.releases(i), [before.as_str()]);
    }
}

#[test]
fn one_host_down_means_no_host_switches() {
    let mut f = Fleet::start(3);
    let v1 = f.build("v1", &[("index.html", "v1")]);
    f.ship(&["deploy", v1.to_str().unwrap()]).expect(0);
    let before = f.current(0).unwrap();
    f.hosts[1].sshd.stop();
    let v2 = f.build("v2", &[("index.html", "v2")]);
    let run = f.ship(&["deploy", v2.to_str().unwrap()]);
    run.expect(1);
    assert!(run.stdout.contains("web2") && run.stdout.contains("at connect"), "{}", run.stdout);
    for i in 0..3 {
        assert_eq!(f.current(i).unwrap(), before, "host {i} must still serve the old release");
        assert_eq!(f.read_current(i, "index.html"), "v1");
        assert_eq!(f.releases(i), [before.as_str()], "host {i}: no new release dir");
        assert!(f.staging(i).is_empty(), "host {i}: staging {:?}", f.staging(i));
    }
}

#[test]
fn failure_during_staging_on_one_host_removes_the_release_everywhere() {
    let f = Fleet::start(3);
    let v1 = f.build("v1", &[("index.html", "v1")]);
    f.ship(&["deploy", v1.to_str().unwrap()]).expect(0);
    let before = f.current(0).unwrap();
    // Linking fails on web3 only: its shared/log is a file, so `mkdir -p` fails.
    f.configure(&format!("restart = '{RESTART}'\nlinked_dirs = [\"log\"]\n"), "");
    std::fs::create_dir_all(f.hosts[2].deploy_to.join("shared")).unwrap();
    std::fs::write(f.hosts[2].deploy_to.join("shared/log"), "not a dir").unwrap();
    let v2 = f.build("v2", &[("index.html", "v2")]);
    let run = f.ship(&["deploy", v2.to_str().unwrap()]);
    run.expect(1);
    assert!(run.stdout.contains("at link"), "{}", run.stdout);
    assert!(run.stdout.contains("new release removed: web3 failed before the switch"), "{}", run.stdout);
    for i in 0..3 {
        assert_eq!(f.current(i).unwrap(), before, "host {i}");
        assert_eq!(f.releases(i), [before.as_str()], "host {i}: staged release must be gone");
        assert!(f.staging(i).is_empty(), "host {i}: staging {:?}", f.staging(i));
        assert_eq!(f.restarts(i).len(), 1, "host {i}: no restart for the failed deploy");
    }
}

#[test]
fn failing_restart_is_reported_with_its_step_and_output() {
    let f = Fleet::start(1);
    f.configure("restart = 'echo starting; echo \"unit demo.service not found\" >&2; exit 5'\n", "");
    let build = f.build("app", &[("a", "1")]);
    let run = f.ship(&["deploy", build.to_str().unwrap()]);
    run.expect(1);
    assert!(run.stdout.contains("at restart: exit status 5: unit demo.service not found"), "{}", run.stdout);
}

#[test]
fn current_as_a_real_directory_is_refused_and_left_untouched() {
    let f = Fleet::start(1);
    let cur = f.hosts[0].deploy_to.join("current");
    std::fs::create_dir_all(&cur).unwrap();
    std::fs::write(cur.join("precious"), "keep me").unwrap();
    let build = f.build("app", &[("a", "1")]);
    let run = f.ship(&["deploy", build.to_str().unwrap()]);
    run.expect(1);
    assert!(run.stdout.contains("is a real directory, not a symlink"), "{}", run.stdout);
    assert_eq!(std::fs::read_to_string(cur.join("precious")).unwrap(), "keep me");
    assert!(f.releases(0).is_empty());
}

#[test]
fn hostile_label_and_deploy_to_are_stored_never_executed() {
    let f = Fleet::start(1);
    let marker1 = f.dir.path().join("pwned-label");
    let marker2 = f.dir.path().join("pwned-path");
    let label = format!("'; touch {}; '$(touch {})`touch {}`", marker1.display(), marker1.display(), marker1.display());
    // A deploy_to with a command substitution in its name.
    let hostile_dir = f.dir.path().join(format!("srv$(touch {})'x", marker2.display()));
    let cfg = std::fs::read_to_string(&f.config).unwrap();
    let cfg = cfg.replace(
        &format!("deploy_to = \"{}\"", f.hosts[0].deploy_to.display()),
        &format!("deploy_to = \"{}\"", hostile_dir.display()),
    );
    std::fs::write(&f.config, cfg).unwrap();
    let build = f.build("app", &[("a", "1")]);
    f.ship(&["deploy", build.to_str().unwrap(), "--version", &label]).expect(0);
    assert!(!marker1.exists(), "the label was executed");
    assert!(!marker2.exists(), "deploy_to was executed");
    let rel: Value =
        serde_json::from_str(&std::fs::read_to_string(hostile_dir.join("current/.ship/release.json")).unwrap())
            .unwrap();
    assert_eq!(rel["version"], label.as_str(), "label stored byte for byte");
}

#[test]
fn deploy_streams_json_lines_ending_with_the_summary() {
    let f = Fleet::start(2);
    let build = f.build("app", &[("a", "1")]);
    let run = f.ship(&["--format", "json", "deploy", build.to_str().unwrap()]);
    run.expect(0);
    let lines: Vec<Value> =
        run.stdout.lines().map(|l| serde_json::from_str(l).expect("one JSON object per line")).collect();
    let types: Vec<&str> = lines.iter().map(|v| v["type"].as_str().unwrap()).collect();
    assert_eq!(types[..2], ["packaging", "plan"], "{types:?}");
    assert_eq!(types.iter().filter(|t| **t == "host").count(), 2, "{types:?}");
    for step in ["connect", "preflight", "upload", "switch", "restart", "finish"] {
        assert!(lines.iter().any(|v| v["type"] == "phase" && v["host"] == "web2" && v["step"] == step), "{step}");
    }
    let v = lines.last().unwrap();
    assert_eq!(v["type"], "summary");
    assert_eq!(v["command"], "deploy");
    assert_eq!(v["ok"], true);
    assert_eq!(v["release"], f.current(0).unwrap().as_str());
    assert_eq!(v["hosts"].as_array().unwrap().len(), 2);
    assert_eq!(v["hosts"][1]["name"], "web2");
    assert_eq!(v["hosts"][1]["result"], "ok");
    // A run that ends in an error ends the stream with it.
    let run = f.ship(&["--format", "json", "rollback", "--to", "20000101000000"]);
    let last: Value = serde_json::from_str(run.stdout.lines().last().unwrap()).unwrap();
    assert!(last["type"] == "error" || last["type"] == "summary", "{last}");
    assert!(!last["ok"].as_bool().unwrap_or(false), "{last}");
}

/// A gzip tarball with one regular file whose header names `path` verbatim.
fn forged_tarball(path: &str) -> Vec<u8> {
    let mut header = [0u8; 512];
    header[..path.len()].copy_from_slice(path.as_bytes());
    header[100..107].copy_from_slice(b"0000644");
    header[124..135].copy_from_slice(b"00000000001");
    header[156] = b'0';
    header[257..262].copy_from_slice(b"ustar");
    header[263..265].copy_from_slice(b"00");
    header[148..156].copy_from_slice(b"        ");
    let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    header[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    let mut tar = header.to_vec();
    let mut body = vec![0u8; 512];
    body[0] = b'x';
    tar.extend(body);
    tar.extend(vec![0u8; 1024]);
    let mut gz = Vec::new();
    let st = {
        use std::io::Write;
        let mut child = std::process::Command::new("gzip")
            .arg("-c")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&tar).unwrap();
        let out = child.wait_with_output().unwrap();
        gz.extend(out.stdout);
        out.status
    };
    assert!(st.success());
    gz
}

#[test]
fn hostile_tarballs_are_refused_before_any_host_is_touched() {
    let f = Fleet::start(1);
    for (name, path, says) in [("abs.tar.gz", "/etc/cron.d/evil", "absolute path"), ("up.tgz", "../../evil", "`..`")] {
        let tgz = f.dir.path().join(name);
        std::fs::write(&tgz, forged_tarball(path)).unwrap();
        let run = f.ship(&["deploy", tgz.to_str().unwrap()]);
        run.expect(2);
        assert!(run.stderr.contains(says), "{}", run.stderr);
        assert!(!f.hosts[0].deploy_to.exists(), "no host was touched");
    }
}

#[test]
fn secret_env_reaches_commands_on_stdin_and_is_never_printed() {
    let f = Fleet::start(1);
    // The restart also records the command lines of itself and its
    // ancestors, which any user of the host can read.
    f.configure(
        "restart = 'p=$$; while [ \"$p\" -gt 1 ]; do tr \"\\0\" \" \" < /proc/$p/cmdline; echo; \
p=$(cut -d \" \" -f 4 /proc/$p/stat); done > \"$SHIP_DEPLOY_TO/../cmdlines\"; \
echo \"token is $API_TOKEN\" >&2; printf %s \"$API_TOKEN\" > \"$SHIP_DEPLOY_TO/../seen\"; exit 3'\n\n\
[hooks]\nsecret_env = [\"API_TOKEN\"]\n",
        "",
    );
    let build = f.build("v1", &[("index.html", "v1")]);
    let run = f.ship(&["deploy", build.to_str().unwrap()]);
    run.expect(2);
    assert!(run.stderr.contains("`API_TOKEN` is not set in ship's environment"), "{}", run.stderr);

    let secret = "s3cr3t 'va$(lue)`x`";
    for format in ["text", "json"] {
        let mut cmd = crate::support::fleet::ship_command(f.dir.path());
        cmd.arg("-c").arg(&f.config).args(["-v", "--format", format, "deploy", build.to_str().unwrap()]);
        cmd.env("API_TOKEN", secret);
        let run = crate::support::fleet::run_with_timeout(cmd);
        run.expect(1);
        let seen = f.hosts[0].deploy_to.parent().unwrap().join("seen");
        assert_eq!(std::fs::read_to_string(seen).unwrap(), secret, "the restart got the value byte for byte");
        assert!(!run.all().contains("s3cr3t"), "printed the secret:\n{}", run.all());
        assert!(run.stdout.contains("token is ***"), "{}", run.stdout);
    }
    let cmdlines = std::fs::read_to_string(f.hosts[0].deploy_to.parent().unwrap().join("cmdlines")).unwrap();
    assert!(cmdlines.contains("IFS= read -r API_TOKEN"), "the script's command line:\n{cmdlines}");
    assert!(!cmdlines.contains("s3cr3t"), "the secret was on a command line:\n{cmdlines}");
}

/// Every script of a run goes through one remote shell per host: sshd
/// starts one session (and the login shell runs its start-up files once)
/// per host for a whole deploy, and once more for a rollback.
#[test]
fn a_deploy_starts_one_remote_session_per_host() {
    let f = Fleet::start(2);
    let sessions = |i: usize| f.hosts[i].sshd.log().matches("Starting session: command").count();
    let v1 = f.build("v1", &[("a", "1")]);
    let v2 = f.build("v2", &[("a", "2")]);
    f.ship(&["deploy", v1.to_str().unwrap()]).expect(0);
    assert_eq!([sessions(0), sessions(1)], [1, 1], "{}", f.hosts[0].sshd.log());
    f.ship(&["deploy", v2.to_str().unwrap()]).expect(0);
    f.ship(&["rollback"]).expect(0);
    assert_eq!([sessions(0), sessions(1)], [3, 3], "{}", f.hosts[0].sshd.log());
    assert_eq!(f.read_current(0, "a"), "1");
}

/// Issue 15: each step of a host is reported as it starts on the host, not
/// once the round trip that carries it has ended. The restart here waits
/// until the test has seen its `restart` event: reported only afterwards,
/// the restart would never end and the deploy would fail.
#[test]
fn each_step_is_reported_as_it_starts_on_the_host() {
    use crate::support::background::{spawn, wait_exit, wait_for};
    let f = Fleet::start(1);
    let go = f.dir.path().join("go");
    let restart =
        format!("i=0; while [ ! -f {} ]; do i=$((i+1)); [ $i -gt 200 ] && exit 7; sleep 0.1; done", go.display());
    f.configure(&format!("restart = '{restart}'\nrestart_timeout = \"30s\"\n"), "");
    let build = f.build("v1", &[("index.html", "v1")]);
    let (mut child, rx) = spawn(&f, &["deploy", build.to_str().unwrap()]);
    let seen = wait_for(&rx, " restart");
    assert!(seen.iter().any(|l| l.ends_with(" switch")), "switch came first: {seen:#?}");
    std::fs::write(&go, "").unwrap();
    assert_eq!(wait_exit(&mut child), 0, "the restart ended once its event was seen");
}
