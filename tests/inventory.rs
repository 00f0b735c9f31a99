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
