//! Rolling deploys against real sshd hosts: health-gated waves, reverts,
//! bad releases, hooks, run_once, ship log.

use crate::support::fleet::RESTART;
use crate::support::Fleet;
use std::path::Path;

/// hosts.toml lines for a health check that passes only where the release
/// ships a `healthy` file (and, optionally, not on one host).
fn health_on_file(except_host: Option<&str>) -> String {
    let extra = except_host.map(|h| format!(" && [ \"$SHIP_HOST\" != {h} ]")).unwrap_or_default();
    format!("\n[health]\ncommand = 'test -f \"$SHIP_RELEASE_PATH/healthy\"{extra}'\ntimeout = \"1s\"\ninterval = \"200ms\"\n")
}

fn configure(f: &Fleet, strategy: &str, rest: &str) {
    // [strategy] etc. are top-level tables: append them after [app] via the app lines.
    f.configure(&format!("keep_releases = 5\nrestart = '{RESTART}'\n\n[strategy]\n{strategy}\n{rest}"), "");
}

fn deploy(f: &Fleet, name: &str, healthy: bool, args: &[&str]) -> crate::support::Run {
    let mut files = vec![("index.html", name)];
    if healthy {
        files.push(("healthy", "yes"));
    }
    let build = f.build(name, &files);
    let mut all = vec!["deploy", build.to_str().unwrap()];
    all.extend_from_slice(args);
    f.ship(&all)
}

fn bad_marker(f: &Fleet, i: usize, id: &str) -> bool {
    f.hosts[i].deploy_to.join("releases").join(id).join(".ship/bad").exists()
}

fn new_release(f: &Fleet, i: usize, before: &[String]) -> String {
    f.releases(i).into_iter().find(|r| !before.contains(r)).expect("a new release dir")
}

#[test]
fn failing_health_check_on_the_canary_reverts_it_and_no_other_host_switches() {
    let f = Fleet::start(3);
    configure(&f, "kind = \"rolling\"\nbatch = 1\ncanary = 1", &health_on_file(None));
    deploy(&f, "v1", true, &[]).expect(0);
    let v1 = f.current(0).unwrap();
    let before = f.releases(0);
    let run = deploy(&f, "v2", false, &[]);
    run.expect(1);
    assert!(run.stdout.contains("at health:") && run.stdout.contains("reverted to"), "{}", run.stdout);
    let v2 = new_release(&f, 0, &before);
    for i in 0..3 {
        assert_eq!(f.current(i).unwrap(), v1, "host {i} back on / still on v1");
        assert_eq!(f.read_current(i, "index.html"), "v1");
        assert!(bad_marker(&f, i, &v2), "host {i}: v2 marked bad");
        assert!(!f.hosts[i].deploy_to.join(".ship/lock").exists(), "host {i}: lock released");
    }
    // Only the canary ever restarted on v2 (then again on v1 when reverted).
    assert_eq!(f.restarts(0).len(), 3, "{:?}", f.restarts(0));
    assert_eq!(f.restarts(1).len(), 1, "{:?}", f.restarts(1));
    assert!(run.stdout.contains("not released"), "{}", run.stdout);
}

#[test]
fn failure_in_wave_two_of_four_with_revert_all_puts_every_host_back() {
    let f = Fleet::start(4);
    configure(&f, "kind = \"rolling\"\nbatch = 1\non_failure = \"revert-all\"", &health_on_file(Some("web2")));
    deploy(&f, "v1", true, &["--strategy", "parallel"]).expect(1); // web2 is never healthy
                                                                   // Seed every host with a good v1 without the health check.
    configure(&f, "kind = \"parallel\"", "");
    deploy(&f, "v1", true, &[]).expect(0);
    let v1 = f.current(0).unwrap();
    configure(&f, "kind = \"rolling\"\nbatch = 1\non_failure = \"revert-all\"", &health_on_file(Some("web2")));
    let run = deploy(&f, "v2", true, &[]);
    run.expect(1);
    for i in 0..4 {
        assert_eq!(f.current(i).unwrap(), v1, "host {i}\n{}", run.stdout);
    }
    assert!(run.stdout.contains("web2") && run.stdout.contains("failed in wave 2"), "{}", run.stdout);
}

