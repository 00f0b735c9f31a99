//! `~/.ssh/config` (or `[ssh] config = PATH`): Host aliases resolved to
//! HostName, User, Port, IdentityFile, ProxyJump, UserKnownHostsFile and
//! GlobalKnownHostsFile. ProxyCommand is read only to refuse it: ship does
//! not run it, and never connects around it.
//! Parsed with ssh2-config in lenient mode; because that crate attaches a
//! `Match` block's options to the previous `Host` (ARCHITECTURE.md SSH pitfall 10),
//! any `Match` line produces a warning naming the file and line.

use crate::config::jump::{self, Hop};
use ssh2_config::{ParseRule, SshConfig};
use std::path::{Path, PathBuf};

/// A parsed ssh_config file.
#[derive(Debug)]
pub(crate) struct SshConfigFile {
    config: SshConfig,
    path: PathBuf,
    /// Warnings to show the user (e.g. `Match` blocks).
    pub warnings: Vec<String>,
}

/// What ssh_config says about one alias.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Resolved {
    /// `HostName`
    pub host_name: Option<String>,
    /// `User`
    pub user: Option<String>,
    /// `Port`
    pub port: Option<u16>,
    /// `IdentityFile` (all of them, in order)
    pub identity_files: Vec<PathBuf>,
    /// `ProxyJump`, comma-joined (`none` included: see [`is_none`])
    pub proxy_jump: Option<String>,
    /// `UserKnownHostsFile`: every file listed, in order (empty: not set).
    pub known_hosts: Vec<PathBuf>,
    /// `GlobalKnownHostsFile`: every file listed (empty: not set).
    pub global_known_hosts: Vec<PathBuf>,
    /// `ProxyCommand`, as written (`none` included: see [`is_none`]).
    pub proxy_command: Option<String>,
    /// `HostKeyAlias`: read only to refuse it (see [`host_key_alias_refusal`]).
    pub host_key_alias: Option<String>,
}

impl SshConfigFile {
    /// Reads and parses `path`; `home` expands `~`.
    pub(crate) fn load(path: &Path, home: Option<&Path>) -> Result<SshConfigFile, String> {
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
        Ok(SshConfigFile { config, path: path.to_path_buf(), warnings })
    }

    /// What the file says about `alias`.
    pub(crate) fn resolve(&self, alias: &str) -> Resolved {
        let p = self.config.query(alias);
        // Options the crate does not implement, with their arguments.
        let field = |name: &str| {
            p.unsupported_fields
                .iter()
                .chain(p.ignored_fields.iter())
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.iter().map(|a| unquote(a)).collect::<Vec<_>>())
        };
        // `none` lists no file.
        let files = |name: &str| {
            field(name)
                .unwrap_or_default()
                .into_iter()
                .filter(|f| !f.is_empty() && !is_none(f))
                .map(PathBuf::from)
                .collect::<Vec<_>>()
        };
        Resolved {
            host_name: p.host_name.clone(),
            user: p.user.clone(),
            port: p.port,
            identity_files: p.identity_file.clone().unwrap_or_default(),
            proxy_jump: p.proxy_jump.as_ref().filter(|j| !j.is_empty()).map(|j| j.join(",")),
            known_hosts: files("userknownhostsfile"),
            global_known_hosts: files("globalknownhostsfile"),
            proxy_command: field("proxycommand").map(|a| a.join(" ")).filter(|c| !c.trim().is_empty()),
            host_key_alias: field("hostkeyalias").map(|a| a.join(" ")).filter(|c| !c.trim().is_empty()),
        }
    }
}

/// Whether a ProxyJump (or ProxyCommand, or file) value is `none`.
pub(crate) fn is_none(proxy_jump: &str) -> bool {
    proxy_jump.trim().eq_ignore_ascii_case("none")
}

/// An argument without the double quotes around it.
fn unquote(arg: &str) -> String {
    match arg.strip_prefix('"').and_then(|a| a.strip_suffix('"')) {
        Some(inner) => inner.to_string(),
        None => arg.to_string(),
    }
}

