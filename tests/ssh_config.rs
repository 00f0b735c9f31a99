//! ~/.ssh/config aliases against real sshd hosts.

use crate::support::Fleet;

#[test]
fn ssh_config_aliases_are_resolved_and_match_blocks_warned_about() {
    let f = Fleet::start(1);
    let h = &f.hosts[0];
    // HOME is the test's temp dir: this is "~/.ssh/config".
    std::fs::create_dir_all(f.dir.path().join(".ssh")).unwrap();
    std::fs::write(
        f.dir.path().join(".ssh/config"),
        format!(
            "Host app-alias\n  HostName {}\n  Port {}\n  User {}\n  IdentityFile {}\n\nMatch exec \"true\"\n  User nobody\n",
            h.sshd.address,
            h.sshd.port,
            f.user,
            f.key.display()
        ),
    )
    .unwrap();
    // hosts.toml names only the alias: no port, no user, no identity_file.
    let cfg = format!(
        "[app]\nname = \"demo\"\ndeploy_to = \"{}\"\n\n[ssh]\nknown_hosts = \"{}\"\n\n[[hosts]]\nname = \"web1\"\naddress = \"app-alias\"\n",
        h.deploy_to.display(),
        f.known_hosts.display()
    );
    std::fs::write(&f.config, &cfg).unwrap();
    let run = f.ship(&["--format", "json", "hosts"]);
    run.expect(0);
    let v: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(v[0]["address"], h.sshd.address.as_str());
    assert_eq!(v[0]["port"], h.sshd.port);
    assert_eq!(v[0]["user"], f.user.as_str());
    assert!(run.stderr.contains(".ssh/config:7: `Match` block ignored"), "{}", run.stderr);
    let build = f.build("app", &[("index.html", "via alias")]);
    f.ship(&["deploy", build.to_str().unwrap()]).expect(0);
    assert_eq!(f.read_current(0, "index.html"), "via alias");
    // config = false ignores the file: the alias no longer resolves.
    std::fs::write(&f.config, cfg.replace("[ssh]\n", "[ssh]\nconfig = false\n")).unwrap();
    let run = f.ship(&["--format", "json", "hosts"]);
    let v: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(v[0]["address"], "app-alias");
}
