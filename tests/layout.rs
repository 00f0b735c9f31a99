//! Hosts ship did not set up, or not as ship would: migrated from Mina,
//! Deployer or Capistrano (`current -> releases/57`, a trailing slash, a
//! relative link, releases without `.ship/`), linked paths that meet a
//! symlink, clocks that ran fast, names that try to fake the host's state.
//! Each test pins a defect of issue 13 (items 1, 2, 3, 6, 7, 17, 19).

use crate::support::Fleet;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The exact bytes of host `i`'s `current` link.
fn link(f: &Fleet, i: usize) -> Vec<u8> {
    std::fs::read_link(f.hosts[i].deploy_to.join("current")).unwrap().as_os_str().as_bytes().to_vec()
}

/// A release made by another tool: a directory under releases/ with an
/// index.html and no `.ship/`.
fn foreign_release(f: &Fleet, i: usize, name: &str, body: &str) {
    let dir = f.hosts[i].deploy_to.join("releases").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), body).unwrap();
}

fn set_current(f: &Fleet, i: usize, target: &str) {
    let cur = f.hosts[i].deploy_to.join("current");
    let _ = std::fs::remove_file(&cur);
    std::os::unix::fs::symlink(target, cur).unwrap();
}

/// hosts.toml whose health command fails while the release holds `broken`.
fn with_health(f: &Fleet, extra_app: &str) {
    f.configure(
        &format!(
            "keep_releases = 5\nrestart = '{}'\n{extra_app}\n[health]\ncommand = \"test ! -e broken\"\ntimeout = \"1s\"\n",
            crate::support::fleet::RESTART
        ),
        "",
    );
}

#[test]
fn nested_linked_paths_are_refused_and_shared_files_survive() {
    let f = Fleet::start(1);
    f.configure(
        &format!(
            "keep_releases = 5\nrestart = '{}'\nlinked_dirs = [\"config\"]\nlinked_files = [\"config/db.yml\"]\n",
            crate::support::fleet::RESTART
        ),
        "",
    );
    let shared = f.hosts[0].deploy_to.join("shared/config");
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::write(shared.join("db.yml"), "password: s3cret\n").unwrap();
    let build = f.build("v1", &[("index.html", "v1"), ("config/app.yml", "x")]);
    let run = f.ship(&["deploy", build.to_str().unwrap()]);
    run.expect(2);
    assert!(run.stderr.contains("`config/db.yml` is inside `config`"), "{}", run.stderr);
    let meta = std::fs::symlink_metadata(shared.join("db.yml")).unwrap();
    assert!(meta.is_file(), "shared/config/db.yml was replaced by a {:?}", meta.file_type());
    assert_eq!(std::fs::read_to_string(shared.join("db.yml")).unwrap(), "password: s3cret\n");
}

#[test]
fn a_symlink_in_the_build_is_never_written_through() {
    let f = Fleet::start(1);
    f.configure(
        &format!(
            "keep_releases = 5\nrestart = '{}'\nlinked_files = [\"conf/app.yml\"]\n",
            crate::support::fleet::RESTART
        ),
        "",
    );
    std::fs::create_dir_all(f.hosts[0].deploy_to.join("shared/conf")).unwrap();
    std::fs::write(f.hosts[0].deploy_to.join("shared/conf/app.yml"), "shared").unwrap();
    let v1 = f.build("v1", &[("index.html", "v1"), ("conf/other.yml", "o")]);
    f.ship(&["deploy", v1.to_str().unwrap()]).expect(0);
    let r1 = f.current(0).unwrap();
    // The next build's conf/ is a symlink to a directory elsewhere.
    let elsewhere = f.dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(elsewhere.join("app.yml"), "precious").unwrap();
    let v2 = f.build("v2", &[("index.html", "v2")]);
    std::os::unix::fs::symlink(&elsewhere, v2.join("conf")).unwrap();
    let run = f.ship(&["deploy", v2.to_str().unwrap()]);
    run.expect(1);
    assert!(run.all().contains("symlink at conf, inside linked path `conf/app.yml`"), "{}", run.all());
    assert_eq!(std::fs::read_to_string(elsewhere.join("app.yml")).unwrap(), "precious");
    assert!(std::fs::symlink_metadata(elsewhere.join("app.yml")).unwrap().is_file());
    assert_eq!(f.current(0).unwrap(), r1);
    assert_eq!(f.read_current(0, "index.html"), "v1");
    assert!(f.staging(0).is_empty(), "{:?}", f.staging(0));
}

