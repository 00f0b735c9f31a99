//! Review round 4 of issue 13: reproductions against real sshd hosts, in
//! the situations users meet on day one. Each test fails on the code it
//! was written against (main at b14f5d3).

use crate::support::background::{exit_within, spawn};
use crate::support::hostbin::{path_with_wrapped, which};
use crate::support::Fleet;
use std::time::Duration;

/// A secret value of a realistic length (an API token).
const TOKEN: &str = "tok_4f9a7c2e1b8d6053a9e1f7c4b2d80e65";

/// Any 6 characters of `secret` in `all`, with some context.
fn leaked(all: &str, secret: &str) -> Option<String> {
    let piece = (0..=secret.len() - 6).map(|i| &secret[i..i + 6]).find(|p| all.contains(*p))?;
    let at = all.find(piece)?;
    Some(format!("{piece:?} in …{}…", &all[at.saturating_sub(40)..(at + 80).min(all.len())]))
}

/// Issue 13 item 8: "every string is masked before any encoding" and
/// "secrets never print". A secret exported from a file written on
/// Windows (or pasted into a CI secret with a CR) ends in `\r`; ship
/// takes it as it is (only a newline or NUL is refused) and masks that
/// exact value. A failing step's message is built from the last lines of
/// its stderr, and splitting them into lines drops the `\r` before the
/// mask runs: the whole token is printed, in text and JSON alike.
#[test]
fn a_secret_ending_in_a_carriage_return_is_printed_whole_in_a_failure() {
    let f = Fleet::start(1);
    let build = f.build("v1", &[("index.html", "v1")]);
    f.configure(
        "restart = 'echo \"calling the API with $API_TOKEN\" >&2; exit 3'\n\n[hooks]\nsecret_env = [\"API_TOKEN\"]\n",
        "",
    );
    let secret = format!("{TOKEN}\r");
    let mut leaks = Vec::new();
    for format in ["text", "json"] {
        let run = f.ship_env(&[("API_TOKEN", &secret)], &["--format", format, "deploy", build.to_str().unwrap()]);
        assert_eq!(run.code, 1, "{}", run.all());
        if let Some(l) = leaked(&run.all(), TOKEN) {
            leaks.push(format!("{format}: {l}"));
        }
    }
    assert!(leaks.is_empty(), "the secret was printed:\n{}", leaks.join("\n"));
}

/// Invariant 1 ("`current` always points at a complete, verified
/// release") and round 3's promise that `[ssh] command_timeout` limits
/// only ship's own quick scripts. A deploy's last round trip (log, then
/// `rm -rf` of the releases to prune, then unlock) runs under
/// `command_timeout`; when deleting an old release takes longer (a
/// release with a big node_modules on a slow disk; here `rm` deletes one
/// file of the release, then is slow), `rm` is killed half-way. ship says
/// nothing: the deploy is "ok", the host log says the release was pruned,
/// and the half-deleted directory stays in releases/, where two plain
/// rollbacks (the operator backing out twice) land on it and serve it.
#[test]
fn a_prune_cut_by_command_timeout_leaves_a_half_deleted_release_that_rollback_serves() {
    let mut f = Fleet::start(1);
    let rm = which("rm");
    let wrapper = format!(
        "#!/bin/sh\nfor a in \"$@\"; do case \"$a\" in */releases/*) {rm} -f \"$a/index.html\"; sleep 20;; esac; done\nexec {rm} \"$@\"\n"
    );
    let bin = path_with_wrapped(f.dir.path(), "rm", &wrapper);
    f.hosts[0].sshd.add_config(&format!("SetEnv PATH={}", bin.display()));
    f.configure(
        &format!("keep_releases = 2\nrestart = '{}'\n", crate::support::fleet::RESTART),
        "command_timeout = \"3s\"\n",
    );
    let mut ids = Vec::new();
    for v in ["v1", "v2", "v3"] {
        let b = f.build(v, &[("index.html", v), ("app.js", v)]);
        f.ship(&["deploy", b.to_str().unwrap()]).expect(0);
        ids.push(f.current(0).unwrap());
    }
    let log = std::fs::read_to_string(f.hosts[0].deploy_to.join(".ship/log.jsonl")).unwrap();
    let left = f.releases(0);
    f.ship(&["rollback"]).expect(0);
    let second = f.ship(&["rollback"]);
    let serving = std::fs::read_to_string(f.hosts[0].deploy_to.join("current/index.html")).ok();
    assert!(
        serving.is_some(),
        "after two rollbacks current -> {:?} serves a release without index.html; releases after the v3 deploy: {left:?} \
(v1 = {}); host log:\n{log}\n--- second rollback (exit {})\n{}",
        f.current(0),
        ids[0],
        second.code,
        second.all()
    );
}

