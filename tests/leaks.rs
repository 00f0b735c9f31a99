//! What ship prints and sends, against real sshd hosts: secrets stay masked
//! in every format and every notification body, a pull URL's credentials
//! reach neither messages nor any command line on a host, and strings a
//! host controls cannot drive the terminal.

use crate::support::background::{spawn, wait_exit};
use crate::support::fleet::RESTART;
use crate::support::http::HttpServer;
use crate::support::Fleet;
use serde_json::Value;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A secret with a quote and a backslash: its JSON form (`\"`, `\\`) is not
/// the value, so masking the encoded text missed it.
const SECRET: &str = r#"tok"en\s3cr3t"#;

#[test]
fn a_secret_holding_quotes_and_backslashes_leaked_into_json_and_notification_bodies() {
    let hook = HttpServer::start(200);
    let slack = HttpServer::start(200);
    let f = Fleet::start(1);
    f.configure(
        &format!(
            "restart = '{RESTART}'\n\n[hooks]\nsecret_env = [\"API_TOKEN\"]\n\
local_before = ['printf \"token=%s\\n\" \"$API_TOKEN\" >&2; exit 1']\n\n\
[notify]\nwebhook = \"{}/hook\"\nslack_webhook = \"{}/services/T0/B0/s3cretpath\"\n",
            hook.url, slack.url
        ),
        "",
    );
    let build = f.build("v1", &[("index.html", "v1")]);

    let run = f.ship_env(&[("API_TOKEN", SECRET)], &["deploy", build.to_str().unwrap()]);
    run.expect(1);
    assert!(!run.all().contains("s3cr3t"), "text output leaked the secret:\n{}", run.all());
    assert!(run.stderr.contains("token=***"), "{}", run.stderr);

    let run = f.ship_env(&[("API_TOKEN", SECRET)], &["--format", "json", "deploy", build.to_str().unwrap()]);
    run.expect(1);
    assert!(!run.all().contains("s3cr3t"), "JSON output leaked the secret:\n{}", run.all());
    let events: Vec<Value> = run.stdout.lines().map(|l| serde_json::from_str(l).expect("JSON lines")).collect();
    let error = events.iter().find(|e| e["type"] == "error").expect("an error event");
    assert!(error["error"].as_str().unwrap().contains("token=***"), "{error}");

    // Both runs announced their failure, with the hook's error masked.
    for (server, field) in [(&hook, "error"), (&slack, "text")] {
        let requests = server.requests();
        for (_, body) in &requests {
            assert!(!body.contains("s3cr3t"), "a notification body leaked the secret: {body}");
        }
        let failed: Vec<String> = requests
            .iter()
            .map(|(_, body)| serde_json::from_str::<Value>(body).unwrap())
            .filter_map(|v| v[field].as_str().map(str::to_string))
            .filter(|t| t.contains("token=***"))
            .collect();
        assert_eq!(failed.len(), 2, "{requests:?}");
    }
    assert!(!f.hosts[0].deploy_to.exists(), "local_before failed before any host was touched");
}

/// A .tar.gz of `files`, made with the system's tar.
fn tarball(f: &Fleet, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let build = f.build(name, files);
    let tgz = f.dir.path().join(format!("{name}.tar.gz"));
    let st = std::process::Command::new("tar").arg("czf").arg(&tgz).arg("-C").arg(&build).arg(".").status().unwrap();
    assert!(st.success());
    tgz
}

/// Every process's command line on this machine (the hosts' included).
fn command_lines() -> Vec<String> {
    let mut lines = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if entry.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(raw) = std::fs::read(entry.path().join("cmdline")) {
                lines.push(String::from_utf8_lossy(&raw).replace('\0', " "));
            }
        }
    }
    lines
}

