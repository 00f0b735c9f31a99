//! Locks against real sshd hosts: concurrent deploys, `ship lock`,
//! `ship unlock`, and interruption leaving no lock behind.

use crate::support::background::{sigint, spawn, wait_exit, wait_for};
use crate::support::Fleet;

fn assert_clean(f: &Fleet, current: &str) {
    for i in 0..f.hosts.len() {
        assert_eq!(f.current(i).unwrap(), current, "host {i}: current");
        assert_eq!(f.read_current(i, "index.html"), "v1", "host {i}: serves v1");
        assert!(!f.hosts[i].deploy_to.join(".ship/lock").exists(), "host {i}: lock left behind");
        assert!(f.staging(i).is_empty(), "host {i}: staging {:?}", f.staging(i));
    }
}

#[test]
fn a_second_concurrent_deploy_gets_exit_3_naming_the_holder_and_the_first_completes() {
    let f = Fleet::start(2);
    f.configure("restart = 'sleep 3'\n", "");
    let build = f.build("v1", &[("index.html", "v1")]);
    let (mut first, rx) = spawn(&f, &["deploy", build.to_str().unwrap()]);
    wait_for(&rx, "upload");
    let second = f.ship(&["deploy", build.to_str().unwrap()]);
    second.expect(3);
    assert!(
        second.stderr.contains("is locked: held by") && second.stderr.contains("running `deploy`"),
        "{}",
        second.stderr
    );
    assert!(second.stderr.contains("ship unlock --force"), "{}", second.stderr);
    assert_eq!(wait_exit(&mut first), 0, "the first deploy completes");
    for i in 0..2 {
        assert!(!f.hosts[i].deploy_to.join(".ship/lock").exists());
        assert_eq!(f.releases(i).len(), 1, "only the first deploy's release");
    }
}

#[test]
fn ship_lock_holds_the_fleet_until_unlocked() {
    let f = Fleet::start(2);
    let build = f.build("v1", &[("index.html", "v1")]);
    f.ship(&["lock", "-m", "incident 42"]).expect(0);
    let run = f.ship(&["deploy", build.to_str().unwrap()]);
    run.expect(3);
    assert!(run.stderr.contains("incident 42") && run.stderr.contains("running `lock`"), "{}", run.stderr);
    let status = f.ship(&["status"]);
    assert!(status.stdout.contains("held by") && status.stdout.contains("incident 42"), "{}", status.stdout);
    f.ship(&["unlock"]).expect(0);
    f.ship(&["deploy", build.to_str().unwrap()]).expect(0);
    // A lock held by someone else is only broken with --force, and that is logged.
    std::fs::create_dir_all(f.hosts[0].deploy_to.join(".ship/lock")).unwrap();
    std::fs::write(
        f.hosts[0].deploy_to.join(".ship/lock/details.json"),
        r#"{"holder":"ana@laptop","command":"deploy"}"#,
    )
    .unwrap();
    let run = f.ship(&["unlock"]);
    run.expect(1);
    assert!(run.stdout.contains("only its holder can release it"), "{}", run.stdout);
    f.ship(&["unlock", "--force"]).expect(0);
    assert!(!f.hosts[0].deploy_to.join(".ship/lock").exists());
    let log = std::fs::read_to_string(f.hosts[0].deploy_to.join(".ship/log.jsonl")).unwrap();
    assert!(log.contains("\"event\":\"force-unlock\"") && log.contains("ana@laptop"), "{log}");
}

#[test]
fn sigint_during_upload_leaves_every_host_on_its_release_and_no_lock() {
    let f = Fleet::start(2);
    let v1 = f.build("v1", &[("index.html", "v1")]);
    f.ship(&["deploy", v1.to_str().unwrap()]).expect(0);
    let before = f.current(0).unwrap();
    // A big incompressible build so the upload takes a moment.
    let big = f.build("v2", &[("index.html", "v2")]);
    let data = crate::support::fleet::noise(48 << 20);
    std::fs::write(big.join("blob.bin"), &data).unwrap();
    let (mut child, rx) = spawn(&f, &["deploy", big.to_str().unwrap()]);
    wait_for(&rx, "upload");
    sigint(&child);
    assert_eq!(wait_exit(&mut child), 130);
    assert_clean(&f, &before);
    for i in 0..2 {
        assert_eq!(f.releases(i), [before.as_str()], "host {i}: the interrupted release is removed");
    }
}

#[test]
fn sigint_during_waves_finishes_the_wave_then_reverts_and_unlocks() {
    let f = Fleet::start(3);
    let v1 = f.build("v1", &[("index.html", "v1")]);
    f.ship(&["deploy", v1.to_str().unwrap()]).expect(0);
    let before = f.current(0).unwrap();
    f.configure("restart = 'sleep 1'\n\n[strategy]\nkind = \"rolling\"\nbatch = 1\npause = \"3s\"\n", "");
    let v2 = f.build("v2", &[("index.html", "v2")]);
    let (mut child, rx) = spawn(&f, &["deploy", v2.to_str().unwrap()]);
    wait_for(&rx, "wave 1/3");
    sigint(&child);
    assert_eq!(wait_exit(&mut child), 130);
    assert_clean(&f, &before);
}

#[test]
fn a_preflight_that_fails_after_taking_the_lock_releases_it() {
    let f = Fleet::start(2);
    let build = f.build("v1", &[("index.html", "v1")]);
    // `shared` as a regular file: the preflight takes the lock, then its
    // `mkdir -p shared` fails.
    std::fs::create_dir_all(&f.hosts[1].deploy_to).unwrap();
    std::fs::write(f.hosts[1].deploy_to.join("shared"), "not a directory").unwrap();
    let run = f.ship(&["deploy", build.to_str().unwrap()]);
    run.expect(1);
    assert!(run.stdout.contains("web2") && run.stdout.contains("preflight"), "{}", run.all());
    for i in 0..2 {
        assert!(!f.hosts[i].deploy_to.join(".ship/lock").exists(), "host {i}: lock left behind\n{}", run.all());
    }
    std::fs::remove_file(f.hosts[1].deploy_to.join("shared")).unwrap();
    f.ship(&["deploy", build.to_str().unwrap()]).expect(0);
    assert_clean(&f, &f.current(0).unwrap());
}
