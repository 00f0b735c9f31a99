//! Rollbacks against real sshd hosts.

use crate::support::Fleet;

fn deploy_twice(f: &Fleet) -> (String, String) {
    let v1 = f.build("v1", &[("index.html", "v1")]);
    f.ship(&["deploy", v1.to_str().unwrap()]).expect(0);
    let r1 = f.current(0).unwrap();
    let v2 = f.build("v2", &[("index.html", "v2")]);
    f.ship(&["deploy", v2.to_str().unwrap()]).expect(0);
    let r2 = f.current(0).unwrap();
    (r1, r2)
}

#[test]
fn rollback_goes_to_the_previous_release_and_restarts() {
    let f = Fleet::start(3);
    let (r1, _r2) = deploy_twice(&f);
    let run = f.ship(&["rollback"]);
    run.expect(0);
    for i in 0..3 {
        assert_eq!(f.current(i).unwrap(), r1);
        assert_eq!(f.read_current(i, "index.html"), "v1");
        let restarts = f.restarts(i);
        assert_eq!(restarts.len(), 3, "two deploys and a rollback");
        assert!(restarts[2].ends_with(&r1), "restart ran in the rollback target: {restarts:?}");
        let log = std::fs::read_to_string(f.hosts[i].deploy_to.join(".ship/log.jsonl")).unwrap();
        assert!(log.lines().last().unwrap().contains("\"event\":\"rollback\""), "{log}");
    }
}

#[test]
fn rollback_to_a_named_release() {
    let f = Fleet::start(2);
    let (r1, r2) = deploy_twice(&f);
    f.ship(&["rollback", "--to", &r1]).expect(0);
    assert_eq!(f.current(1).unwrap(), r1);
    f.ship(&["rollback", "--to", &r2]).expect(0);
    for i in 0..2 {
        assert_eq!(f.current(i).unwrap(), r2);
        assert_eq!(f.read_current(i, "index.html"), "v2");
    }
}

#[test]
fn rollback_refused_when_a_host_lacks_the_release() {
    let f = Fleet::start(3);
    let (r1, r2) = deploy_twice(&f);
    std::fs::remove_dir_all(f.hosts[1].deploy_to.join("releases").join(&r1)).unwrap();
    let run = f.ship(&["rollback", "--to", &r1]);
    run.expect(1);
    assert!(run.stderr.contains(&format!("release {r1} is not on web2")), "{}", run.stderr);
    // And without --to, web2 has nothing to go back to.
    let run = f.ship(&["rollback"]);
    run.expect(1);
    assert!(run.stderr.contains("web2 has no release older than its current one"), "{}", run.stderr);
    for i in 0..3 {
        assert_eq!(f.current(i).unwrap(), r2, "host {i} untouched");
    }
}

#[test]
fn rollback_with_an_invalid_id_is_a_usage_error() {
    let f = Fleet::start(1);
    let run = f.ship(&["rollback", "--to", "../etc"]);
    run.expect(2);
    assert!(run.stderr.contains("is not the name of a directory under releases/"), "{}", run.stderr);
    // Any plain name may be a release another tool made (`57`); one the
    // host lacks is refused with nothing changed.
    let run = f.ship(&["rollback", "--to", "yesterday"]);
    run.expect(1);
    assert!(run.stderr.contains("release yesterday is not on web1"), "{}", run.stderr);
}

#[test]
fn status_and_releases_report_each_host() {
    let f = Fleet::start(2);
    let (r1, r2) = deploy_twice(&f);
    let run = f.ship(&["status"]);
    run.expect(0);
    assert!(run.stdout.contains(&format!("fleet consistent: all 2 host(s) on {r2}")), "{}", run.stdout);
    f.ship(&["--hosts", "web2", "rollback"]).expect(0);
    let run = f.ship(&["status"]);
    assert!(run.stdout.contains(&format!("fleet drifts: {r1}: web2; {r2}: web1")), "{}", run.stdout);
    let run = f.ship(&["--format", "json", "status"]);
    let v: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(v["consistent"], false);
    assert_eq!(v["hosts"][1]["current"], r1.as_str());
    let run = f.ship(&["--format", "json", "releases"]);
    let v: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(v[0]["releases"][0]["id"], r2.as_str());
    assert_eq!(v[0]["releases"][0]["current"], true);
    assert_eq!(v[1]["releases"][1]["current"], true);
    let run = f.ship(&["releases"]);
    assert!(run.stdout.contains(&format!("* {r2}  (current)")), "{}", run.stdout);
}

