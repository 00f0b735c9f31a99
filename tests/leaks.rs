//! What ship prints and sends, against real sshd hosts: secrets stay masked
//! in every format and every notification body, a pull URL's credentials
//! reach neither messages nor any command line on a host, and strings a
//! host controls cannot drive the terminal.

use crate::support::background::{spawn, wait_exit};
use crate::support::fleet::RESTART;
use crate::support::http::HttpServer;
use crate::support::Fleet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

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
