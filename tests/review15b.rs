//! Hostile review of issue 15, round 2 (proof of serving after the round-1
//! fixes, per-role services): each test is a defect reproduced with the
//! real `ship` binary against real sshd hosts and real processes. Each
//! failed on main as of b0eebe0 and passes since the fixes that followed.

use crate::support::app::{served, Apps};
use crate::support::Fleet;

/// README, "Proof of serving": "`[verify]` proves that what runs is the new
/// release"; round 1 (tests/review15.rs,
/// `a_reload_that_only_changes_directory_passes_verify_while_old_code_runs`)
/// was fixed by also judging open files.
///
/// That fix only holds for `sh`, which keeps its script open. Perl (like
/// Ruby and Python) reads its script and closes it: the same chdir-only
/// "reload" by a Perl app started as `perl <deploy_to>/releases/<old>/server.pl`
/// leaves no open file and no mapping of the old release, only a working
/// directory in the new one. Its command line names the old release, and
/// ship prints it in its messages but does not judge it: verify passes and
/// the new release stays live while v1's code serves.
#[test]
fn a_chdir_only_reload_of_a_perl_app_passes_verify_while_old_code_runs() {
    let server = |name: &str| {
        format!(
            "# {name}\nopen(my $f, '>', \"$ENV{{DEPLOY}}/shared/app.pid\") or die; print $f \"$$\\n\"; close $f;\n\
open($f, '>', \"$ENV{{DEPLOY}}/shared/served\") or die; print $f \"{name}\\n\"; close $f;\n\
$SIG{{HUP}} = sub {{ chdir \"$ENV{{DEPLOY}}/current\" }};\nwhile (1) {{ sleep 1 }}\n"
        )
    };
    // Started by the absolute path of the release it was started from.
    let restart = "p=\"$SHIP_DEPLOY_TO/shared/app.pid\"; if [ -f \"$p\" ] && kill -0 \"$(cat \"$p\")\" 2>/dev/null; \
then kill -HUP \"$(cat \"$p\")\"; else DEPLOY=\"$SHIP_DEPLOY_TO\" setsid perl \"$(pwd -P)/server.pl\" </dev/null >/dev/null 2>&1 & fi";
    let f = Fleet::start(1);
    let _apps = Apps(&f);
    f.configure(
        &format!(
            "restart = '{restart}'\n\n[health]\ninterval = \"200ms\"\ntimeout = \"3s\"\n\n[verify]\npidfile = \"shared/app.pid\"\n"
        ),
        "",
    );
    let v1 = f.build("v1", &[("server.pl", &server("v1"))]);
    f.ship(&["deploy", v1.to_str().unwrap()]).expect(0);
    let old = f.current(0).unwrap();
    let pid = std::fs::read_to_string(f.hosts[0].deploy_to.join("shared/app.pid")).unwrap();
    let v2 = f.build("v2", &[("server.pl", &server("v2"))]);
    let run = f.ship(&["deploy", v2.to_str().unwrap()]);
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", pid.trim())).unwrap_or_default();
    assert_eq!(served(&f), "v1", "the app still runs v1's script");
    assert!(
        String::from_utf8_lossy(&cmdline).contains(&format!("releases/{old}/server.pl")),
        "its command line names the old release: {:?}",
        String::from_utf8_lossy(&cmdline)
    );
    assert_eq!(run.code, 1, "verify passed while v1's code serves:\n{}", run.all());
    assert_eq!(f.current(0).unwrap(), old, "the host went back to what it served");
}

/// README, "Roles: several services per host": "A host's `roles` ... can
/// name services of their own, each with its restart, health check and
/// `[verify]`"; issue 15: live means serving.
///
/// A careless operator adds `[roles.web]` only to give web hosts their own
/// health check, keeping `[app] restart`. ship accepts the table without a
/// restart, silently stops running `[app] restart` on every web host, the
/// health check is answered by the process that was never restarted, and
/// the deploy reports success: `ship check` and `ship plan` say nothing.
#[test]
fn a_role_table_without_restart_silently_drops_the_app_restart() {
    let f = Fleet::start(1);
    let log = f.dir.path().join("restarts.log");
    f.configure(
        &format!("restart = 'echo \"$SHIP_RELEASE\" >> {}'\n\n[roles.web.health]\ncommand = 'true'\n", log.display()),
        "",
    );
    let check = f.ship(&["check"]);
    let v1 = f.build("v1", &[("index.html", "v1")]);
    let run = f.ship(&["deploy", v1.to_str().unwrap()]);
    let restarted = std::fs::read_to_string(&log).unwrap_or_default();
    let said = |t: &str| t.contains("restart") && (t.contains("roles.web") || t.contains("role web"));
    assert!(
        !restarted.is_empty() || run.code != 0 || said(&check.all()) || said(&run.all()),
        "[app] restart never ran on the web host, the deploy exited {} and neither `ship check` nor the deploy \
said so:\ncheck: {}\ndeploy: {}",
        run.code,
        check.all(),
        run.all()
    );
}

