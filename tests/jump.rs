//! Jump hosts against real sshd hosts: the proof that the traffic went
//! through the bastion comes from the bastion's own sshd log.

use crate::support::Fleet;

#[test]
fn deploy_through_a_jump_host() {
    // DEBUG1: the bastion logs each direct-tcpip request.
    let f = Fleet::start_with_log_level(2, "DEBUG1");
    let (bastion, target) = (&f.hosts[0].sshd, &f.hosts[1].sshd);
    let cfg = std::fs::read_to_string(&f.config).unwrap();
    let web2 = format!("name = \"web2\"\naddress = \"{}\"", target.address);
    let cfg = cfg.replace(&web2, &format!("{web2}\njump = \"{}@{}:{}\"", f.user, bastion.address, bastion.port));
    std::fs::write(&f.config, cfg).unwrap();
    let before = bastion.log();
    let build = f.build("app", &[("index.html", "via bastion")]);
    f.ship(&["--hosts", "web2", "deploy", build.to_str().unwrap()]).expect(0);
    assert_eq!(f.read_current(1, "index.html"), "via bastion");
    let log = bastion.log();
    let new = &log[before.len()..];
    // e.g. "debug1: server_request_direct_tcpip: originator 127.0.0.1 port 0, target 127.0.0.11 port 39857"
    let wanted = format!("target {} port {}", target.address, target.port);
    let forwarded = new.lines().any(|l| l.contains("server_request_direct_tcpip") && l.ends_with(&wanted));
    assert!(forwarded, "the bastion's sshd log shows no direct-tcpip to {}:{}:\n{new}", target.address, target.port);
    assert!(f.current(0).is_none(), "the bastion itself was not deployed to");
}

#[test]
fn a_jump_host_with_an_unknown_key_is_refused() {
    let f = Fleet::start(2);
    let (bastion, target) = (&f.hosts[0].sshd, &f.hosts[1].sshd);
    let cfg = std::fs::read_to_string(&f.config).unwrap();
    let web2 = format!("name = \"web2\"\naddress = \"{}\"", target.address);
    let cfg = cfg.replace(&web2, &format!("{web2}\njump = \"{}:{}\"", bastion.address, bastion.port));
    std::fs::write(&f.config, cfg).unwrap();
    // known_hosts holds only the target's key.
    std::fs::write(&f.known_hosts, f.known_line(&f.hosts[1]) + "\n").unwrap();
    let run = f.ship(&["--hosts", "web2", "status"]);
    run.expect(1);
    assert!(
        run.stdout.contains(&format!("jump host {}@{}:{}", f.user, bastion.address, bastion.port))
            && run.stdout.contains("unknown host key"),
        "{}",
        run.stdout
    );
}

/// Six hosts through one bastion whose sshd drops every unauthenticated
/// connection beyond two (MaxStartups 2:100:2): ship's handshake pacing
/// keeps under it, and every host is deployed. Pacing is at 1, not 2:
/// sshd's listener learns that a connection authenticated a moment after
/// the client does, so a limit equal to MaxStartups races (seen once in a
/// loaded full run).
#[test]
fn many_hosts_through_one_bastion_respect_its_max_startups() {
    let mut f = Fleet::start(7);
    let bastion_config = f.hosts[0].sshd.dir.join("sshd_config");
    let text = std::fs::read_to_string(&bastion_config).unwrap();
    let (from, to) = ("MaxStartups 100:30:200", "MaxStartups 2:100:2");
    assert!(text.contains(from), "{text}");
    std::fs::write(&bastion_config, text.replace(from, to)).unwrap();
    f.hosts[0].sshd.add_config("");
    let (address, port) = (f.hosts[0].sshd.address.clone(), f.hosts[0].sshd.port);
    let mut cfg = std::fs::read_to_string(&f.config).unwrap();
    for h in &f.hosts[1..] {
        let entry = format!("name = \"{}\"\naddress = \"{}\"", h.name, h.sshd.address);
        cfg = cfg.replace(&entry, &format!("{entry}\njump = \"{}@{address}:{port}\"", f.user));
    }
    cfg = cfg.replace("[ssh]\n", "[ssh]\nmax_handshakes = 1\n");
    std::fs::write(&f.config, cfg).unwrap();
    let build = f.build("app", &[("index.html", "paced")]);
    let run = f.ship(&["--hosts", "web2,web3,web4,web5,web6,web7", "deploy", build.to_str().unwrap()]);
    run.expect(0);
    for i in 1..7 {
        assert_eq!(f.read_current(i, "index.html"), "paced");
    }
}

