//! Review of the issue 13 fixes as landed: reproductions that fail on the
//! current code, each against real sshd hosts. One test per defect found.

use crate::support::Fleet;
use std::path::Path;

fn set_current(f: &Fleet, i: usize, target: &Path) {
    let cur = f.hosts[i].deploy_to.join("current");
    let _ = std::fs::remove_file(&cur);
    std::os::unix::fs::symlink(target, cur).unwrap();
}

/// Item 2: "prune never removes the directory `current` resolves to, however
/// it is spelled (… or refuse to prune what it cannot understand)". An
/// operator moved an old release to another disk and left a symlink under
/// releases/ (a common way to free space), then pointed `current` at it by
/// hand. `current` resolves outside releases/, ship cannot place it, yet
/// prune removes the releases/ entry `current` goes through: `current`
/// dangles and the host serves nothing.
#[test]
fn prune_removes_the_release_entry_current_goes_through() {
    let f = Fleet::start(1);
    let mut ids = Vec::new();
    for v in ["v1", "v2", "v3"] {
        let b = f.build(v, &[("index.html", v)]);
        f.ship(&["deploy", b.to_str().unwrap()]).expect(0);
        ids.push(f.current(0).unwrap());
    }
    let releases = f.hosts[0].deploy_to.join("releases");
    let disk = f.dir.path().join("bigdisk");
    std::fs::create_dir_all(&disk).unwrap();
    std::fs::rename(releases.join(&ids[0]), disk.join(&ids[0])).unwrap();
    std::os::unix::fs::symlink(disk.join(&ids[0]), releases.join(&ids[0])).unwrap();
    // Back to v1 by hand, through the usual path.
    set_current(&f, 0, &releases.join(&ids[0]));
    assert_eq!(f.read_current(0, "index.html"), "v1");
    let run = f.ship(&["prune", "--keep", "1"]);
    let serving = std::fs::read_to_string(f.hosts[0].deploy_to.join("current/index.html")).ok();
    assert!(
        serving.as_deref() == Some("v1"),
        "after prune the host no longer serves v1 (current dangles: {serving:?}); releases left: {:?}\n{}",
        f.releases(0),
        run.all()
    );
}

/// New (sync after a rollback, cf. item 7): web2 is down, so the team rolls
/// back only web1 (`--hosts web1 rollback`, v2 -> v1). web2 comes back, and
/// `ship sync` (1 host on v1, 1 on v2: a tie, "newest" wins) switches web1
/// forward again to v2, the very release it was rolled back from, with no
/// question asked.
#[test]
fn sync_undoes_a_rollback_on_a_tie() {
    let mut f = Fleet::start(2);
    let v1 = f.build("v1", &[("index.html", "v1")]);
    f.ship(&["deploy", v1.to_str().unwrap()]).expect(0);
    let r1 = f.current(0).unwrap();
    let v2 = f.build("v2", &[("index.html", "v2")]);
    f.ship(&["deploy", v2.to_str().unwrap()]).expect(0);
    f.hosts[1].sshd.stop();
    let _ = f.ship(&["rollback"]); // refused as a whole: web2 unreachable, nothing changed
    f.ship(&["--hosts", "web1", "rollback"]).expect(0);
    assert_eq!(f.current(0).unwrap(), r1);
    f.hosts[1].sshd.restart();
    let run = f.ship(&["sync"]);
    assert_eq!(
        f.read_current(0, "index.html"),
        "v1",
        "sync put web1 back on the release it was rolled back from\n{}",
        run.all()
    );
}

