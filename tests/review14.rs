//! Review of issue 14 (typed log/meta, one preflight judgement, typed jump
//! chains, split functions): reproductions against real sshd hosts. Issue
//! 14 is a redesign step with no behaviour change allowed. Each test failed
//! on the code it was written against (main at 9d32d53 and 461ba17) and
//! passes since the fixes that followed.

use crate::support::Fleet;

/// Issue 14: "`.ship/release.json` [is] now typed (src/remote/meta.rs
/// `ReleaseMeta`), read back leniently", with **no behaviour change**.
/// Before, sync read the source's release.json as any JSON value and took
/// what it could from it (`recorded["sha256"]`, `recorded["size"]`): a
/// release.json that is valid JSON but not an object (here `null`, as a
/// tool or a hand edit that emptied it leaves it) still let sync copy the
/// release, verified file by file against its manifest. Now
/// `ReleaseMeta::parse` refuses anything but an object, and sync fails
/// with "its .ship/release.json on web1 is not JSON (not an object)" --
/// which is also false: `null` is JSON.
#[test]
fn sync_still_copies_a_release_whose_release_json_is_json_but_not_an_object() {
    let f = Fleet::start(2);
    let (one, full) = f.without_last_host();
    std::fs::write(&f.config, &one).unwrap();
    let v1 = f.build("v1", &[("index.html", "v1")]);
    f.ship(&["deploy", v1.to_str().unwrap()]).expect(0);
    let id = f.current(0).unwrap();
    std::fs::remove_dir_all(f.dir.path().join(".cache")).unwrap();
    std::fs::write(f.hosts[0].deploy_to.join("current/.ship/release.json"), "null\n").unwrap();
    std::fs::write(&f.config, &full).unwrap();
    let run = f.ship(&["sync"]);
    assert!(
        run.code == 0 && f.current(1).as_deref() == Some(id.as_str()),
        "sync no longer copies a release whose release.json is `null` (exit {})\n{}",
        run.code,
        run.all()
    );
    assert_eq!(f.read_current(1, "index.html"), "v1");
}

/// Issue 14: "one preflight judgement (src/remote/judge.rs) for deploy,
/// sync, plan and `ship check`", which saturates (`kb.saturating_mul(1024)`)
/// so that "a host that lies or prints garbage" cannot break it. `ship
/// check`'s disk row still multiplies the host's `df` figure itself
/// (`free * 1024`, src/commands/check.rs): a host whose `df` reports more
/// than 16 EiB free (a FUSE or network file system that reports
/// "unlimited", or a lying host) makes `ship check` panic in a debug build
/// (attempt to multiply with overflow), and in a release build shows a
/// wrapped figure (here `0 B free`, with the row OK), while the deploy's
/// judgement, on the same figure, is fine.
#[test]
fn ship_check_survives_a_df_that_reports_an_absurd_free_space() {
    let mut f = Fleet::start(1);
    let wrapper = "#!/bin/sh\nprintf 'Filesystem 1024-blocks Used Available Capacity Mounted on\\n\
/dev/x 1 1 1152921504606846976 1%% /\\n'\n";
    let bin = crate::support::hostbin::path_with_wrapped(f.dir.path(), "df", wrapper);
    f.hosts[0].sshd.add_config(&format!("SetEnv PATH={}", bin.display()));
    let run = f.ship(&["check"]);
    assert!(
        !run.all().contains("panicked") && !run.all().contains(" 0 B free"),
        "ship check broke on a df figure the deploy's judgement takes in its stride (exit {})\n{}",
        run.code,
        run.all()
    );
}

/// README: "`ship plan PATH` ... one line per host (source, current ->
/// new, ...)", on the day-one host the brief and README describe: one
/// migrated from Capistrano/Deployer, `current -> releases/57`. ship reads
/// that host's current release as `57` (`ship check`: "current ->
/// releases/57 (release 57)"; a failed deploy puts it back; rollback goes
/// back to it), yet `ship plan` shows `(none) -> <id>`, as for a host that
/// serves nothing: the operator is told a live host is empty. (The same
/// `(none)` is in the confirmation question of a `confirm = true`
/// environment, src/fleet/mod.rs change_list, which reads the same field.)
#[test]
fn plan_shows_the_release_a_migrated_host_serves_not_none() {
    let f = Fleet::start(1);
    let d = &f.hosts[0].deploy_to;
    std::fs::create_dir_all(d.join("releases/57")).unwrap();
    std::fs::write(d.join("releases/57/index.html"), "capistrano").unwrap();
    std::os::unix::fs::symlink("releases/57", d.join("current")).unwrap();
    let v1 = f.build("v1", &[("index.html", "v1")]);
    let run = f.ship(&["plan", v1.to_str().unwrap()]);
    run.expect(0);
    let row = run.stdout.lines().find(|l| l.starts_with("web1 ")).unwrap_or_default().to_string();
    assert!(
        row.contains(" 57 -> ") && !row.contains("(none)"),
        "ship plan's row for a host serving releases/57: {row:?}\n{}",
        run.all()
    );
}

/// Issue 14: "one preflight judgement (src/remote/judge.rs) for deploy,
/// sync, plan and `ship check`", and README: `ship sync` takes "the same
/// stage, switch, restart and health steps" as a deploy. A deploy, `ship
/// plan` and `ship check` all refuse a host whose `shared/` lacks a
/// `linked_files` entry ("linked file(s) missing on the host"). Sync judges
/// only the hosts it uploads to: a lagging host that already holds the
/// fleet's release (here web2, rolled back alone) is switched to it with
/// the linked file missing, so the release it now serves has a dangling
/// `.env` link -- the state every other command refuses to create.
#[test]
fn sync_refuses_a_host_whose_linked_file_is_missing_as_deploy_does() {
    let f = Fleet::start(3);
    f.configure(&format!("restart = '{}'\nlinked_files = [\".env\"]\n", crate::support::fleet::RESTART), "");
    for h in &f.hosts {
        std::fs::create_dir_all(h.deploy_to.join("shared")).unwrap();
        std::fs::write(h.deploy_to.join("shared/.env"), "SECRET=1\n").unwrap();
    }
    let v1 = f.build("v1", &[("index.html", "v1")]);
    f.ship(&["deploy", v1.to_str().unwrap()]).expect(0);
    let old = f.current(1).unwrap();
    let v2 = f.build("v2", &[("index.html", "v2")]);
    f.ship(&["deploy", v2.to_str().unwrap()]).expect(0);
    f.ship(&["--hosts", "web2", "rollback"]).expect(0);
    assert_eq!(f.current(1).unwrap(), old);
    // web2's .env is lost (a re-provisioned disk, a careless cleanup).
    std::fs::remove_file(f.hosts[1].deploy_to.join("shared/.env")).unwrap();
    let plan = f.ship(&["--hosts", "web2", "plan", v2.to_str().unwrap()]);
    assert!(plan.all().contains("linked file(s) missing on the host"), "{}", plan.all());
    let run = f.ship(&["sync"]);
    assert!(
        run.code != 0 && f.current(1).as_deref() == Some(old.as_str()),
        "sync switched web2 to {:?} with its shared/.env missing (deploy and plan refuse it; exit {})\n{}",
        f.current(1),
        run.code,
        run.all()
    );
}
