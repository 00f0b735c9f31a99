//! Hosts listed in hosts.toml (`[[hosts]]`), with `[ssh]` defaults applied.

use super::Host;
use crate::config::jump::Chain;
use crate::config::Config;
use crate::ssh::ssh_config::{host_key_alias_refusal, is_none, proxy_command_refusal, Resolved, SshConfigFile};

/// The `[[hosts]]` of a config; `default_user` is used when neither the
/// host nor `[ssh]` names a user. With an ssh_config, each address is looked
/// up as a Host alias: a value in `[[hosts]]` wins, then ssh_config, then `[ssh]`.
/// So the jump chain is `[[hosts]] jump`, else ProxyJump (`none`: connect
/// directly), else `[ssh] jump`; its hops are looked up as aliases too.
pub(crate) fn hosts(
    config: &Config,
    default_user: Option<&str>,
    source: &str,
    ssh_config: Option<&SshConfigFile>,
) -> Result<Vec<Host>, String> {
    config
        .hosts
        .iter()
        .map(|h| {
            let alias = ssh_config.map(|c| c.resolve(h.address.get_ref())).unwrap_or_default();
            let user = h
                .user
                .clone()
                .or_else(|| alias.user.clone())
                .or_else(|| config.ssh.user.clone())
                .or_else(|| default_user.map(str::to_string))
                .ok_or_else(|| format!("host `{}` has no SSH user: set [ssh] user in hosts.toml", h.name.get_ref()))?;
            let name = h.name.get_ref();
            let jump = route(
                &format!("host `{name}`"),
                std::slice::from_ref(&alias),
                h.jump.as_ref().map(|j| j.get_ref().as_str()),
                config.ssh.jump.as_ref().map(|j| j.get_ref().as_str()),
                ssh_config,
            )?;
            Ok(Host {
                name: name.clone(),
                address: alias.host_name.clone().unwrap_or_else(|| h.address.get_ref().clone()),
                port: h.port.or(alias.port).or(config.ssh.port).unwrap_or(22),
                user,
                roles: h.roles.iter().map(|r| r.get_ref().clone()).collect(),
                deploy_to: h.deploy_to.as_ref().unwrap_or(&config.app.deploy_to).get_ref().clone(),
                source: source.to_string(),
                jump,
                health_url: h.health.clone(),
            })
        })
        .collect()
}

