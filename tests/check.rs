//! `ship check` against real sshd hosts: one row per host, each problem in
//! its own column, exit 1 when a deploy would fail, and nothing changed.

use crate::support::fleet::snapshot;
use crate::support::Fleet;

#[test]
fn check_finds_each_problem_on_its_host_and_changes_nothing() {
    let mut f = Fleet::start(4);
    let v1 = f.build("v1", &[("index.html", "v1")]);
    f.ship(&["deploy", v1.to_str().unwrap()]).expect(0);
    // web2 is down, web3's key is unknown, web4 is locked by a colleague.
    f.hosts[1].sshd.stop();
    let known: Vec<String> = f.hosts.iter().filter(|h| h.name != "web3").map(|h| f.known_line(h)).collect();
    std::fs::write(&f.known_hosts, known.join("\n") + "\n").unwrap();
    let lock = f.hosts[3].deploy_to.join(".ship/lock");
    std::fs::create_dir_all(&lock).unwrap();
    std::fs::write(lock.join("details.json"), r#"{"holder":"ana@laptop","command":"deploy"}"#).unwrap();
    let before: Vec<Vec<String>> = f.hosts.iter().map(|h| snapshot(&h.deploy_to)).collect();

    let run = f.ship(&["check"]);
    run.expect(1);
    let row = |name: &str| run.stdout.lines().find(|l| l.starts_with(name)).unwrap_or_default().to_string();
    let marks = |name: &str| row(name).split_whitespace().skip(1).map(str::to_string).collect::<Vec<_>>();
    assert_eq!(marks("web1"), ["ok"; 10], "{}", run.stdout);
    assert_eq!(marks("web2")[..2], ["FAIL", "-"], "{}", run.stdout);
    assert_eq!(marks("web3")[..3], ["ok", "FAIL", "-"], "{}", run.stdout);
    assert_eq!(marks("web4")[8], "FAIL", "{}", run.stdout);
    assert!(run.stdout.contains("web2: reach: cannot connect to"), "{}", run.stdout);
    assert!(run.stdout.contains("web3: key: "), "{}", run.stdout);
    assert!(run.stdout.contains("web4: lock: held by ana@laptop"), "{}", run.stdout);
    assert!(run.stdout.contains("a deploy would fail on 3 of 4 host(s): web2, web3, web4"), "{}", run.stdout);
    let after: Vec<Vec<String>> = f.hosts.iter().map(|h| snapshot(&h.deploy_to)).collect();
    assert_eq!(before, after, "check changed something on a host");
}

#[test]
fn check_passes_on_a_fresh_fleet_without_creating_deploy_to_and_speaks_json() {
    let f = Fleet::start(2);
    let run = f.ship(&["check", "--format", "json"]);
    run.expect(0);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    for (i, h) in v.as_array().unwrap().iter().enumerate() {
        assert_eq!(h["ready"], true, "{h}");
        assert_eq!(h["checks"]["restart"]["verdict"], "ok", "{h}");
        assert!(h["checks"]["deploy_to"]["detail"].as_str().unwrap().contains("does not exist yet"), "{h}");
        assert!(!f.hosts[i].deploy_to.exists(), "check created deploy_to");
    }
    // Colour only when asked for (or on a terminal); never in a pipe by default.
    let plain = f.ship(&["check"]);
    assert!(!plain.stdout.contains('\x1b'), "{}", plain.stdout);
    let coloured = f.ship(&["--color", "always", "check"]);
    assert!(coloured.stdout.contains("\x1b[32mok"), "{}", coloured.stdout);
}
