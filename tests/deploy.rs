//! Deploys against real sshd hosts: the happy path, archives, pruning,
//! linked paths, failures before the switch, hostile values.

use crate::support::Fleet;
use crate::support::fleet::RESTART;
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