#[test]
fn a_failed_deploy_puts_back_a_migrated_current_byte_for_byte() {
    let f = Fleet::start(3);
    with_health(&f, "");
    // Mina/Deployer numbering, a trailing slash, a relative link.
    foreign_release(&f, 0, "57", "mina");
    set_current(&f, 0, "releases/57");
    foreign_release(&f, 1, "20250101000000", "cap");
    let slashed = format!("{}/", f.hosts[1].deploy_to.join("releases/20250101000000").display());
    set_current(&f, 1, &slashed);
    foreign_release(&f, 2, "20250101000000", "rel");
    set_current(&f, 2, "./releases/20250101000000");
    let before: Vec<Vec<u8>> = (0..3).map(|i| link(&f, i)).collect();
    let bad = f.build("bad", &[("index.html", "bad"), ("broken", "")]);
    let run = f.ship(&["deploy", bad.to_str().unwrap()]);
    run.expect(1);
    for (i, was) in before.iter().enumerate() {
        assert_eq!(&link(&f, i), was, "host {i}: current was not restored exactly\n{}", run.all());
    }
    assert_eq!(f.read_current(0, "index.html"), "mina");
    assert_eq!(f.read_current(1, "index.html"), "cap");
    // The restart after the revert ran in the release it went back to.
    assert!(f.restarts(0).last().unwrap().ends_with("releases/57"), "{:?}", f.restarts(0));
}

#[test]
fn prune_keeps_what_current_resolves_to_however_spelled() {
    let f = Fleet::start(1);
    let mut ids = Vec::new();
    for v in ["v1", "v2", "v3"] {
        let b = f.build(v, &[("index.html", v)]);
        f.ship(&["deploy", b.to_str().unwrap()]).expect(0);
        ids.push(f.current(0).unwrap());
    }
    // An operator pointed current back at v1 by hand, as tab completion writes it.
    set_current(&f, 0, &format!("{}/", f.hosts[0].deploy_to.join("releases").join(&ids[0]).display()));
    f.ship(&["prune", "--keep", "1"]).expect(0);
    assert!(f.releases(0).contains(&ids[0]), "prune removed the release current resolves to: {:?}", f.releases(0));
    assert_eq!(f.read_current(0, "index.html"), "v1");
    let check = f.ship(&["check"]);
    assert!(check.all().contains("is not spelled as ship links releases"), "{}", check.all());
}

#[test]
fn rollback_goes_back_to_releases_ship_did_not_make() {
    let f = Fleet::start(1);
    foreign_release(&f, 0, "57", "mina");
    foreign_release(&f, 0, "20250101000000", "cap");
    set_current(&f, 0, &f.hosts[0].deploy_to.join("releases/20250101000000").display().to_string());
    let v1 = f.build("v1", &[("index.html", "v1")]);
    f.ship(&["deploy", v1.to_str().unwrap()]).expect(0);
    let run = f.ship(&["rollback"]);
    run.expect(0);
    assert_eq!(f.read_current(0, "index.html"), "cap", "{}", run.all());
    let run = f.ship(&["rollback", "--to", "57"]);
    run.expect(0);
    assert_eq!(f.read_current(0, "index.html"), "mina", "{}", run.all());
}

