//! Our own known_hosts matcher (ARCHITECTURE.md SSH pitfall 7: russh's helper ignores
//! `@revoked`, wildcards and several keys per host).
//!
//! Supports hashed names (`|1|salt|hash`), `[host]:port`, comma lists,
//! `*`/`?` wildcards, `!` negation, `@revoked`, and any number of keys per
//! host. `@cert-authority` lines are skipped: ship does not accept host
//! certificates yet. Several files can be read as one list (ssh_config's
//! `UserKnownHostsFile a b` and GlobalKnownHostsFile): a host with a key in
//! any of them is known, and new keys are written to the first.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use russh::keys::{Algorithm, HashAlg, PublicKey};
use std::path::{Path, PathBuf};

/// What known_hosts says about a host's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// A line for this host holds this key.
    Known,
    /// No line names this host (apart from `@revoked` ones).
    Unknown,
    /// The host is known, with other key(s): of this type or of another
    /// type, a key that is not on file is a changed key, never a new host.
    Changed {
        /// Fingerprints and places (`file:line`) of the keys on file.
        expected: Vec<(String, String)>,
    },
    /// The key is marked `@revoked`.
    Revoked {
        /// The line that revokes it (`file:line`).
        at: String,
    },
}

#[derive(Debug, Clone)]
enum Names {
    Hashed { salt: Vec<u8>, hash: Vec<u8> },
    Patterns(Vec<String>),
}

#[derive(Debug, Clone)]
struct Entry {
    revoked: bool,
    names: Names,
    key: PublicKey,
    /// Index of its file in `paths`.
    file: usize,
    line: usize,
}

/// Parsed known_hosts files, read as one list.
#[derive(Debug, Clone)]
pub(crate) struct KnownHosts {
    /// The files, the one new keys are written to first.
    paths: Vec<PathBuf>,
    entries: Vec<Entry>,
    /// Per host (as [`host_name`] writes it), the files that apply to it,
    /// as indices into `paths`: OpenSSH reads only a host's own
    /// UserKnownHostsFile and GlobalKnownHostsFile files, so another host's
    /// file never vouches for it. A host without a scope reads them all.
    scopes: std::collections::HashMap<String, Vec<usize>>,
}

/// The name a host is recorded under: `host` on port 22, else `[host]:port`.
pub(crate) fn host_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

/// `SHA256:…` as OpenSSH prints it.
pub(crate) fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

impl KnownHosts {
    /// Reads the file; a missing file is an empty list.
    #[cfg(test)]
    pub(crate) fn load(path: &Path) -> std::io::Result<KnownHosts> {
        KnownHosts::load_all(&[path.to_path_buf()]).map_err(|(_, e)| e)
    }