/// The refusal of a host whose key ssh_config says to look up under an
/// alias: ship checks keys under the host's address, and under
/// `accept-new` would take the alias's host for a new one (and trust an
/// impostor). Until aliases are honoured, such a host is refused.
pub(crate) fn host_key_alias_refusal(what: &str, alias: &str, file: &Path) -> String {
    format!(
        "{what}: {} sets `HostKeyAlias {alias}` for it, and ship does not look host keys up under an alias yet: \
add the host's key to known_hosts under its address (ssh-keyscan), and remove HostKeyAlias for it or point \
[ssh] config elsewhere",
        file.display()
    )
}

/// The refusal of a connection ssh_config routes through a ProxyCommand
/// (other than `none`): ship does not run ProxyCommand, and going straight
/// to the host would bypass what the operator set up.
pub(crate) fn proxy_command_refusal(what: &str, command: &str, file: &Path) -> String {
    format!(
        "{what}: {} sets `ProxyCommand {command}` for it, and ship does not run ProxyCommand (nor connect around it): \
reach it through a bastion with ProxyJump there or `jump` in [[hosts]], or give it `ProxyCommand none` to connect directly",
        file.display()
    )
}

/// Nested ProxyJumps followed before ship calls it a loop.
const MAX_NESTED_JUMPS: usize = 8;

impl SshConfigFile {
    /// The file this came from.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// `spec` (a jump chain) with each hop looked up as a Host alias, as
    /// OpenSSH does: its HostName, User and Port apply (a user or port in
    /// the spec wins), and the hop's own ProxyJump goes ahead of it.
    /// Written back as a spec, so it shows the chain in use.
    pub(crate) fn expand_jump(&self, spec: &str) -> Result<jump::Chain, String> {
        let mut hops = Vec::new();
        self.expand_into(spec, 0, &mut hops)?;
        Ok(jump::Chain::from_hops(hops))
    }

    /// Every hop `spec` reaches (nested ProxyJumps included), with the
    /// address and port ship connects to and what the file says about the
    /// hop's alias: its own known_hosts files apply to it.
    pub(crate) fn jump_lookups(&self, spec: &str) -> Vec<(String, u16, Resolved)> {
        let mut out = Vec::new();
        self.lookups_into(spec, 0, &mut out);
        out
    }

    fn lookups_into(&self, spec: &str, depth: usize, out: &mut Vec<(String, u16, Resolved)>) {
        for hop in jump::parse(spec).unwrap_or_default() {
            let alias = self.resolve(&hop.address);
            if let Some(pj) = alias.proxy_jump.as_deref().filter(|j| !is_none(j) && depth < MAX_NESTED_JUMPS) {
                self.lookups_into(pj, depth + 1, out);
            }
            let address = alias.host_name.clone().unwrap_or(hop.address);
            let port = hop.port.or(alias.port).unwrap_or(22);
            out.push((address, port, alias));
        }
    }

    fn expand_into(&self, spec: &str, depth: usize, out: &mut Vec<Hop>) -> Result<(), String> {
        for hop in jump::parse(spec)? {
            let alias = self.resolve(&hop.address);
            if let Some(pc) = alias.proxy_command.as_deref().filter(|c| !is_none(c)) {
                return Err(proxy_command_refusal(&format!("jump host `{}`", hop.address), pc, &self.path));
            }
            if let Some(pj) = alias.proxy_jump.as_deref().filter(|j| !is_none(j)) {
                let path = self.path.display();
                if depth == MAX_NESTED_JUMPS {
                    return Err(format!(
                        "{path}: ProxyJump of `{}` nests more than {MAX_NESTED_JUMPS} jump hosts: is there a loop? \
A `Host *` ProxyJump applies to the bastion too: give the bastion `ProxyJump none`",
                        hop.address
                    ));
                }
                jump::parse(pj).map_err(|m| format!("{path}: ProxyJump of `{}`: {m}", hop.address))?;
                self.expand_into(pj, depth + 1, out)?;
            }
            out.push(Hop {
                user: hop.user.or(alias.user),
                address: alias.host_name.unwrap_or(hop.address),
                port: hop.port.or(alias.port),
            });
        }
        Ok(())
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
        assert_eq!(r.known_hosts, [PathBuf::from("~/.ssh/kh_web")]);
        assert_eq!(f.resolve("db").host_name, None);
        assert_eq!(f.warnings.len(), 1);
        assert!(f.warnings[0].contains(":11: `Match` block ignored"), "{:?}", f.warnings);
        assert_eq!(f.resolve("web-1").user.as_deref(), Some("deploy"), "the Match block's User is not applied");
    }

