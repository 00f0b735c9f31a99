//! Per-role services (issue 15): `[roles.<name>]` gives a role its own
//! restart, health check and `[verify]`; a host runs those of each of its
//! roles; `run_once` can be pinned to a role. Real sshd hosts.

use crate::support::Fleet;

/// hosts.toml with host `name`'s roles replaced by `roles`.
fn set_roles(f: &Fleet, name: &str, roles: &str) {
    let text = std::fs::read_to_string(&f.config).unwrap();
    let mut blocks: Vec<String> = text.split("\n[[hosts]]\n").map(str::to_string).collect();
    for b in blocks.iter_mut().skip(1) {
        if b.starts_with(&format!("name = \"{name}\"\n")) {
            *b = b.replace("roles = [\"web\"]", &format!("roles = {roles}"));
        }
    }
    std::fs::write(&f.config, blocks.join("\n[[hosts]]\n")).unwrap();
}

fn lines(p: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(p).unwrap_or_default().lines().map(str::to_string).collect()
}

/// `[roles.web]` and `[roles.worker]`, each logging its restart and health
/// check as `<what> <role> <host>`; the worker is unhealthy when
/// `worker_sick` exists next to the log.
fn two_roles(f: &Fleet, log: &std::path::Path) {
    let l = log.display();
    let sick = log.with_file_name("worker_sick");
    f.configure(
        &format!(
            "restart = 'echo \"restart app $SHIP_HOST\" >> {l}'\n\n\
[roles.web]\nrestart = 'echo \"restart web $SHIP_HOST\" >> {l}'\n\
[roles.web.health]\ncommand = 'echo \"health web $SHIP_HOST\" >> {l}'\n\n\
[roles.worker]\nrestart = 'echo \"restart worker $SHIP_HOST\" >> {l}'\n\
[roles.worker.health]\ncommand = 'echo \"health worker $SHIP_HOST\" >> {l}; test ! -e {}'\n\
timeout = \"1s\"\ninterval = \"200ms\"\n",
            sick.display()
        ),
        "",
    );
}

#[test]
fn a_host_runs_the_restart_and_health_check_of_each_of_its_roles() {
    let f = Fleet::start(3);
    let log = f.dir.path().join("services.log");
    two_roles(&f, &log);
    set_roles(&f, "web1", "[\"web\", \"worker\"]");
    set_roles(&f, "web3", "[\"db\"]");
    let v1 = f.build("v1", &[("index.html", "v1")]);
    f.ship(&["deploy", v1.to_str().unwrap()]).expect(0);
    let mut got = lines(&log);
    got.sort();
    assert_eq!(
        got,
        [
            "health web web1",
            "health web web2",
            "health worker web1",
            "restart app web3",
            "restart web web1",
            "restart web web2",
            "restart worker web1",
        ],
        "web1 runs both roles, web2 only web, web3 (no role table) the app's restart"
    );
    // The worker's health fails: only web1, which runs a worker, fails.
    std::fs::write(log.with_file_name("worker_sick"), "").unwrap();
    let v2 = f.build("v2", &[("index.html", "v2")]);
    let run = f.ship(&["deploy", v2.to_str().unwrap()]);
    run.expect(1);
    assert!(run.stdout.contains("at health: role worker:"), "{}", run.all());
    assert!(run.stdout.lines().any(|l| l.starts_with("web1") && l.contains("FAILED")), "{}", run.all());
}

#[test]
fn run_once_pinned_to_a_role_runs_on_exactly_one_host_of_that_role() {
    let f = Fleet::start(3);
    let once = f.dir.path().join("once.log");
    f.configure(
        &format!(
            "restart = 'true'\n\n[hooks]\nrun_once = ['echo \"$SHIP_HOST\" >> {}']\nrun_once_role = \"db\"\n",
            once.display()
        ),
        "",
    );
    set_roles(&f, "web2", "[\"web\", \"db\"]");
    set_roles(&f, "web3", "[\"db\"]");
    let v1 = f.build("v1", &[("index.html", "v1")]);
    f.ship(&["deploy", v1.to_str().unwrap()]).expect(0);
    assert_eq!(lines(&once), ["web2"], "the first host with role db, once");
    // No selected host has the role: nothing switches, and the error says why.
    let v2 = f.build("v2", &[("index.html", "v2")]);
    let before = f.current(0);
    let run = f.ship(&["--hosts", "web1", "deploy", v2.to_str().unwrap()]);
    run.expect(1);
    assert!(run.stdout.contains("no selected host has the role `db`"), "{}", run.all());
    assert_eq!(f.current(0), before);
}
