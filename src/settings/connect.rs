//! How to connect, resolved once: known_hosts files (per host, as OpenSSH
//! reads them), host key policy, limits, credentials, and the ssh_config
//! file that says what it knows about each host.

use crate::config::{resolve_path, Config, HostKeyChecking, SshConfigSetting};
use crate::error::Error;
use crate::inventory::{self, Host};
use crate::ssh::ssh_config::{Resolved, SshConfigFile};
use crate::ssh::CredentialSource;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// SSH settings with every default applied.
#[derive(Debug, Clone)]
pub(crate) struct SshSettings {
    /// known_hosts files, all read; accept-new writes to the first.
    pub known_hosts: Vec<PathBuf>,
    /// Per selected host (address, port), the files that apply to it.
    pub known_hosts_of: Vec<(String, u16, Vec<PathBuf>)>,
    /// Host key policy.
    pub checking: HostKeyChecking,
    /// Connect + handshake + auth limit.
    pub connect_timeout: Duration,
    /// `[ssh] command_timeout`: each of ship's own scripts (default 2m).
    pub command_timeout: Duration,
    /// Keepalive interval and how many may go unanswered: a frozen host is
    /// given up after about their product.
    pub keepalive: (Duration, usize),
    /// Handshakes in progress at once.
    pub max_handshakes: usize,
    /// Where keys come from.
    pub credentials: CredentialSource,
}

/// OpenSSH's GlobalKnownHostsFile when ssh_config names none: keys an
/// organisation distributes. A host with a key there is never new.
pub(super) const GLOBAL_KNOWN_HOSTS: [&str; 2] = ["/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"];

/// The known_hosts files to read, as OpenSSH reads them: `[ssh]
/// known_hosts` when set, else each selected host's UserKnownHostsFile
/// files, all of them (`~/.ssh/known_hosts` and `known_hosts2` for a host
/// that sets none); then the GlobalKnownHostsFile files (ssh_config's, or
/// OpenSSH's defaults). A host with a key in any of them is known;
/// accept-new writes new keys to the first only.
pub(super) fn known_hosts_files(
    explicit: Option<PathBuf>,
    resolved: &[Resolved],
    home: Option<&Path>,
    config: &Path,
) -> Vec<PathBuf> {
    known_hosts_files_for(explicit, resolved, home, config, None)
}

