//! Delta shipping against real sshd hosts: a host whose current release has
//! a manifest receives only the files that changed, hard-links the rest,
//! and never changes a byte of the earlier release (ARCHITECTURE.md invariant 4).

use crate::support::fleet::{noise, RESTART};
use crate::support::Fleet;
use serde_json::Value;
use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// Every entry under `dir`: content (or link target, with `root` made
/// `<root>`) and mode. Equal trees are equal releases.
fn tree(dir: &Path, root: &Path) -> BTreeMap<String, String> {
    fn walk(dir: &Path, rel: &str, root: &Path, out: &mut BTreeMap<String, String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let name = format!("{rel}{}", e.file_name().to_string_lossy());
            let m = std::fs::symlink_metadata(e.path()).unwrap();
            let mode = m.permissions().mode() & 0o7777;
            if m.file_type().is_symlink() {
                let to = std::fs::read_link(e.path()).unwrap().display().to_string();
                out.insert(name, format!("link {}", to.replace(&root.display().to_string(), "<root>")));
            } else if m.is_dir() {
                out.insert(name.clone(), format!("dir {mode:o}"));
                walk(&e.path(), &format!("{name}/"), root, out);
            } else {
                let body = std::fs::read(e.path()).unwrap();
                out.insert(name, format!("file {mode:o} {}", String::from_utf8_lossy(&body)));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, "", root, &mut out);
    out
}

fn json_lines(stdout: &str) -> Vec<Value> {
    stdout.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

/// The largest upload total ship reported for `host`.
fn bytes_sent(events: &[Value], host: &str) -> u64 {
    events
        .iter()
        .filter(|e| e["type"] == "progress" && e["host"] == host)
        .filter_map(|e| e["total"].as_u64())
        .max()
        .unwrap_or(0)
}

fn ino(p: &Path) -> u64 {
    std::fs::metadata(p).unwrap().ino()
}

#[test]
fn a_delta_sends_only_what_changed_and_leaves_the_earlier_release_byte_identical() {
    let f = Fleet::start(2);
    f.configure(&format!("restart = '{RESTART}'\nlinked_dirs = [\"log\"]\n"), "");
    let mut files: Vec<(String, String)> =
        (0..40).map(|i| (format!("app/mod{}/f{i:02}.js", i % 4), format!("module {i}\n").repeat(200))).collect();
    files.push(("app/with space.txt".into(), "spaces".into()));
    files.push(("log/keep.txt".into(), "under a linked dir".into()));
    files.push(("gone.txt".into(), "removed in v2".into()));
    let pairs: Vec<(&str, &str)> = files.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let build = f.build("app", &pairs);
    std::fs::write(build.join("blob.bin"), noise(300_000)).unwrap();
    std::fs::write(build.join("bin-run"), "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(build.join("bin-run"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("app/mod0/f00.js", build.join("entry.js")).unwrap();

    // v1 on web1 only; web2 stays empty, so v2 reaches it whole.
    f.ship(&["--hosts", "web1", "deploy", build.to_str().unwrap()]).expect(0);
    let root1 = &f.hosts[0].deploy_to;
    let v1 = root1.join("releases").join(f.current(0).unwrap());
    let before = tree(&v1, root1);
    let blob_ino = ino(&v1.join("blob.bin"));

    // v2: one file edited, one added, one removed, one chmod-ed, a link moved.
    std::fs::write(build.join("app/mod1/f01.js"), "edited\n").unwrap();
    std::fs::write(build.join("app/new.js"), "new\n").unwrap();
    std::fs::remove_file(build.join("gone.txt")).unwrap();
    std::fs::set_permissions(build.join("bin-run"), std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::remove_file(build.join("entry.js")).unwrap();
    std::os::unix::fs::symlink("app/new.js", build.join("entry.js")).unwrap();
    let run = f.ship(&["--format", "json", "deploy", build.to_str().unwrap()]);
    run.expect(0);
    let events = json_lines(&run.stdout);
    let delta: Vec<&Value> = events.iter().filter(|e| e["type"] == "delta").collect();
    assert_eq!(delta.len(), 1, "one group: {}", run.stdout);
    assert_eq!(delta[0]["hosts"], serde_json::json!(["web1"]));
    // 44 files listed (log/ is linked, so not listed); 40 of them unchanged
    // (not the edited, added or chmod-ed ones; gone.txt is gone).
    assert_eq!((delta[0]["files"].as_u64(), delta[0]["unchanged"].as_u64()), (Some(44), Some(41)), "{}", delta[0]);
    let (small, whole) = (bytes_sent(&events, "web1"), bytes_sent(&events, "web2"));
    assert!(small > 0 && small * 10 < whole, "delta {small} B vs full {whole} B");

    let v2 = f.current(0).unwrap();
    assert_eq!(f.current(1).as_deref(), Some(v2.as_str()));
    // The earlier release did not change by a byte, and still exists.
    assert_eq!(tree(&v1, root1), before, "v1 changed under a delta deploy");
    // The release built from a delta equals the one built from the whole archive.
    let (r1, r2) = (root1.join("releases").join(&v2), f.hosts[1].deploy_to.join("releases").join(&v2));
    let (t1, t2) = (tree(&r1, root1), tree(&r2, &f.hosts[1].deploy_to));
    assert_eq!(t1, t2);
    assert!(t1.contains_key(".ship/manifest") && !t1.contains_key(".ship/links"), "{:?}", t1.keys());
    assert_eq!(t1["bin-run"], "file 700 #!/bin/sh\n");
    assert_eq!(t1["log"], "link <root>/shared/log");
    // Unchanged files are shared, changed ones are new inodes.
    assert_eq!(ino(&r1.join("blob.bin")), blob_ino);
    assert_ne!(ino(&r1.join("app/mod1/f01.js")), ino(&v1.join("app/mod1/f01.js")));
    assert_ne!(ino(&r1.join("bin-run")), ino(&v1.join("bin-run")), "a mode change is a new file");
    assert_eq!(f.read_current(0, "entry.js"), "new\n");

    // --full sends the whole archive, even to a host with a manifest.
    let run = f.ship(&["--format", "json", "deploy", "--full", build.to_str().unwrap()]);
    run.expect(0);
    let events = json_lines(&run.stdout);
    assert!(!events.iter().any(|e| e["type"] == "delta"), "{}", run.stdout);
    assert_eq!(bytes_sent(&events, "web1"), bytes_sent(&events, "web2"));
}

#[test]
fn a_file_changed_on_the_host_fails_the_delta_safely_and_full_mends_it() {
    let f = Fleet::start(1);
    let build = f.build("app", &[("a.txt", "a1"), ("b.txt", "b1"), ("c.txt", "c1")]);
    // Big enough that a delta is smaller than the whole archive.
    std::fs::write(build.join("big.bin"), noise(100_000)).unwrap();
    f.ship(&["deploy", build.to_str().unwrap()]).expect(0);
    let v1 = f.current(0).unwrap();
    // Someone edits a file of the live release in place.
    std::fs::write(f.hosts[0].deploy_to.join("current/b.txt"), "hot fix").unwrap();
    std::fs::write(build.join("a.txt"), "a2").unwrap();

    let run = f.ship(&["deploy", build.to_str().unwrap()]);
    run.expect(1);
    let all = run.all();
    assert!(all.contains("./b.txt of the current release differs from its manifest"), "{all}");
    assert!(all.contains("deploy with --full"), "{all}");
    assert_eq!(f.current(0).as_deref(), Some(v1.as_str()), "still serving the previous release");
    assert_eq!(f.releases(0), std::slice::from_ref(&v1), "the failed release was removed");
    assert!(f.staging(0).is_empty(), "staging left behind: {:?}", f.staging(0));
    assert_eq!(f.read_current(0, "b.txt"), "hot fix");

    f.ship(&["deploy", "--full", build.to_str().unwrap()]).expect(0);
    assert_ne!(f.current(0).as_deref(), Some(v1.as_str()));
    assert_eq!((f.read_current(0, "a.txt"), f.read_current(0, "b.txt")), ("a2".into(), "b1".into()));
}

/// A manifest larger than a script's output may be (4 MiB: ~21,000 files
/// with long names) is read whole over a channel of its own.
#[test]
fn a_manifest_beyond_the_output_cap_is_still_read_whole() {
    let f = Fleet::start(1);
    let build = f.dir.path().join("builds/many");
    let long = "x".repeat(150);
    // Incompressible bodies, so that the delta (manifest and link list
    // included) is smaller than the whole archive.
    let bodies = noise(21_000 * 300);
    for i in 0..21_000 {
        let dir = build.join(format!("d{:03}", i % 200));
        if i < 200 {
            std::fs::create_dir_all(&dir).unwrap();
        }
        std::fs::write(dir.join(format!("{long}{i:05}.txt")), &bodies[i * 300..(i + 1) * 300]).unwrap();
    }
    f.ship(&["deploy", build.to_str().unwrap()]).expect(0);
    let manifest = f.hosts[0].deploy_to.join("current/.ship/manifest");
    assert!(std::fs::metadata(&manifest).unwrap().len() > 4 << 20, "the manifest must exceed the cap");
    std::fs::write(build.join(format!("d000/{long}00000.txt")), "changed").unwrap();
    let run = f.ship(&["--format", "json", "deploy", build.to_str().unwrap()]);
    run.expect(0);
    let delta = json_lines(&run.stdout).into_iter().find(|e| e["type"] == "delta");
    let delta = delta.unwrap_or_else(|| panic!("no delta: {}", run.all()));
    assert_eq!((delta["files"].as_u64(), delta["unchanged"].as_u64()), (Some(21_000), Some(20_999)));
    assert_eq!(f.read_current(0, &format!("d000/{long}00000.txt")), "changed");
}

#[test]
fn a_linked_file_whose_mode_was_changed_on_the_host_fails_the_delta() {
    let f = Fleet::start(1);
    let build = f.build("app", &[("a.txt", "a1"), ("b.txt", "b1"), ("c.txt", "c1")]);
    std::fs::write(build.join("big.bin"), noise(100_000)).unwrap();
    f.ship(&["deploy", build.to_str().unwrap()]).expect(0);
    let v1 = f.current(0).unwrap();
    // Someone makes a file of the live release set-uid and world-writable.
    let b = f.hosts[0].deploy_to.join("current/b.txt");
    std::fs::set_permissions(&b, std::fs::Permissions::from_mode(0o4777)).unwrap();
    std::fs::write(build.join("a.txt"), "a2").unwrap();

    let run = f.ship(&["deploy", build.to_str().unwrap()]);
    run.expect(1);
    let all = run.all();
    assert!(all.contains("./b.txt of the current release has mode 4777, its manifest says 644"), "{all}");
    assert!(all.contains("deploy with --full"), "{all}");
    assert_eq!(f.current(0).as_deref(), Some(v1.as_str()), "still serving the previous release");
    assert_eq!(f.releases(0), std::slice::from_ref(&v1), "the failed release was removed");
    assert!(f.staging(0).is_empty(), "staging left behind: {:?}", f.staging(0));

    f.ship(&["deploy", "--full", build.to_str().unwrap()]).expect(0);
    let new = f.hosts[0].deploy_to.join("current/b.txt");
    assert_eq!(std::fs::metadata(new).unwrap().permissions().mode() & 0o7777, 0o644);
}
