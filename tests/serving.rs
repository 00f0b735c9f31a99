//! Proof of serving (issue 15): after a restart, `[verify]` finds the
//! service's processes and every one must run the new release, and
//! `[health] expect_release` wants the health output to name it. A real
//! app started from the release by its restart command, on real sshd hosts.

use crate::support::app::{served, Apps, RESTART};
use crate::support::Fleet;

/// The app: writes its pid and the release it runs from, keeps a worker
/// child, and on SIGHUP does what `on_hup` says (re-exec from `current`,
/// with or without stopping its worker, or nothing).
fn server(on_hup: &str) -> String {
    format!(
        "echo $$ > \"$DEPLOY/shared/app.pid\"\n\
basename \"$(pwd -P)\" > \"$DEPLOY/shared/served\"\n\
sleep 300 & w=$!\n\
trap '{on_hup}' HUP\n\
while :; do sleep 1; done\n"
    )
}

/// Re-execs from `current` and stops its old worker: a real restart.
const REEXEC: &str = "kill $w; cd \"$DEPLOY/current\" && exec sh ./server.sh";
/// Re-execs from `current` but leaves its old worker running.
const REEXEC_LEAVING_WORKER: &str = "cd \"$DEPLOY/current\" && exec sh ./server.sh";
/// Ignores the signal: keeps running the old code.
const IGNORE: &str = "";

fn fleet(restart: &str, verify: &str) -> Fleet {
    let f = Fleet::start(1);
    f.configure(&format!("restart = '{restart}'\n\n[health]\ninterval = \"200ms\"\ntimeout = \"3s\"\n{verify}\n"), "");
    f
}

const VERIFY: &str = "\n[verify]\npidfile = \"shared/app.pid\"\n";

fn build(f: &Fleet, name: &str, on_hup: &str) -> String {
    f.build(name, &[("index.html", name), ("server.sh", &server(on_hup))]).to_str().unwrap().to_string()
}

#[test]
fn a_real_restart_passes_verify() {
    let f = fleet(RESTART, VERIFY);
    let _apps = Apps(&f);
    f.ship(&["deploy", &build(&f, "v1", REEXEC)]).expect(0);
    let run = f.ship(&["-v", "deploy", &build(&f, "v2", REEXEC)]);
    run.expect(0);
    assert!(run.all().contains("serving"), "the serving step ran:\n{}", run.all());
    assert_eq!(served(&f), f.current(0).unwrap(), "the app re-executed from the new release");
}

#[test]
fn a_restart_that_keeps_the_old_code_fails_verify_and_is_reverted() {
    let f = fleet(RESTART, VERIFY);
    let _apps = Apps(&f);
    f.ship(&["deploy", &build(&f, "v1", IGNORE)]).expect(0);
    let v1 = f.current(0).unwrap();
    let run = f.ship(&["deploy", &build(&f, "v2", IGNORE)]);
    run.expect(1);
    assert!(run.stdout.contains("at serving: pid "), "{}", run.all());
    assert!(run.stdout.contains(&format!("runs in release {v1}, not in the new release")), "{}", run.all());
    assert_eq!(f.current(0).unwrap(), v1, "the host went back to what it served");
}

#[test]
fn a_worker_left_in_the_old_release_fails_verify() {
    let f = fleet(RESTART, VERIFY);
    let _apps = Apps(&f);
    f.ship(&["deploy", &build(&f, "v1", REEXEC_LEAVING_WORKER)]).expect(0);
    let v1 = f.current(0).unwrap();
    let run = f.ship(&["deploy", &build(&f, "v2", REEXEC_LEAVING_WORKER)]);
    run.expect(1);
    assert!(run.stdout.contains(&format!("(`sleep 300`) runs in release {v1}")), "{}", run.all());
    assert_eq!(f.current(0).unwrap(), v1);
}

#[test]
fn a_restart_that_does_nothing_fails_expect_release() {
    let health = "command = 'cat \"$SHIP_DEPLOY_TO/shared/served\"'\nexpect_release = true\n";
    let f = Fleet::start(1);
    let _apps = Apps(&f);
    f.configure(&format!("restart = '{RESTART}'\n\n[health]\ninterval = \"200ms\"\ntimeout = \"2s\"\n{health}"), "");
    f.ship(&["deploy", &build(&f, "v1", REEXEC)]).expect(0);
    let v1 = f.current(0).unwrap();
    f.configure(&format!("restart = 'true'\n\n[health]\ninterval = \"200ms\"\ntimeout = \"2s\"\n{health}"), "");
    let run = f.ship(&["deploy", &build(&f, "v2", REEXEC)]);
    run.expect(1);
    assert!(run.stdout.contains("at health: "), "{}", run.all());
    assert!(run.all().contains("but its output does not name"), "{}", run.all());
    assert_eq!(f.current(0).unwrap(), v1);
}