    fn config(text: &str) -> (tempfile::TempDir, SshConfigFile) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config");
        std::fs::write(&p, text).unwrap();
        let f = SshConfigFile::load(&p, None).unwrap();
        (dir, f)
    }

    #[test]
    fn jump_hops_are_resolved_as_aliases_and_nested_proxy_jumps_go_first() {
        let (_d, f) = config(
            "Host outer\n  HostName 10.0.0.1\n  User ops\n  Port 2201\n  ProxyJump none\n\n\
Host inner\n  HostName 10.0.0.2\n  ProxyJump outer\n\nHost web\n  ProxyJump inner,jo@10.0.0.3\n",
        );
        assert_eq!(f.expand_jump("inner").unwrap().to_string(), "ops@10.0.0.1:2201,10.0.0.2");
        assert_eq!(f.expand_jump("x@outer:22").unwrap().to_string(), "x@10.0.0.1:22", "the spec's user and port win");
        assert_eq!(f.expand_jump("plain:2222").unwrap().to_string(), "plain:2222");
        let web = f.resolve("web").proxy_jump.unwrap();
        assert_eq!(f.expand_jump(&web).unwrap().to_string(), "ops@10.0.0.1:2201,10.0.0.2,jo@10.0.0.3");
        assert!(is_none(&f.resolve("outer").proxy_jump.unwrap()));
    }

    #[test]
    fn a_proxy_jump_loop_or_a_bad_hop_is_an_error() {
        let (_d, f) = config("Host *\n  ProxyJump bastion\n\nHost bastion\n  HostName 10.0.0.9\n");
        let e = f.expand_jump("bastion").unwrap_err();
        assert!(e.contains("loop") && e.contains("ProxyJump none"), "{e}");
        let (_d, f) = config("Host web\n  ProxyJump -oProxyCommand=x\n\nHost front\n  ProxyJump web\n");
        assert!(f.expand_jump(&f.resolve("web").proxy_jump.unwrap()).is_err());
        let e = f.expand_jump("front").unwrap_err();
        assert!(e.contains("config: ProxyJump of `web`: jump host `-oProxyCommand=x`"), "{e}");
    }

    #[test]
    fn every_known_hosts_file_and_proxy_command_are_read() {
        let (_d, f) = config(
            "Host web1\n  UserKnownHostsFile /a/kh1 \"/b/kh 2\"\n  GlobalKnownHostsFile /etc/kh_g\n  \
ProxyCommand ssh -W %h:%p gw\n\nHost web2\n  ProxyCommand none\n  UserKnownHostsFile none\n\n\
Host front\n  ProxyJump web1\n",
        );
        let r = f.resolve("web1");
        assert_eq!(r.known_hosts, [PathBuf::from("/a/kh1"), PathBuf::from("/b/kh 2")]);
        assert_eq!(r.global_known_hosts, [PathBuf::from("/etc/kh_g")]);
        assert_eq!(r.proxy_command.as_deref(), Some("ssh -W %h:%p gw"));
        let r = f.resolve("web2");
        assert!(r.known_hosts.is_empty() && r.global_known_hosts.is_empty());
        assert!(is_none(&r.proxy_command.unwrap()));
        assert_eq!(f.resolve("db"), Resolved::default());
        let e = f.expand_jump("front").unwrap_err();
        assert!(e.starts_with("jump host `web1`: ") && e.contains("`ProxyCommand ssh -W %h:%p gw`"), "{e}");
        assert_eq!(f.expand_jump("web2").unwrap().to_string(), "web2", "ProxyCommand none: a hop reached directly");
    }
}
