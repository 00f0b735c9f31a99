//! Pull mode against real sshd hosts and a real HTTP server (Python's
//! http.server on loopback): hosts download the archive themselves, check
//! ship's sha256 before unpacking, and a wrong file or a 404 leaves every
//! host serving what it served.

use crate::support::static_http::StaticServer;
use crate::support::Fleet;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// A .tar.gz of `files`, made with the system's tar.
fn tarball(f: &Fleet, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let build = f.build(name, files);
    let tgz = f.dir.path().join(format!("{name}.tar.gz"));
    let st = std::process::Command::new("tar").arg("czf").arg(&tgz).arg("-C").arg(&build).arg(".").status().unwrap();
    assert!(st.success());
    tgz
}

fn sha256_hex(p: &Path) -> String {
    Sha256::digest(std::fs::read(p).unwrap()).iter().map(|b| format!("{b:02x}")).collect()
}

/// A directory served over HTTP, with its server.
fn serve(f: &Fleet) -> (PathBuf, StaticServer) {
    let dir = f.dir.path().join("www");
    std::fs::create_dir_all(&dir).unwrap();
    let server = StaticServer::start(&dir, &f.dir.path().join("http.log"));
    (dir, server)
}

#[test]
fn hosts_download_the_archive_themselves_and_ship_sends_none_of_it() {
    let f = Fleet::start(2);
    let (www, server) = serve(&f);
    let tgz = tarball(&f, "app", &[("index.html", "pulled"), ("js/app.js", "1")]);
    let sum = sha256_hex(&tgz);
    std::fs::copy(&tgz, www.join(format!("{sum}.tar.gz"))).unwrap();
    let url = format!("{}/{{sha256}}.tar.gz?X-Amz-Signature=t0psecret", server.url);
    let run = f.ship(&["--format", "json", "deploy", tgz.to_str().unwrap(), "--from-url", &url]);
    run.expect(0);
    for i in 0..2 {
        assert_eq!(f.read_current(i, "index.html"), "pulled");
        assert!(f.staging(i).is_empty(), "{:?}", f.staging(i));
        let tgz_left = std::fs::read_dir(f.hosts[i].deploy_to.join(".ship/staging")).unwrap().count();
        assert_eq!(tgz_left, 0);
    }
    let gets: Vec<String> = server.requests().into_iter().filter(|r| r.contains(&sum)).collect();
    assert_eq!(gets.len(), 2, "one download per host: {:?}", server.requests());
    assert!(gets.iter().all(|g| g.contains("\" 200")), "{gets:?}");
    let events: Vec<Value> = run.stdout.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert!(!events.iter().any(|e| e["type"] == "progress"), "nothing uploaded by ship: {}", run.stdout);
}

#[test]
fn a_wrong_file_or_a_404_fails_before_unpacking_and_changes_nothing() {
    let f = Fleet::start(2);
    let (www, server) = serve(&f);
    let v1 = tarball(&f, "v1", &[("index.html", "v1")]);
    f.ship(&["deploy", v1.to_str().unwrap()]).expect(0);
    let before = f.current(0).unwrap();

    // The server has another archive under the URL.
    let v2 = tarball(&f, "v2", &[("index.html", "v2")]);
    let other = tarball(&f, "other", &[("index.html", "not what you deploy")]);
    std::fs::copy(&other, www.join("app.tar.gz")).unwrap();
    let run = f.ship(&["deploy", v2.to_str().unwrap(), "--from-url", &format!("{}/app.tar.gz", server.url)]);
    run.expect(1);
    let all = run.all();
    assert!(
        all.contains(&format!(
            "the archive downloaded from {}/app.tar.gz has sha256 {}",
            server.url,
            sha256_hex(&other)
        )),
        "{all}"
    );
    assert!(all.contains(&format!("expected {}", sha256_hex(&v2))), "{all}");

    // Nothing at the URL (a pre-signed one: its query is never printed).
    let url = format!("{}/missing.tar.gz?X-Amz-Signature=t0psecret", server.url);
    let run = f.ship(&["deploy", v2.to_str().unwrap(), "--from-url", &url]);
    run.expect(1);
    let all = run.all();
    assert!(all.contains(&format!("could not download the artifact from {}/missing.tar.gz?…", server.url)), "{all}");
    assert!(all.contains("404"), "curl's reason is shown: {all}");
    assert!(!all.contains("t0psecret"), "{all}");

    for i in 0..2 {
        assert_eq!(f.current(i).as_deref(), Some(before.as_str()), "host {i} still serves v1");
        assert_eq!(f.read_current(i, "index.html"), "v1");
        assert_eq!(f.releases(i), std::slice::from_ref(&before), "failed releases removed");
        assert!(f.staging(i).is_empty(), "{:?}", f.staging(i));
    }
}

#[test]
fn pull_mode_needs_the_archive_itself_and_a_checked_url() {
    let f = Fleet::start(1);
    let build = f.build("app", &[("a", "1")]);
    let run = f.ship(&["deploy", build.to_str().unwrap(), "--from-url", "http://127.0.0.1:9/app.tar.gz"]);
    run.expect(2);
    assert!(run.stderr.contains("is a directory") && run.stderr.contains(".tar.gz the URL serves"), "{}", run.stderr);
    let run = f.ship(&["deploy", build.to_str().unwrap(), "--from-url", "file:///etc/passwd"]);
    run.expect(2);
    assert!(
        run.stderr.contains("--from-url: `file:///etc/passwd` must start with https:// or http://"),
        "{}",
        run.stderr
    );
    assert!(!f.hosts[0].deploy_to.exists(), "no host was touched");
}
