//! Review round 6 of issue 13: reproductions against real sshd hosts, in
//! the situations users meet on day one. Each test fails on the code it
//! was written against (main at 5d4b5f8).

use crate::support::hostbin::path_with_wrapped;
use crate::support::Fleet;

/// A public key line (`type base64`) of a freshly made key: a key that is
/// not the one a host presents.
fn other_key(dir: &std::path::Path, name: &str) -> String {
    let path = dir.join(name);
    crate::support::sshd::keygen(&path);
    let text = std::fs::read_to_string(path.with_extension("pub")).unwrap();
    text.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

/// Issue 13: "never trust an unverified host key", and round 5's fix:
/// "each host's key is checked only against its own known_hosts files".
/// A jump host is a host too, but it gets no scope: ship checks it against
/// every file of every deploy target, and never reads the files ssh_config
/// gives the bastion itself. Here the bastion's own known_hosts
/// (`UserKnownHostsFile` in its `Host bastion` block) records another key
/// (the bastion was replaced by an impostor); the production host's file
/// (`~/.ssh/known_hosts`) has a stale line for the bastion's address and
/// port holding the key the impostor presents. `ssh -J bastion prod`
/// refuses ("REMOTE HOST IDENTIFICATION HAS CHANGED"); ship goes through
/// the impostor and deploys.
#[test]
fn a_jump_host_is_vouched_for_by_the_targets_known_hosts_not_its_own() {
    let f = Fleet::start(2);
    let (bastion, prod) = (&f.hosts[0], &f.hosts[1]);
    let home = f.dir.path();
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    // The bastion's own file: the key this machine recorded for it.
    let bastion_file = home.join(".ssh/known_hosts.bastion");
    let recorded = other_key(home, "bastion_real_key");
    std::fs::write(&bastion_file, format!("[{}]:{} {recorded}\n", bastion.sshd.address, bastion.sshd.port)).unwrap();
    // Production's file (the default one): production, and a stale line
    // for the bastion's address and port with the key the impostor offers.
    std::fs::write(home.join(".ssh/known_hosts"), format!("{}\n{}\n", f.known_line(prod), f.known_line(bastion)))
        .unwrap();
    std::fs::write(
        home.join(".ssh/config"),
        format!(
            "Host bastion\n  HostName {}\n  Port {}\n  UserKnownHostsFile {}\n\n\
Host prod-box\n  HostName {}\n  Port {}\n  ProxyJump bastion\n",
            bastion.sshd.address,
            bastion.sshd.port,
            bastion_file.display(),
            prod.sshd.address,
            prod.sshd.port
        ),
    )
    .unwrap();
    let cfg = format!(
        "[app]\nname = \"demo\"\ndeploy_to = \"/nonexistent/ship-test\"\nrestart = 'true'\n\n[ssh]\nuser = \"{}\"\n\
identity_file = \"{}\"\nconnect_timeout = \"5s\"\n\n[[hosts]]\nname = \"prod\"\naddress = \"prod-box\"\ndeploy_to = \"{}\"\n",
        f.user,
        f.key.display(),
        prod.deploy_to.display()
    );
    std::fs::write(&f.config, cfg).unwrap();
    let build = f.build("v1", &[("index.html", "v1")]);
    let run = f.ship(&["deploy", build.to_str().unwrap()]);
    assert!(
        run.code != 0 && prod.deploy_to.join("current").symlink_metadata().is_err(),
        "ship went through a jump host whose own known_hosts ({}) records another key (exit {})\n{}",
        bastion_file.display(),
        run.code,
        run.all()
    );
}

/// DESIGN.md invariant 7: "no step follows a symlink it did not make", and
/// round 5's background deletion (`rm -rf <deploy_to>/.ship/trash/*`,
/// src/remote/lock.rs empty_trash), which "can remove nothing it must
/// not". An operator whose root disk filled up with old releases moved
/// the trash to a roomier disk (`.ship/trash -> /data/scratch`); ship
/// neither refuses nor recreates it: every deploy's finalize (and every
/// lock) follows the link and deletes everything in the directory it
/// points to, files ship never made.
#[test]
fn the_background_trash_deletion_follows_a_symlinked_trash_and_deletes_what_is_behind_it() {
    let (f, _, v2) = Fleet::serving_v1(1, "true", "");
    let scratch = f.dir.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    std::fs::write(scratch.join("someone-elses.txt"), "not ship's").unwrap();
    let trash = f.hosts[0].deploy_to.join(".ship/trash");
    let _ = std::fs::remove_dir_all(&trash);
    std::os::unix::fs::symlink(&scratch, &trash).unwrap();
    let run = f.ship(&["deploy", v2.to_str().unwrap()]);
    // The deletion runs in the background: give it time to finish.
    for _ in 0..50 {
        if !scratch.join("someone-elses.txt").exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(
        scratch.join("someone-elses.txt").exists(),
        "a file behind the symlinked {} was deleted by ship (deploy exit {}); left there: {:?}\n{}",
        trash.display(),
        run.code,
        std::fs::read_dir(&scratch).unwrap().flatten().map(|e| e.file_name()).collect::<Vec<_>>(),
        run.all()
    );
}

/// Round 5's "each host's key is checked only against its own known_hosts
/// files", for `host_key_checking = "accept-new"`: a new key is written to
/// the first of the host's OWN files (as OpenSSH does). A bastion's new key
/// is written to the deploy target's file (`~/.ssh/known_hosts`), not to the
/// bastion's `UserKnownHostsFile`, which ship never reads: the bastion's own
/// file stays empty, and from then on the target's file vouches for the
/// bastion (the previous test), whatever the bastion's own file says.
#[test]
fn accept_new_records_a_jump_hosts_key_in_the_targets_known_hosts() {
    let f = Fleet::start(2);
    let (bastion, prod) = (&f.hosts[0], &f.hosts[1]);
    let home = f.dir.path();
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    let bastion_file = home.join(".ssh/known_hosts.bastion");
    let prod_file = home.join(".ssh/known_hosts");
    std::fs::write(&prod_file, format!("{}\n", f.known_line(prod))).unwrap();
    std::fs::write(
        home.join(".ssh/config"),
        format!(
            "Host bastion\n  HostName {}\n  Port {}\n  UserKnownHostsFile {}\n\n\
Host prod-box\n  HostName {}\n  Port {}\n  ProxyJump bastion\n",
            bastion.sshd.address,
            bastion.sshd.port,
            bastion_file.display(),
            prod.sshd.address,
            prod.sshd.port
        ),
    )
    .unwrap();
    let cfg = format!(
        "[app]\nname = \"demo\"\ndeploy_to = \"/nonexistent/ship-test\"\nrestart = 'true'\n\n[ssh]\nuser = \"{}\"\n\
identity_file = \"{}\"\nconnect_timeout = \"5s\"\nhost_key_checking = \"accept-new\"\n\n\
[[hosts]]\nname = \"prod\"\naddress = \"prod-box\"\ndeploy_to = \"{}\"\n",
        f.user,
        f.key.display(),
        prod.deploy_to.display()
    );
    std::fs::write(&f.config, cfg).unwrap();
    let run = f.ship(&["status"]);
    let in_prod = std::fs::read_to_string(&prod_file).unwrap_or_default();
    let in_bastion = std::fs::read_to_string(&bastion_file).unwrap_or_default();
    assert!(
        in_prod.lines().count() == 1 && in_bastion.lines().count() == 1,
        "the bastion's key went to the wrong file (exit {}):\n{}: {in_prod}\n{}: {in_bastion:?}\n{}",
        run.code,
        prod_file.display(),
        bastion_file.display(),
        run.all()
    );
}

/// Issue 13: "never trust an unverified host key" (item 4: "a host with any
/// key on file is never new"), and `known_hosts_files`' promise to read
/// known_hosts files "as OpenSSH reads them". OpenSSH expands `%h` (and
/// `%k`, `%d`, `~`) in `UserKnownHostsFile`; a per-host layout such as
/// `UserKnownHostsFile ~/.ssh/known_hosts.d/%h` is common. Ship reads the
/// literal path `known_hosts.d/%h`, does not find the host's own file, so
/// under accept-new it calls a host whose key IS on file new: an impostor
/// offering another key type is recorded and trusted, where `ssh` says
/// "REMOTE HOST IDENTIFICATION HAS CHANGED".
#[test]
fn user_known_hosts_file_tokens_are_not_expanded_and_accept_new_trusts_an_impostor() {
    let mut f = Fleet::start(1);
    let home = f.dir.path().to_path_buf();
    let dir = home.join(".ssh/known_hosts.d");
    std::fs::create_dir_all(&dir).unwrap();
    // The host's own file, as `ssh` wrote it: its ed25519 key.
    let own = dir.join(&f.hosts[0].sshd.address);
    std::fs::write(&own, f.known_line(&f.hosts[0]) + "\n").unwrap();
    // The impostor on its address offers only ECDSA.
    f.hosts[0].sshd.serve_host_keys(&["ecdsa"]);
    std::fs::write(
        home.join(".ssh/config"),
        format!("Host {}\n  UserKnownHostsFile ~/.ssh/known_hosts.d/%h\n", f.hosts[0].sshd.address),
    )
    .unwrap();
    f.configure("", "host_key_checking = \"accept-new\"\n");
    let cfg = std::fs::read_to_string(&f.config).unwrap();
    let cfg: String = cfg.lines().filter(|l| !l.starts_with("known_hosts = ")).map(|l| format!("{l}\n")).collect();
    std::fs::write(&f.config, cfg).unwrap();
    let run = f.ship(&["status"]);
    let files: Vec<String> =
        std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into()).collect();
    assert!(
        run.code != 0,
        "an impostor of a host whose key is in {} was trusted (exit 0); files now in {}: {files:?}\n{}",
        own.display(),
        dir.display(),
        run.all()
    );
}

/// Issue 13 item 11: "every remote step has a deadline", and round 5's
/// fix: sync's copy "ends when the host sends nothing for
/// command_timeout". A source that is never silent but never done (a
/// dying disk, a hostile or broken host: here its `tar` sends one byte a
/// second for ever) is copied for ever: the only limit is the size cap
/// (twice the release plus 64 MiB, i.e. years at this rate), so `ship
/// sync` holds every host's lock indefinitely. Pull downloads have a
/// minimum rate (curl --speed-limit); this copy has none. Here
/// command_timeout is 3 s and the sync still runs 60 s later.
#[test]
fn a_sync_copy_from_a_trickling_source_never_ends() {
    use crate::support::background::{exit_within, spawn, wait_for};
    use std::time::Duration;
    let mut f = Fleet::start(2);
    f.configure("restart = 'true'\n", "command_timeout = \"3s\"\n");
    let v1 = f.build("v1", &[("index.html", "v1")]);
    f.ship(&["--hosts", "web1", "deploy", v1.to_str().unwrap()]).expect(0);
    std::fs::remove_dir_all(f.dir.path().join(".cache")).unwrap();
    let wrapper = "#!/bin/sh\ncase \" $* \" in *\" -czf \"*) while :; do printf x; sleep 1; done;; esac\n\
exec /usr/bin/tar \"$@\"\n";
    let bin = path_with_wrapped(f.dir.path(), "tar", wrapper);
    f.hosts[0].sshd.add_config(&format!("SetEnv PATH={}", bin.display()));
    let (mut child, rx) = spawn(&f, &["sync"]);
    let mut said = wait_for(&rx, "copying it from this host");
    // Twenty times command_timeout.
    let code = exit_within(&mut child, Duration::from_secs(60));
    let locked: Vec<bool> = f.hosts.iter().map(|h| h.deploy_to.join(".ship/lock").exists()).collect();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(2)) {
        said.push(line);
    }
    assert!(
        code.is_some(),
        "ship sync was still copying 60 s in, with command_timeout = 3s (host locks held: {locked:?}); it said:\n{}",
        said.join("\n")
    );
}
