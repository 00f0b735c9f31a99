//! Property tests over hostile input: every value that reaches a remote
//! command arrives byte-identical as one argument, and the parsers of
//! untrusted text (hosts.toml, Ansible inventory JSON, known_hosts) never
//! panic. Short runs here; longer fuzzing belongs in a script.

use crate::remote::quote;
use proptest::prelude::*;

/// A valid hosts.toml, the seed that [`mutated`] damages.
const SEED_TOML: &str =
    "[app]\nname = \"shop\"\ndeploy_to = \"/srv/shop\"\nkeep_releases = 5\nrestart = \"sudo systemctl restart shop\"\n\
linked_dirs = [\"log\"]\n[ssh]\nuser = \"deploy\"\nport = 2222\nconnect_timeout = \"5s\"\nkeepalive_max = 3\n\
[strategy]\nkind = \"rolling\"\nbatch = \"25%\"\n[health]\nurl = \"http://127.0.0.1:8080/up\"\n\
[[hosts]]\nname = \"web1\"\naddress = \"10.0.0.1\"\nroles = [\"web\"]\n[env.prod]\nconfirm = true\n";

/// A valid Ansible `--list` document.
const SEED_INVENTORY: &str = r#"{"web":{"hosts":["a","b"],"vars":{"ship_deploy_to":"/srv/x"}},"db":["c"],
"all":{"children":["web","db"]},"_meta":{"hostvars":{"a":{"ansible_host":"10.0.0.1","ansible_port":2222}}}}"#;

/// A known_hosts file with every form the matcher reads.
const SEED_KNOWN_HOSTS: &str = "web1,10.0.0.1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPeh9bdiTaGbK+V0DST5qI0HIGKPtnuEyPAxD/DkUvky\n\
[web2]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPeh9bdiTaGbK+V0DST5qI0HIGKPtnuEyPAxD/DkUvky\n\
|1|F1E1KeoE/eEWhi10WpGv4OdiO6Y=|3988QV0VE8wmZL7suNrYQLITLCg= ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPeh9bdiTaGbK+V0DST5qI0HIGKPtnuEyPAxD/DkUvky\n\
@revoked *.old,!x.old ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPeh9bdiTaGbK+V0DST5qI0HIGKPtnuEyPAxD/DkUvky\n";

/// `seed` with up to 8 random edits (insert, delete or replace a char at a
/// random place): mostly-valid input reaches deeper than random text.
fn mutated(seed: &'static str) -> impl Strategy<Value = String> {
    proptest::collection::vec((any::<prop::sample::Index>(), 0u8..3, any::<char>()), 0..8).prop_map(move |edits| {
        let mut chars: Vec<char> = seed.chars().collect();
        for (at, op, c) in edits {
            let i = at.index(chars.len() + 1);
            match op {
                0 => chars.insert(i, c),
                1 if i < chars.len() => {
                    chars.remove(i);
                }
                _ if i < chars.len() => chars[i] = c,
                _ => chars.push(c),
            }
        }
        chars.into_iter().collect()
    })
}

/// Strings made mostly of what shells treat specially.
fn shellish() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[ '\"$`\\\\;|&<>(){}!*?~#=%,:@\\n\\t\\r-]{0,12}[a-zé€\\-]{0,4}[$`'(){}]{0,4}")
        .expect("valid regex")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn quoted_values_arrive_byte_identical_through_sh(s in prop_oneof![shellish(), "[^\\x00]{0,40}"]) {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf '%s' {}", quote(&s)))
            .output()
            .unwrap();
        prop_assert!(out.status.success());
        prop_assert_eq!(String::from_utf8_lossy(&out.stdout).into_owned(), s);
    }

    #[test]
    fn quoted_values_are_one_word(s in "[^\\x00]{0,40}") {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("set -- {}; echo $#", quote(&s)))
            .output()
            .unwrap();
        let count = String::from_utf8_lossy(&out.stdout).trim().to_string();
        prop_assert_eq!(count, "1");
    }
}

// The parsers: PROPTEST_CASES sets how many cases (default 256 here);
// scripts/fuzz.sh runs a million of each.
proptest! {
    #![proptest_config(ProptestConfig::default())]

    #[test]
    fn hosts_toml_parser_never_panics(s in prop_oneof![mutated(SEED_TOML), "[\\[\\]a-z_ =\"'{},.#\\n0-9%-]{0,200}"]) {
        let _ = crate::config::Config::parse(std::path::Path::new("hosts.toml"), &s);
    }

    #[test]
    fn inventory_reader_never_panics(s in prop_oneof![mutated(SEED_INVENTORY), "[\\[\\]{}\":,a-z_0-9 .-]{0,200}"]) {
        let d = crate::inventory::command::Defaults {
            user: Some("u".into()), port: 22, deploy_to: "/d".into(), jump: None,
        };
        let _ = crate::inventory::command::parse(&s, &d, "x");
    }

    #[test]
    fn known_hosts_matcher_never_panics(s in prop_oneof![mutated(SEED_KNOWN_HOSTS), "[|@!*?,\\[\\]:a-zA-Z0-9+/= \\n.-]{0,200}"], host in "[a-z0-9.*?-]{0,20}", port in 0u16..) {
        let kh = crate::ssh::known_hosts::KnownHosts::parse(std::path::Path::new("kh"), &s);
        let key = russh::keys::PublicKey::from_openssh(
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPeh9bdiTaGbK+V0DST5qI0HIGKPtnuEyPAxD/DkUvky",
        )
        .unwrap();
        let _ = kh.check(&host, port, &key);
        let _ = crate::ssh::known_hosts::wildcard(&host, &s);
    }
}

#[test]
fn fuzz_seeds_are_valid_input() {
    crate::config::Config::parse(std::path::Path::new("hosts.toml"), SEED_TOML).expect("SEED_TOML is valid");
    let d =
        crate::inventory::command::Defaults { user: Some("u".into()), port: 22, deploy_to: "/d".into(), jump: None };
    let hosts = crate::inventory::command::parse(SEED_INVENTORY, &d, "x").expect("SEED_INVENTORY is valid");
    assert_eq!(hosts.len(), 3);
    let kh = crate::ssh::known_hosts::KnownHosts::parse(std::path::Path::new("kh"), SEED_KNOWN_HOSTS);
    let key = russh::keys::PublicKey::from_openssh(
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPeh9bdiTaGbK+V0DST5qI0HIGKPtnuEyPAxD/DkUvky",
    )
    .unwrap();
    // The same key is also @revoked: revocation wins, whatever the host.
    assert!(format!("{:?}", kh.check("web1", 22, &key)).contains("Revoked"), "{:?}", kh.check("web1", 22, &key));
}
