//! `ship sync` against real sshd hosts: a freshly added empty host and a
//! host that missed a deploy are brought to the fleet's release, with the
//! same id, from the cache or copied from a healthy host.

use crate::support::Fleet;

#[test]
fn sync_brings_a_new_empty_host_to_the_fleet_release_from_the_cache() {
    let f = Fleet::start(3);
    let (two, full) = f.without_last_host();
    std::fs::write(&f.config, &two).unwrap();
    let v1 = f.build("v1", &[("index.html", "v1")]);
    f.ship(&["deploy", v1.to_str().unwrap()]).expect(0);
    let v2 = f.build("v2", &[("index.html", "v2")]);
    f.ship(&["deploy", v2.to_str().unwrap()]).expect(0);
    let id = f.current(0).unwrap();

    // A new host joins the fleet.
    std::fs::write(&f.config, &full).unwrap();
    let status = f.ship(&["status"]);
    status.expect(0);
    assert!(status.stdout.contains("fleet drifts") && status.stdout.contains("no release: web3"), "{}", status.stdout);
    let run = f.ship(&["sync"]);
    run.expect(0);
    assert!(!run.stderr.contains("not in the local cache"), "came from the cache: {}", run.stderr);
    assert_eq!(f.current(2).unwrap(), id, "same release id as the fleet");
    assert_eq!(f.read_current(2, "index.html"), "v2");
    assert_eq!(f.restarts(2).len(), 1, "restarted once");
    assert_eq!(f.restarts(0).len(), 2, "hosts already on the release are left alone");
    let status = f.ship(&["status"]);
    assert!(status.stdout.contains(&format!("fleet consistent: all 3 host(s) on {id}")), "{}", status.stdout);
    // A second sync has nothing to do.
    f.ship(&["sync"]).expect(0);
    assert_eq!(f.restarts(2).len(), 1);
}

#[test]
fn sync_catches_up_a_host_that_missed_a_deploy_copying_from_a_healthy_host() {
    let mut f = Fleet::start(3);
    f.configure(&format!("restart = '{}'\nlinked_dirs = [\"log\"]\n", crate::support::fleet::RESTART), "");
    let v1 = f.build("v1", &[("index.html", "v1")]);
    f.ship(&["deploy", v1.to_str().unwrap()]).expect(0);
    let old = f.current(2).unwrap();
    let v2 = f.build("v2", &[("index.html", "v2")]);
    // web3 goes down: a deploy to the whole fleet refuses to switch anyone,
    // so the team deploys to the hosts that are up.
    f.hosts[2].sshd.stop();
    f.ship(&["deploy", v2.to_str().unwrap()]).expect(1);
    assert_eq!(f.current(0).unwrap(), old, "nobody switched while web3 was down");
    f.ship(&["--hosts", "web1,web2", "deploy", v2.to_str().unwrap()]).expect(0);
    f.hosts[2].sshd.restart();
    let id = f.current(0).unwrap();
    assert_eq!(f.current(2).unwrap(), old);
    // And this machine's cache is gone (another laptop, a cleaned CI runner).
    std::fs::remove_dir_all(f.dir.path().join(".cache")).unwrap();
    let run = f.ship(&["sync"]);
    run.expect(0);
    assert!(run.stderr.contains("not in the local cache; copying it from this host"), "{}", run.stderr);
    assert_eq!(f.current(2).unwrap(), id);
    assert_eq!(f.read_current(2, "index.html"), "v2");
    let web3 = &f.hosts[2].deploy_to;
    assert_eq!(
        std::fs::read_link(web3.join("current/log")).unwrap(),
        web3.join("shared/log"),
        "linked to its own shared/"
    );
    let rel: serde_json::Value = serde_json::from_str(&f.read_current(2, ".ship/release.json")).unwrap();
    assert_eq!(rel["id"], id.as_str());
    assert_eq!(f.releases(2), [old.as_str(), id.as_str()]);
}

/// The archives under the artifact cache named `<id>.tar.gz`, wherever
/// the cache keys them.
fn cached(f: &Fleet, id: &str) -> Vec<std::path::PathBuf> {
    fn walk(dir: &std::path::Path, name: &str, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if e.file_type().unwrap().is_dir() {
                walk(&e.path(), name, out);
            } else if e.file_name().to_str() == Some(name) {
                out.push(e.path());
            }
        }
    }
    let mut out = Vec::new();
    walk(&f.dir.path().join(".cache"), &format!("{id}.tar.gz"), &mut out);
    out
}

