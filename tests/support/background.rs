//! ship running in the background, for tests that act while it works:
//! interrupt it, kill or freeze a host, start a second run.

use super::Fleet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Starts ship in the background with `-v` and returns it with its stderr lines.
pub fn spawn(f: &Fleet, args: &[&str]) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    let mut child = super::fleet::ship_command(f.dir.path())
        .arg("-c")
        .arg(&f.config)
        .args(["--no-progress", "-v"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, rx)
}

/// Waits (at most 60 s) for a stderr line containing `needle`.
pub fn wait_for(rx: &std::sync::mpsc::Receiver<String>, needle: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            let hit = line.contains(needle);
            seen.push(line);
            if hit {
                return seen;
            }
        }
    }
    panic!("no line with {needle:?} within 60 s; saw:\n{}", seen.join("\n"));
}

/// Waits (at most 120 s) for ship to exit; its exit code.
pub fn wait_exit(child: &mut std::process::Child) -> i32 {
    exit_within(child, Duration::from_secs(120)).expect("ship did not exit within 120 s")
}

/// Waits at most `limit` for ship to exit; kills it and says `None` if it
/// did not.
pub fn exit_within(child: &mut std::process::Child, limit: Duration) -> Option<i32> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return Some(st.code().unwrap_or(-1));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends SIGINT, as Ctrl-C would.
pub fn sigint(child: &std::process::Child) {
    let st = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(st.success());
}

/// Sends SIGTERM, as a CI runner cancelling a job would.
pub fn sigterm(child: &std::process::Child) {
    let st = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(st.success());
}

/// Waits (at most 60 s) until `path` exists.
pub fn wait_for_file(path: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !path.exists() {
        assert!(Instant::now() < deadline, "{} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether process `pid` (as written in a pid file) still runs, giving a
/// stopped one up to 5 s to go; zombies count as gone.
pub fn still_runs(pid: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).ok();
        let running = stat.is_some_and(|s| s.rsplit(") ").next().is_some_and(|r| !r.starts_with('Z')));
        if !running || Instant::now() > deadline {
            return running;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