/// README, "Health checks": "`expect_release = true` asks more: the
/// command's output or the URL's body must contain the new release id
/// (`SHIP_RELEASE`) or its version label (`SHIP_VERSION`) ... A restart that
/// did nothing, or an old process still answering, then fails the check."
///
/// The label is not the release's own: by default it is `git describe
/// --always --dirty` of whatever repository the build sits in. Builds kept
/// in (or downloaded into) a repository that did not move between two
/// deploys (an ops repo, the app repo between two CI builds of
/// different artifacts) get the same label. The old process, started with
/// that label, answers it; a restart that did nothing passes
/// `expect_release` and the deploy succeeds while the old process serves.
#[test]
fn expect_release_is_passed_by_an_old_process_answering_a_label_shared_by_two_releases() {
    let f = Fleet::start(1);
    let git = |args: &[&str]| {
        let ok = std::process::Command::new("git")
            .arg("-C")
            .arg(f.dir.path())
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .output()
            .unwrap();
        assert!(ok.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&ok.stderr));
    };
    git(&["init", "-q"]);
    git(&["commit", "-q", "--allow-empty", "-m", "ops"]);
    let health = "\n[health]\ninterval = \"200ms\"\ntimeout = \"2s\"\n\
command = 'cat \"$SHIP_DEPLOY_TO/shared/answer\"'\nexpect_release = true\n";
    // The app answers what it was started with.
    f.configure(&format!("restart = 'echo \"$SHIP_VERSION\" > \"$SHIP_DEPLOY_TO/shared/answer\"'\n{health}"), "");
    let v1 = f.build("v1", &[("index.html", "v1")]);
    f.ship(&["deploy", v1.to_str().unwrap()]).expect(0);
    let old = f.current(0).unwrap();
    let answer = std::fs::read_to_string(f.hosts[0].deploy_to.join("shared/answer")).unwrap();
    assert!(!answer.trim().is_empty() && !answer.contains(&old), "the app answers its label: {answer:?}");
    // The restart does nothing now: the v1 process keeps answering.
    f.configure(&format!("restart = 'true'\n{health}"), "");
    let v2 = f.build("v2", &[("index.html", "v2")]);
    let run = f.ship(&["deploy", v2.to_str().unwrap()]);
    assert_eq!(run.code, 1, "expect_release passed on the old process's answer {answer:?}:\n{}", run.all());
    assert_eq!(f.current(0).unwrap(), old, "the host went back to what it served");
}

/// README, hook environment: "`SHIP_VERSION` | the deploy's label
/// (`--version`, or git's); empty in a rollback or sync"; "A revert is a
/// release too: what the host is back on must be healthy and serve";
/// `expect_release` wants the answer to name the release (or its label).
///
/// A revert restarts the OLD release with the FAILED deploy's label in
/// `SHIP_VERSION` (and `SHIP_PREVIOUS_RELEASE` = `SHIP_RELEASE`). An app that
/// reports its label (as the README suggests) now claims to be v2 while it
/// runs v1, and the revert's own `expect_release` check (which wants v1's
/// id) fails on a healthy v1: the host is left "reverted, but its health
/// check failed", out of the load balancer.
#[test]
fn a_revert_restarts_the_old_release_with_the_failed_deploys_label() {
    let f = Fleet::start(1);
    f.configure(
        "restart = 'echo \"$SHIP_VERSION\" > \"$SHIP_DEPLOY_TO/shared/answer\"'\n\n[health]\ninterval = \"200ms\"\n\
timeout = \"2s\"\ncommand = 'test ! -e broken && cat \"$SHIP_DEPLOY_TO/shared/answer\"'\nexpect_release = true\n",
        "",
    );
    let v1 = f.build("v1", &[("index.html", "v1")]);
    f.ship(&["deploy", "--version", "v1", v1.to_str().unwrap()]).expect(0);
    let old = f.current(0).unwrap();
    // v2 is broken: its health check fails, and the host is reverted to v1.
    let v2 = f.build("v2", &[("index.html", "v2"), ("broken", "")]);
    let run = f.ship(&["deploy", "--version", "v2", v2.to_str().unwrap()]);
    run.expect(1);
    assert_eq!(f.current(0).unwrap(), old, "back on v1\n{}", run.all());
    let answer = std::fs::read_to_string(f.hosts[0].deploy_to.join("shared/answer")).unwrap();
    assert_ne!(answer.trim(), "v2", "v1 was restarted with SHIP_VERSION=v2:\n{}", run.all());
    assert!(!run.all().contains("after going back"), "the revert to a healthy v1 failed its check:\n{}", run.all());
}