#[test]
fn a_pull_urls_userinfo_leaked_into_messages_and_the_hosts_command_lines() {
    // A server that takes the request and never answers: the download is
    // in flight while the command lines are read.
    let server = HttpServer::start(0);
    let f = Fleet::start(1);
    let url = format!(
        "{}/pulled-artifact-{{sha256}}.tar.gz?sig=t0psecret",
        server.url.replace("http://", "http://deploy:hunter2-c7f1e@")
    );
    // In hosts.toml, so that ship's own command line does not hold it.
    f.configure(&format!("restart = '{RESTART}'\n\n[artifact]\nurl = \"{url}\"\n"), "");
    let tgz = tarball(&f, "app", &[("index.html", "pulled")]);
    let (mut child, stderr) = spawn(&f, &["--format", "json", "deploy", tgz.to_str().unwrap()]);

    let deadline = Instant::now() + Duration::from_secs(60);
    while server.requests().is_empty() {
        assert!(Instant::now() < deadline, "no host asked for the artifact within 60 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (request, _) = server.requests().remove(0);
    assert!(request.starts_with("GET /pulled-artifact-") && request.contains("sig=t0psecret"), "{request}");
    let lines = command_lines();
    let fetching: Vec<&String> = lines.iter().filter(|l| l.contains("curl") || l.contains("wget")).collect();
    assert!(!fetching.is_empty(), "the host's download was not seen among:\n{}", lines.join("\n"));
    for part in ["hunter2-c7f1e", "t0psecret", "pulled-artifact"] {
        let seen: Vec<&String> = lines.iter().filter(|l| l.contains(part)).collect();
        assert!(
            seen.is_empty(),
            "`{part}` is on a command line:\n{}",
            seen.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n")
        );
    }

    // The server goes away without answering: the download fails.
    drop(server);
    assert_eq!(wait_exit(&mut child), 1);
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
    let stderr: String = stderr.try_iter().collect::<Vec<_>>().join("\n");
    for text in [&stdout, &stderr] {
        assert!(!text.contains("hunter2") && !text.contains("t0psecret"), "{text}");
    }
    let port = url.split(':').nth(3).unwrap().split('/').next().unwrap();
    let shown = format!("http://***@127.0.0.1:{port}/pulled-artifact-");
    assert!(stdout.contains(&format!("could not download the artifact from {shown}")), "{stdout}");
    assert!(f.staging(0).is_empty() && f.current(0).is_none(), "nothing left on the host");

    // A URL refused before any host is contacted hides it too.
    for format in ["text", "json"] {
        let run = f.ship(&[
            "--format",
            format,
            "deploy",
            tgz.to_str().unwrap(),
            "--from-url",
            "ftp://deploy:hunter2-c7f1e@h/x",
        ]);
        run.expect(2);
        assert!(!run.all().contains("hunter2"), "{}", run.all());
        assert!(run.all().contains("`ftp://***@h/x` must start with https:// or http://"), "{}", run.all());
    }
}

#[test]
fn host_controlled_strings_reached_the_terminal_with_their_escape_sequences() {
    let f = Fleet::start(1);
    let v1 = f.build("v1", &[("index.html", "v1")]);
    f.ship(&["deploy", v1.to_str().unwrap()]).expect(0);
    let host = &f.hosts[0].deploy_to;
    let no_controls = |text: &str| {
        let bad: Vec<char> = text.chars().filter(|c| c.is_control() && *c != '\n' && *c != '\t').collect();
        assert!(bad.is_empty(), "control characters {bad:?} printed:\n{text}");
    };

    // The lock: holder and message with escapes and a line of their own.
    std::fs::create_dir_all(host.join(".ship/lock")).unwrap();
    let details = serde_json::json!({"holder": "ana\u{1b}[2J", "command": "deploy",
                                      "message": "incident\u{9b}31m\nfleet consistent: all fine"});
    std::fs::write(host.join(".ship/lock/details.json"), details.to_string()).unwrap();
    let status = f.ship(&["status"]);
    status.expect(0);
    no_controls(&status.all());
    let line = status.stdout.lines().find(|l| l.contains("held by")).expect("a lock line");
    assert!(line.contains(r"held by ana\x1b[2J") && line.contains(r"incident\u{9b}31m\x0afleet consistent"), "{line}");
    // JSON stays exact: the values as the host holds them.
    let json = f.ship(&["--format", "json", "status"]);
    no_controls(&json.stdout);
    let v: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["hosts"][0]["lock"], details, "{}", json.stdout);
    let locked = f.ship(&["deploy", v1.to_str().unwrap()]);
    locked.expect(3);
    no_controls(&locked.all());
    assert!(locked.stderr.contains(r"held by ana\x1b[2J"), "{}", locked.stderr);
    std::fs::remove_dir_all(host.join(".ship/lock")).unwrap();

    // A name under releases/ and a hook's stderr.
    std::fs::create_dir_all(host.join("releases/evil\u{1b}]0;pwned\u{7}")).unwrap();
    f.configure(
        &format!("restart = '{RESTART}'\n\n[hooks]\nbefore_switch = [\"printf 'bad\\\\033[2Jthing\\\\r\\\\n' >&2; exit 1\"]\n"),
        "",
    );
    let v2 = f.build("v2", &[("index.html", "v2")]);
    let run = f.ship(&["deploy", v2.to_str().unwrap()]);
    run.expect(1);
    no_controls(&run.all());
    assert!(run.stderr.contains(r"releases/evil\x1b]0;pwned\x07 is not a release id"), "{}", run.stderr);
    assert!(run.stdout.contains(r"bad\x1b[2Jthing"), "{}", run.stdout);

    // `ship exec` output keeps its lines and tabs, not its escapes.
    f.configure(&format!("restart = '{RESTART}'\n"), "");
    let run = f.ship(&["exec", "--", r"printf 'a\tb\n\033[31mred\n'"]);
    run.expect(0);
    no_controls(&run.all());
    assert!(run.stdout.contains("== web1 (exit 0) ==\na\tb\n\\x1b[31mred\n"), "{}", run.stdout);
    let run = f.ship(&["--format", "json", "exec", "--", r"printf 'a\tb\n\033[31mred\n'"]);
    no_controls(&run.stdout);
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v[0]["stdout"], "a\tb\n\u{1b}[31mred\n", "{}", run.stdout);
}