/// The jump chain to a host (`what` names it in errors), as written with
/// each hop looked up as an ssh_config alias: `host_jump` (`[[hosts]] jump`)
/// if given, else ProxyJump from the first of `lookups` (what ssh_config
/// says about the host, by address then name) that has one (`none`: connect
/// directly), else `ssh_jump` (`[ssh] jump`). A ProxyCommand (other than
/// `none`) in any lookup is refused unless `host_jump` overrides it: ship
/// does not run ProxyCommand, and never connects around it.
pub(crate) fn route(
    what: &str,
    lookups: &[Resolved],
    host_jump: Option<&str>,
    ssh_jump: Option<&str>,
    ssh_config: Option<&SshConfigFile>,
) -> Result<Option<Chain>, String> {
    if let (Some(alias), Some(c)) = (lookups.iter().find_map(|r| r.host_key_alias.as_deref()), ssh_config) {
        return Err(host_key_alias_refusal(what, alias, c.path()));
    }
    let proxy_jump = lookups.iter().find_map(|r| r.proxy_jump.as_deref());
    let proxy_command = lookups.iter().find_map(|r| r.proxy_command.as_deref().filter(|c| !is_none(c)));
    let (jump, from) = match (host_jump, proxy_jump, proxy_command, ssh_config) {
        (Some(j), _, _, _) => (Some(j.to_string()), "jump".to_string()),
        (None, _, Some(pc), Some(c)) => return Err(proxy_command_refusal(what, pc, c.path())),
        (None, Some(pj), _, _) if is_none(pj) => (None, String::new()),
        (None, Some(pj), _, Some(c)) => (Some(pj.to_string()), format!("ProxyJump in {}", c.path().display())),
        _ => (ssh_jump.map(str::to_string), "[ssh] jump".to_string()),
    };
    match (jump, ssh_config) {
        (Some(j), Some(c)) => c.expand_jump(&j).map(Some).map_err(|m| {
            // Name the ssh_config file once.
            let path = c.path().display().to_string();
            let m = match m.strip_prefix(&format!("{path}: ")) {
                Some(rest) if from.ends_with(&path) => rest.to_string(),
                _ => m,
            };
            format!("{what}: {from}: {m}")
        }),
        (j, _) => j.map(|j| Chain::parse(&j).map_err(|m| format!("{what}: {from}: {m}"))).transpose(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn jumps(toml_ssh: &str, host_jump: &str, ssh_config: &str) -> Vec<Option<String>> {
        try_jumps(toml_ssh, host_jump, ssh_config).unwrap()
    }

    fn try_jumps(toml_ssh: &str, host_jump: &str, ssh_config: &str) -> Result<Vec<Option<String>>, String> {
        let cfg = format!(
            "[app]\nname = \"a\"\ndeploy_to = \"/d\"\n\n[ssh]\nuser = \"u\"\n{toml_ssh}\n\
[[hosts]]\nname = \"h1\"\naddress = \"web1\"\n{host_jump}\n\n[[hosts]]\nname = \"h2\"\naddress = \"web2\"\n"
        );
        let config = Config::parse(Path::new("hosts.toml"), &cfg).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config");
        std::fs::write(&p, ssh_config).unwrap();
        let c = SshConfigFile::load(&p, None).unwrap();
        Ok(hosts(&config, None, "hosts.toml", Some(&c))?.into_iter().map(|h| h.jump.map(|j| j.to_string())).collect())
    }

    #[test]
    fn a_bad_proxy_jump_names_the_host_and_the_file() {
        let e = try_jumps("", "", "Host web2\n  ProxyJump -oProxyCommand=x\n").unwrap_err();
        assert!(e.starts_with("host `h2`: ProxyJump in ") && e.contains("config: jump host `-oProxyCommand=x`"), "{e}");
    }

    #[test]
    fn hosts_jump_beats_proxy_jump_beats_ssh_jump() {
        let ssh_config = "Host web1\n  ProxyJump pj@10.0.0.2\n\nHost bastion\n  HostName 10.0.0.9\n  Port 2222\n";
        // [[hosts]] jump wins over ProxyJump; its hops are aliases too.
        assert_eq!(
            jumps("jump = \"s@10.0.0.1\"", "jump = \"bastion\"", ssh_config),
            [Some("10.0.0.9:2222".into()), Some("s@10.0.0.1".into())]
        );
        // ProxyJump wins over [ssh] jump, which the other host keeps.
        assert_eq!(
            jumps("jump = \"s@10.0.0.1\"", "", ssh_config),
            [Some("pj@10.0.0.2".into()), Some("s@10.0.0.1".into())]
        );
        assert_eq!(jumps("", "", ssh_config), [Some("pj@10.0.0.2".into()), None]);
    }

    #[test]
    fn proxy_jump_none_connects_directly() {
        let ssh_config = "Host web1\n  ProxyJump none\n";
        assert_eq!(jumps("jump = \"s@10.0.0.1\"", "", ssh_config), [None, Some("s@10.0.0.1".into())]);
    }

    #[test]
    fn a_proxy_command_is_refused_unless_hosts_jump_overrides_it() {
        let ssh_config = "Host web1\n  ProxyCommand /bin/false %h %p\n\nHost web2\n  ProxyCommand none\n";
        let e = try_jumps("jump = \"s@10.0.0.1\"", "", ssh_config).unwrap_err();
        assert!(
            e.starts_with("host `h1`: ") && e.contains("config sets `ProxyCommand /bin/false %h %p` for it"),
            "{e}"
        );
        assert!(e.contains("ProxyCommand none"), "{e}");
        assert_eq!(jumps("", "jump = \"10.0.0.7\"", ssh_config), [Some("10.0.0.7".into()), None]);
    }

    #[test]
    fn inventory_hosts_follow_proxy_jump_by_address_then_name() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config");
        std::fs::write(
            &p,
            "Host 10.0.*\n  ProxyJump b1\n\nHost db1\n  ProxyJump b2\n\nHost web9\n  ProxyCommand nc %h %p\n",
        )
        .unwrap();
        let c = SshConfigFile::load(&p, None).unwrap();
        let host = |name: &str, address: &str| super::super::Host {
            name: name.into(),
            address: address.into(),
            port: 22,
            user: "u".into(),
            roles: vec![],
            deploy_to: "/d".into(),
            source: "inventory: x".into(),
            jump: Some(Chain::parse("s@10.9.9.9").unwrap()),
            health_url: None,
        };
        let mut hs = vec![host("web1", "10.0.0.1"), host("db1", "192.168.0.1"), host("x", "192.168.0.2")];
        super::super::follow_ssh_config(&mut hs, &c, Some("s@10.9.9.9")).unwrap();
        let got: Vec<_> = hs.iter().map(|h| h.jump.as_ref().map(Chain::to_string)).collect();
        assert_eq!(got, [Some("b1".into()), Some("b2".into()), Some("s@10.9.9.9".into())]);
        let e = super::super::follow_ssh_config(&mut [host("web9", "192.168.0.9")], &c, None).unwrap_err();
        assert!(e.starts_with("host `web9` (inventory: x): ") && e.contains("`ProxyCommand nc %h %p`"), "{e}");
    }
}