/// Issue 13 item 11: "every remote step has a deadline", and round 3's
/// `[ssh] command_timeout` for ship's own scripts. A delta deploy's
/// verify step (hard-linking and hashing the unchanged files of the
/// current release) runs with no limit at all: a file of the current
/// release whose read never returns (an NFS mount gone stale; here a
/// named pipe) hangs the deploy for ever with the lock held, before the
/// switch, and nothing is said.
#[test]
fn a_delta_verify_that_never_returns_hangs_the_deploy_for_ever() {
    let f = Fleet::start(1);
    let big =
        String::from_utf8(crate::support::fleet::noise(256 << 10).iter().map(|b| b'a' + b % 26).collect()).unwrap();
    let v1 = f.build("v1", &[("index.html", "v1"), ("vendor.js", &big)]);
    f.ship(&["deploy", v1.to_str().unwrap()]).expect(0);
    f.configure(
        &format!("keep_releases = 5\nrestart = '{}'\n", crate::support::fleet::RESTART),
        "command_timeout = \"5s\"\n",
    );
    let file = f.hosts[0].deploy_to.join("current/vendor.js");
    std::fs::remove_file(&file).unwrap();
    let st = std::process::Command::new("mkfifo").arg(&file).status().unwrap();
    assert!(st.success());
    let v2 = f.build("v2", &[("index.html", "v2"), ("vendor.js", &big)]);
    let (mut child, rx) = spawn(&f, &["deploy", v2.to_str().unwrap()]);
    // Far longer than any step of this deploy takes on loopback.
    let code = exit_within(&mut child, Duration::from_secs(90));
    let locked = f.hosts[0].deploy_to.join(".ship/lock").exists();
    // Let the host's reader go.
    let _ = std::process::Command::new("timeout").arg("5").arg("sh").arg("-c").arg(r#": > "$0""#).arg(&file).status();
    let mut said = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(2)) {
        said.push(line);
    }
    assert!(
        code.is_some(),
        "ship was still running after 90 s (host lock held: {locked}); it said:\n{}",
        said.join("\n")
    );
    assert!(!locked, "the lock was left held:\n{}", said.join("\n"));
    assert_eq!(f.read_current(0, "index.html"), "v1");
}

/// A server that answers every request with the start of a large body,
/// then stalls (an artifact store or proxy that hangs mid-transfer).
/// Returns its base URL; it stops with the test process.
fn stalling_server() -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().take(16) {
            let Ok(mut conn) = conn else { continue };
            let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/gzip\r\nContent-Length: 10000000\r\n\r\n");
            let _ = conn.write_all(&[0x1f, 0x8b, 8, 0]);
            let _ = conn.flush();
            held.push(conn);
        }
    });
    url
}

/// Issue 13 item 11: "every remote step has a deadline ... the first
/// Ctrl-C is acknowledged at once and cuts waits short", and README's
/// table: "Ctrl-C during upload ...: the upload is cut short, the staged
/// release removed everywhere, locks released". In pull mode the host's
/// download has no deadline (curl gets only `--connect-timeout`): an
/// artifact server that stalls mid-transfer holds the deploy for ever,
/// with every host locked, and a CI job's Ctrl-C does not cut it short.
#[test]
fn a_stalled_pull_download_holds_the_deploy_past_ctrl_c() {
    use crate::support::background::{sigint, wait_for};
    let f = Fleet::start(1);
    let v1 = f.build("v1", &[("index.html", "v1")]);
    f.ship(&["deploy", v1.to_str().unwrap()]).expect(0);
    let v2 = f.build("v2", &[("index.html", "v2")]);
    let tgz = f.dir.path().join("v2.tar.gz");
    let st = std::process::Command::new("tar").arg("czf").arg(&tgz).arg("-C").arg(&v2).arg(".").status().unwrap();
    assert!(st.success());
    let url = format!("{}/app.tar.gz", stalling_server());
    let (mut child, rx) = spawn(&f, &["deploy", tgz.to_str().unwrap(), "--from-url", &url]);
    let mut said = wait_for(&rx, "upload");
    // The download is under way (and stalled): a CI job is cancelled.
    std::thread::sleep(Duration::from_secs(2));
    sigint(&child);
    let code = exit_within(&mut child, Duration::from_secs(60));
    let locked = f.hosts[0].deploy_to.join(".ship/lock").exists();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(2)) {
        said.push(line);
    }
    assert!(
        code.is_some(),
        "ship was still running 60 s after Ctrl-C (host lock held: {locked}); it said:\n{}",
        said.join("\n")
    );
    assert_eq!(code, Some(130), "{}", said.join("\n"));
    assert!(!locked, "the lock was left held:\n{}", said.join("\n"));
    assert_eq!(f.read_current(0, "index.html"), "v1");
}