#[test]
fn sync_refuses_to_copy_a_release_changed_on_the_source_host() {
    use std::os::unix::fs::PermissionsExt;
    let f = Fleet::start(2);
    let (one, full) = f.without_last_host();
    std::fs::write(&f.config, &one).unwrap();
    let v1 = f.build("v1", &[("index.html", "v1"), ("bin/run", "#!/bin/sh\n")]);
    std::fs::set_permissions(v1.join("bin/run"), std::fs::Permissions::from_mode(0o755)).unwrap();
    f.ship(&["deploy", v1.to_str().unwrap()]).expect(0);
    let id = f.current(0).unwrap();
    std::fs::remove_dir_all(f.dir.path().join(".cache")).unwrap();
    std::fs::write(&f.config, &full).unwrap();

    // A hot fix edited into web1's live release must not spread to web2.
    let live = f.hosts[0].deploy_to.join("current");
    std::fs::write(live.join("index.html"), "hot fix").unwrap();
    let run = f.ship(&["sync"]);
    run.expect(1);
    assert!(
        run.all().contains("the copy from web1 was refused: index.html differs from its manifest"),
        "{}",
        run.all()
    );
    assert!(f.releases(1).is_empty() && f.staging(1).is_empty(), "web2 got nothing: {:?}", f.releases(1));

    // Nor may a mode changed on the host (here: set-uid).
    std::fs::write(live.join("index.html"), "v1").unwrap();
    std::fs::set_permissions(live.join("bin/run"), std::fs::Permissions::from_mode(0o4755)).unwrap();
    let run = f.ship(&["sync"]);
    run.expect(1);
    assert!(run.all().contains("bin/run"), "{}", run.all());
    assert!(f.releases(1).is_empty(), "web2 got nothing");

    // Put back as deployed, the copy is verified and goes through.
    std::fs::set_permissions(live.join("bin/run"), std::fs::Permissions::from_mode(0o755)).unwrap();
    f.ship(&["sync"]).expect(0);
    assert_eq!(f.current(1).unwrap(), id);
    assert_eq!(f.read_current(1, "index.html"), "v1");
}

#[test]
fn sync_refuses_to_copy_a_release_without_a_manifest_but_uses_a_verified_cache() {
    let f = Fleet::start(2);
    let (one, full) = f.without_last_host();
    std::fs::write(&f.config, &one).unwrap();
    // A given .tar.gz: its release has no .ship/manifest to check a copy against.
    let build = f.build("app", &[("index.html", "from a tarball")]);
    let tgz = f.dir.path().join("app.tar.gz");
    let st = std::process::Command::new("tar").arg("czf").arg(&tgz).arg("-C").arg(&build).arg(".").status().unwrap();
    assert!(st.success());
    f.ship(&["deploy", tgz.to_str().unwrap()]).expect(0);
    let id = f.current(0).unwrap();
    std::fs::write(&f.config, &full).unwrap();
    let cache = f.dir.path().join(".cache");
    let aside = f.dir.path().join("cache-aside");
    std::fs::rename(&cache, &aside).unwrap();
    let run = f.ship(&["sync"]);
    run.expect(1);
    assert!(run.all().contains("has no .ship/manifest"), "{}", run.all());
    assert!(f.releases(1).is_empty(), "web2 got nothing");

    std::fs::rename(&aside, &cache).unwrap();
    let run = f.ship(&["sync"]);
    run.expect(0);
    assert!(!run.stderr.contains("not in the local cache"), "{}", run.stderr);
    assert_eq!(f.current(1).unwrap(), id);
    assert_eq!(f.read_current(1, "index.html"), "from a tarball");
}

