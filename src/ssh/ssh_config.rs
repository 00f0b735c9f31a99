//! `~/.ssh/config` (or `[ssh] config = PATH`): Host aliases resolved to
//! HostName, User, Port, IdentityFile, ProxyJump and UserKnownHostsFile.
//! Parsed with ssh2-config in lenient mode; because that crate attaches a
//! `Match` block's options to the previous `Host` (RUSSH.md pitfall 10),
//! any `Match` line produces a warning naming the file and line.

use ssh2_config::{ParseRule, SshConfig};
use std::path::{Path, PathBuf};

/// A parsed ssh_config file.
#[derive(Debug)]
pub struct SshConfigFile {
    config: SshConfig,
    /// Warnings to show the user (e.g. `Match` blocks).
    pub warnings: Vec<String>,
}

/// What ssh_config says about one alias.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolved {
    /// `HostName`
    pub host_name: Option<String>,
    /// `User`
    pub user: Option<String>,
    /// `Port`
    pub port: Option<u16>,
    /// `IdentityFile` (all of them, in order)
    pub identity_files: Vec<PathBuf>,
    /// `ProxyJump`, comma-joined
    pub proxy_jump: Option<String>,
    /// `UserKnownHostsFile` (the first)
    pub known_hosts: Option<PathBuf>,
}

impl SshConfigFile {
    /// Reads and parses `path`; `home` expands `~`.
    pub fn load(path: &Path, home: Option<&Path>) -> Result<SshConfigFile, String> {
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("cannot read ssh config {}: {e}", path.display()))?;
        let (text, match_lines) = without_match_blocks(&text);
        let mut config = SshConfig::default();
        if let Some(h) = home {
            config = config.home_dir(h);
        }
        let config = config
            .parse(&mut text.as_bytes(), ParseRule::ALLOW_UNKNOWN_FIELDS | ParseRule::ALLOW_UNSUPPORTED_FIELDS)
            .map_err(|e| {
                format!("cannot parse ssh config {}: {e}; fix it, or set [ssh] config = false", path.display())
            })?;
        let warnings = match_lines
            .into_iter()
            .map(|line| {
                format!(
                    "{}:{line}: `Match` block ignored: ship does not evaluate Match, so none of its options are applied. \
Use Host blocks for hosts ship deploys to",
                    path.display()
                )
            })
            .collect();
        Ok(SshConfigFile { config, warnings })
    }

    /// What the file says about `alias`.
    pub fn resolve(&self, alias: &str) -> Resolved {
        let p = self.config.query(alias);
        let known_hosts = p
            .unsupported_fields
            .iter()
            .chain(p.ignored_fields.iter())
            .find(|(k, _)| k.eq_ignore_ascii_case("userknownhostsfile"))
            .and_then(|(_, v)| v.first())
            .map(PathBuf::from);
        Resolved {
            host_name: p.host_name.clone(),
            user: p.user.clone(),
            port: p.port,
            identity_files: p.identity_file.clone().unwrap_or_default(),
            proxy_jump: p.proxy_jump.as_ref().filter(|j| !j.is_empty()).map(|j| j.join(",")),
            known_hosts,
        }
    }
}

/// The text with every `Match` block (up to the next `Host` line) blanked
/// out, and the 1-based lines where those blocks started. Blanking keeps the
/// other lines where they were.
fn without_match_blocks(text: &str) -> (String, Vec<usize>) {
    let mut out = String::with_capacity(text.len());
    let mut starts = Vec::new();
    let mut in_match = false;
    for (i, line) in text.lines().enumerate() {
        let word = line.split_whitespace().next().unwrap_or("").to_ascii_lowercase();
        if word == "match" {
            in_match = true;
            starts.push(i + 1);
        } else if word == "host" {
            in_match = false;
        }
        if !in_match {
            out.push_str(line);
        }
        out.push('\n');
    }
    (out, starts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_aliases_and_warns_on_match() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config");
        std::fs::write(
            &p,
            "Host web-*\n  User deploy\n  Port 2222\n\nHost web-1\n  HostName 10.1.2.3\n  IdentityFile ~/.ssh/web\n  \
ProxyJump ops@bastion:22\n  UserKnownHostsFile ~/.ssh/kh_web\n\nMatch host foo\n  User nobody\n",
        )
        .unwrap();
        let f = SshConfigFile::load(&p, Some(Path::new("/home/u"))).unwrap();
        let r = f.resolve("web-1");
        assert_eq!(r.host_name.as_deref(), Some("10.1.2.3"));
        assert_eq!(r.user.as_deref(), Some("deploy"));
        assert_eq!(r.port, Some(2222));
        assert_eq!(r.identity_files, [PathBuf::from("/home/u/.ssh/web")]);
        assert_eq!(r.proxy_jump.as_deref(), Some("ops@bastion:22"));
        assert!(r.known_hosts.is_some());
        assert_eq!(f.resolve("db").host_name, None);
        assert_eq!(f.warnings.len(), 1);
        assert!(f.warnings[0].contains(":11: `Match` block ignored"), "{:?}", f.warnings);
        assert_eq!(f.resolve("web-1").user.as_deref(), Some("deploy"), "the Match block's User is not applied");
    }
}
