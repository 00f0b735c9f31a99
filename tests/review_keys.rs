//! Review of the issue 13 fixes to host keys and ssh_config (items 4 and 10):
//! every known_hosts file ssh_config lists is read, and ssh_config's
//! ProxyCommand and ProxyJump are never bypassed, for inventory hosts too.

use crate::support::Fleet;

/// Item 4 ("a host with any key on file is never new"): ssh_config names
/// two known_hosts files (`UserKnownHostsFile a b`, as OpenSSH's own
/// default `~/.ssh/known_hosts ~/.ssh/known_hosts2` does); the host's
/// ed25519 key is on file in the second. An impostor on its address offers
/// only ECDSA. OpenSSH reads both files and refuses (HOST IDENTIFICATION
/// HAS CHANGED); ship reads only the first, calls the host new under
/// accept-new, records the impostor's key and carries on.
#[test]
fn accept_new_trusts_an_impostor_of_a_host_on_file_in_the_second_known_hosts() {
    let mut f = Fleet::start(1);
    let second = f.dir.path().join("known_hosts2");
    std::fs::write(&second, f.known_line(&f.hosts[0]) + "\n").unwrap();
    let first = f.dir.path().join("known_hosts1");
    f.hosts[0].sshd.serve_host_keys(&["ecdsa"]);
    std::fs::create_dir_all(f.dir.path().join(".ssh")).unwrap();
    std::fs::write(
        f.dir.path().join(".ssh/config"),
        format!("Host {}\n  UserKnownHostsFile {} {}\n", f.hosts[0].sshd.address, first.display(), second.display()),
    )
    .unwrap();
    f.configure("", "host_key_checking = \"accept-new\"\n");
    let cfg = std::fs::read_to_string(&f.config).unwrap();
    let cfg: String = cfg.lines().filter(|l| !l.starts_with("known_hosts = ")).map(|l| format!("{l}\n")).collect();
    std::fs::write(&f.config, cfg).unwrap();
    let run = f.ship(&["status"]);
    let recorded = std::fs::read_to_string(&first).unwrap_or_default();
    assert!(
        run.code != 0 && recorded.is_empty(),
        "an impostor with another key type was trusted (exit {}, recorded in {}: {recorded:?})\n{}",
        run.code,
        first.display(),
        run.all()
    );
    // Refused as a changed key, naming the line in the second file.
    let at = format!("at {}:1", second.display());
    assert!(run.all().contains("HOST KEY CHANGED") && run.all().contains(&at), "{}", run.all());
}

/// New (ssh_config, same class as item 10): `ProxyCommand` in ssh_config is
/// silently ignored and ship connects straight to the host. OpenSSH would go
/// through the proxy (here one that always fails, so OpenSSH cannot reach
/// the host at all); ship deploys around it without a word.
#[test]
fn ssh_config_proxy_command_is_ignored_and_ship_connects_around_it() {
    let f = Fleet::start(1);
    let target = &f.hosts[0].sshd;
    std::fs::create_dir_all(f.dir.path().join(".ssh")).unwrap();
    std::fs::write(
        f.dir.path().join(".ssh/config"),
        format!("Host {}\n  ProxyCommand /bin/false %h %p\n", target.address),
    )
    .unwrap();
    let build = f.build("app", &[("index.html", "around the proxy")]);
    let run = f.ship(&["deploy", build.to_str().unwrap()]);
    assert!(
        f.current(0).is_none(),
        "ship reached the host directly, bypassing ssh_config's ProxyCommand (exit {})\n{}",
        run.code,
        run.all()
    );
    // Refused before connecting, as a config error naming host, file and way out.
    assert_eq!(run.code, 2, "{}", run.all());
    let want = format!("host `web1`: {}/.ssh/config sets `ProxyCommand /bin/false %h %p`", f.dir.path().display());
    assert!(run.all().contains(&want) && run.all().contains("ProxyCommand none"), "{}", run.all());
    assert!(!f.hosts[0].sshd.log().contains("Accepted publickey"), "{}", f.hosts[0].sshd.log());
}

/// Item 10: ssh_config ProxyJump is still not used for inventory hosts.
/// ~/.ssh/config sends the host's address through a bastion (here one that
/// does not answer, so OpenSSH cannot reach it at all); the same address
/// from an `[[inventory]] command` is reached directly, around the
/// bastion, and `ship hosts` shows no VIA chain.
#[test]
fn ssh_config_proxy_jump_is_bypassed_for_inventory_hosts() {
    let f = Fleet::start(1);
    let h = &f.hosts[0];
    let nowhere = crate::support::sshd::free_port("127.0.0.1");
    std::fs::create_dir_all(f.dir.path().join(".ssh")).unwrap();
    std::fs::write(
        f.dir.path().join(".ssh/config"),
        format!("Host {}\n  ProxyJump {}@127.0.0.1:{nowhere}\n", h.sshd.address, f.user),
    )
    .unwrap();
    let json = serde_json::json!({
        "_meta": {"hostvars": {"web1": {"ansible_host": h.sshd.address, "ansible_port": h.sshd.port,
                                        "ship_deploy_to": h.deploy_to}}},
        "app": {"hosts": ["web1"]}
    });
    let script = f.dir.path().join("inventory.sh");
    std::fs::write(&script, format!("#!/bin/sh\ncat <<'JSON'\n{json}\nJSON\n")).unwrap();
    let mut cfg = std::fs::read_to_string(&f.config).unwrap();
    let cut = cfg.find("\n[[hosts]]").unwrap();
    cfg.truncate(cut);
    cfg += &format!("\n[[inventory]]\ncommand = \"sh {}\"\ntimeout = \"5s\"\n", script.display());
    std::fs::write(&f.config, cfg).unwrap();
    let hosts = f.ship(&["--format", "json", "hosts"]);
    let build = f.build("app", &[("index.html", "around the bastion")]);
    let run = f.ship(&["deploy", build.to_str().unwrap()]);
    assert!(
        f.current(0).is_none(),
        "ship reached the inventory host directly, around its ProxyJump (exit {})\nhosts: {}\n{}",
        run.code,
        hosts.stdout,
        run.all()
    );
    // `ship hosts` shows the chain in use, and the deploy went for the bastion.
    assert!(hosts.stdout.contains(&format!("{}@127.0.0.1:{nowhere}", f.user)), "{}", hosts.stdout);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.all().contains(&format!("127.0.0.1:{nowhere}")), "{}", run.all());
}