#[test]
fn revert_wave_keeps_earlier_waves_on_the_new_release() {
    let f = Fleet::start(4);
    configure(&f, "kind = \"parallel\"", "");
    deploy(&f, "v1", true, &[]).expect(0);
    let v1 = f.current(0).unwrap();
    configure(&f, "kind = \"rolling\"\nbatch = 1\non_failure = \"revert-wave\"", &health_on_file(Some("web2")));
    let run = deploy(&f, "v2", true, &[]);
    run.expect(1);
    let v2 = f.current(0).unwrap();
    assert_ne!(v1, v2, "wave 1 keeps v2\n{}", run.stdout);
    assert_eq!(f.read_current(0, "index.html"), "v2");
    for i in 1..4 {
        assert_eq!(f.current(i).unwrap(), v1, "host {i}\n{}", run.stdout);
    }
}

/// Issue 15: a revert is a rollout too. The failed wave goes back first,
/// then the earlier waves newest first, one wave at a time, each host
/// health-checked on the release it went back to before the next.
#[test]
fn a_revert_all_goes_back_wave_by_wave_each_health_checked() {
    let f = Fleet::start(3);
    let log = f.dir.path().join("order.log");
    let l = log.display();
    let health = format!(
        "\n[health]\ncommand = 'echo \"health $SHIP_HOST $(cat index.html)\" >> {l}; test \"$SHIP_HOST-$(cat index.html)\" != web3-v2'\n\
timeout = \"1s\"\ninterval = \"200ms\"\n"
    );
    let restart = format!("echo \"restart $SHIP_HOST $(cat index.html)\" >> {l}");
    let setup = |strategy: &str| {
        f.configure(&format!("restart = '{restart}'\n\n[strategy]\n{strategy}\n{health}"), "");
    };
    setup("kind = \"parallel\"");
    deploy(&f, "v1", true, &[]).expect(0);
    std::fs::remove_file(&log).unwrap();
    setup("kind = \"rolling\"\nbatch = 1\non_failure = \"revert-all\"");
    let run = deploy(&f, "v2", true, &[]);
    run.expect(1);
    let lines: Vec<String> = std::fs::read_to_string(&log).unwrap().lines().map(str::to_string).collect();
    let failed = lines.iter().rposition(|x| x == "health web3 v2").expect("web3's v2 health check ran");
    let after: Vec<&str> = lines[failed + 1..].iter().map(String::as_str).collect();
    assert_eq!(
        after,
        ["restart web3 v1", "health web3 v1", "restart web2 v1", "health web2 v1", "restart web1 v1", "health web1 v1"],
        "{lines:#?}\n{}",
        run.all()
    );
    for i in 0..3 {
        assert_eq!(f.read_current(i, "index.html"), "v1");
    }
}

#[test]
fn rolling_batch_one_switches_hosts_one_at_a_time() {
    let f = Fleet::start(4);
    let trace = f.dir.path().join("order.log");
    let restart =
        format!("echo \"start $SHIP_HOST\" >> {t}; sleep 0.3; echo \"end $SHIP_HOST\" >> {t}", t = trace.display());
    f.configure(&format!("restart = '{restart}'\n\n[strategy]\nkind = \"rolling\"\nbatch = 1\n"), "");
    let build = f.build("v1", &[("a", "1")]);
    let run = f.ship(&["deploy", build.to_str().unwrap()]);
    run.expect(0);
    let lines: Vec<String> = std::fs::read_to_string(&trace).unwrap().lines().map(str::to_string).collect();
    let expected: Vec<String> = (1..=4).flat_map(|i| [format!("start web{i}"), format!("end web{i}")]).collect();
    assert_eq!(lines, expected, "restarts must not overlap and must go in host order");
    // The deploy log says the same: each host switched after the previous wave.
    let log = f.ship(&["--format", "json", "log", "-n", "4"]);
    let entries: serde_json::Value = serde_json::from_str(log.stdout.trim()).unwrap();
    let mut switched: Vec<(String, String)> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["switched_at"].as_str().unwrap().to_string(), e["host"].as_str().unwrap().to_string()))
        .collect();
    switched.sort();
    let order: Vec<&str> = switched.iter().map(|(_, h)| h.as_str()).collect();
    assert_eq!(order, ["web1", "web2", "web3", "web4"], "{entries:#}");
    assert!(run.stderr.contains("wave 4/4: web4"), "{}", run.stderr);
    // And parallel really overlaps them: each restart waits (a barrier, no
    // timing) until all four have started, which only works if they run at once.
    let barrier = f.dir.path().join("barrier");
    std::fs::create_dir_all(&barrier).unwrap();
    let restart = format!(
        "touch {b}/$SHIP_HOST; i=0; while [ $(ls {b} | wc -l) -lt 4 ]; do i=$((i+1)); [ $i -gt 200 ] && exit 9; sleep 0.1; done",
        b = barrier.display()
    );
    f.configure(&format!("restart = '{restart}'\n"), "");
    f.ship(&["deploy", build.to_str().unwrap(), "--strategy", "parallel"]).expect(0);
}