/// Item 1: "nothing outside .ship/staging/<id> is created or removed before
/// the switch". A deploy refused before the switch (a symlink in the
/// build's linked path) still creates shared/<linked dir>.
#[test]
fn a_deploy_refused_before_the_switch_creates_shared_dirs() {
    let f = Fleet::start(1);
    f.configure(
        &format!(
            "keep_releases = 5\nrestart = '{}'\nlinked_dirs = [\"uploads\"]\nlinked_files = [\"conf/app.yml\"]\n",
            crate::support::fleet::RESTART
        ),
        "",
    );
    let shared = f.hosts[0].deploy_to.join("shared");
    std::fs::create_dir_all(shared.join("conf")).unwrap();
    std::fs::write(shared.join("conf/app.yml"), "shared").unwrap();
    let elsewhere = f.dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let build = f.build("v1", &[("index.html", "v1")]);
    std::os::unix::fs::symlink(&elsewhere, build.join("conf")).unwrap();
    let run = f.ship(&["deploy", build.to_str().unwrap()]);
    run.expect(1);
    assert!(f.current(0).is_none());
    assert!(
        !shared.join("uploads").exists(),
        "a deploy refused before the switch created {}\n{}",
        shared.join("uploads").display(),
        run.all()
    );
}

/// A release made by another tool: no `.ship/`.
fn foreign_release(f: &Fleet, i: usize, name: &str, body: &str) {
    let dir = f.hosts[i].deploy_to.join("releases").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), body).unwrap();
}

/// Items 2 and 3, in `ship sync`: a `current` that is not a 14-digit ship
/// release still counts as "no release" when sync picks the fleet's
/// release. Three hosts migrated from Mina (`current -> releases/57`) get
/// v1; v1 is bad; web3 is down, so the team rolls back web1 and web2 (to
/// 57). web3 comes back, still on v1. `ship sync` counts only web3's
/// current, calls v1 the fleet's release, and switches web1 and web2
/// forward to v1: the rollback of the majority is undone.
#[test]
fn sync_undoes_a_rollback_to_a_migrated_release() {
    let mut f = Fleet::start(3);
    for i in 0..3 {
        foreign_release(&f, i, "57", "mina");
        let cur = f.hosts[i].deploy_to.join("current");
        std::os::unix::fs::symlink("releases/57", cur).unwrap();
    }
    let v1 = f.build("v1", &[("index.html", "v1")]);
    f.ship(&["deploy", v1.to_str().unwrap()]).expect(0);
    f.hosts[2].sshd.stop();
    f.ship(&["--hosts", "web1,web2", "rollback"]).expect(0);
    assert_eq!(f.read_current(0, "index.html"), "mina");
    assert_eq!(f.read_current(1, "index.html"), "mina");
    f.hosts[2].sshd.restart();
    let run = f.ship(&["sync"]);
    let serving: Vec<String> = (0..3).map(|i| f.read_current(i, "index.html")).collect();
    assert_eq!(
        &serving[..2],
        ["mina", "mina"],
        "sync switched the hosts rolled back to 57 forward to v1 again: {serving:?}\n{}",
        run.all()
    );
}

/// Item 3 ("going back to what was serving is always possible; the
/// completeness marker gates switching to a new release only"), in
/// `ship sync`: hosts migrated from Capistrano (14-digit release without
/// `.ship/`) get v1; web3 is down while web1 and web2 roll back to the
/// Capistrano release; web3 comes back. `ship sync` picks the Capistrano
/// release (2 of 3) but refuses to switch web3 back to it, though web3 has
/// it and served it: "not a complete release (no .ship/release.json)".
#[test]
fn sync_cannot_bring_a_host_back_to_a_release_ship_did_not_make() {
    let mut f = Fleet::start(3);
    let cap = "20250101000000";
    for i in 0..3 {
        foreign_release(&f, i, cap, "cap");
        let cur = f.hosts[i].deploy_to.join("current");
        std::os::unix::fs::symlink(f.hosts[i].deploy_to.join("releases").join(cap), cur).unwrap();
    }
    let v1 = f.build("v1", &[("index.html", "v1")]);
    f.ship(&["deploy", v1.to_str().unwrap()]).expect(0);
    f.hosts[2].sshd.stop();
    f.ship(&["--hosts", "web1,web2", "rollback"]).expect(0);
    assert_eq!(f.read_current(0, "index.html"), "cap");
    f.hosts[2].sshd.restart();
    let run = f.ship(&["sync"]);
    assert_eq!(
        f.read_current(2, "index.html"),
        "cap",
        "web3 was not brought back to the Capistrano release the fleet serves (exit {})\n{}",
        run.code,
        run.all()
    );
}

