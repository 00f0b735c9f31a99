//! `ship sync` against real sshd hosts: a freshly added empty host and a
//! host that missed a deploy are brought to the fleet's release, with the
//! same id, from the cache or copied from a healthy host.

use crate::support::Fleet;

/// hosts.toml without the last host's [[hosts]] table.
fn without_last_host(f: &Fleet) -> (String, String) {
    let full = std::fs::read_to_string(&f.config).unwrap();
    let last = f.hosts.last().unwrap();
    let cut = full.find(&format!("\n[[hosts]]\nname = \"{}\"", last.name)).unwrap();
    (full[..cut].to_string(), full)
}

#[test]
fn sync_brings_a_new_empty_host_to_the_fleet_release_from_the_cache() {
    let f = Fleet::start(3);
    let (two, full) = without_last_host(&f);
    std::fs::write(&f.config, &two).unwrap();
    let v1 = f.build("v1", &[("index.html", "v1")]);
    f.ship(&["deploy", v1.to_str().unwrap()]).expect(0);
    let v2 = f.build("v2", &[("index.html", "v2")]);
    f.ship(&["deploy", v2.to_str().unwrap()]).expect(0);
    let id = f.current(0).unwrap();

    // A new host joins the fleet.
    std::fs::write(&f.config, &full).unwrap();
    let status = f.ship(&["status"]);
    status.expect(0);
    assert!(status.stdout.contains("fleet drifts") && status.stdout.contains("no release: web3"), "{}", status.stdout);
    let run = f.ship(&["sync"]);
    run.expect(0);
    assert!(!run.stderr.contains("not in the local cache"), "came from the cache: {}", run.stderr);
    assert_eq!(f.current(2).unwrap(), id, "same release id as the fleet");
    assert_eq!(f.read_current(2, "index.html"), "v2");
    assert_eq!(f.restarts(2).len(), 1, "restarted once");
    assert_eq!(f.restarts(0).len(), 2, "hosts already on the release are left alone");
    let status = f.ship(&["status"]);
    assert!(status.stdout.contains(&format!("fleet consistent: all 3 host(s) on {id}")), "{}", status.stdout);
    // A second sync has nothing to do.
    f.ship(&["sync"]).expect(0);
    assert_eq!(f.restarts(2).len(), 1);
}

#[test]
fn sync_catches_up_a_host_that_missed_a_deploy_copying_from_a_healthy_host() {
    let mut f = Fleet::start(3);
    f.configure(&format!("restart = '{}'\nlinked_dirs = [\"log\"]\n", crate::support::fleet::RESTART), "");
    let v1 = f.build("v1", &[("index.html", "v1")]);
    f.ship(&["deploy", v1.to_str().unwrap()]).expect(0);
    let old = f.current(2).unwrap();
    let v2 = f.build("v2", &[("index.html", "v2")]);
    // web3 goes down: a deploy to the whole fleet refuses to switch anyone,
    // so the team deploys to the hosts that are up.
    f.hosts[2].sshd.stop();
    f.ship(&["deploy", v2.to_str().unwrap()]).expect(1);
    assert_eq!(f.current(0).unwrap(), old, "nobody switched while web3 was down");
    f.ship(&["--hosts", "web1,web2", "deploy", v2.to_str().unwrap()]).expect(0);
    f.hosts[2].sshd.restart();
    let id = f.current(0).unwrap();
    assert_eq!(f.current(2).unwrap(), old);
    // And this machine's cache is gone (another laptop, a cleaned CI runner).
    std::fs::remove_dir_all(f.dir.path().join(".cache")).unwrap();
    let run = f.ship(&["sync"]);
    run.expect(0);
    assert!(run.stderr.contains("not in the local cache; copying it from this host"), "{}", run.stderr);
    assert_eq!(f.current(2).unwrap(), id);
    assert_eq!(f.read_current(2, "index.html"), "v2");
    let web3 = &f.hosts[2].deploy_to;
    assert_eq!(
        std::fs::read_link(web3.join("current/log")).unwrap(),
        web3.join("shared/log"),
        "linked to its own shared/"
    );
    let rel: serde_json::Value = serde_json::from_str(&f.read_current(2, ".ship/release.json")).unwrap();
    assert_eq!(rel["id"], id.as_str());
    assert_eq!(f.releases(2), [old.as_str(), id.as_str()]);
}
