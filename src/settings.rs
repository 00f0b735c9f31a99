//! One `Settings`, resolved from the command line, hosts.toml and the
//! environment. This is the only module that reads environment variables;
//! everything after it takes `&Settings`.

use crate::cli::{Cli, Format};
use crate::config::{resolve_path, Config, HostKeyChecking};
use crate::error::Error;
use crate::inventory::{self, Host};
use crate::report::OutputSettings;
use crate::ssh::CredentialSource;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// SSH settings with every default applied.
#[derive(Debug, Clone)]
pub struct SshSettings {
    /// known_hosts file.
    pub known_hosts: PathBuf,
    /// Host key policy.
    pub checking: HostKeyChecking,
    /// Connect + handshake + auth limit.
    pub connect_timeout: Duration,
    /// Where keys come from.
    pub credentials: CredentialSource,
}

/// Everything a command needs, checked.
#[derive(Debug)]
pub struct Settings {
    /// The config file read.
    pub config_path: PathBuf,
    /// The parsed config.
    pub config: Config,
    /// Selected hosts, filters applied.
    pub hosts: Vec<Host>,
    /// How to print.
    pub output: OutputSettings,
    /// How to connect.
    pub ssh: SshSettings,
    /// Hosts worked on at once.
    pub concurrency: usize,
    /// `user@machine`, recorded in release.json and the log.
    pub deployer: String,
}

impl Settings {
    /// Output settings only; usable before the config is read (to report its errors).
    pub fn output(cli: &Cli) -> OutputSettings {
        OutputSettings {
            json: cli.global.format == Format::Json,
            quiet: cli.global.quiet,
            verbose: cli.global.verbose,
            bars: std::io::stderr().is_terminal() && !cli.global.no_progress && !cli.global.verbose,
        }
    }

    /// Reads hosts.toml and the environment, applies the filters.
    pub fn resolve(cli: &Cli) -> Result<Settings, Error> {
        let g = &cli.global;
        let config = Config::load(&g.config)?;
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let local_user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .ok()
            .or_else(user_from_uid);
        let source = g
            .config
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let all = inventory::file::hosts(&config, local_user.as_deref(), &source)
            .map_err(|m| Error::Usage(format!("{}: {m}", g.config.display())))?;
        if all.is_empty() {
            return Err(Error::Usage(format!(
                "{}: no hosts: add a [[hosts]] table with name and address",
                g.config.display()
            )));
        }
        let hosts = inventory::select(all, &g.hosts, &g.roles).map_err(Error::Usage)?;
        let known_hosts = match &config.ssh.known_hosts {
            Some(p) => resolve_path(p, &g.config, home.as_deref()),
            None => home.clone().unwrap_or_default().join(".ssh/known_hosts"),
        };
        let ssh = SshSettings {
            known_hosts,
            checking: config.ssh.host_key_checking.unwrap_or_default(),
            connect_timeout: config
                .ssh
                .connect_timeout
                .unwrap_or(Duration::from_secs(10)),
            credentials: CredentialSource {
                identity_file: config.identity_file(&g.config, home.as_deref()),
                passphrase: std::env::var("SHIP_KEY_PASSPHRASE").ok(),
                agent_socket: std::env::var_os("SSH_AUTH_SOCK")
                    .map(PathBuf::from)
                    .filter(|p| p.exists()),
                home,
                interactive: std::io::stdin().is_terminal(),
            },
        };
        let machine = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "unknown".into());
        Ok(Settings {
            config_path: g.config.clone(),
            output: Settings::output(cli),
            hosts,
            ssh,
            concurrency: usize::from(g.concurrency),
            deployer: format!(
                "{}@{machine}",
                local_user.unwrap_or_else(|| "unknown".into())
            ),
            config,
        })
    }

    /// `app.keep_releases`
    pub fn keep_releases(&self) -> usize {
        *self.config.app.keep_releases.get_ref()
    }

    /// `app.linked_files`
    pub fn linked_files(&self) -> Vec<String> {
        self.config
            .app
            .linked_files
            .iter()
            .map(|s| s.get_ref().clone())
            .collect()
    }

    /// `app.linked_dirs`
    pub fn linked_dirs(&self) -> Vec<String> {
        self.config
            .app
            .linked_dirs
            .iter()
            .map(|s| s.get_ref().clone())
            .collect()
    }

    /// The config file's path, for messages.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }
}

/// The login name of this process's uid, from /proc and /etc/passwd (for
/// when USER and LOGNAME are unset, as under cron or in containers).
fn user_from_uid() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 2 && f[2] == uid).then(|| f[0].to_string())
    })
}