    /// Reads the files as one list (new keys go to the first); a missing
    /// file is empty. An error names the file that could not be read.
    pub(crate) fn load_all(paths: &[PathBuf]) -> Result<KnownHosts, (PathBuf, std::io::Error)> {
        let mut all = KnownHosts { paths: paths.to_vec(), entries: Vec::new(), scopes: Default::default() };
        for (file, path) in paths.iter().enumerate() {
            match std::fs::read_to_string(path) {
                Ok(text) => all.entries.extend(parse_text(&text, file)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err((path.clone(), e)),
            }
        }
        Ok(all)
    }

    /// Parses known_hosts text; lines it cannot read are skipped, as OpenSSH does.
    #[cfg(test)]
    pub(crate) fn parse(path: &Path, text: &str) -> KnownHosts {
        KnownHosts { paths: vec![path.into()], entries: parse_text(text, 0), scopes: Default::default() }
    }

    /// The file new keys are written to (the first).
    pub(crate) fn path(&self) -> &Path {
        self.paths.first().map_or(Path::new(""), PathBuf::as_path)
    }

    /// Restricts each listed host (`address`, `port`) to its own files.
    pub(crate) fn scoped(mut self, hosts: &[(String, u16, Vec<PathBuf>)]) -> KnownHosts {
        for (address, port, files) in hosts {
            let idx: Vec<usize> = files.iter().filter_map(|f| self.paths.iter().position(|p| p == f)).collect();
            self.scopes.insert(host_name(address, *port), idx);
        }
        self
    }

    /// The file new keys of `host:port` are written to: the first of its own.
    pub(crate) fn path_for(&self, host: &str, port: u16) -> &Path {
        match self.scopes.get(&host_name(host, port)).and_then(|s| s.first()) {
            Some(&i) => &self.paths[i],
            None => self.path(),
        }
    }

    /// Whether file `file` applies to `name`.
    fn applies(&self, name: &str, file: usize) -> bool {
        self.scopes.get(name).is_none_or(|s| s.contains(&file))
    }

    /// Where an entry is: `file:line`.
    fn place(&self, e: &Entry) -> String {
        format!("{}:{}", self.paths[e.file].display(), e.line)
    }

    /// The files holding the lines that vouch for `host:port`, each once
    /// (to remove them from, if the host was really rebuilt).
    pub(crate) fn files_on_file(&self, host: &str, port: u16) -> Vec<&Path> {
        let mut out: Vec<&Path> = Vec::new();
        for e in self.on_file(host, port) {
            let p = self.paths[e.file].as_path();
            if !out.contains(&p) {
                out.push(p);
            }
        }
        out
    }

    /// Judges `key` offered by `host:port`.
    pub(crate) fn check(&self, host: &str, port: u16, key: &PublicKey) -> Verdict {
        // A revoked key is refused whatever host it is presented for.
        if let Some(e) = self.entries.iter().find(|e| e.revoked && same_key(&e.key, key)) {
            return Verdict::Revoked { at: self.place(e) };
        }
        let mine = self.on_file(host, port);
        if mine.iter().any(|e| same_key(&e.key, key)) {
            return Verdict::Known;
        }
        let expected: Vec<(String, String)> = mine.iter().map(|e| (fingerprint(&e.key), self.place(e))).collect();
        if expected.is_empty() {
            Verdict::Unknown
        } else {
            Verdict::Changed { expected }
        }
    }

    /// The lines that vouch for `host:port` (not `@revoked` ones).
    fn on_file(&self, host: &str, port: u16) -> Vec<&Entry> {
        let name = host_name(host, port);
        self.entries.iter().filter(|e| !e.revoked && self.applies(&name, e.file) && matches(&e.names, &name)).collect()
    }

    /// The keys on file for `host:port`: their type name (`ssh-ed25519`),
    /// fingerprint and place (`file:line`).
    pub(crate) fn keys_on_file(&self, host: &str, port: u16) -> Vec<(String, String, String)> {
        self.on_file(host, port)
            .iter()
            .map(|e| (e.key.algorithm().to_string(), fingerprint(&e.key), self.place(e)))
            .collect()
    }

    /// The host key algorithms to offer `host:port`: only those of the keys
    /// on file for it, in russh's order of preference (an RSA key allows
    /// every RSA signature). Empty when the host has no key on file.
    pub(crate) fn host_key_algorithms(&self, host: &str, port: u16) -> Vec<Algorithm> {
        let kinds: Vec<Algorithm> = self.on_file(host, port).iter().map(|e| e.key.algorithm()).collect();
        let mut out: Vec<Algorithm> =
            russh::Preferred::DEFAULT.key.iter().filter(|a| kinds.iter().any(|k| signs_for(k, a))).cloned().collect();
        for k in kinds {
            if !out.iter().any(|a| signs_for(&k, a)) {
                out.push(k);
            }
        }
        out
    }

    /// Appends a hashed entry for `host:port` to the first file and to
    /// this list (`accept-new`).
    pub(crate) fn record(&mut self, host: &str, port: u16, key: &PublicKey) -> std::io::Result<()> {
        use std::io::Write;
        let line = KnownHosts::hashed_line(host, port, key);
        let path = self.path_for(host, port).to_path_buf();
        let file = self.paths.iter().position(|p| *p == path).unwrap_or(0);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        // A last line without its newline would otherwise be joined to ours.
        let before = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        let unterminated = before.last().is_some_and(|&b| b != b'\n');
        let number = before.iter().filter(|&&b| b == b'\n').count() + usize::from(unterminated) + 1;
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
        let lead = if unterminated { "\n" } else { "" };
        writeln!(f, "{lead}{line}")?;
        self.entries.extend(parse_line(&line, file, number));
        Ok(())
    }

    /// The line `accept-new` appends: a hashed name, as `HashKnownHosts` does.
    pub(crate) fn hashed_line(host: &str, port: u16, key: &PublicKey) -> String {
        let salt: [u8; 20] = rand::random();
        let hash = hmac_sha1(&salt, host_name(host, port).as_bytes());
        let key_text = key.to_openssh().unwrap_or_default();
        format!("|1|{}|{} {key_text}", B64.encode(salt), B64.encode(hash))
    }
}

/// Whether host key algorithm `algorithm` proves a key of type `key`: the
/// same algorithm, or any RSA signature for an RSA key.
fn signs_for(key: &Algorithm, algorithm: &Algorithm) -> bool {
    key == algorithm || matches!((key, algorithm), (Algorithm::Rsa { .. }, Algorithm::Rsa { .. }))
}

fn same_key(a: &PublicKey, b: &PublicKey) -> bool {
    a.key_data() == b.key_data()
}

fn parse_text(text: &str, file: usize) -> Vec<Entry> {
    text.lines().enumerate().filter_map(|(i, l)| parse_line(l, file, i + 1)).collect()
}

fn parse_line(line: &str, file: usize, number: usize) -> Option<Entry> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let mut fields = line.split_whitespace();
    let mut first = fields.next()?;
    let mut revoked = false;
    if first.starts_with('@') {
        match first {
            "@revoked" => revoked = true,
            _ => return None, // @cert-authority and unknown markers
        }
        first = fields.next()?;
    }
    let key_type = fields.next()?;
    let key_b64 = fields.next()?;
    let key = PublicKey::from_openssh(&format!("{key_type} {key_b64}")).ok()?;
    let names = if let Some(rest) = first.strip_prefix("|1|") {
        let (salt, hash) = rest.split_once('|')?;
        Names::Hashed { salt: B64.decode(salt).ok()?, hash: B64.decode(hash).ok()? }
    } else {
        Names::Patterns(first.split(',').map(str::to_string).collect())
    };
    Some(Entry { revoked, names, key, file, line: number })
}

