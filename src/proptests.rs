//! Property tests over hostile input: every value that reaches a remote
//! command arrives byte-identical as one argument, and the parsers of
//! untrusted text (hosts.toml, Ansible inventory JSON, known_hosts) never
//! panic. Short runs here; longer fuzzing belongs in a script.

use crate::remote::quote;
use proptest::prelude::*;

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

    #[test]
    fn hosts_toml_parser_never_panics(s in "[\\[\\]a-z_ =\"'{},.#\\n0-9%-]{0,200}") {
        let _ = crate::config::Config::parse(std::path::Path::new("hosts.toml"), &s);
    }

    #[test]
    fn inventory_reader_never_panics(s in "[\\[\\]{}\":,a-z_0-9 .-]{0,200}") {
        let d = crate::inventory::command::Defaults {
            user: Some("u".into()), port: 22, deploy_to: "/d".into(), jump: None,
        };
        let _ = crate::inventory::command::parse(&s, &d, "x");
    }

    #[test]
    fn known_hosts_matcher_never_panics(s in "[|@!*?,\\[\\]:a-zA-Z0-9+/= \\n.-]{0,200}", host in "[a-z0-9.*?-]{0,20}", port in 0u16..) {
        let kh = crate::ssh::known_hosts::KnownHosts::parse(std::path::Path::new("kh"), &s);
        let key = russh::keys::PublicKey::from_openssh(
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPeh9bdiTaGbK+V0DST5qI0HIGKPtnuEyPAxD/DkUvky",
        )
        .unwrap();
        let _ = kh.check(&host, port, &key);
        let _ = crate::ssh::known_hosts::wildcard(&host, &s);
    }
}