#[test]
fn rollback_after_rollback_skips_the_release_rolled_away_from() {
    let f = Fleet::start(1);
    let mut ids = Vec::new();
    for v in ["v1", "v2", "v3"] {
        let b = f.build(v, &[("index.html", v)]);
        f.ship(&["deploy", b.to_str().unwrap()]).expect(0);
        ids.push(f.current(0).unwrap());
    }
    f.ship(&["rollback"]).expect(0);
    assert_eq!(f.current(0).unwrap(), ids[1]);
    let v4 = f.build("v4", &[("index.html", "v4")]);
    f.ship(&["deploy", v4.to_str().unwrap()]).expect(0);
    let run = f.ship(&["rollback"]);
    run.expect(0);
    assert_eq!(f.read_current(0, "index.html"), "v2", "went back to the release rolled away from\n{}", run.all());
}

#[test]
fn a_release_from_a_fast_clock_stays_older_than_the_next_one() {
    let f = Fleet::start(2);
    let v1 = f.build("v1", &[("index.html", "v1")]);
    f.ship(&["deploy", v1.to_str().unwrap()]).expect(0);
    // A colleague's clock ran years ahead when they deployed to web2.
    let future = "20991231000000";
    let web2 = &f.hosts[1].deploy_to;
    copy_dir(&web2.join("releases").join(f.current(1).unwrap()), &web2.join("releases").join(future));
    set_current(&f, 1, &web2.join("releases").join(future).display().to_string());
    let v2 = f.build("v2", &[("index.html", "v2")]);
    f.ship(&["deploy", v2.to_str().unwrap()]).expect(0);
    let new = f.current(0).unwrap();
    assert!(new.as_str() > future, "new release {new} sorts older than {future}");
    assert_eq!(f.current(1).unwrap(), new);
    let check = f.ship(&["check"]);
    assert!(check.all().contains("dated in the future"), "{}", check.all());
}

#[test]
fn prune_removes_bad_releases_before_good_ones() {
    let f = Fleet::start(1);
    with_health(&f, "");
    let mut ids = Vec::new();
    for (v, broken) in [("v1", false), ("v2", true), ("v3", false)] {
        let mut files = vec![("index.html", v)];
        if broken {
            files.push(("broken", ""));
        }
        let b = f.build(v, &files);
        f.ship(&["deploy", b.to_str().unwrap()]).expect(if broken { 1 } else { 0 });
        ids.push(f.releases(0).last().unwrap().clone());
    }
    f.configure(
        &format!(
            "keep_releases = 3\nrestart = '{}'\n[health]\ncommand = \"test ! -e broken\"\ntimeout = \"1s\"\n",
            crate::support::fleet::RESTART
        ),
        "",
    );
    let v4 = f.build("v4", &[("index.html", "v4")]);
    f.ship(&["deploy", v4.to_str().unwrap()]).expect(0);
    let left = f.releases(0);
    assert!(!left.contains(&ids[1]), "the bad release survived: {left:?}");
    assert!(left.contains(&ids[0]), "a good release went before the bad one: {left:?}");
}

#[test]
fn a_name_under_releases_cannot_fake_the_lock() {
    let f = Fleet::start(1);
    let v1 = f.build("v1", &[("index.html", "v1")]);
    f.ship(&["deploy", v1.to_str().unwrap()]).expect(0);
    let r1 = f.current(0).unwrap();
    f.ship(&["lock", "-m", "incident"]).expect(0);
    // A name with a newline, marked bad: the old line-by-line read printed
    // its path raw, and the second line passed for this run's own lock.
    let odd = f.hosts[0].deploy_to.join("releases/x\nlock=taken");
    std::fs::create_dir_all(odd.join(".ship")).unwrap();
    std::fs::write(odd.join(".ship/bad"), "{}").unwrap();
    // Someone else's lock: another holder in details.json.
    let details = f.hosts[0].deploy_to.join(".ship/lock/details.json");
    let text = std::fs::read_to_string(&details).unwrap();
    std::fs::write(&details, text.replace("\"holder\":\"", "\"holder\":\"someone-else-")).unwrap();
    let v2 = f.build("v2", &[("index.html", "v2")]);
    let run = f.ship(&["deploy", v2.to_str().unwrap()]);
    run.expect(3);
    assert_eq!(f.current(0).unwrap(), r1);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let ty = e.file_type().unwrap();
        if ty.is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else if ty.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(e.path()).unwrap(), to.join(e.file_name())).unwrap();
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}