/// `python3 -m http.server` on a loopback port, killed on drop.
struct HttpServer {
    child: std::process::Child,
    port: u16,
}

impl HttpServer {
    fn start(dir: &Path) -> HttpServer {
        let port = crate::support::sshd::free_port("127.0.0.1");
        let child = std::process::Command::new("python3")
            .args(["-m", "http.server", &port.to_string(), "--bind", "127.0.0.1", "--directory"])
            .arg(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 is needed for the http health-check test");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "http.server did not start");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        HttpServer { child, port }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn url_health_check_through_the_ssh_connection() {
    let f = Fleet::start(2);
    let site = f.dir.path().join("site");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("up"), "ok").unwrap();
    let server = HttpServer::start(&site);
    let health = |path: &str| {
        format!(
            "\n[health]\nurl = \"http://127.0.0.1:{}/{path}\"\ntimeout = \"1s\"\ninterval = \"200ms\"\n",
            server.port
        )
    };
    configure(&f, "kind = \"parallel\"", &health("up"));
    deploy(&f, "v1", true, &[]).expect(0);
    let v1 = f.current(0).unwrap();
    configure(&f, "kind = \"parallel\"", &health("down"));
    let run = deploy(&f, "v2", true, &[]);
    run.expect(1);
    assert!(run.stdout.contains("HTTP 404"), "{}", run.stdout);
    for i in 0..2 {
        assert_eq!(f.current(i).unwrap(), v1, "host {i} reverted");
    }
}

/// Issue 15: `{host}` and `{address}` in the health URL are filled per
/// host, and a host's own `health_url` overrides `[health] url`.
#[test]
fn health_urls_name_their_host_and_a_host_can_have_its_own() {
    let f = Fleet::start(2);
    let site = f.dir.path().join("site");
    std::fs::create_dir_all(site.join("up")).unwrap();
    std::fs::write(site.join("up/web1"), "ok").unwrap();
    std::fs::write(site.join(&f.hosts[0].sshd.address), "ok").unwrap();
    let server = HttpServer::start(&site);
    let health = |path: &str| {
        format!(
            "\n[health]\nurl = \"http://127.0.0.1:{}/{path}\"\ntimeout = \"1s\"\ninterval = \"200ms\"\n",
            server.port
        )
    };
    // web1 has /up/web1, web2 has no /up/web2: web2 fails, named.
    configure(&f, "kind = \"parallel\"", &health("up/{host}"));
    let run = deploy(&f, "v1", true, &[]);
    run.expect(1);
    assert!(run.stdout.contains("/up/web2") && run.stdout.contains("HTTP 404"), "{}", run.all());
    assert!(!run.stdout.contains("/up/web1"), "{}", run.all());
    // {address}: web1's address is there, web2's is not.
    configure(&f, "kind = \"parallel\"", &health("{address}"));
    let run = deploy(&f, "v2", true, &[]);
    run.expect(1);
    assert!(run.stdout.contains(&format!("/{}", f.hosts[1].sshd.address)), "{}", run.all());
    // web2's own health_url points at web1's page: every host passes.
    let config = std::fs::read_to_string(&f.config).unwrap();
    let own = format!("name = \"web2\"\nhealth_url = \"http://127.0.0.1:{}/up/web1\"", server.port);
    std::fs::write(&f.config, config.replace("name = \"web2\"", &own)).unwrap();
    deploy(&f, "v3", true, &[]).expect(0);
}

#[test]
fn hooks_see_their_environment_and_run_once_runs_on_one_host() {
    let f = Fleet::start(3);
    let once = f.dir.path().join("once.log");
    let hooks = format!(
        "\n[hooks]\nbefore_switch = ['env | grep ^SHIP_ | sort > hook.env']\nrun_once = ['echo \"$SHIP_HOST\" >> {}']\n\
after_switch = ['touch after_switch.ran']\n",
        once.display()
    );
    configure(&f, "kind = \"rolling\"\nbatch = 2", &hooks);
    deploy(&f, "v1", true, &["--version", "1.0"]).expect(0);
    let v1 = f.current(0).unwrap();
    let run = deploy(&f, "v2", true, &["--version", "2.0"]);
    run.expect(0);
    let v2 = f.current(0).unwrap();
    let env = f.read_current(1, "hook.env");
    for want in [
        "SHIP_APP=demo".to_string(),
        format!("SHIP_RELEASE={v2}"),
        format!("SHIP_RELEASE_PATH={}", f.hosts[1].deploy_to.join("releases").join(&v2).display()),
        format!("SHIP_PREVIOUS_RELEASE={v1}"),
        "SHIP_HOST=web2".to_string(),
        "SHIP_VERSION=2.0".to_string(),
        "SHIP_STRATEGY=rolling".to_string(),
    ] {
        assert!(env.lines().any(|l| l == want), "missing {want} in:\n{env}");
    }
    assert!(f.hosts[2].deploy_to.join("current/after_switch.ran").exists());
    let ran: Vec<String> = std::fs::read_to_string(&once).unwrap().lines().map(str::to_string).collect();
    assert_eq!(ran, ["web1", "web1"], "run_once: exactly one host per deploy");
    deploy(&f, "v3", true, &["--skip-run-once"]).expect(0);
    assert_eq!(std::fs::read_to_string(&once).unwrap().lines().count(), 2, "--skip-run-once");
}

#[test]
fn failing_before_switch_hook_stops_before_any_switch() {
    let f = Fleet::start(2);
    configure(&f, "kind = \"parallel\"", "");
    deploy(&f, "v1", true, &[]).expect(0);
    let v1 = f.current(0).unwrap();
    configure(
        &f,
        "kind = \"parallel\"",
        "\n[hooks]\nbefore_switch = ['echo \"config invalid: port missing\" >&2; exit 3']\n",
    );
    let run = deploy(&f, "v2", true, &[]);
    run.expect(1);
    assert!(run.stdout.contains("at hook: exit status 3: config invalid: port missing"), "{}", run.stdout);
    for i in 0..2 {
        assert_eq!(f.current(i).unwrap(), v1);
        assert_eq!(f.releases(i), [v1.as_str()], "staged release removed");
    }
}

#[test]
fn rollback_skips_a_release_marked_bad() {
    let f = Fleet::start(2);
    configure(&f, "kind = \"parallel\"", &health_on_file(None));
    deploy(&f, "v1", true, &[]).expect(0);
    let v1 = f.current(0).unwrap();
    let before = f.releases(0);
    deploy(&f, "v2", false, &[]).expect(1); // unhealthy: reverted, marked bad
    let v2 = new_release(&f, 0, &before);
    assert!(bad_marker(&f, 0, &v2));
    deploy(&f, "v3", true, &[]).expect(0);
    let v3 = f.current(0).unwrap();
    assert!(v3 > v2 && v2 > v1);
    let run = f.ship(&["rollback"]);
    run.expect(0);
    for i in 0..2 {
        assert_eq!(f.current(i).unwrap(), v1, "rollback skips the bad {v2}");
    }
    // ship log shows it all, newest first, with the host names.
    let run = f.ship(&["--format", "json", "log", "-n", "4"]);
    run.expect(0);
    let v: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    let events: Vec<&str> = v.as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["rollback", "rollback", "deploy", "deploy"], "{v:#}");
    let text = f.ship(&["log"]).stdout;
    assert!(text.contains("revert") && text.contains("web2"), "{text}");
}

#[test]
fn version_defaults_to_git_describe() {
    let f = Fleet::start(1);
    let build = f.build("app", &[("a", "1")]);
    let git = |args: &[&str]| {
        let st = std::process::Command::new("git")
            .arg("-C")
            .arg(&build)
            .args(["-c", "user.email=t@example.com", "-c", "user.name=t"])
            .args(args)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(st.success());
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "one"]);
    f.ship(&["deploy", build.to_str().unwrap()]).expect(0);
    let rel: serde_json::Value = serde_json::from_str(&f.read_current(0, ".ship/release.json")).unwrap();
    let label = rel["version"].as_str().unwrap();
    assert!(label.len() >= 7 && label.chars().all(|c| c.is_ascii_hexdigit()), "{label}");
}