/// [`known_hosts_files`] for one host (`address`, `port`, `user`): the
/// tokens OpenSSH expands in these paths (`%h`, `%p`, `%r`, `%n`, `%d`,
/// `%%`) are expanded, so `known_hosts.d/%h` is the host's own file.
pub(super) fn known_hosts_files_for(
    explicit: Option<PathBuf>,
    resolved: &[Resolved],
    home: Option<&Path>,
    config: &Path,
    host: Option<(&str, u16, &str)>,
) -> Vec<PathBuf> {
    let tokens = |p: &str| match host {
        Some((address, port, user)) => expand_tokens(p, address, port, user, home),
        None => p.to_string(),
    };
    let home_dir = home.unwrap_or(Path::new(""));
    let default = [home_dir.join(".ssh/known_hosts"), home_dir.join(".ssh/known_hosts2")];
    let mut user: Vec<PathBuf> = Vec::new();
    match explicit {
        Some(p) => user.push(p),
        None => {
            for r in resolved {
                if r.known_hosts.is_empty() {
                    user.extend(default.iter().cloned());
                }
                user.extend(r.known_hosts.iter().map(|p| resolve_path(&tokens(&p.to_string_lossy()), config, home)));
            }
            if user.is_empty() {
                user.extend(default.iter().cloned());
            }
        }
    }
    let mut global: Vec<PathBuf> = Vec::new();
    for r in resolved {
        if r.global_known_hosts.is_empty() {
            global.extend(GLOBAL_KNOWN_HOSTS.iter().map(PathBuf::from));
        } else {
            global
                .extend(r.global_known_hosts.iter().map(|p| resolve_path(&tokens(&p.to_string_lossy()), config, home)));
        }
    }
    if resolved.is_empty() {
        global.extend(GLOBAL_KNOWN_HOSTS.iter().map(PathBuf::from));
    }
    let mut out: Vec<PathBuf> = Vec::new();
    for p in user.into_iter().chain(global) {
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// How to connect: known_hosts files, host key policy, limits, and the
/// credentials, with what ssh_config says about the selected hosts (ship
/// keeps these per run rather than per host).
pub(super) fn ssh_settings(
    config: &Config,
    path: &Path,
    hosts: &[Host],
    ssh_config: Option<&SshConfigFile>,
    home: Option<PathBuf>,
) -> SshSettings {
    // What ssh_config says about each selected host.
    let per_host: Vec<Vec<Resolved>> = hosts
        .iter()
        .map(|x| match ssh_config {
            Some(c) => match config.hosts.iter().find(|h| *h.name.get_ref() == x.name) {
                Some(h) => vec![c.resolve(h.address.get_ref())],
                None => inventory::ssh_config_lookups(c, x),
            },
            None => Vec::new(),
        })
        .collect();
    let resolved: Vec<Resolved> = per_host.iter().flatten().cloned().collect();
    let mut extra_identities: Vec<PathBuf> = Vec::new();
    for p in resolved.iter().flat_map(|r| r.identity_files.iter()) {
        if !extra_identities.contains(p) {
            extra_identities.push(p.clone());
        }
    }
    let explicit = config.ssh.known_hosts.as_ref().map(|p| resolve_path(p, path, home.as_deref()));
    let fallback = known_hosts_files(explicit.clone(), &resolved, home.as_deref(), path);
    // Each host is checked against its own files only, as OpenSSH does:
    // one host's UserKnownHostsFile never vouches for another.
    // Jump hosts too: a bastion named in ssh_config is checked against the
    // files its own Host block names, never against its targets'.
    let mut known_hosts_of: Vec<(String, u16, Vec<PathBuf>)> = Vec::new();
    for (x, rs) in hosts.iter().zip(&per_host) {
        let own = if rs.is_empty() { vec![Resolved::default()] } else { rs.clone() };
        let host = Some((x.address.as_str(), x.port, x.user.as_str()));
        known_hosts_of.push((
            x.address.clone(),
            x.port,
            known_hosts_files_for(explicit.clone(), &own, home.as_deref(), path, host),
        ));
        if let Some(c) = ssh_config {
            known_hosts_of.extend(jump_known_hosts(config, c, x, rs, &explicit, home.as_deref(), path));
        }
    }
    let mut known_hosts: Vec<PathBuf> = Vec::new();
    for p in known_hosts_of.iter().flat_map(|(_, _, files)| files).chain(&fallback) {
        if !known_hosts.contains(p) {
            known_hosts.push(p.clone());
        }
    }
    SshSettings {
        known_hosts,
        known_hosts_of,
        checking: config.ssh.host_key_checking.unwrap_or_default(),
        connect_timeout: config.ssh.connect_timeout.unwrap_or(Duration::from_secs(10)),
        command_timeout: config.ssh.command_timeout.unwrap_or(Duration::from_secs(2 * 60)),
        keepalive: (
            config.ssh.keepalive_interval.unwrap_or(Duration::from_secs(15)),
            config.ssh.keepalive_max.unwrap_or(3).max(1),
        ),
        max_handshakes: config.ssh.max_handshakes.unwrap_or(8).max(1),
        credentials: CredentialSource {
            identity_file: config.identity_file(path, home.as_deref()),
            extra_identities,
            passphrase: std::env::var("SHIP_KEY_PASSPHRASE").ok(),
            agent_socket: std::env::var_os("SSH_AUTH_SOCK").map(PathBuf::from).filter(|p| p.exists()),
            home,
            interactive: std::io::stdin().is_terminal(),
        },
    }
}

/// The known_hosts files of each jump host on `x`'s route that ssh_config
/// names (`rs` is what it says about `x`): each hop is checked against the
/// files its own Host block names, never against its target's.
fn jump_known_hosts(
    config: &Config,
    c: &SshConfigFile,
    x: &Host,
    rs: &[Resolved],
    explicit: &Option<PathBuf>,
    home: Option<&Path>,
    path: &Path,
) -> Vec<(String, u16, Vec<PathBuf>)> {
    let mut out = Vec::new();
    let Some(used) = x.jump.as_ref() else { return out };
    let used: Vec<(&str, u16)> = used.hops().iter().map(|h| (h.address.as_str(), h.port.unwrap_or(22))).collect();
    let entry = config
        .hosts
        .iter()
        .find(|h| *h.name.get_ref() == x.name)
        .and_then(|h| h.jump.as_ref())
        .map(|j| j.get_ref().clone());
    let specs = rs
        .iter()
        .filter_map(|r| r.proxy_jump.clone())
        .chain(entry)
        .chain(config.ssh.jump.as_ref().map(|j| j.get_ref().clone()));
    for spec in specs {
        for (address, port, hop) in c.jump_lookups(&spec) {
            if used.iter().any(|(a, p)| *a == address && *p == port) {
                let user = hop.user.clone().unwrap_or_else(|| x.user.clone());
                let files = known_hosts_files_for(
                    explicit.clone(),
                    &[hop],
                    home,
                    path,
                    Some((address.as_str(), port, user.as_str())),
                );
                out.push((address, port, files));
            }
        }
    }
    out
}

/// The ssh_config file hosts.toml points at (`[ssh] config`), or
/// `~/.ssh/config` when there is one; `None` when turned off.
pub(super) fn load_ssh_config(
    config: &Config,
    path: &Path,
    home: Option<&Path>,
) -> Result<Option<SshConfigFile>, Error> {
    let ssh_config_path = match &config.ssh.config {
        Some(SshConfigSetting::Enabled(false)) => None,
        Some(SshConfigSetting::Path(p)) => Some(resolve_path(p, path, home)),
        _ => home.map(|h| h.join(".ssh/config")).filter(|p| p.is_file()),
    };
    ssh_config_path.map(|p| SshConfigFile::load(&p, home)).transpose().map_err(Error::Usage)
}

/// A known_hosts path with OpenSSH's tokens expanded for one host.
fn expand_tokens(p: &str, host: &str, port: u16, user: &str, home: Option<&Path>) -> String {
    let mut out = String::with_capacity(p.len());
    let mut chars = p.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('h' | 'n') => out.push_str(host),
            Some('p') => out.push_str(&port.to_string()),
            Some('r') => out.push_str(user),
            Some('d') => out.push_str(&home.map(|h| h.display().to_string()).unwrap_or_default()),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}
