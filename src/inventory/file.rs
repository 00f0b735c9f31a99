//! Hosts listed in hosts.toml (`[[hosts]]`), with `[ssh]` defaults applied.

use super::Host;
use crate::config::Config;
use crate::ssh::ssh_config::{is_none, SshConfigFile};

/// The `[[hosts]]` of a config; `default_user` is used when neither the
/// host nor `[ssh]` names a user. With an ssh_config, each address is looked
/// up as a Host alias: a value in `[[hosts]]` wins, then ssh_config, then `[ssh]`.
/// So the jump chain is `[[hosts]] jump`, else ProxyJump (`none`: connect
/// directly), else `[ssh] jump`; its hops are looked up as aliases too.
pub fn hosts(
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
            let (jump, from) = match (&h.jump, alias.proxy_jump.as_deref(), ssh_config) {
                (Some(j), _, _) => (Some(j.get_ref().clone()), "jump".to_string()),
                (None, Some(pj), _) if is_none(pj) => (None, String::new()),
                (None, Some(pj), Some(c)) => (Some(pj.to_string()), format!("ProxyJump in {}", c.path().display())),
                _ => (config.ssh.jump.as_ref().map(|j| j.get_ref().clone()), "[ssh] jump".to_string()),
            };
            let jump = match (jump, ssh_config) {
                (Some(j), Some(c)) => Some(c.expand_jump(&j).map_err(|m| {
                    // Name the ssh_config file once.
                    let path = c.path().display().to_string();
                    let m = match m.strip_prefix(&format!("{path}: ")) {
                        Some(rest) if from.ends_with(&path) => rest.to_string(),
                        _ => m,
                    };
                    format!("host `{name}`: {from}: {m}")
                })?),
                (j, _) => j,
            };
            Ok(Host {
                name: name.clone(),
                address: alias.host_name.clone().unwrap_or_else(|| h.address.get_ref().clone()),
                port: h.port.or(alias.port).or(config.ssh.port).unwrap_or(22),
                user,
                roles: h.roles.iter().map(|r| r.get_ref().clone()).collect(),
                deploy_to: h.deploy_to.as_ref().unwrap_or(&config.app.deploy_to).get_ref().clone(),
                source: source.to_string(),
                jump,
            })
        })
        .collect()
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
        Ok(hosts(&config, None, "hosts.toml", Some(&c))?.into_iter().map(|h| h.jump).collect())
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
}