/// Round 1 (tests/review15.rs) made a missing pidfile fail: "A pidfile
/// named but missing is a service that is not running (or a [verify] that
/// names the wrong file), even when a port or unit finds other processes"
/// (src/remote/serving.rs).
///
/// A stale pidfile is the same case and passes. v2 of the app writes its
/// pidfile elsewhere (Rails moving to `tmp/pids/server.pid`); the file
/// `[verify]` names is left by v1 and holds v1's dead pid. ship drops the
/// dead pid without a word, the port finds v2's listener, and verify
/// passes: the check that `[verify]` names the right file is gone as soon
/// as the file exists at all.
#[test]
fn a_stale_pidfile_passes_verify_where_a_missing_one_fails() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let start = |pidfile: &str| {
        format!(
            "old=$(cat \"$SHIP_DEPLOY_TO/shared/app.pid\" 2>/dev/null)\n\
if [ -n \"$old\" ]; then kill \"$old\" 2>/dev/null; fi\n\
n=0; while [ $n -lt 50 ] && awk 'FNR > 1 && $4 == \"0A\" && substr($2, length($2) - 3) == \"{port:04X}\"' /proc/net/tcp | grep -q .; \
do sleep 0.1; n=$((n+1)); done\n\
mkdir -p \"$SHIP_DEPLOY_TO/shared/tmp/pids\"\n\
setsid /usr/bin/python3 -m http.server --bind 127.0.0.1 {port} </dev/null >/dev/null 2>&1 &\n\
echo $! > \"$SHIP_DEPLOY_TO/{pidfile}\"\n"
        )
    };
    let f = Fleet::start(1);
    let kill = |f: &Fleet| {
        for p in ["shared/app.pid", "shared/tmp/pids/server.pid"] {
            if let Ok(pid) = std::fs::read_to_string(f.hosts[0].deploy_to.join(p)) {
                let _ = std::process::Command::new("kill").args(["-KILL", "--", &format!("-{}", pid.trim())]).status();
            }
        }
    };
    f.configure(
        &format!(
            "restart = 'sh ./start.sh'\n\n[health]\ninterval = \"200ms\"\ntimeout = \"5s\"\n\n[verify]\n\
pidfile = \"shared/app.pid\"\nport = {port}\n"
        ),
        "",
    );
    let v1 = f.build("v1", &[("start.sh", &start("shared/app.pid"))]);
    let first = f.ship(&["deploy", v1.to_str().unwrap()]);
    if first.code != 0 {
        kill(&f);
        panic!("v1 deploys: {}", first.all());
    }
    let old = f.current(0).unwrap();
    let v2 = f.build("v2", &[("start.sh", &start("shared/tmp/pids/server.pid"))]);
    let run = f.ship(&["deploy", v2.to_str().unwrap()]);
    kill(&f);
    assert_eq!(run.code, 1, "verify passed with a pidfile that names a dead process:\n{}", run.all());
    assert_eq!(f.current(0).unwrap(), old);
}

/// Round 1 made `expect_release` match a whole word: "an old `v1.2-dirty`
/// does not name `v1.2`" (src/deploy/health.rs, src/remote/switch.rs);
/// README: "A restart that did nothing, or an old process still
/// answering, then fails the check."
///
/// A word only ends at a letter, digit, `.`, `_` or `-`: SemVer build
/// metadata (`v1.2+build.7`, what CI appends to a tag) and Debian-style
/// `v1.2~rc1` are other builds that still "name" `v1.2`. The old process
/// answering `v1.2+build.7` passes the check of a deploy labelled `v1.2`
/// whose restart did nothing.
#[test]
fn expect_release_is_fooled_by_an_old_label_with_build_metadata() {
    let f = Fleet::start(1);
    let health = "\n[health]\ninterval = \"200ms\"\ntimeout = \"2s\"\n\
command = 'cat \"$SHIP_DEPLOY_TO/shared/answer\"'\nexpect_release = true\n";
    f.configure(
        &format!("restart = 'echo \"version $SHIP_VERSION\" > \"$SHIP_DEPLOY_TO/shared/answer\"'\n{health}"),
        "",
    );
    let v1 = f.build("v1", &[("index.html", "v1")]);
    f.ship(&["deploy", "--version", "v1.2+build.7", v1.to_str().unwrap()]).expect(0);
    let old = f.current(0).unwrap();
    // The restart does nothing now: the old process keeps answering.
    f.configure(&format!("restart = 'true'\n{health}"), "");
    let v2 = f.build("v2", &[("index.html", "v2")]);
    let run = f.ship(&["deploy", "--version", "v1.2", v2.to_str().unwrap()]);
    assert_eq!(run.code, 1, "the old `v1.2+build.7` answered for `v1.2`:\n{}", run.all());
    assert_eq!(f.current(0).unwrap(), old);
}