#[test]
fn status_names_an_unreachable_host() {
    let mut f = Fleet::start(2);
    f.hosts[0].sshd.stop();
    let run = f.ship(&["status"]);
    run.expect(1);
    assert!(run.stdout.contains("unreachable") && run.stdout.contains("cannot connect"), "{}", run.stdout);
}

/// One environment for every hook (issue 14): a rollback's restart sees
/// the same variables as a deploy's, the strategy included (it used to get
/// no SHIP_STRATEGY, and a sync's said `sync`).
#[test]
fn a_rollbacks_restart_sees_the_same_variables_as_a_deploys() {
    let f = Fleet::start(1);
    let restart = r#"env | grep ^SHIP_ | sort > "$SHIP_DEPLOY_TO/../restart.env""#;
    f.configure(&format!("keep_releases = 5\nrestart = '{restart}'\n"), "");
    let v1 = f.build("v1", &[("index.html", "v1")]);
    f.ship(&["deploy", v1.to_str().unwrap()]).expect(0);
    let first = f.current(0).unwrap();
    let v2 = f.build("v2", &[("index.html", "v2")]);
    f.ship(&["deploy", v2.to_str().unwrap()]).expect(0);
    let second = f.current(0).unwrap();
    f.ship(&["rollback"]).expect(0);
    let env = std::fs::read_to_string(f.hosts[0].deploy_to.parent().unwrap().join("restart.env")).unwrap();
    for want in [
        "SHIP_APP=demo".to_string(),
        format!("SHIP_RELEASE={first}"),
        format!("SHIP_PREVIOUS_RELEASE={second}"),
        "SHIP_HOST=web1".to_string(),
        "SHIP_STRATEGY=parallel".to_string(),
        "SHIP_VERSION=".to_string(),
        format!("SHIP_DEPLOY_TO={}", f.hosts[0].deploy_to.display()),
    ] {
        assert!(env.lines().any(|l| l == want), "missing {want} in:\n{env}");
    }
}

/// Issue 15: a rollback is a release too. With `--strategy rolling` it
/// goes host by host, each restarted and health-checked before the next;
/// a host whose service does not come back stops it there, and the hosts
/// of later waves stay where they were.
#[test]
fn a_rolling_rollback_goes_wave_by_wave_and_stops_at_a_host_that_does_not_come_back() {
    let f = Fleet::start(3);
    let trace = f.dir.path().join("order.log");
    let t = trace.display();
    let restart = format!("echo \"start $SHIP_HOST\" >> {t}; sleep 0.2; echo \"end $SHIP_HOST\" >> {t}");
    let setup = |health: &str| {
        f.configure(
            &format!(
                "restart = '{restart}'\n\n[health]\ncommand = '{health}'\ntimeout = \"1s\"\ninterval = \"200ms\"\n"
            ),
            "",
        )
    };
    setup("true");
    let (r1, r2) = deploy_twice(&f);
    std::fs::remove_file(&trace).unwrap();
    let run = f.ship(&["rollback", "--strategy", "rolling", "--batch", "1"]);
    run.expect(0);
    let lines: Vec<String> = std::fs::read_to_string(&trace).unwrap().lines().map(str::to_string).collect();
    let want: Vec<String> = (1..=3).flat_map(|i| [format!("start web{i}"), format!("end web{i}")]).collect();
    assert_eq!(lines, want, "one host at a time, in order\n{}", run.all());
    for i in 0..3 {
        assert_eq!(f.current(i).unwrap(), r1);
    }
    // Forward again, then a rollback whose target does not come up on web2.
    f.ship(&["rollback", "--to", &r2]).expect(0);
    setup("test \"$SHIP_HOST\" != web2");
    let run = f.ship(&["rollback", "--to", &r1, "--strategy", "rolling", "--batch", "1"]);
    run.expect(1);
    assert!(run.stdout.contains("at health:"), "{}", run.all());
    assert_eq!(f.current(0).unwrap(), r1, "web1 rolled back");
    assert_eq!(f.current(2).unwrap(), r2, "web3 never touched\n{}", run.all());
    assert!(run.stdout.contains("not rolled back: web2 failed in an earlier wave"), "{}", run.all());
    assert!(!f.hosts[2].deploy_to.join(".ship/lock").exists(), "web3's lock released");
}
