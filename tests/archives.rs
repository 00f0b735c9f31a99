//! What a build may put on a host, against real sshd hosts: device nodes,
//! FIFOs and set-id files are refused before any host is touched; hosts
//! unpack as the deploy user with plain permission bits (executables stay
//! executable); and a given archive is read once, so the bytes checked and
//! hashed are the bytes sent.

use crate::support::Fleet;
use flate2::write::GzEncoder;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

type Tar = tar::Builder<GzEncoder<Vec<u8>>>;

fn tarball(build: impl FnOnce(&mut Tar)) -> Vec<u8> {
    let mut t = tar::Builder::new(GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    build(&mut t);
    t.into_inner().unwrap().finish().unwrap()
}

/// Appends an entry of `kind` with the given mode and owner.
fn entry(t: &mut Tar, path: &str, kind: tar::EntryType, mode: u32, uid: u64, body: &[u8]) {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(uid);
    h.set_gid(uid);
    h.set_size(body.len() as u64);
    if matches!(kind, tar::EntryType::Char | tar::EntryType::Block) {
        // /dev/mem
        h.set_device_major(1).unwrap();
        h.set_device_minor(1).unwrap();
    }
    t.append_data(&mut h, path, body).unwrap();
}

fn write(f: &Fleet, name: &str, bytes: &[u8]) -> PathBuf {
    let p = f.dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn uid() -> u32 {
    let o = std::process::Command::new("id").arg("-u").output().unwrap();
    String::from_utf8(o.stdout).unwrap().trim().parse().unwrap()
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

#[test]
fn special_files_and_set_id_files_in_a_tarball_are_refused_before_any_host_is_touched() {
    use tar::EntryType::{Block, Char, Fifo, Regular};
    let f = Fleet::start(1);
    let cases: [(&str, tar::EntryType, u32, &str); 5] = [
        ("mem", Char, 0o666, "is a character device"),
        ("sda", Block, 0o660, "is a block device"),
        ("pipe", Fifo, 0o644, "is a FIFO"),
        ("bin/su", Regular, 0o4755, "set-uid"),
        ("bin/sg", Regular, 0o2755, "set-gid"),
    ];
    for (path, kind, bits, says) in cases {
        let tgz = write(
            &f,
            "special.tar.gz",
            &tarball(|t| {
                entry(t, "index.html", Regular, 0o644, 0, b"hi");
                entry(t, path, kind, bits, 0, if kind == Regular { b"#!/bin/sh\n" } else { b"" });
            }),
        );
        let run = f.ship(&["deploy", tgz.to_str().unwrap()]);
        run.expect(2);
        assert!(run.stderr.contains(path) && run.stderr.contains(says), "{path}: {}", run.stderr);
        assert!(!f.hosts[0].deploy_to.exists(), "{path}: no host was touched");
    }
    // A build directory with a set-uid file is refused the same way.
    let build = f.build("setuid", &[("index.html", "hi"), ("bin/tool", "#!/bin/sh\n")]);
    std::fs::set_permissions(build.join("bin/tool"), std::fs::Permissions::from_mode(0o4755)).unwrap();
    let run = f.ship(&["deploy", build.to_str().unwrap()]);
    run.expect(2);
    assert!(run.stderr.contains("bin/tool") && run.stderr.contains("set-uid"), "{}", run.stderr);
    assert!(!f.hosts[0].deploy_to.exists(), "no host was touched");
}

#[test]
fn hosts_unpack_as_the_deploy_user_with_plain_permission_bits() {
    use tar::EntryType::{Directory, Regular};
    let f = Fleet::start(1);
    // Another owner, group- and world-writable entries, an executable.
    let tgz = write(
        &f,
        "owned.tar.gz",
        &tarball(|t| {
            entry(t, "bin", Directory, 0o777, 4242, b"");
            entry(t, "bin/run", Regular, 0o775, 4242, b"#!/bin/sh\necho ran\n");
            entry(t, "data.txt", Regular, 0o666, 4242, b"data");
            entry(t, "secret.txt", Regular, 0o600, 4242, b"s");
        }),
    );
    f.ship(&["deploy", tgz.to_str().unwrap()]).expect(0);
    let cur = f.hosts[0].deploy_to.join("current");
    for p in ["bin", "bin/run", "data.txt", "secret.txt"] {
        assert_eq!(std::fs::metadata(cur.join(p)).unwrap().uid(), uid(), "{p} belongs to the deploy user");
    }
    let modes: Vec<u32> = ["bin", "bin/run", "data.txt", "secret.txt"].iter().map(|p| mode(&cur.join(p))).collect();
    assert_eq!(modes, [0o755, 0o755, 0o644, 0o600]);
    let out = std::process::Command::new(cur.join("bin/run")).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ran\n", "still executable");

    // A build directory: the host's modes are the ones its manifest records.
    let build = f.build("dir", &[("run.sh", "#!/bin/sh\n"), ("shared.txt", "x")]);
    std::fs::set_permissions(build.join("run.sh"), std::fs::Permissions::from_mode(0o775)).unwrap();
    std::fs::set_permissions(build.join("shared.txt"), std::fs::Permissions::from_mode(0o666)).unwrap();
    f.ship(&["deploy", build.to_str().unwrap()]).expect(0);
    assert_eq!((mode(&cur.join("run.sh")), mode(&cur.join("shared.txt"))), (0o755, 0o644));
    let manifest = std::fs::read_to_string(cur.join(".ship/manifest")).unwrap();
    let listed: Vec<&str> = manifest.lines().skip(1).map(|l| l.split(' ').nth(1).unwrap()).collect();
    assert_eq!(listed, ["0755", "0644"], "{manifest}");
}

/// A tarball served through a named pipe gives a different stream to every
/// open (as a file replaced or rewritten while ship works would): ship
/// reads it once, so what it checks and hashes is what it sends.
#[test]
fn a_given_tarball_is_read_once_and_checked_as_sent() {
    use tar::EntryType::{Char, Regular};
    let f = Fleet::start(1);
    let fifo = f.dir.path().join("stream.tar.gz");
    let st = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(st.success());
    let hostile = tarball(|t| {
        entry(t, "index.html", Regular, 0o644, 0, b"hi");
        entry(t, "mem", Char, 0o666, 0, b"");
    });
    let benign = tarball(|t| entry(t, "index.html", Regular, 0o644, 0, b"hi"));
    let path = fifo.clone();
    // The first open gets the hostile stream, every later one a benign one.
    // (Left blocked in open() when ship opens no more: the thread dies with
    // the test process.)
    std::thread::spawn(move || {
        for body in std::iter::once(hostile).chain(std::iter::repeat(benign)) {
            let Ok(mut w) = std::fs::OpenOptions::new().write(true).open(&path) else { return };
            let _ = std::io::Write::write_all(&mut w, &body);
        }
    });
    let run = f.ship(&["deploy", fifo.to_str().unwrap()]);
    run.expect(2);
    assert!(run.stderr.contains("mem") && run.stderr.contains("character device"), "{}", run.stderr);
    assert!(!f.hosts[0].deploy_to.join("current").exists(), "nothing was released");
}
