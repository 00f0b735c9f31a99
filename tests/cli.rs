//! The command line and configuration errors of the real binary.

use crate::support::fleet::{run_with_timeout, ship_command};
use crate::support::Fleet;

fn ship_in(dir: &std::path::Path, args: &[&str]) -> crate::support::Run {
    let mut cmd = ship_command(dir);
    cmd.args(args);
    run_with_timeout(cmd)
}

#[test]
fn bad_hosts_toml_names_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("hosts.toml"),
        "[app]\nname = \"demo\"\ndeploy_to = \"/srv/demo\"\nkeep_releases = \"five\"\n",
    )
    .unwrap();
    let run = ship_in(dir.path(), &["hosts"]);
    run.expect(2);
    assert!(run.stderr.contains("hosts.toml:4: key `keep_releases` in [app]: invalid type"), "{}", run.stderr);
    std::fs::write(dir.path().join("hosts.toml"), "[app]\nname = \"demo\"\ndeploy_to = \"/srv/demo\"\nkeep = 3\n")
        .unwrap();
    let run = ship_in(dir.path(), &["hosts"]);
    run.expect(2);
    assert!(run.stderr.contains("hosts.toml:4: unknown field `keep`"), "{}", run.stderr);
}

#[test]
fn missing_config_says_how_to_point_at_one() {
    let dir = tempfile::tempdir().unwrap();
    let run = ship_in(dir.path(), &["status"]);
    run.expect(2);
    assert!(run.stderr.contains("hosts.toml: cannot read it") && run.stderr.contains("--config"), "{}", run.stderr);
}

#[test]
fn hosts_lists_the_resolved_fleet_and_filters() {
    let f = Fleet::start(2);
    let run = f.ship(&["--format", "json", "hosts"]);
    run.expect(0);
    let v: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(v[0]["name"], "web1");
    assert_eq!(v[0]["port"], f.hosts[0].sshd.port);
    assert_eq!(v[0]["roles"][0], "web");
    let run = f.ship(&["--hosts", "web2", "hosts"]);
    run.expect(0);
    assert!(run.stdout.contains("web2") && !run.stdout.contains("web1"), "{}", run.stdout);
    let run = f.ship(&["--hosts", "web9", "hosts"]);
    run.expect(2);
    assert!(run.stderr.contains("no host named `web9`"), "{}", run.stderr);
}

#[test]
fn deploying_a_missing_path_is_a_usage_error() {
    let f = Fleet::start(1);
    let run = f.ship(&["deploy", "/nonexistent/build"]);
    run.expect(2);
    assert!(run.stderr.contains("build /nonexistent/build: cannot read it"), "{}", run.stderr);
}

#[test]
fn completions_and_man_page_need_no_config() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let run = ship_in(dir.path(), &["completions", shell]);
        run.expect(0);
        assert!(run.stdout.contains("deploy") && run.stdout.contains("rollback"), "{shell}: {}", run.stdout);
    }
    let man = ship_in(dir.path(), &["man"]);
    man.expect(0);
    assert!(man.stdout.contains(".TH ship 1") && man.stdout.contains("SHIP DEPLOY"), "{}", &man.stdout[..300]);
    let bad = ship_in(dir.path(), &["completions", "tcsh"]);
    bad.expect(2);
}
