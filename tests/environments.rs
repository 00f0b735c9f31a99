//! Environments against real sshd hosts: `[env.NAME]` overrides, `-e` and
//! SHIP_ENV, and `confirm = true` refusing without `--yes` off a terminal.

use crate::support::Fleet;

fn host_table(f: &Fleet, i: usize, env: &str) -> String {
    let h = &f.hosts[i];
    format!(
        "\n[[env.{env}.hosts]]\nname = \"{}\"\naddress = \"{}\"\nport = {}\ndeploy_to = \"{}\"\n",
        h.name,
        h.sshd.address,
        h.sshd.port,
        h.deploy_to.display()
    )
}

#[test]
fn environments_pick_their_hosts_and_confirm_needs_yes_off_a_terminal() {
    let f = Fleet::start(2);
    let mut cfg = std::fs::read_to_string(&f.config).unwrap();
    cfg += "\n[env.staging]\napp = { keep_releases = 2 }\n";
    cfg += &host_table(&f, 0, "staging");
    cfg += "\n[env.production]\nconfirm = true\n";
    cfg += &host_table(&f, 1, "production");
    std::fs::write(&f.config, cfg).unwrap();

    let run = f.ship(&["-e", "staging", "--format", "json", "hosts"]);
    run.expect(0);
    let v: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["name"], "web1");

    let build = f.build("app", &[("index.html", "v1")]);
    f.ship(&["-e", "staging", "deploy", build.to_str().unwrap()]).expect(0);
    assert!(f.current(0).is_some());
    assert!(f.current(1).is_none(), "staging never touches production's host");

    let run = f.ship(&["-e", "production", "deploy", build.to_str().unwrap()]);
    run.expect(2);
    assert!(
        run.stderr.contains("environment `production` asks for confirmation") && run.stderr.contains("--yes"),
        "{}",
        run.stderr
    );
    assert!(f.current(1).is_none(), "refused before anything changed");
    assert!(!f.hosts[1].deploy_to.exists(), "not even connected");

    f.ship(&["-e", "production", "--yes", "deploy", build.to_str().unwrap()]).expect(0);
    assert!(f.current(1).is_some());

    // SHIP_ENV selects too; an unknown one is named.
    let mut cmd = crate::support::fleet::ship_command(f.dir.path());
    cmd.arg("-c").arg(&f.config).arg("hosts").env("SHIP_ENV", "qa");
    let run = crate::support::fleet::run_with_timeout(cmd);
    run.expect(2);
    assert!(run.stderr.contains("no [env.qa] table (known: production, staging)"), "{}", run.stderr);
}

/// Runs ship under a real pseudo-terminal (util-linux `script`), typing `answer`.
fn ship_on_a_tty(f: &Fleet, args: &str, answer: &str) -> (i32, String) {
    use std::io::Write;
    let cmd = format!("{} -c {} --no-progress {args}", env!("CARGO_BIN_EXE_ship"), f.config.display());
    let mut script = std::process::Command::new("script");
    crate::support::fleet::scrub(&mut script, f.dir.path());
    let mut child = script
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("script (util-linux) runs ship on a pty");
    // Answer once the question is up; the pty buffers it until ship reads.
    child.stdin.take().unwrap().write_all(answer.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn confirm_asks_on_a_terminal_showing_each_hosts_change() {
    let f = Fleet::start(1);
    let mut cfg = std::fs::read_to_string(&f.config).unwrap();
    cfg += "\n[env.production]\nconfirm = true\n";
    std::fs::write(&f.config, cfg).unwrap();
    let build = f.build("app", &[("index.html", "v1")]);
    let (code, out) = ship_on_a_tty(&f, &format!("-e production deploy {}", build.display()), "n\n");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("to 1 host(s) of environment `production`") && out.contains("web1") && out.contains("(none) ->"),
        "{out}"
    );
    assert!(out.contains("deploy declined; nothing was changed"), "{out}");
    assert!(f.current(0).is_none());
    let (code, out) = ship_on_a_tty(&f, &format!("-e production deploy {}", build.display()), "y\n");
    assert_eq!(code, 0, "{out}");
    assert_eq!(f.read_current(0, "index.html"), "v1");
}