/// Issue 13 item 11: "a second Ctrl-C or any SIGTERM ends the run
/// promptly", "every remote step has a deadline". `[hooks] local_before`
/// (run on the machine running ship, e.g. a build or a notification
/// script) is waited for with no limit, and a CI runner's SIGTERM is
/// noted but not acted on: ship keeps waiting for the hook, which is
/// never stopped, until the runner's SIGKILL.
#[test]
fn sigterm_during_a_local_hook_is_not_acted_on() {
    use crate::support::background::{sigterm, wait_for_file};
    let f = Fleet::start(1);
    let started = f.dir.path().join("hook.started");
    f.configure(
        &format!(
            "keep_releases = 5\nrestart = '{}'\n\n[hooks]\nlocal_before = ['touch {}; sleep 90']\n",
            crate::support::fleet::RESTART,
            started.display()
        ),
        "",
    );
    let v1 = f.build("v1", &[("index.html", "v1")]);
    let (mut child, rx) = spawn(&f, &["deploy", v1.to_str().unwrap()]);
    wait_for_file(&started);
    sigterm(&child);
    let code = exit_within(&mut child, Duration::from_secs(30));
    let said: Vec<String> = rx.try_iter().collect();
    assert!(code.is_some(), "ship was still running 30 s after SIGTERM; it said:\n{}", said.join("\n"));
    assert_eq!(code, Some(130), "{}", said.join("\n"));
}

/// Issue 13 item 5 ("a copied release is verified ... or refused") and
/// item 3 ("going back to what was serving is always possible"), as round
/// 3 found for names with a backslash: a build holding a file whose name
/// is not UTF-8 (Latin-1 names from an older system, `caf\xe9.txt`) is
/// packed and deployed, but left out of the manifest (the hex escape
/// carries UTF-8 only); `ship sync` then refuses ship's own, untouched
/// release as changed on the host, and a new host cannot be brought in.
#[test]
fn sync_refuses_a_release_ship_deployed_whose_build_has_a_non_utf8_name() {
    use std::os::unix::ffi::OsStrExt;
    let f = Fleet::start(2);
    let (one, full) = f.without_last_host();
    std::fs::write(&f.config, &one).unwrap();
    let v1 = f.build("v1", &[("index.html", "v1")]);
    let odd = v1.join(std::ffi::OsStr::from_bytes(b"caf\xe9.txt"));
    std::fs::write(&odd, "menu").unwrap();
    f.ship(&["deploy", v1.to_str().unwrap()]).expect(0);
    std::fs::remove_dir_all(f.dir.path().join(".cache")).unwrap();
    std::fs::write(&f.config, &full).unwrap();
    // Nothing on web1 changed since the deploy.
    let run = f.ship(&["sync"]);
    assert_eq!(run.code, 0, "ship refused to copy the release it deployed:\n{}", run.all());
    let copied = f.hosts[1].deploy_to.join("current").join(std::ffi::OsStr::from_bytes(b"caf\xe9.txt"));
    assert_eq!(std::fs::read_to_string(copied).unwrap(), "menu");
}

