//! Remote steps have deadlines, and Ctrl-C / SIGTERM are never swallowed:
//! a restart past `restart_timeout` is stopped (with everything it
//! started), a restart that leaves a job writing to stdout does not hang
//! the run, a second Ctrl-C or a SIGTERM ends a run promptly with every
//! host's state in the summary, and a first Ctrl-C cuts a health check short.

use crate::support::background::{exit_within, sigint, sigterm, spawn, still_runs, wait_for, wait_for_file};
use crate::support::fleet::RESTART;
use crate::support::{Fleet, Run};
use std::time::Duration;

/// A background run's exit code (`None`: still running after `limit`, then
/// killed) and output.
fn finish(
    mut child: std::process::Child,
    rx: std::sync::mpsc::Receiver<String>,
    limit: Duration,
) -> (Option<i32>, Run) {
    use std::io::Read;
    let code = exit_within(&mut child, limit);
    let mut stdout = String::new();
    child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    let stderr: Vec<String> = rx.try_iter().collect();
    (code, Run { code: code.unwrap_or(-1), stdout, stderr: stderr.join("\n") })
}

#[test]
fn a_restart_past_restart_timeout_is_stopped_with_what_it_started_and_reverted() {
    // The restart starts a helper and waits: the limit must end both.
    let restart = r#"sleep 60 & echo $! > "$SHIP_DEPLOY_TO/../helper.pid"; wait"#;
    let (f, v1, v2) = Fleet::serving_v1(1, restart, "restart_timeout = \"2s\"\n");
    let (child, rx) = spawn(&f, &["deploy", v2.to_str().unwrap()]);
    let (code, run) = finish(child, rx, Duration::from_secs(50));
    assert_eq!(code, Some(1), "the restart's limit did not hold\n{}", run.all());
    assert!(
        run.stdout.contains(
            "at restart: did not finish within 2s (restart_timeout); it and everything it started were stopped"
        ),
        "{}",
        run.all()
    );
    assert_eq!(f.current(0).unwrap(), v1, "reverted to v1: {}", run.all());
    assert!(!f.hosts[0].deploy_to.join(".ship/lock").exists(), "lock left behind");
    let pid = std::fs::read_to_string(f.host_dir(0).join("helper.pid")).unwrap();
    assert!(!still_runs(&pid), "the restart's helper outlived the limit");
}

#[test]
fn a_restart_that_leaves_a_job_writing_to_stdout_does_not_hang_the_deploy() {
    // It writes without pause, so its output follows the step's status
    // marker in the same packets.
    let restart = r#"(while :; do echo tick; done) & echo $! > "$SHIP_DEPLOY_TO/../ticker.pid"; echo started"#;
    let health = "\n[health]\ncommand = 'true'\n";
    let (f, _, v2) =
        Fleet::serving_v1(2, restart, &format!("{health}\n[hooks]\nafter_switch = ['echo hook-ran >&2']\n"));
    let (child, rx) = spawn(&f, &["deploy", v2.to_str().unwrap()]);
    let (code, run) = finish(child, rx, Duration::from_secs(60));
    assert_eq!(code, Some(0), "{}", run.all());
    for i in 0..2 {
        assert_eq!(f.read_current(i, "index.html"), "v2", "host {i}");
        assert!(!f.hosts[i].deploy_to.join(".ship/lock").exists(), "host {i}: lock left behind");
        // Cut off from ship's channel, the job's next write fails.
        let pid = std::fs::read_to_string(f.host_dir(i).join("ticker.pid")).unwrap();
        assert!(!still_runs(&pid), "host {i}: the ticker still writes into a closed channel");
    }
}

/// A deploy whose restart (on every host) runs for a minute, interrupted by
/// `signal` once it runs: ship exits promptly, says where each host is,
/// releases its locks and stops the restarts.
fn stopped_at_once_during_restart(signal: &dyn Fn(&std::process::Child)) {
    let restart = r#"touch "$SHIP_DEPLOY_TO/../restarting"; echo $$ > "$SHIP_DEPLOY_TO/../restart.pid"; exec sleep 60"#;
    let (f, v1, v2) = Fleet::serving_v1(2, restart, "");
    let (child, rx) = spawn(&f, &["deploy", v2.to_str().unwrap()]);
    for i in 0..2 {
        wait_for_file(&f.host_dir(i).join("restarting"));
    }
    signal(&child);
    let (code, run) = finish(child, rx, Duration::from_secs(30));
    assert_eq!(code, Some(130), "ship did not stop promptly\n{}", run.all());
    assert!(run.stderr.contains("stopping at once"), "{}", run.all());
    assert!(run.stdout.contains("interrupted by Ctrl-C or SIGTERM"), "{}", run.all());
    for i in 0..2 {
        let name = format!("web{}", i + 1);
        assert!(run.stdout.contains(&name), "{}", run.all());
        assert!(!f.hosts[i].deploy_to.join(".ship/lock").exists(), "host {i}: lock left behind\n{}", run.all());
        let pid = std::fs::read_to_string(f.host_dir(i).join("restart.pid")).unwrap();
        assert!(!still_runs(&pid), "host {i}: the restart still runs");
        // `current` is whole: the old release or the new one, as the summary says.
        let cur = f.current(i).unwrap();
        assert!(run.stdout.contains(&cur), "host {i} on {cur}, not in the summary:\n{}", run.stdout);
        assert!(cur == v1 || f.read_current(i, "index.html") == "v2");
    }
    assert!(run.stdout.contains("at restart: stopped at once (second Ctrl-C or SIGTERM)"), "{}", run.all());
}

#[test]
fn a_second_ctrl_c_during_a_restart_ends_the_run_promptly() {
    stopped_at_once_during_restart(&|child| {
        sigint(child);
        std::thread::sleep(Duration::from_millis(300));
        sigint(child);
    });
}

#[test]
fn sigterm_during_a_restart_ends_the_run_promptly() {
    stopped_at_once_during_restart(&|child| sigterm(child));
}

#[test]
fn a_first_ctrl_c_during_a_health_check_is_acknowledged_and_cuts_it_short() {
    let health = "\n[health]\ncommand = 'touch \"$SHIP_DEPLOY_TO/../checking\"; false'\ntimeout = \"30s\"\ninterval = \"200ms\"\n";
    let (f, v1, v2) = Fleet::serving_v1(2, RESTART, health);
    let (child, rx) = spawn(&f, &["deploy", v2.to_str().unwrap()]);
    for i in 0..2 {
        wait_for_file(&f.host_dir(i).join("checking"));
    }
    sigint(&child);
    let seen = wait_for(&rx, "Ctrl-C: stopping at the next step boundary");
    let (code, run) = finish(child, rx, Duration::from_secs(25));
    assert_eq!(code, Some(130), "the health check was not cut short\n{}\n{}", seen.join("\n"), run.all());
    assert!(run.stdout.contains("interrupted by Ctrl-C or SIGTERM"), "{}", run.all());
    for i in 0..2 {
        assert_eq!(f.current(i).unwrap(), v1, "host {i}: back on v1\n{}", run.all());
        assert!(!f.hosts[i].deploy_to.join(".ship/lock").exists(), "host {i}: lock left behind");
    }
    // An interrupted check is no verdict on the release: it is not marked bad.
    for i in 0..2 {
        for id in f.releases(i) {
            assert!(!f.hosts[i].deploy_to.join("releases").join(&id).join(".ship/bad").exists(), "{id} marked bad");
        }
    }
}
