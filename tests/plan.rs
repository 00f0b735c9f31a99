//! `ship plan` / `ship deploy --dry-run` against real sshd hosts: the plan
//! names waves, each host's current -> new, locks and hooks, and nothing on
//! any host changes.

use crate::support::fleet::snapshot;
use crate::support::Fleet;

#[test]
fn dry_run_shows_the_plan_and_changes_nothing() {
    let f = Fleet::start(3);
    f.configure(
        &format!(
            "keep_releases = 5\nrestart = '{}'\n\n[hooks]\nrun_once = ['./migrate']\nafter_switch = ['touch warmed']\n",
            crate::support::fleet::RESTART
        ),
        "",
    );
    let v1 = f.build("v1", &[("index.html", "v1"), ("migrate", "")]);
    f.ship(&["deploy", "--skip-run-once", v1.to_str().unwrap()]).expect(0);
    let old = f.current(0).unwrap();
    let lock = f.hosts[2].deploy_to.join(".ship/lock");
    std::fs::create_dir_all(&lock).unwrap();
    std::fs::write(lock.join("details.json"), r#"{"holder":"ana@laptop","command":"deploy"}"#).unwrap();
    let before: Vec<Vec<String>> = f.hosts.iter().map(|h| snapshot(&h.deploy_to)).collect();

    let v2 = f.build("v2", &[("index.html", "v2")]);
    let path = v2.to_str().unwrap();
    let run = f.ship(&["deploy", "--dry-run", path, "--version", "v2.0", "--strategy", "rolling", "--batch", "1"]);
    run.expect(1);
    let out = &run.stdout;
    assert!(out.contains("(v2.0) to 3 host(s); nothing was changed"), "{out}");
    for (i, w) in ["web1", "web2", "web3"].iter().enumerate() {
        assert!(out.contains(&format!("wave {}/3: {w}\n", i + 1)), "{out}");
        let line = out.lines().find(|l| l.starts_with(w)).unwrap();
        assert!(line.contains(&format!("hosts.toml  {old} -> ")), "{line}");
    }
    assert!(out.contains("LOCKED: held by ana@laptop"), "{out}");
    assert!(out.contains("hooks run_once: ./migrate") && out.contains("hooks after_switch: touch warmed"), "{out}");
    assert!(out.contains("not ready"), "{out}");
    let after: Vec<Vec<String>> = f.hosts.iter().map(|h| snapshot(&h.deploy_to)).collect();
    assert_eq!(before, after, "a dry run changed something on a host");
    assert!(f.restarts(0).len() == 1, "no restart ran");

    std::fs::remove_dir_all(&lock).unwrap();
    let run = f.ship(&["--format", "json", "plan", path]);
    run.expect(0);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["ready"], true, "{v}");
    assert_eq!(v["waves"].as_array().unwrap().len(), 1, "parallel from hosts.toml: one wave");
    assert_eq!(v["hosts"][1]["current"], old.as_str());
    assert!(v["bytes"].as_u64().unwrap() > 0);
    assert_eq!(f.releases(0), [old.as_str()], "no release was uploaded");
}

/// Issue 15: a rolling deploy with no health check or no `[verify]` cannot
/// tell a dead or stale service from a live one: plan and check say so.
#[test]
fn plan_and_check_warn_about_a_rolling_deploy_that_cannot_see_the_service() {
    let f = Fleet::start(1);
    f.configure(&format!("restart = '{}'\n\n[strategy]\nkind = \"rolling\"\n", crate::support::fleet::RESTART), "");
    let v1 = f.build("v1", &[("index.html", "v1")]);
    let plan = f.ship(&["plan", v1.to_str().unwrap()]);
    plan.expect(0);
    assert!(
        plan.stderr.contains(
            "a rolling deploy without [health] (on web1 and maybe others): this rollout cannot tell a dead service"
        ),
        "{}",
        plan.all()
    );
    assert!(plan.stderr.contains("a rolling deploy without [verify]"), "{}", plan.all());
    let check = f.ship(&["check"]);
    assert!(check.stderr.contains("a rolling deploy without [health]"), "{}", check.all());
    // With both, nothing to say; a parallel deploy is not warned about.
    f.configure(
        &format!(
            "restart = '{}'\n\n[strategy]\nkind = \"rolling\"\n\n[health]\ncommand = \"true\"\n\n[verify]\nport = 1\n",
            crate::support::fleet::RESTART
        ),
        "",
    );
    let plan = f.ship(&["plan", v1.to_str().unwrap()]);
    assert!(!plan.stderr.contains("a rolling deploy without"), "{}", plan.all());
    f.configure(&format!("restart = '{}'\n", crate::support::fleet::RESTART), "");
    let plan = f.ship(&["plan", v1.to_str().unwrap()]);
    assert!(!plan.stderr.contains("a rolling deploy without"), "{}", plan.all());
}
