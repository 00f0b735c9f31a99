//! docs/errors.md lists the most likely failures with the exact message ship
//! prints and what it tells the user to do. This test causes each failure
//! for real (real binary, real sshd), normalises the parts that change from
//! run to run (temp dirs, addresses, ports, fingerprints, release ids), and
//! checks that the message in the doc is exactly what was printed. Run with
//! SHIP_BLESS=1 to print the current messages instead of failing.

use crate::support::Fleet;
use std::collections::BTreeMap;

/// The message of the first line containing `needle`, from `at ` or
/// `error: ` on.
fn message(f: &Fleet, output: &str, needle: &str) -> String {
    let line =
        output.lines().find(|l| l.contains(needle)).unwrap_or_else(|| panic!("no line with {needle:?} in:\n{output}"));
    let line = line.trim();
    f.normalise(line)
}

/// The `exact message` column of docs/errors.md, by failure id.
fn documented() -> BTreeMap<String, String> {
    let doc = include_str!("../docs/errors.md");
    doc.lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.split(" | ").collect();
            let id = cells[0].trim_start_matches("| `").trim_end_matches('`').to_string();
            let msg = cells[2].trim().trim_matches('`').trim().replace("\\|", "|");
            (id, msg)
        })
        .collect()
}

#[test]
fn the_documented_messages_are_the_real_ones() {
    let mut got: BTreeMap<&str, String> = BTreeMap::new();
    let mut f = Fleet::start(2);
    let v1 = f.build("v1", &[("index.html", "v1")]);
    let path = v1.to_str().unwrap().to_string();

    // Configuration.
    let good = std::fs::read_to_string(&f.config).unwrap();
    std::fs::write(&f.config, good.replace("name = \"demo\"", "name = \"demo\"\ncolour = \"blue\"")).unwrap();
    got.insert("config-unknown-key", message(&f, &f.ship(&["status"]).stderr, "error:"));
    std::fs::write(&f.config, &good).unwrap();
    let empty = tempfile::tempdir().unwrap();
    let mut cmd = crate::support::fleet::ship_command(empty.path());
    cmd.arg("status");
    let run = crate::support::fleet::run_with_timeout(cmd);
    got.insert("config-missing", message(&f, &run.stderr, "error:"));
    f.configure(
        &format!("restart = '{}'\n\n[hooks]\nsecret_env = [\"API_TOKEN\"]\n", crate::support::fleet::RESTART),
        "",
    );
    got.insert("secret-env-unset", message(&f, &f.ship(&["deploy", &path]).stderr, "error:"));
    f.configure(&format!("restart = '{}'\n", crate::support::fleet::RESTART), "");

    // Reaching hosts.
    let known = std::fs::read_to_string(&f.known_hosts).unwrap();
    std::fs::write(&f.known_hosts, f.known_line(&f.hosts[0]) + "\n").unwrap();
    got.insert("host-key-unknown", message(&f, &f.ship(&["deploy", &path]).stdout, "at connect"));
    let fake = format!("[{}]:{} {}", f.hosts[1].sshd.address, f.hosts[1].sshd.port, f.hosts[0].sshd.host_public_key());
    std::fs::write(&f.known_hosts, format!("{}\n{fake}\n", f.known_line(&f.hosts[0]))).unwrap();
    got.insert("host-key-changed", message(&f, &f.ship(&["deploy", &path]).stdout, "at connect"));
    std::fs::write(&f.known_hosts, &known).unwrap();
    f.hosts[1].sshd.serve_host_keys(&["ecdsa"]);
    got.insert("host-key-type-changed", message(&f, &f.ship(&["deploy", &path]).stdout, "at connect"));
    f.hosts[1].sshd.serve_host_keys(&["ed25519"]);
    let authorized = f.dir.path().join("authorized_keys");
    let keys = std::fs::read_to_string(&authorized).unwrap();
    std::fs::write(&authorized, "").unwrap();
    got.insert("auth-failed", message(&f, &f.ship(&["deploy", &path]).stdout, "at connect"));
    std::fs::write(&authorized, keys).unwrap();
    // A port that accepts connections but never speaks SSH.
    let silent = std::net::TcpListener::bind((f.hosts[1].sshd.address.as_str(), 0)).unwrap();
    let real = format!("port = {}", f.hosts[1].sshd.port);
    let cfg = std::fs::read_to_string(&f.config).unwrap();
    let quick = cfg.replace("connect_timeout = \"5s\"", "connect_timeout = \"1s\"");
    std::fs::write(&f.config, quick.replace(&real, &format!("port = {}", silent.local_addr().unwrap().port())))
        .unwrap();
    let silent_at = silent.local_addr().unwrap().to_string();
    let timeout = message(&f, &f.ship(&["deploy", &path]).stdout, "at connect").replace(&silent_at, "<address>:<port>");
    got.insert("connect-timeout", timeout);
    drop(silent);
    std::fs::write(
        &f.config,
        cfg + "\n[[inventory]]\ncommand = \"sh -c 'echo cannot reach the cloud API >&2; exit 3'\"\n",
    )
    .unwrap();
    got.insert("inventory-failed", message(&f, &f.ship(&["hosts"]).stderr, "error:"));
    f.configure(&format!("restart = '{}'\n", crate::support::fleet::RESTART), "");
    // HOME is the fleet's dir: a `Host *` ProxyJump that applies to the bastion too.
    let ssh_dir = f.dir.path().join(".ssh");
    std::fs::create_dir_all(&ssh_dir).unwrap();
    std::fs::write(ssh_dir.join("config"), "Host *\n  ProxyJump bastion\n").unwrap();
    got.insert("proxy-jump-loop", message(&f, &f.ship(&["hosts"]).stderr, "error:"));
    std::fs::write(ssh_dir.join("config"), "Host 127.*\n  ProxyCommand ssh -W %h:%p gw\n").unwrap();
    got.insert("proxy-command", message(&f, &f.ship(&["hosts"]).stderr, "error:"));
    std::fs::remove_file(ssh_dir.join("config")).unwrap();
    let cfg = std::fs::read_to_string(&f.config).unwrap();
    std::fs::write(&f.config, cfg + "\n[[inventory]]\ncommand = \"head -c 70000000 /dev/zero\"\n").unwrap();
    got.insert("inventory-too-large", message(&f, &f.ship(&["hosts"]).stderr, "error:"));
    f.configure(&format!("restart = '{}'\n", crate::support::fleet::RESTART), "");
    f.hosts[1].sshd.stop();
    got.insert("connection-refused", message(&f, &f.ship(&["deploy", &path]).stdout, "at connect"));
    f.hosts[1].sshd.restart();

    // Preflight.
    f.ship(&["deploy", &path]).expect(0);
    let lock = f.hosts[1].deploy_to.join(".ship/lock");
    std::fs::create_dir_all(&lock).unwrap();
    std::fs::write(lock.join("details.json"), r#"{"holder":"ana@laptop","command":"deploy"}"#).unwrap();
    got.insert("lock-held", message(&f, &f.ship(&["deploy", &path]).stderr, "error:"));
    std::fs::remove_dir_all(&lock).unwrap();
    f.configure(&format!("restart = '{}'\nlinked_files = [\".env\"]\n", crate::support::fleet::RESTART), "");
    got.insert("linked-file-missing", message(&f, &f.ship(&["deploy", &path]).stdout, "at preflight"));
    f.configure(&format!("restart = '{}'\n", crate::support::fleet::RESTART), "");
    let cur = f.hosts[1].deploy_to.join("current");
    std::fs::remove_file(&cur).unwrap();
    std::fs::create_dir(&cur).unwrap();
    got.insert("current-is-a-directory", message(&f, &f.ship(&["deploy", &path]).stdout, "at preflight"));
    std::fs::remove_dir(&cur).unwrap();
    f.ship(&["rollback", "--to", &f.current(0).unwrap()]).expect(0);

    // Release.
    f.configure("restart = 'echo \"unit shop.service not found\" >&2; exit 5'\n", "");
    got.insert("restart-failed", message(&f, &f.ship(&["deploy", &path]).stdout, "at restart"));
    // Slow only on the new release: the file is gone when the revert restarts.
    for h in &f.hosts {
        std::fs::write(h.deploy_to.parent().unwrap().join("slow"), "").unwrap();
    }
    f.configure(
        "restart = 'if [ -e \"$SHIP_DEPLOY_TO/../slow\" ]; then rm \"$SHIP_DEPLOY_TO/../slow\"; sleep 30; fi'\nrestart_timeout = \"1s\"\n",
        "",
    );
    got.insert("restart-timeout", message(&f, &f.ship(&["deploy", &path]).stdout, "at restart"));
    // Unhealthy only on the new release: the one served now is healthy,
    // as a revert checks.
    for h in &f.hosts {
        std::fs::write(h.deploy_to.join("current/healthy"), "").unwrap();
    }
    let health = "\n[health]\ncommand = '[ -e healthy ] || { echo \"GET /up: 503\"; exit 22; }'\ntimeout = \"1s\"\ninterval = \"200ms\"\n";
    f.configure(&format!("restart = 'true'\n{health}"), "");
    got.insert("health-failed", message(&f, &f.ship(&["deploy", &path]).stdout, "at health"));
    // The service's process still runs the release served before: a
    // restart that did nothing.
    let mut old = Vec::new();
    for h in &f.hosts {
        let child =
            std::process::Command::new("sleep").arg("60").current_dir(h.deploy_to.join("current")).spawn().unwrap();
        std::fs::create_dir_all(h.deploy_to.join("shared/tmp")).unwrap();
        std::fs::write(h.deploy_to.join("shared/tmp/server.pid"), child.id().to_string()).unwrap();
        old.push(child);
    }
    f.configure("restart = 'true'\n\n[health]\ninterval = \"200ms\"\n\n[verify]\npidfile = \"shared/tmp/server.pid\"\ntimeout = \"1s\"\n", "");
    let run = f.ship(&["deploy", &path]);
    for mut c in old {
        let _ = c.kill();
        let _ = c.wait();
    }
    let said = message(&f, &run.stdout, "at serving");
    let pid = said.split("pid ").nth(1).and_then(|x| x.split(' ').next()).unwrap_or_default().to_string();
    got.insert("verify-old-release", said.replace(&format!("pid {pid} "), "pid <pid> "));
    f.configure("restart = 'true'\n", "");
    got.insert("rollback-missing", message(&f, &f.ship(&["rollback", "--to", "20000101000000"]).stderr, "error:"));
    got.insert("rollback-bad-name", message(&f, &f.ship(&["rollback", "--to", "../etc"]).stderr, "error:"));

    // Linked paths.
    f.configure("linked_dirs = [\"config\"]\nlinked_files = [\"config/db.yml\"]\n", "");
    got.insert("linked-paths-nested", message(&f, &f.ship(&["deploy", &path]).stderr, "error:"));
    f.configure("restart = 'true'\nlinked_files = [\"conf/app.yml\"]\n", "");
    for h in &f.hosts {
        std::fs::create_dir_all(h.deploy_to.join("shared/conf")).unwrap();
        std::fs::write(h.deploy_to.join("shared/conf/app.yml"), "").unwrap();
    }
    let linked = f.build("linked", &[("index.html", "linked")]);
    std::os::unix::fs::symlink("/etc", linked.join("conf")).unwrap();
    let out = f.ship(&["deploy", linked.to_str().unwrap()]).stdout;
    got.insert("linked-path-through-symlink", message(&f, &out, "at link"));

    // What a build may hold, and copies between hosts.
    let mut special = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Char);
    h.set_mode(0o666);
    h.set_size(0);
    special.append_data(&mut h, "mem", std::io::empty()).unwrap();
    let tgz = f.dir.path().join("special.tar.gz");
    std::fs::write(&tgz, special.into_inner().unwrap().finish().unwrap()).unwrap();
    got.insert("tarball-special-file", message(&f, &f.ship(&["deploy", tgz.to_str().unwrap()]).stderr, "error:"));
    let v2 = f.build("v2", &[("index.html", "v2")]);
    f.ship(&["--hosts", "web1", "deploy", v2.to_str().unwrap()]).expect(0);
    // web2 serves nothing (as a new host would), so web1's release is the fleet's.
    std::fs::remove_file(f.hosts[1].deploy_to.join("current")).unwrap();
    std::fs::remove_dir_all(f.dir.path().join(".cache")).unwrap();
    std::fs::write(f.hosts[0].deploy_to.join("current/index.html"), "hot fix").unwrap();
    got.insert("sync-copy-refused", message(&f, &f.ship(&["sync"]).stdout, "at upload"));

    if std::env::var_os("SHIP_BLESS").is_some() {
        for (id, m) in &got {
            eprintln!("| `{id}` | {m}");
        }
        return;
    }
    let doc = documented();
    for (id, m) in &got {
        let want = doc.get(*id).unwrap_or_else(|| panic!("docs/errors.md has no row `{id}`; printed: {m}"));
        assert_eq!(m, want, "docs/errors.md row `{id}` differs from what ship printed");
    }
    assert_eq!(doc.len(), got.len(), "every documented row is produced here");
}
