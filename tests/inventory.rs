//! Dynamic inventory against real sshd hosts: an Ansible-style inventory
//! script (groups, hostvars, children) found and deployed to; broken output.

use crate::support::Fleet;

#[test]
fn inventory_script_hosts_are_merged_filtered_and_deployed_to() {
    let f = Fleet::start(3);
    // web1 stays in hosts.toml; web2 and web3 come only from the inventory.
    let h = |i: usize| &f.hosts[i];
    let json = serde_json::json!({
        "_meta": {"hostvars": {
            "web2": {"ansible_host": h(1).sshd.address, "ansible_port": h(1).sshd.port,
                     "ship_deploy_to": h(1).deploy_to},
            "web3": {"ansible_host": h(2).sshd.address, "ansible_port": h(2).sshd.port,
                     "ship_deploy_to": h(2).deploy_to},
            // Same address:port as web1 in hosts.toml: de-duplicated.
            "web1-again": {"ansible_host": h(0).sshd.address, "ansible_port": h(0).sshd.port}
        }},
        "all": {"children": ["ungrouped", "app"]},
        "app": {"children": ["app_eu"], "hosts": ["web2"]},
        "app_eu": {"hosts": ["web3"]},
        "ungrouped": ["web1-again"]
    });
    let script = f.dir.path().join("inventory.sh");
    std::fs::write(&script, format!("#!/bin/sh\ncat <<'JSON'\n{json}\nJSON\n")).unwrap();
    let mut cfg = std::fs::read_to_string(&f.config).unwrap();
    // Keep only web1 in [[hosts]].
    let cut = cfg.find("\n[[hosts]]\nname = \"web2\"").unwrap();
    cfg.truncate(cut);
    cfg += &format!("\n[[inventory]]\ncommand = \"sh {}\"\ntimeout = \"5s\"\n", script.display());
    std::fs::write(&f.config, cfg).unwrap();

    let run = f.ship(&["--format", "json", "hosts"]);
    run.expect(0);
    let v: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    let names: Vec<&str> = v.as_array().unwrap().iter().map(|h| h["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["web1", "web2", "web3"], "{v:#}");
    assert_eq!(v[0]["source"], "hosts.toml");
    assert!(v[1]["source"].as_str().unwrap().starts_with("inventory: sh "), "{v:#}");
    assert_eq!(v[2]["roles"], serde_json::json!(["app", "app_eu"]));

    let run = f.ship(&["--roles", "app_eu", "hosts"]);
    assert!(run.stdout.contains("web3") && !run.stdout.contains("web2"), "{}", run.stdout);

    let build = f.build("app", &[("index.html", "v1")]);
    f.ship(&["deploy", build.to_str().unwrap()]).expect(0);
    for i in 0..3 {
        assert_eq!(f.read_current(i, "index.html"), "v1", "host {i}");
    }
}

#[test]
fn broken_inventory_output_is_a_clear_error() {
    let f = Fleet::start(1);
    let mut cfg = std::fs::read_to_string(&f.config).unwrap();
    cfg += "\n[[inventory]]\ncommand = \"echo 'Traceback: boom'\"\n";
    std::fs::write(&f.config, &cfg).unwrap();
    let run = f.ship(&["hosts"]);
    run.expect(2);
    assert!(run.stderr.contains("inventory command `echo 'Traceback: boom'`: not JSON"), "{}", run.stderr);
    assert!(run.stderr.contains("Traceback: boom"), "shows the output: {}", run.stderr);
    let cfg = cfg.replace("echo 'Traceback: boom'", "exit 4");
    std::fs::write(&f.config, cfg).unwrap();
    let run = f.ship(&["hosts"]);
    run.expect(2);
    assert!(run.stderr.contains("`exit 4` failed (exit status: 4)"), "{}", run.stderr);
}

/// Whether process `pid` still runs (not a zombie), giving a killed one up
/// to 5 s to go.
fn still_runs(pid: &str) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).ok();
        let running = stat.is_some_and(|s| s.rsplit(") ").next().is_some_and(|r| !r.starts_with('Z')));
        if !running || std::time::Instant::now() > deadline {
            return running;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn inventory_timeout_ends_everything_the_command_started_and_output_is_capped() {
    let f = Fleet::start(1);
    let base = std::fs::read_to_string(&f.config).unwrap();
    let pid = f.dir.path().join("leftover.pid");
    let with = |command: &str, timeout: &str| {
        let cfg = format!("{base}\n[[inventory]]\ncommand = '''{command}'''\ntimeout = \"{timeout}\"\n");
        std::fs::write(&f.config, cfg).unwrap();
    };
    let json = r#"{"_meta": {"hostvars": {"extra": {"ansible_host": "127.0.0.1"}}}, "web": ["extra"]}"#;

    // A leftover that holds stdout no longer keeps ship waiting, and it ends
    // with the command.
    with(&format!("(sleep 60 & echo $! > {}); echo '{json}'", pid.display()), "1s");
    let t0 = std::time::Instant::now();
    let run = f.ship(&["hosts"]);
    run.expect(0);
    assert!(t0.elapsed() < std::time::Duration::from_secs(30), "ship waited for the leftover: {:?}", t0.elapsed());
    assert!(run.stdout.contains("extra"), "{}", run.all());
    assert!(!still_runs(&std::fs::read_to_string(&pid).unwrap()), "the leftover sleep still runs");

    // The time limit ends the whole process group, not only /bin/sh.
    with(&format!("sleep 60 & echo $! > {}; sleep 60", pid.display()), "1s");
    let t0 = std::time::Instant::now();
    let run = f.ship(&["hosts"]);
    run.expect(2);
    assert!(t0.elapsed() < std::time::Duration::from_secs(30), "the limit did not hold: {:?}", t0.elapsed());
    assert!(run.stderr.contains("did not finish within 1s"), "{}", run.stderr);
    assert!(!still_runs(&std::fs::read_to_string(&pid).unwrap()), "the background sleep outlived the timeout");

    // Output beyond the cap (64 MiB) is an error, not memory.
    with("head -c 70000000 /dev/zero", "30s");
    let run = f.ship(&["hosts"]);
    run.expect(2);
    assert!(run.stderr.contains("printed more than 64 MiB"), "{}", run.stderr);
}