/// Whether the bastion's sshd log (past `before` bytes) shows a direct-tcpip
/// request to `target`.
fn forwarded_since(bastion: &crate::support::sshd::Sshd, before: usize, target: &crate::support::sshd::Sshd) -> bool {
    let wanted = format!("target {} port {}", target.address, target.port);
    bastion.log()[before..].lines().any(|l| l.contains("server_request_direct_tcpip") && l.ends_with(&wanted))
}

/// ~/.ssh/config says web2 is reached through a bastion (itself an alias);
/// ship must not connect to web2 directly. Precedence: `[[hosts]] jump` >
/// ProxyJump > `[ssh] jump`, and `ship hosts` shows the chain in use.
#[test]
fn ssh_config_proxy_jump_is_used_and_shown() {
    let f = Fleet::start_with_log_level(2, "DEBUG1");
    let (bastion, target) = (&f.hosts[0].sshd, &f.hosts[1].sshd);
    std::fs::create_dir_all(f.dir.path().join(".ssh")).unwrap();
    std::fs::write(
        f.dir.path().join(".ssh/config"),
        format!(
            "Host bastion\n  HostName {}\n  Port {}\n  User {}\n\nHost {}\n  ProxyJump bastion\n",
            bastion.address, bastion.port, f.user, target.address
        ),
    )
    .unwrap();
    let chain = format!("{}@{}:{}", f.user, bastion.address, bastion.port);
    // [ssh] jump names a bastion that does not exist: ProxyJump wins over it.
    let nowhere = format!("{}@127.0.0.1:{}", f.user, crate::support::sshd::free_port("127.0.0.1"));
    let cfg = std::fs::read_to_string(&f.config).unwrap();
    std::fs::write(&f.config, cfg.replace("[ssh]\n", &format!("[ssh]\njump = \"{nowhere}\"\n"))).unwrap();

    let run = f.ship(&["--hosts", "web2", "--format", "json", "hosts"]);
    run.expect(0);
    let v: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(v[0]["jump"], chain.as_str(), "{}", run.stdout);
    let run = f.ship(&["--hosts", "web2", "hosts"]);
    assert!(run.stdout.contains("VIA") && run.stdout.contains(&chain), "{}", run.stdout);

    let before = bastion.log().len();
    let build = f.build("app", &[("index.html", "via ProxyJump")]);
    f.ship(&["--hosts", "web2", "deploy", build.to_str().unwrap()]).expect(0);
    assert_eq!(f.read_current(1, "index.html"), "via ProxyJump");
    assert!(forwarded_since(bastion, before, target), "no direct-tcpip to web2 in the bastion's log");

    // [[hosts]] jump wins over ProxyJump: here it names the nowhere bastion.
    let cfg = std::fs::read_to_string(&f.config).unwrap();
    let web2 = format!("name = \"web2\"\naddress = \"{}\"", target.address);
    std::fs::write(&f.config, cfg.replace(&web2, &format!("{web2}\njump = \"{nowhere}\""))).unwrap();
    let run = f.ship(&["--hosts", "web2", "--format", "json", "hosts"]);
    let v: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(v[0]["jump"], nowhere.as_str(), "{}", run.stdout);
    let run = f.ship(&["--hosts", "web2", "status"]);
    run.expect(1);
    assert!(run.stdout.contains("127.0.0.1"), "went for the [[hosts]] jump: {}", run.stdout);
}
