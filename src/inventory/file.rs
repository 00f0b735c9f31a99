//! Hosts listed in hosts.toml (`[[hosts]]`), with `[ssh]` defaults applied.

use super::Host;
use crate::config::Config;
use crate::ssh::ssh_config::SshConfigFile;

/// The `[[hosts]]` of a config; `default_user` is used when neither the
/// host nor `[ssh]` names a user. With an ssh_config, each address is looked
/// up as a Host alias: a value in `[[hosts]]` wins, then ssh_config, then `[ssh]`.
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
            Ok(Host {
                name: h.name.get_ref().clone(),
                address: alias.host_name.clone().unwrap_or_else(|| h.address.get_ref().clone()),
                port: h.port.or(alias.port).or(config.ssh.port).unwrap_or(22),
                user,
                roles: h.roles.iter().map(|r| r.get_ref().clone()).collect(),
                deploy_to: h.deploy_to.as_ref().unwrap_or(&config.app.deploy_to).get_ref().clone(),
                source: source.to_string(),
                jump: h
                    .jump
                    .as_ref()
                    .map(|j| j.get_ref().clone())
                    .or_else(|| config.ssh.jump.as_ref().map(|j| j.get_ref().clone())),
            })
        })
        .collect()
}
