//! The resolved host list: where each host comes from, and the `--hosts` /
//! `--roles` filters applied after every source is merged.

pub(crate) mod command;
pub(crate) mod ec2;
pub(crate) mod file;

use crate::config::jump::{Chain, Hop};
use crate::remote::Layout;
use crate::ssh::Target;

/// One host ship will act on, with every default applied.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Host {
    /// Unique short name.
    pub name: String,
    /// Address to connect to.
    pub address: String,
    /// SSH port.
    pub port: u16,
    /// Login user.
    pub user: String,
    /// Roles for `--roles`.
    pub roles: Vec<String>,
    /// Absolute deploy directory on this host.
    pub deploy_to: String,
    /// Where the host came from (e.g. `hosts.toml`).
    pub source: String,
    /// Jump hosts (shown as `[user@]host[:port]`, comma-separated).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jump: Option<Chain>,
    /// `[[hosts]] health_url`: this host's health URL, over `[health] url`.
    #[serde(skip)]
    pub health_url: Option<crate::config::HealthUrl>,
}

impl Host {
    /// The SSH connection target.
    pub(crate) fn target(&self) -> Target {
        let hops = self.jump.as_ref().map(Chain::hops).unwrap_or_default();
        let jumps = hops
            .iter()
            .map(|h| Target {
                address: h.address.clone(),
                port: h.port.unwrap_or(22),
                user: h.user.clone().unwrap_or_else(|| self.user.clone()),
                jumps: Vec::new(),
            })
            .collect();
        Target { address: self.address.clone(), port: self.port, user: self.user.clone(), jumps }
    }

    /// The on-host layout under deploy_to.
    pub(crate) fn layout(&self) -> Layout {
        Layout::new(&self.deploy_to)
    }
}

/// Writes every host's jump chain out in full, as it will be used: each hop
/// `user@address:port`, the host's own user and port 22 where the spec left
/// them out (so `ship hosts` shows the chain in use).
pub(crate) fn complete_jumps(hosts: &mut [Host]) {
    for h in hosts {
        let Some(chain) = &h.jump else { continue };
        let full: Vec<Hop> = chain
            .hops()
            .iter()
            .map(|hop| Hop {
                user: hop.user.clone().or_else(|| Some(h.user.clone())),
                port: hop.port.or(Some(22)),
                address: hop.address.clone(),
            })
            .collect();
        h.jump = Some(Chain::from_hops(full));
    }
}

/// What ssh_config says about a host: looked up by its address, then by
/// its name (an inventory's or EC2's name for it) when that differs.
pub(crate) fn ssh_config_lookups(
    c: &crate::ssh::ssh_config::SshConfigFile,
    h: &Host,
) -> Vec<crate::ssh::ssh_config::Resolved> {
    let mut out = vec![c.resolve(&h.address)];
    if h.name != h.address {
        out.push(c.resolve(&h.name));
    }
    out
}

/// Routes hosts from an `[[inventory]]` as ssh_config says, like
/// `[[hosts]]` (see [`file::route`]): they have no jump of their own, so
/// ProxyJump (by address, then name) wins over `ssh_jump` (`[ssh] jump`),
/// and a ProxyCommand is refused.
pub(crate) fn follow_ssh_config(
    hosts: &mut [Host],
    c: &crate::ssh::ssh_config::SshConfigFile,
    ssh_jump: Option<&str>,
) -> Result<(), String> {
    for h in hosts {
        let what = format!("host `{}` ({})", h.name, h.source);
        h.jump = file::route(&what, &ssh_config_lookups(c, h), None, ssh_jump, Some(c))?;
    }
    Ok(())
}

/// Merges host lists, first ones first, dropping later hosts with an
/// address:port already seen; a name used twice for different hosts is an error.
pub(crate) fn merge(lists: Vec<Vec<Host>>) -> Result<Vec<Host>, String> {
    let mut out: Vec<Host> = Vec::new();
    for h in lists.into_iter().flatten() {
        if out.iter().any(|o| o.address == h.address && o.port == h.port) {
            continue;
        }
        if let Some(o) = out.iter().find(|o| o.name == h.name) {
            return Err(format!(
                "host name `{}` comes from both {} ({}:{}) and {} ({}:{}); names must be unique",
                h.name, o.source, o.address, o.port, h.source, h.address, h.port
            ));
        }
        out.push(h);
    }
    Ok(out)
}

/// Keeps the hosts named in `names` (names or globs such as `web*`, if any)
/// that have one of `roles` (if any). A name or role that selects nothing is
/// an error naming it.
pub(crate) fn select(hosts: Vec<Host>, names: &[String], roles: &[String]) -> Result<Vec<Host>, String> {
    let named = |h: &Host, n: &String| crate::ssh::known_hosts::wildcard(n, &h.name);
    for n in names {
        if !hosts.iter().any(|h| named(h, n)) {
            let known: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
            return Err(format!("--hosts: no host named `{n}` (known: {})", known.join(", ")));
        }
    }
    for r in roles {
        if !hosts.iter().any(|h| h.roles.contains(r)) {
            return Err(format!("--roles: no host has the role `{r}`"));
        }
    }
    let picked: Vec<Host> = hosts
        .into_iter()
        .filter(|h| names.is_empty() || names.iter().any(|n| named(h, n)))
        .filter(|h| roles.is_empty() || h.roles.iter().any(|r| roles.contains(r)))
        .collect();
    if picked.is_empty() {
        return Err("the --hosts and --roles filters together select no host".into());
    }
    Ok(picked)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str, roles: &[&str]) -> Host {
        Host {
            name: name.into(),
            address: "127.0.0.1".into(),
            port: 22,
            user: "u".into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            deploy_to: "/d".into(),
            source: "hosts.toml".into(),
            jump: None,
            health_url: None,
        }
    }

    #[test]
    fn jump_chains_are_written_out_in_full() {
        let mut hs = vec![host("a", &[]), host("b", &[])];
        hs[0].jump = Some(Chain::parse("bastion,ops@[::1]:2200").unwrap());
        complete_jumps(&mut hs);
        assert_eq!(hs[0].jump.as_ref().map(Chain::to_string).as_deref(), Some("u@bastion:22,ops@[::1]:2200"));
        assert_eq!(hs[1].jump, None);
    }

    #[test]
    fn filters_by_name_and_role() {
        let all = vec![host("a", &["web"]), host("b", &["db"]), host("c", &["web"])];
        let names = |v: Vec<Host>| v.into_iter().map(|h| h.name).collect::<Vec<_>>();
        assert_eq!(names(select(all.clone(), &[], &["web".into()]).unwrap()), ["a", "c"]);
        assert_eq!(names(select(all.clone(), &["b".into()], &[]).unwrap()), ["b"]);
        assert_eq!(names(select(all.clone(), &["c*".into()], &[]).unwrap()), ["c"]);
        assert!(select(all.clone(), &["x*".into()], &[]).unwrap_err().contains("`x*`"));
        assert_eq!(names(select(all.clone(), &["?".into()], &["web".into()]).unwrap()), ["a", "c"]);
        assert!(select(all.clone(), &["zz".into()], &[]).unwrap_err().contains("`zz`"));
        assert!(select(all, &["b".into()], &["web".into()]).unwrap_err().contains("select no host"));
    }
}