/// Issue 13 item 4 and the issue 13 guarantee "never trust an unverified
/// host key": "a host with any key on file is never new". Hosts behind a
/// load balancer or NAT (several hosts, one address, a port each) are
/// told apart in OpenSSH with ssh_config `HostKeyAlias`: their keys are on
/// file under the alias. ship reads the alias's HostName and Port from
/// ssh_config but not its HostKeyAlias: it looks the address up, finds
/// nothing, and under `accept-new` trusts whatever answers there (here an
/// impostor with another key) and records it, where `ssh` refuses with
/// "REMOTE HOST IDENTIFICATION HAS CHANGED".
#[test]
fn accept_new_trusts_an_impostor_of_a_host_on_file_under_its_host_key_alias() {
    let f = Fleet::start(2);
    let (real, impostor) = (&f.hosts[0], &f.hosts[1]);
    std::fs::create_dir_all(f.dir.path().join(".ssh")).unwrap();
    // The address now answers with the impostor's key (web2's sshd).
    std::fs::write(
        f.dir.path().join(".ssh/config"),
        format!(
            "Host app\n  HostName {}\n  Port {}\n  User {}\n  IdentityFile {}\n  HostKeyAlias app.prod.internal\n",
            impostor.sshd.address,
            impostor.sshd.port,
            f.user,
            f.key.display()
        ),
    )
    .unwrap();
    // What `ssh app` recorded on first contact with the real host.
    let on_file = format!("app.prod.internal {}\n", real.sshd.host_public_key());
    std::fs::write(&f.known_hosts, &on_file).unwrap();
    let cfg = format!(
        "[app]\nname = \"demo\"\ndeploy_to = \"{}\"\n\n[ssh]\nknown_hosts = \"{}\"\nhost_key_checking = \"accept-new\"\n\n\
[[hosts]]\nname = \"web1\"\naddress = \"app\"\n",
        impostor.deploy_to.display(),
        f.known_hosts.display()
    );
    std::fs::write(&f.config, &cfg).unwrap();
    let run = f.ship(&["status"]);
    let after = std::fs::read_to_string(&f.known_hosts).unwrap();
    assert!(run.all().contains("web1"), "ship did not reach the host:\n{}", run.all());
    assert!(
        run.code != 0 && after == on_file,
        "ship trusted the impostor (exit {}); known_hosts now:\n{after}\n{}",
        run.code,
        run.all()
    );
}

/// Issue 13 item 11 ("every remote step has a deadline") and round 3's
/// fix for the same host: "`[ssh] command_timeout` limits ship's own
/// scripts". `ship check`, which an operator runs exactly when a host
/// misbehaves, runs its script (which reads the host log, like the state
/// read round 3 fixed) with no limit: with the host log a named pipe (as
/// made for a log collector that is not running; an NFS mount gone stale
/// behaves alike) it never returns.
#[test]
fn ship_check_on_a_host_whose_log_never_returns_hangs_for_ever() {
    let f = Fleet::start(1);
    let v1 = f.build("v1", &[("index.html", "v1")]);
    f.ship(&["deploy", v1.to_str().unwrap()]).expect(0);
    f.configure(
        &format!("keep_releases = 5\nrestart = '{}'\n", crate::support::fleet::RESTART),
        "command_timeout = \"5s\"\n",
    );
    let log = f.hosts[0].deploy_to.join(".ship/log.jsonl");
    std::fs::remove_file(&log).unwrap();
    let st = std::process::Command::new("mkfifo").arg(&log).status().unwrap();
    assert!(st.success());
    let (mut child, rx) = spawn(&f, &["check"]);
    let code = exit_within(&mut child, Duration::from_secs(60));
    let _ = std::process::Command::new("timeout").arg("5").arg("sh").arg("-c").arg(r#": > "$0""#).arg(&log).status();
    let said: Vec<String> = rx.try_iter().collect();
    assert!(code.is_some(), "ship check was still running after 60 s; it said:\n{}", said.join("\n"));
}

/// Issue 13 item 14: "a lock taken is released on every exit path", and
/// round 3's promise that `[ssh] command_timeout` limits only ship's own
/// quick scripts. Taking the lock also empties `.ship/staging` (what a
/// cancelled CI job left: a big release half unpacked), in the same
/// script, under `command_timeout`. When that `rm -rf` is slow (here `rm`
/// of the staging area is made slow), the script is killed after
/// `mkdir .ship/lock` but before it says so: ship does not know it holds
/// the lock, never releases it, and every later deploy is refused as
/// locked by a run that is over.
#[test]
fn a_slow_cleanup_of_staging_while_taking_the_lock_leaks_the_lock() {
    let mut f = Fleet::start(1);
    let v1 = f.build("v1", &[("index.html", "v1")]);
    f.ship(&["deploy", v1.to_str().unwrap()]).expect(0);
    // What a CI job cancelled mid-upload left behind.
    let stale = f.hosts[0].deploy_to.join(".ship/staging/20260101000000/node_modules");
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join("index.js"), "x").unwrap();
    let rm = which("rm");
    let wrapper = format!("#!/bin/sh\ncase \"$*\" in */.ship/staging/*) sleep 20;; esac\nexec {rm} \"$@\"\n");
    let bin = path_with_wrapped(f.dir.path(), "rm", &wrapper);
    f.hosts[0].sshd.add_config(&format!("SetEnv PATH={}", bin.display()));
    f.configure(
        &format!("keep_releases = 5\nrestart = '{}'\n", crate::support::fleet::RESTART),
        "command_timeout = \"3s\"\n",
    );
    let v2 = f.build("v2", &[("index.html", "v2")]);
    let run = f.ship(&["deploy", v2.to_str().unwrap()]);
    // Give the host's killed script time to be gone.
    std::thread::sleep(Duration::from_secs(1));
    let lock = f.hosts[0].deploy_to.join(".ship/lock");
    let holder = std::fs::read_to_string(lock.join("details.json")).unwrap_or_default();
    assert_eq!(f.read_current(0, "index.html"), "v1");
    assert!(!lock.exists(), "the deploy (exit {}) left the lock held: {holder}\n{}", run.code, run.all());
}

