//! `ship exec` against real sshd hosts: runs in the current release, output
//! grouped per host, exit 1 when any host fails.

use crate::support::Fleet;

#[test]
fn exec_runs_in_current_groups_output_and_fails_if_any_host_fails() {
    let mut f = Fleet::start(3);
    let v1 = f.build("v1", &[("index.html", "v1")]);
    f.ship(&["deploy", v1.to_str().unwrap()]).expect(0);
    std::fs::write(f.hosts[1].deploy_to.join("current/only-here"), "web2's file\n").unwrap();

    let run = f.ship(&["exec", "--", "cat", "index.html;", "echo;", "cat", "only-here"]);
    run.expect(1);
    let out = &run.stdout;
    let web1 = out.find("== web1 (exit 1) ==").expect(out);
    let web2 = out.find("== web2 (exit 0) ==").expect(out);
    let web3 = out.find("== web3 (exit 1) ==").expect(out);
    assert!(web1 < web2 && web2 < web3, "grouped in host order:\n{out}");
    assert!(out[web2..web3].contains("v1\nweb2's file"), "{out}");
    assert!(out[web1..web2].contains("No such file"), "{out}");
    assert!(out.contains("failed on 2 of 3 host(s): web1, web3"), "{out}");

    f.ship(&["--hosts", "web2", "exec", "--", "cat", "only-here"]).expect(0);

    // An unreachable host is a failure with the reason, the others still run.
    f.hosts[2].sshd.stop();
    let run = f.ship(&["--format", "json", "exec", "--", "pwd"]);
    run.expect(1);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v[0]["ok"], true, "{v}");
    assert_eq!(v[0]["stdout"].as_str().unwrap().trim(), f.hosts[0].deploy_to.join("current").to_str().unwrap());
    assert_eq!(v[2]["ok"], false);
    assert!(v[2]["error"].as_str().unwrap().contains("cannot connect"), "{v}");
}
