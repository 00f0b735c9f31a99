//! Host key verification against real sshd hosts: unknown and changed keys
//! refuse that host (and so every host, before any switch); accept-new
//! records hashed entries; @revoked is never accepted.

use crate::support::Fleet;

fn deploy_v1(f: &Fleet) -> String {
    let v1 = f.build("v1", &[("index.html", "v1")]);
    f.ship(&["deploy", v1.to_str().unwrap()]).expect(0);
    f.current(0).unwrap()
}

fn assert_nothing_switched(f: &Fleet, before: &str) {
    for i in 0..f.hosts.len() {
        assert_eq!(f.current(i).unwrap(), before, "host {i}");
        assert_eq!(f.releases(i), [before.to_string()], "host {i}");
    }
}

#[test]
fn unknown_host_key_under_strict_refuses_and_no_host_switches() {
    let f = Fleet::start(3);
    let before = deploy_v1(&f);
    let lines: Vec<String> = f.hosts[..2].iter().map(|h| f.known_line(h)).collect();
    std::fs::write(&f.known_hosts, lines.join("\n") + "\n").unwrap();
    let v2 = f.build("v2", &[("index.html", "v2")]);
    let run = f.ship(&["deploy", v2.to_str().unwrap()]);
    run.expect(1);
    let h = &f.hosts[2].sshd;
    assert!(
        run.stdout.contains(&format!("unknown host key for [{}]:{} (SHA256:", h.address, h.port)),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("accept-new"), "says what to do: {}", run.stdout);
    assert_nothing_switched(&f, &before);
}

#[test]
fn changed_host_key_refuses_and_no_host_switches() {
    let f = Fleet::start(2);
    let before = deploy_v1(&f);
    // Pretend web2 used to have web1's key.
    let web2 = &f.hosts[1].sshd;
    let fake = format!("[{}]:{} {}", web2.address, web2.port, f.hosts[0].sshd.host_public_key());
    std::fs::write(&f.known_hosts, format!("{}\n{fake}\n", f.known_line(&f.hosts[0]))).unwrap();
    let v2 = f.build("v2", &[("index.html", "v2")]);
    let run = f.ship(&["deploy", v2.to_str().unwrap()]);
    run.expect(1);
    assert!(run.stdout.contains("HOST KEY CHANGED"), "{}", run.stdout);
    assert!(run.stdout.contains(&format!("{}:2", f.known_hosts.display())), "names the line: {}", run.stdout);
    assert_nothing_switched(&f, &before);
}

#[test]
fn revoked_host_key_is_refused_even_under_accept_new() {
    let f = Fleet::start(1);
    let key = f.hosts[0].sshd.host_public_key();
    std::fs::write(&f.known_hosts, format!("{}\n@revoked * {key}\n", f.known_line(&f.hosts[0]))).unwrap();
    f.configure("", "host_key_checking = \"accept-new\"\n");
    let run = f.ship(&["status"]);
    run.expect(1);
    assert!(run.stdout.contains("@revoked"), "{}", run.stdout);
}

#[test]
fn accept_new_records_hashed_entries_then_trusts_them() {
    let f = Fleet::start(2);
    std::fs::remove_file(&f.known_hosts).unwrap();
    f.configure("", "host_key_checking = \"accept-new\"\n");
    f.ship(&["status"]).expect(0);
    let text = std::fs::read_to_string(&f.known_hosts).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.lines().all(|l| l.starts_with("|1|")), "hashed: {text}");
    assert!(!text.contains("127.0.0."), "no clear-text addresses: {text}");
    // The recorded entries are now enough under strict.
    f.configure("", "host_key_checking = \"strict\"\n");
    f.ship(&["status"]).expect(0);
}

#[test]
fn revoked_host_key_is_refused_even_with_checking_off() {
    let f = Fleet::start(1);
    let key = f.hosts[0].sshd.host_public_key();
    std::fs::write(&f.known_hosts, format!("{}\n@revoked * {key}\n", f.known_line(&f.hosts[0]))).unwrap();
    f.configure("", "host_key_checking = \"off\"\n");
    let run = f.ship(&["status"]);
    run.expect(1);
    assert!(run.stdout.contains(&format!("@revoked in {}:2", f.known_hosts.display())), "{}", run.stdout);
}

/// known_hosts has the host's ed25519 key; an impostor on its address and
/// port offers only an ECDSA key. That is a changed key, never a new host:
/// refused under strict and accept-new alike, naming the known_hosts line,
/// and nothing is recorded.
#[test]
fn an_impostor_with_another_key_type_is_refused_under_strict_and_accept_new() {
    let mut f = Fleet::start(1);
    let on_file = std::fs::read_to_string(&f.known_hosts).unwrap();
    f.hosts[0].sshd.serve_host_keys(&["ecdsa"]);
    for checking in ["strict", "accept-new"] {
        f.configure("", &format!("host_key_checking = \"{checking}\"\n"));
        let run = f.ship(&["status"]);
        run.expect(1);
        assert!(run.stdout.contains("HOST KEY CHANGED"), "{checking}: {}", run.stdout);
        assert!(
            run.stdout.contains(&format!("{}:1", f.known_hosts.display())),
            "{checking}: names the known_hosts line: {}",
            run.stdout
        );
        assert_eq!(std::fs::read_to_string(&f.known_hosts).unwrap(), on_file, "{checking}: nothing recorded");
    }
}

/// A host that serves ed25519 and ECDSA keys but is on file with its ECDSA
/// key only is reached with that key, not refused for offering the other.
#[test]
fn a_host_on_file_with_one_key_type_is_verified_with_that_type() {
    let mut f = Fleet::start(1);
    f.hosts[0].sshd.serve_host_keys(&["ed25519", "ecdsa"]);
    let h = &f.hosts[0].sshd;
    std::fs::write(&f.known_hosts, format!("[{}]:{} {}\n", h.address, h.port, h.host_public_key_of("ecdsa"))).unwrap();
    let on_file = std::fs::read_to_string(&f.known_hosts).unwrap();
    for checking in ["strict", "accept-new"] {
        f.configure("", &format!("host_key_checking = \"{checking}\"\n"));
        f.ship(&["status"]).expect(0);
        assert_eq!(std::fs::read_to_string(&f.known_hosts).unwrap(), on_file, "{checking}: nothing recorded");
    }
}