/// Item 3 ("going back to what was serving is always possible"): a host
/// migrated with `current -> releases/57/public` (current pointing at a
/// subdirectory of the release). After one ship deploy, `ship rollback`
/// goes "back" to `releases/57`, not to what was serving
/// (`releases/57/public`): the web root is now the release root.
#[test]
fn rollback_to_a_migrated_release_loses_the_subdirectory_current_pointed_at() {
    let f = Fleet::start(1);
    let public = f.hosts[0].deploy_to.join("releases/57/public");
    std::fs::create_dir_all(&public).unwrap();
    std::fs::write(public.join("index.html"), "mina public").unwrap();
    std::fs::write(f.hosts[0].deploy_to.join("releases/57/index.html"), "not served").unwrap();
    std::os::unix::fs::symlink("releases/57/public", f.hosts[0].deploy_to.join("current")).unwrap();
    let v1 = f.build("v1", &[("index.html", "v1")]);
    f.ship(&["deploy", v1.to_str().unwrap()]).expect(0);
    let run = f.ship(&["rollback"]);
    run.expect(0);
    let link = std::fs::read_link(f.hosts[0].deploy_to.join("current")).unwrap();
    assert_eq!(
        f.read_current(0, "index.html"),
        "mina public",
        "rollback went to {} instead of what was serving (releases/57/public)\n{}",
        link.display(),
        run.all()
    );
}

/// Item 3: `ship rollback --to <name>` refers the operator to
/// `ship releases` ("pick an id every host has (`ship releases`)"), but
/// `ship releases` never lists a release ship did not mint, not even the
/// one `current` serves: a migrated host shows "(no releases)".
#[test]
fn ship_releases_hides_the_migrated_release_current_serves() {
    let f = Fleet::start(1);
    foreign_release(&f, 0, "57", "mina");
    std::os::unix::fs::symlink("releases/57", f.hosts[0].deploy_to.join("current")).unwrap();
    let run = f.ship(&["releases"]);
    run.expect(0);
    assert!(run.stdout.contains("57"), "`ship releases` does not show releases/57 (current):\n{}", run.all());
}

/// Item 7 ("`ship rollback` returns to the release that served before the
/// current one (from the host log), or skips releases rolled away from"):
/// v1, v2, v3 deployed; v3 is bad: rollback (v2); v2 is bad too: rollback
/// (v1); the fault turns out to be elsewhere and v3 is put back with
/// `rollback --to v3`. A further `ship rollback` should return to v1 (what
/// served before v3 this time); it lands on v2, a release rolled away from,
/// because only the deploy that first made v3 is consulted.
#[test]
fn rollback_after_rolling_forward_lands_on_a_release_rolled_away_from() {
    let f = Fleet::start(1);
    let mut ids = Vec::new();
    for v in ["v1", "v2", "v3"] {
        let b = f.build(v, &[("index.html", v)]);
        f.ship(&["deploy", b.to_str().unwrap()]).expect(0);
        ids.push(f.current(0).unwrap());
    }
    f.ship(&["rollback"]).expect(0);
    assert_eq!(f.read_current(0, "index.html"), "v2");
    f.ship(&["rollback"]).expect(0);
    assert_eq!(f.read_current(0, "index.html"), "v1");
    f.ship(&["rollback", "--to", &ids[2]]).expect(0);
    assert_eq!(f.read_current(0, "index.html"), "v3");
    let run = f.ship(&["rollback"]);
    assert_eq!(
        f.read_current(0, "index.html"),
        "v1",
        "rollback from v3 went to a release rolled away from (exit {})\n{}",
        run.code,
        run.all()
    );
}