/// Issue 13 item 4 ("every UserKnownHostsFile/GlobalKnownHostsFile is
/// read"; "a host with any key on file is never new") and "never trust an
/// unverified host key". Where an organisation hands out its hosts' keys
/// in `/etc/ssh/ssh_known_hosts` (OpenSSH's default GlobalKnownHostsFile,
/// read by `ssh` with no ssh_config line), ship reads it only when
/// ssh_config names it: under `accept-new` a host whose key is on file
/// there counts as new, and an impostor answering on its address is
/// trusted and recorded, where `ssh` refuses ("REMOTE HOST IDENTIFICATION
/// HAS CHANGED"). The machine's file is replaced in a private mount
/// namespace for this ship run only.
#[test]
fn accept_new_trusts_an_impostor_of_a_host_on_file_in_the_default_global_known_hosts() {
    let f = Fleet::start(2);
    let (real, impostor) = (&f.hosts[0], &f.hosts[1]);
    // The global file as the organisation wrote it: web1's address has
    // web1's real key. The impostor (web2's sshd, another key) answers
    // on an address whose key is on file too: web1's key.
    let etc = f.dir.path().join("etc-ssh");
    std::fs::create_dir_all(&etc).unwrap();
    let st = std::process::Command::new("cp").arg("-a").arg("/etc/ssh/.").arg(&etc).status().unwrap();
    assert!(st.success());
    let global = format!("[{}]:{} {}\n", impostor.sshd.address, impostor.sshd.port, real.sshd.host_public_key());
    std::fs::write(etc.join("ssh_known_hosts"), &global).unwrap();
    let cfg = format!(
        "[app]\nname = \"demo\"\ndeploy_to = \"{}\"\n\n[ssh]\nuser = \"{}\"\nidentity_file = \"{}\"\n\
host_key_checking = \"accept-new\"\nconnect_timeout = \"5s\"\n\n\
[[hosts]]\nname = \"web1\"\naddress = \"{}\"\nport = {}\n",
        impostor.deploy_to.display(),
        f.user,
        f.key.display(),
        impostor.sshd.address,
        impostor.sshd.port
    );
    std::fs::write(&f.config, &cfg).unwrap();
    let mut cmd = std::process::Command::new("unshare");
    crate::support::fleet::scrub(&mut cmd, f.dir.path());
    cmd.arg("-m").arg("sh").arg("-c").arg(r#"mount --bind "$1" /etc/ssh && shift && exec "$@""#).arg("sh");
    cmd.arg(&etc).arg(env!("CARGO_BIN_EXE_ship")).arg("-c").arg(&f.config).arg("--no-progress").arg("status");
    let run = crate::support::fleet::run_with_timeout(cmd);
    let recorded = std::fs::read_to_string(f.dir.path().join(".ssh/known_hosts")).unwrap_or_default();
    // ship ran (in the namespace) and reached the host.
    assert!(run.all().contains("web1"), "ship did not run:\n{}", run.all());
    assert!(
        run.code != 0 && recorded.is_empty(),
        "ship trusted the impostor (exit {}); ~/.ssh/known_hosts now:\n{recorded}\n{}",
        run.code,
        run.all()
    );
}

/// Config shapes that overlap, as README's own environments example has
/// them: the base file lists the staging machines in `[[hosts]]` (the
/// default environment), and `[env.production]` takes its hosts from an
/// `[[env.production.inventory]]`. "hosts and inventory lists replace the
/// base lists" each on its own, so `ship -e production deploy` also
/// deploys the production build to every staging host (and restarts
/// them), and `ship -e production rollback` would roll them back.
#[test]
fn an_environment_with_its_own_inventory_still_deploys_to_the_base_hosts() {
    let f = Fleet::start(2);
    let prod = &f.hosts[1];
    let json = serde_json::json!({
        "_meta": {"hostvars": {
            "prod1": {"ansible_host": prod.sshd.address, "ansible_port": prod.sshd.port,
                      "ship_deploy_to": prod.deploy_to},
        }},
        "app": {"hosts": ["prod1"]}
    });
    let script = f.dir.path().join("inventory.sh");
    std::fs::write(&script, format!("#!/bin/sh\ncat <<'JSON'\n{json}\nJSON\n")).unwrap();
    let mut cfg = std::fs::read_to_string(&f.config).unwrap();
    // Only web1, the staging machine, in the base [[hosts]].
    let cut = cfg.find("\n[[hosts]]\nname = \"web2\"").unwrap();
    cfg.truncate(cut);
    cfg += &format!("\n[[env.production.inventory]]\ncommand = \"sh {}\"\ntimeout = \"5s\"\n", script.display());
    std::fs::write(&f.config, cfg).unwrap();
    let build = f.build("prod-build", &[("index.html", "production")]);
    let run = f.ship(&["-e", "production", "--yes", "deploy", build.to_str().unwrap()]);
    run.expect(0);
    assert_eq!(f.read_current(1, "index.html"), "production");
    assert!(
        f.current(0).is_none(),
        "the staging host web1 got the production deploy: current -> {:?}\n{}",
        f.current(0),
        run.all()
    );
}

/// Issue 14's change "notify decides 'reverted' from HostOutcome.reverted",
/// against issue 13's "says which state each host is in". A failed
/// deploy whose revert fails on one host (here `mv` of the revert's link
/// fails on web1: a full or read-only disk) leaves web1 serving the
/// release that failed its health check; web2 was reverted. The webhook
/// and Slack say `deploy.reverted`, "FAILED to deploy (reverted)", as if
/// every host were back: one reverted host is enough.
#[test]
fn a_deploy_whose_revert_failed_on_a_host_is_announced_as_reverted() {
    use crate::support::http::HttpServer;
    let hook = HttpServer::start(200);
    let mut f = Fleet::start(2);
    let v1 = f.build("v1", &[("index.html", "v1"), ("healthy", "")]);
    f.ship(&["deploy", v1.to_str().unwrap()]).expect(0);
    let mv = which("mv");
    let wrapper = format!("#!/bin/sh\ncase \"$*\" in *current.revert*) echo 'mv: No space left on device' >&2; exit 1;; esac\nexec {mv} \"$@\"\n");
    let bin = path_with_wrapped(f.dir.path(), "mv", &wrapper);
    f.hosts[0].sshd.add_config(&format!("SetEnv PATH={}", bin.display()));
    f.configure(
        &format!(
            "keep_releases = 5\nrestart = '{}'\n\n[health]\ncommand = 'test -f healthy'\ntimeout = \"1s\"\ninterval = \"200ms\"\n\n\
[notify]\nwebhook = \"{}/hook\"\n",
            crate::support::fleet::RESTART,
            hook.url
        ),
        "",
    );
    let v2 = f.build("v2", &[("index.html", "v2")]);
    let run = f.ship(&["deploy", v2.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_eq!(f.read_current(1, "index.html"), "v1", "web2 was reverted");
    let web1 = f.read_current(0, "index.html");
    let bodies: Vec<String> = hook.requests().into_iter().map(|(_, b)| b).collect();
    let last = bodies.last().cloned().unwrap_or_default();
    assert!(
        web1 == "v1" || !last.contains("deploy.reverted"),
        "web1 still serves {web1} (its revert failed), yet the webhook said:\n{last}\n{}",
        run.all()
    );
}