#[test]
fn sync_ignores_a_cached_archive_that_is_not_the_release() {
    let f = Fleet::start(2);
    let (one, full) = f.without_last_host();
    std::fs::write(&f.config, &one).unwrap();
    let v1 = f.build("v1", &[("index.html", "v1")]);
    f.ship(&["deploy", v1.to_str().unwrap()]).expect(0);
    let old = f.current(0).unwrap();
    let v2 = f.build("v2", &[("index.html", "v2")]);
    f.ship(&["deploy", v2.to_str().unwrap()]).expect(0);
    let id = f.current(0).unwrap();
    // The cache holds another archive under the release's name.
    let (a, b) = (cached(&f, &old), cached(&f, &id));
    assert_eq!((a.len(), b.len()), (1, 1), "{a:?} {b:?}");
    std::fs::copy(&a[0], &b[0]).unwrap();
    std::fs::write(&f.config, &full).unwrap();
    let run = f.ship(&["sync"]);
    run.expect(0);
    assert!(run.stderr.contains("differs from the sha256 in its release.json"), "{}", run.stderr);
    assert_eq!(f.current(1).unwrap(), id);
    assert_eq!(f.read_current(1, "index.html"), "v2", "not the cached impostor");
}

#[test]
fn the_artifact_cache_is_kept_per_environment() {
    let f = Fleet::start(3);
    let base = std::fs::read_to_string(&f.config).unwrap();
    let head = &base[..base.find("\n[[hosts]]").unwrap()];
    let table = |i: usize, env: &str| {
        let h = &f.hosts[i];
        format!(
            "\n[[env.{env}.hosts]]\nname = \"{}\"\naddress = \"{}\"\nport = {}\ndeploy_to = \"{}\"\n",
            h.name,
            h.sshd.address,
            h.sshd.port,
            h.deploy_to.display()
        )
    };
    let head = head.replace("keep_releases = 5", "keep_releases = 2");
    let staging = format!("\n[env.staging]\n{}", table(1, "staging"));
    let prod = format!("\n[env.production]\n{}", table(0, "production"));
    std::fs::write(&f.config, format!("{head}{staging}{prod}")).unwrap();
    let build = f.build("app", &[("index.html", "v1")]);
    f.ship(&["-e", "production", "deploy", build.to_str().unwrap()]).expect(0);
    let id = f.current(0).unwrap();
    // Two staging deploys must not push production's archive out of the cache.
    f.ship(&["-e", "staging", "deploy", build.to_str().unwrap()]).expect(0);
    f.ship(&["-e", "staging", "deploy", build.to_str().unwrap()]).expect(0);
    // Production gains a host.
    std::fs::write(&f.config, format!("{head}{staging}{prod}{}", table(2, "production"))).unwrap();
    let run = f.ship(&["-e", "production", "sync"]);
    run.expect(0);
    assert!(!run.stderr.contains("not in the local cache"), "came from the cache: {}", run.stderr);
    assert_eq!(f.current(2).unwrap(), id);
}

/// Peak resident memory (VmHWM, KiB) of a running ship, polled until it exits.
fn peak_rss_kib(child: &mut std::process::Child) -> (i32, u64) {
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Some(hwm) = std::fs::read_to_string(&status).ok().and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        }) {
            peak = peak.max(hwm);
        }
        if let Some(st) = child.try_wait().unwrap() {
            return (st.code().unwrap_or(-1), peak);
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[test]
fn sync_copies_a_large_release_through_a_file_not_memory() {
    let f = Fleet::start(2);
    let (one, full) = f.without_last_host();
    std::fs::write(&f.config, &one).unwrap();
    let build = f.build("big", &[("index.html", "big")]);
    std::fs::write(build.join("blob.bin"), crate::support::fleet::noise(96 << 20)).unwrap();
    f.ship(&["deploy", build.to_str().unwrap()]).expect(0);
    std::fs::remove_dir_all(f.dir.path().join(".cache")).unwrap();
    std::fs::write(&f.config, &full).unwrap();
    let mut child = crate::support::fleet::ship_command(f.dir.path())
        .arg("-c")
        .arg(&f.config)
        .args(["--no-progress", "sync"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (code, peak) = peak_rss_kib(&mut child);
    assert_eq!(code, 0);
    assert_eq!(f.current(1), f.current(0));
    // Held in memory, a 96 MiB release took 300 MiB; through a file, about 36 MiB.
    assert!(peak < 64 << 10, "peak RSS {peak} KiB while copying a 96 MiB release");
}