fn hmac_sha1(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn matches(names: &Names, name: &str) -> bool {
    match names {
        Names::Hashed { salt, hash } => hmac_sha1(salt, name.as_bytes()) == *hash,
        Names::Patterns(list) => {
            let mut hit = false;
            for p in list {
                if let Some(neg) = p.strip_prefix('!') {
                    if wildcard(&neg.to_ascii_lowercase(), &name.to_ascii_lowercase()) {
                        return false;
                    }
                } else if wildcard(&p.to_ascii_lowercase(), &name.to_ascii_lowercase()) {
                    hit = true;
                }
            }
            hit
        }
    }
}

/// `*` matches any run, `?` one character; everything else literally.
pub(crate) fn wildcard(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPeh9bdiTaGbK+V0DST5qI0HIGKPtnuEyPAxD/DkUvky";
    const K2: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIP9eTJBm5/EQN9UOEAy4gxpNT2v96uvByceMHuzZb5xi";

    fn key(s: &str) -> PublicKey {
        PublicKey::from_openssh(s).unwrap()
    }

    fn kh(text: &str) -> KnownHosts {
        KnownHosts::parse(Path::new("kh"), text)
    }

    #[test]
    fn plain_and_bracketed_names() {
        let k = kh(&format!("web1,10.0.0.1 {K1}\n[127.0.0.2]:2222 {K1}\n"));
        assert_eq!(k.check("web1", 22, &key(K1)), Verdict::Known);
        assert_eq!(k.check("127.0.0.2", 2222, &key(K1)), Verdict::Known);
        assert_eq!(k.check("127.0.0.2", 22, &key(K1)), Verdict::Unknown);
    }

    #[test]
    fn hashed_names_round_trip() {
        let line = KnownHosts::hashed_line("127.0.0.3", 2200, &key(K1));
        assert!(line.starts_with("|1|"));
        let k = kh(&line);
        assert_eq!(k.check("127.0.0.3", 2200, &key(K1)), Verdict::Known);
        assert_eq!(k.check("127.0.0.4", 2200, &key(K1)), Verdict::Unknown);
    }

    #[test]
    fn a_known_openssh_hashed_entry_matches() {
        // Salt and hash computed independently: HMAC-SHA1(salt, "[127.0.0.1]:2222").
        let salt = [7u8; 20];
        let hash = hmac_sha1(&salt, b"[127.0.0.1]:2222");
        let k = kh(&format!("|1|{}|{} {K1}", B64.encode(salt), B64.encode(hash)));
        assert_eq!(k.check("127.0.0.1", 2222, &key(K1)), Verdict::Known);
    }

    #[test]
    fn wildcards_and_negation() {
        let k = kh(&format!("*.example.com,!bad.example.com {K1}\n"));
        assert_eq!(k.check("a.example.com", 22, &key(K1)), Verdict::Known);
        assert_eq!(k.check("bad.example.com", 22, &key(K1)), Verdict::Unknown);
        assert!(wildcard("web?", "web1") && !wildcard("web?", "web12"));
    }

    #[test]
    fn changed_key_lists_what_is_on_file() {
        let k = kh(&format!("web1 {K1}\n"));
        match k.check("web1", 22, &key(K2)) {
            Verdict::Changed { expected } => assert_eq!(expected[0].1, "kh:1"),
            v => panic!("{v:?}"),
        }
    }

    const ECDSA: &str =
        "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBNKu5ALoUcVmpP28Avb4xiDctLqyFmc94Ch3BU6cLgUUzy2SDRv/pZiaDLrgwme/LeUFOZ8xUUxyDfiELF0Vmx4=";

    #[test]
    fn a_key_of_another_type_is_changed_not_unknown() {
        let k = kh(&format!("# web1\nweb1 {K1}\n"));
        match k.check("web1", 22, &key(ECDSA)) {
            Verdict::Changed { expected } => assert_eq!(expected, [(fingerprint(&key(K1)), "kh:2".to_string())]),
            v => panic!("{v:?}"),
        }
        assert_eq!(k.check("web2", 22, &key(ECDSA)), Verdict::Unknown);
    }

    #[test]
    fn only_the_key_types_on_file_are_offered() {
        let k = kh(&format!("web1 {ECDSA}\nweb2 {K1}\nweb2 {ECDSA}\n@revoked web3 {K1}\n"));
        let names = |h: &str| k.host_key_algorithms(h, 22).iter().map(|a| a.to_string()).collect::<Vec<_>>();
        assert_eq!(names("web1"), ["ecdsa-sha2-nistp256"]);
        assert_eq!(names("web2"), ["ssh-ed25519", "ecdsa-sha2-nistp256"]);
        assert!(names("web3").is_empty(), "a revoked key vouches for nothing");
        assert_eq!(
            k.keys_on_file("web1", 22),
            [("ecdsa-sha2-nistp256".to_string(), fingerprint(&key(ECDSA)), "kh:1".to_string())]
        );
    }

    #[test]
    fn an_rsa_key_on_file_allows_every_rsa_signature() {
        let rsa = Algorithm::Rsa { hash: None };
        let want: Vec<Algorithm> =
            russh::Preferred::DEFAULT.key.iter().filter(|a| matches!(a, Algorithm::Rsa { .. })).cloned().collect();
        assert!(want.len() >= 2 && want.contains(&rsa));
        let line = "web1 ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDHUQhZ8ZoaNJ6/2IEz5lQpqphjEL0B6lsFgxKPZIo76pmy2ejP9U7/yFlL89jTww2Xi+25jFNNmO59krR+NUpeBDOoGvwSUf+YhhJjDMRpRl+bHDj1otw4FEZ6xv51nwMYQ4KxkXZkC9cSzhMw5LjJR97C+hK94Ps5nAu1SQYmBw==";
        let k = kh(line);
        assert_eq!(k.host_key_algorithms("web1", 22), want);
    }

    #[test]
    fn recording_after_a_last_line_without_newline_keeps_both() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("known_hosts");
        std::fs::write(&p, format!("# a comment\nweb1 {K1}")).unwrap();
        let mut k = KnownHosts::load(&p).unwrap();
        k.record("web2", 2222, &key(K2)).unwrap();
        let again = KnownHosts::load(&p).unwrap();
        assert_eq!(again.check("web1", 22, &key(K1)), Verdict::Known);
        assert_eq!(again.check("web2", 2222, &key(K2)), Verdict::Known);
        let at = format!("{}:3", p.display());
        assert_eq!(again.keys_on_file("web2", 2222)[0].2, at);
        assert_eq!(k.keys_on_file("web2", 2222)[0].2, at, "the line number reported is the file's");
    }

    #[test]
    fn old_and_new_key_of_one_type_are_both_accepted() {
        let k = kh(&format!("web1 {K1}\nweb1 {K2}\n"));
        assert_eq!(k.check("web1", 22, &key(K2)), Verdict::Known);
    }

    #[test]
    fn revoked_wins_over_known() {
        let k = kh(&format!("web1 {K1}\n@revoked * {K1}\n"));
        assert_eq!(k.check("web1", 22, &key(K1)), Verdict::Revoked { at: "kh:2".into() });
    }

    #[test]
    fn tabs_comments_and_cert_authority() {
        let k = kh(&format!("# comment\n@cert-authority * {K2}\nweb1\t{}\n", K1.replace(' ', "\t")));
        assert_eq!(k.check("web1", 22, &key(K1)), Verdict::Known);
        assert_eq!(k.check("web2", 22, &key(K2)), Verdict::Unknown);
    }

    #[test]
    fn every_file_is_read_and_new_keys_go_to_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let (p1, p2, p3) = (dir.path().join("kh1"), dir.path().join("kh2"), dir.path().join("missing"));
        std::fs::write(&p1, format!("web2 {K2}\n")).unwrap();
        std::fs::write(&p2, format!("# web1\nweb1 {K1}\n@revoked * {K2}\n")).unwrap();
        let mut k = KnownHosts::load_all(&[p1.clone(), p2.clone(), p3]).unwrap();
        assert_eq!(k.path(), p1);
        assert_eq!(k.check("web1", 22, &key(K1)), Verdict::Known);
        match k.check("web1", 22, &key(ECDSA)) {
            Verdict::Changed { expected } => assert_eq!(expected[0].1, format!("{}:2", p2.display())),
            v => panic!("{v:?}"),
        }
        assert_eq!(k.check("web2", 22, &key(K2)), Verdict::Revoked { at: format!("{}:3", p2.display()) });
        assert_eq!(k.host_key_algorithms("web1", 22).len(), 1, "the second file's key type is offered");
        assert_eq!(k.files_on_file("web1", 22), [p2.as_path()]);
        k.record("web3", 22, &key(ECDSA)).unwrap();
        assert_eq!(k.keys_on_file("web3", 22)[0].2, format!("{}:2", p1.display()));
        assert!(std::fs::read_to_string(&p2).unwrap().lines().count() == 3, "only the first file is written");
        assert_eq!(KnownHosts::load(&p1).unwrap().check("web3", 22, &key(ECDSA)), Verdict::Known);
    }
}