#[test]
fn a_process_whose_release_was_pruned_shows_as_deleted_and_fails() {
    // v1's app ignores restarts; v2 and v3 are deployed without [verify],
    // with keep_releases = 1, so v1 is pruned under the running app.
    let f = fleet(RESTART, "");
    let _apps = Apps(&f);
    f.ship(&["deploy", &build(&f, "v1", IGNORE)]).expect(0);
    let v1 = f.current(0).unwrap();
    f.configure(
        &format!("restart = '{RESTART}'\nkeep_releases = 1\n\n[health]\ninterval = \"200ms\"\ntimeout = \"3s\"\n"),
        "",
    );
    f.ship(&["deploy", &build(&f, "v2", IGNORE)]).expect(0);
    f.ship(&["deploy", &build(&f, "v3", IGNORE)]).expect(0);
    assert!(!f.releases(0).contains(&v1), "v1 was pruned: {:?}", f.releases(0));
    f.configure(&format!("restart = '{RESTART}'\n\n[health]\ninterval = \"200ms\"\ntimeout = \"3s\"\n{VERIFY}"), "");
    let run = f.ship(&["deploy", &build(&f, "v4", IGNORE)]);
    run.expect(1);
    assert!(run.stdout.contains(&format!("runs in a deleted directory, release {v1}")), "{}", run.all());
}

#[test]
fn rollback_verifies_too() {
    let f = fleet(RESTART, VERIFY);
    let _apps = Apps(&f);
    f.ship(&["deploy", &build(&f, "v1", REEXEC)]).expect(0);
    f.ship(&["deploy", &build(&f, "v2", IGNORE)]).expect(0);
    let v2 = f.current(0).unwrap();
    // v2's app ignores SIGHUP: rolling back cannot move it.
    let run = f.ship(&["rollback"]);
    run.expect(1);
    assert!(run.stdout.contains(&format!("runs in release {v2}")), "{}", run.all());
}

/// Issue 15: `[health] bake` keeps checking every released host after the
/// last wave; a service healthy at first that fails during the bake is
/// reverted and its release marked bad.
#[test]
fn a_service_that_fails_during_the_bake_is_reverted() {
    let f = Fleet::start(2);
    let health = |bake: &str| {
        format!(
            "restart = 'date +%s > \"$SHIP_DEPLOY_TO/started\"'\n\n[strategy]\nkind = \"rolling\"\nbatch = 1\n\n\
[health]\n# healthy for 2 s after each restart, then not\n\
command = 'test $(( $(date +%s) - $(cat \"$SHIP_DEPLOY_TO/started\") )) -lt 2 || test \"$(cat index.html)\" = v1'\n\
timeout = \"1s\"\ninterval = \"200ms\"\n{bake}"
        )
    };
    f.configure(&health(""), "");
    let v1 = f.build("v1", &[("index.html", "v1")]);
    f.ship(&["deploy", v1.to_str().unwrap()]).expect(0);
    let old = f.current(0).unwrap();
    f.configure(&health("bake = \"8s\"\n"), "");
    let v2 = f.build("v2", &[("index.html", "v2")]);
    let run = f.ship(&["deploy", v2.to_str().unwrap()]);
    run.expect(1);
    assert!(run.stdout.contains("during the bake"), "{}", run.all());
    let new = f.releases(0).into_iter().find(|r| *r != old).unwrap();
    for i in 0..2 {
        assert_eq!(f.current(i).unwrap(), old, "host {i} reverted\n{}", run.all());
        assert!(f.hosts[i].deploy_to.join("releases").join(&new).join(".ship/bad").exists(), "marked bad");
    }
    // Without a bake the same deploy passes: the failure came later.
    f.configure(&health(""), "");
    let v3 = f.build("v3", &[("index.html", "v3")]);
    f.ship(&["deploy", v3.to_str().unwrap()]).expect(0);
}
