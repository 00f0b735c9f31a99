//! The hosts.toml schema, parsed with serde and checked before anything
//! connects. Errors name the file, the line and the key, and say what to do.
//!
//! Key names here are ship's public interface: `hosts.toml.example` at the
//! repository root documents each of them.

pub(crate) mod duration;
pub(crate) mod jump;
pub(crate) mod pull;
mod values;

pub(crate) use values::{is_address, HttpUrl};

use crate::error::ConfigError;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

/// hosts.toml as written, before defaults are applied.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    /// What is deployed and where it lives on each host.
    pub app: App,
    /// How to reach the hosts.
    #[serde(default)]
    pub ssh: Ssh,
    /// How hosts are released: all at once or in waves.
    #[serde(default)]
    pub strategy: Strategy,
    /// How ship decides that a restarted host is healthy.
    #[serde(default)]
    pub health: Health,
    /// Commands run at fixed points of a deploy.
    #[serde(default)]
    pub hooks: Hooks,
    /// Where deploys and rollbacks are announced.
    #[serde(default)]
    pub notify: Notify,
    /// Where hosts download the archive themselves (pull mode).
    #[serde(default)]
    pub artifact: ArtifactSource,
    /// The static host list.
    #[serde(default)]
    pub hosts: Vec<HostEntry>,
    /// Dynamic host sources, merged with `hosts`.
    #[serde(default)]
    pub inventory: Vec<Inventory>,
    /// `[env.<name>]` tables, merged over the rest by `-e/--env NAME`.
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, toml::Table>,
    /// The selected environment asks before changing anything.
    #[serde(skip)]
    pub confirm: bool,
    /// The selected environment, if any.
    #[serde(skip)]
    pub env_name: Option<String>,
}

/// Keys an `[env.<name>]` table may set.
const ENV_KEYS: [&str; 10] =
    ["app", "ssh", "strategy", "health", "hooks", "notify", "artifact", "hosts", "inventory", "confirm"];

/// Tables merge key by key; anything else (values, arrays such as
/// `[[hosts]]`) replaces what the base file had.
fn deep_merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => deep_merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// `[strategy]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Strategy {
    /// parallel | rolling
    pub kind: Option<StrategyKind>,
    /// Hosts per wave: `3` or `"25%"`.
    pub batch: Option<Spanned<Batch>>,
    /// First wave of this many hosts, which must pass before the rest.
    pub canary: Option<usize>,
    /// Wait between waves.
    #[serde(default, with = "crate::config::duration::serde_opt")]
    pub pause: Option<Duration>,
    /// revert-all | revert-wave | stop
    pub on_failure: Option<OnFailure>,
}

/// How hosts are released.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum StrategyKind {
    /// Every host in one wave.
    #[default]
    Parallel,
    /// Waves of `batch` hosts, optionally after a canary wave.
    Rolling,
}

impl StrategyKind {
    /// As written in hosts.toml.
    pub(crate) fn name(self) -> &'static str {
        match self {
            StrategyKind::Parallel => "parallel",
            StrategyKind::Rolling => "rolling",
        }
    }
}

/// What a failed wave does to the fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum OnFailure {
    /// Revert the failed wave and every earlier one: the fleet ends on one release.
    #[default]
    RevertAll,
    /// Revert only the failed wave; earlier waves keep the new release.
    RevertWave,
    /// Revert nothing; stop and say so.
    Stop,
}

impl OnFailure {
    /// As written in hosts.toml.
    pub(crate) fn name(self) -> &'static str {
        match self {
            OnFailure::RevertAll => "revert-all",
            OnFailure::RevertWave => "revert-wave",
            OnFailure::Stop => "stop",
        }
    }
}

/// Hosts per wave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Batch {
    /// A fixed number of hosts.
    Count(usize),
    /// A percentage of the selected hosts (rounded up, at least 1).
    Percent(u32),
}

impl Batch {
    /// Parses `3` or `25%`.
    pub(crate) fn parse(s: &str) -> Result<Batch, String> {
        let bad = || format!("batch `{s}` must be a number of hosts (e.g. 2) or a percentage (e.g. \"25%\")");
        if let Some(p) = s.strip_suffix('%') {
            let p: u32 = p.trim().parse().map_err(|_| bad())?;
            if p == 0 || p > 100 {
                return Err(format!("batch `{s}` must be between 1% and 100%"));
            }
            return Ok(Batch::Percent(p));
        }
        match s.trim().parse::<usize>() {
            Ok(0) => Err("batch must be at least 1 host".into()),
            Ok(n) => Ok(Batch::Count(n)),
            Err(_) => Err(bad()),
        }
    }
}

impl<'de> Deserialize<'de> for Batch {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Batch, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(i64),
            S(String),
        }
        let text = match Raw::deserialize(d)? {
            Raw::N(n) => n.to_string(),
            Raw::S(s) => s,
        };
        Batch::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// `[health]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Health {
    /// Shell command run on the host, in the release dir, after restart.
    pub command: Option<String>,
    /// `http://host:port/path` fetched by ship through the SSH connection.
    pub url: Option<Spanned<String>>,
    /// Give up after this long (default 30s).
    #[serde(default, with = "crate::config::duration::serde_opt")]
    pub timeout: Option<Duration>,
    /// Wait between tries (default 1s).
    #[serde(default, with = "crate::config::duration::serde_opt")]
    pub interval: Option<Duration>,
}

/// `[artifact]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ArtifactSource {
    /// Hosts download the archive from this http(s) URL instead of receiving
    /// it from ship; `{release}` and `{sha256}` are filled per deploy.
    pub url: Option<Spanned<String>>,
    /// gzip effort when ship packages a build (default `fast`).
    pub compression: Option<Compression>,
}

/// How hard ship compresses the archive it makes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Compression {
    /// Stored, not compressed (gzip level 0): for fast links or builds of
    /// already-compressed files.
    None,
    /// gzip level 1: most of level 6's size at a fraction of its time.
    #[default]
    Fast,
    /// gzip level 6.
    Default,
    /// gzip level 9: for slow links.
    Best,
}

impl Compression {
    /// The gzip level.
    pub(crate) fn level(self) -> u32 {
        match self {
            Compression::None => 0,
            Compression::Fast => 1,
            Compression::Default => 6,
            Compression::Best => 9,
        }
    }
}

/// `[notify]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Notify {
    /// POSTed ship's JSON body (README "Notifications").
    pub webhook: Option<String>,
    /// A Slack incoming-webhook URL.
    pub slack_webhook: Option<String>,
    /// Limit per notification (default 5s).
    #[serde(default, with = "crate::config::duration::serde_opt")]
    pub timeout: Option<Duration>,
}

/// `[hooks]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Hooks {
    /// On each host, in the new release dir, after staging and before any switch.
    #[serde(default)]
    pub before_switch: Vec<String>,
    /// On exactly one host, after staging, before the first switch.
    #[serde(default)]
    pub run_once: Vec<String>,
    /// On each host after a healthy switch.
    #[serde(default)]
    pub after_switch: Vec<String>,
    /// On the machine running ship, before anything connects.
    #[serde(default)]
    pub local_before: Vec<String>,
    /// On the machine running ship, after a successful deploy.
    #[serde(default)]
    pub local_after: Vec<String>,
    /// Names of variables of ship's own environment handed to every hook,
    /// restart and health command; their values are never printed.
    #[serde(default)]
    pub secret_env: Vec<String>,
    /// Limit for each `before_switch` and `after_switch` hook (default 10m).
    #[serde(default, with = "crate::config::duration::serde_opt")]
    pub timeout: Option<Duration>,
    /// Limit for each `run_once` hook (default 30m): migrations can be long.
    #[serde(default, with = "crate::config::duration::serde_opt")]
    pub run_once_timeout: Option<Duration>,
}

/// `[app]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct App {
    /// Application name, used in logs and the summary.
    pub name: Spanned<String>,
    /// Absolute directory on every host holding releases/, current, shared/.
    pub deploy_to: Spanned<String>,
    /// How many releases to keep on each host (the current one always stays).
    #[serde(default = "default_keep")]
    pub keep_releases: Spanned<usize>,
    /// Shell command run in the new release directory after the switch.
    #[serde(default)]
    pub restart: Option<String>,
    /// Limit for the restart command (default 5m); past it the restart and
    /// everything it started are stopped and the wave fails.
    #[serde(default, with = "crate::config::duration::serde_opt")]
    pub restart_timeout: Option<Duration>,
    /// Directories under shared/ symlinked into every release.
    #[serde(default)]
    pub linked_dirs: Vec<Spanned<String>>,
    /// Files under shared/ symlinked into every release; they must exist.
    #[serde(default)]
    pub linked_files: Vec<Spanned<String>>,
}

fn default_keep() -> Spanned<usize> {
    Spanned::new(0..0, 5)
}

/// `[ssh]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Ssh {
    /// Login user; defaults to the local user.
    pub user: Option<String>,
    /// Port; defaults to 22.
    pub port: Option<u16>,
    /// Private key file; when absent, ssh-agent or the default keys are used.
    pub identity_file: Option<Spanned<String>>,
    /// known_hosts file; defaults to ~/.ssh/known_hosts.
    pub known_hosts: Option<String>,
    /// strict | accept-new | off
    pub host_key_checking: Option<HostKeyChecking>,
    /// Limit for TCP connect + handshake + authentication.
    #[serde(default, with = "crate::config::duration::serde_opt")]
    pub connect_timeout: Option<Duration>,
    /// Limit for each of ship's own scripts on a host (state, lock, log,
    /// prune, cleanup): a read that never returns cannot hang a run.
    #[serde(default, with = "crate::config::duration::serde_opt")]
    pub command_timeout: Option<Duration>,
    /// Silence after which ship sends a keepalive (like ServerAliveInterval).
    #[serde(default, with = "crate::config::duration::serde_opt")]
    pub keepalive_interval: Option<Duration>,
    /// Unanswered keepalives before a host is given up (like ServerAliveCountMax).
    pub keepalive_max: Option<usize>,
    /// SSH handshakes in progress at once, whatever the concurrency: below
    /// sshd's MaxStartups (10 by default), which drops connections beyond
    /// it while they are unauthenticated, e.g. many hosts through one bastion.
    pub max_handshakes: Option<usize>,
    /// Jump host(s) for every host: `[user@]host[:port]`, comma-separated.
    pub jump: Option<Spanned<String>>,
    /// ssh_config to read (default ~/.ssh/config), or `false` to ignore it.
    pub config: Option<SshConfigSetting>,
}

/// `[ssh] config = "PATH"` or `config = false`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub(crate) enum SshConfigSetting {
    /// `false` ignores ssh_config; `true` reads the default one.
    Enabled(bool),
    /// A file to read.
    Path(String),
}

/// What to do with a host key that known_hosts does not vouch for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum HostKeyChecking {
    /// Refuse unknown and changed keys.
    #[default]
    Strict,
    /// Record unknown hosts (hashed); refuse changed keys.
    AcceptNew,
    /// Trust any key (prints a loud warning).
    Off,
}

/// One `[[inventory]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Inventory {
    /// An executable printing Ansible inventory JSON (run under /bin/sh).
    pub command: Option<String>,
    /// Limit for the command (default 30s).
    #[serde(default, with = "crate::config::duration::serde_opt")]
    pub timeout: Option<Duration>,
    /// AWS EC2 instances.
    pub ec2: Option<Ec2Source>,
}

/// `ec2 = { … }` in an `[[inventory]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Ec2Source {
    /// AWS region (default: the SDK's, e.g. AWS_REGION).
    pub region: Option<String>,
    /// DescribeInstances filters, e.g. `{ "tag:app" = "demo" }`.
    #[serde(default)]
    pub filters: std::collections::BTreeMap<String, FilterValue>,
    /// private-ip (default) | public-ip | private-dns | public-dns | tag:NAME
    pub address: Option<String>,
    /// Tag holding the host name (default Name; else the instance id).
    pub name_tag: Option<String>,
    /// Tag holding comma-separated roles.
    pub roles_tag: Option<String>,
    /// Tag holding a per-instance deploy_to.
    pub deploy_to_tag: Option<String>,
    /// Endpoint (default: the SDK's, e.g. AWS_ENDPOINT_URL).
    pub endpoint_url: Option<String>,
    /// Results per DescribeInstances page (5 to 1000, default 1000).
    pub page_size: Option<u32>,
}

/// A filter's value: one string or several.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum FilterValue {
    /// `"demo"`
    One(String),
    /// `["web", "api"]`
    Many(Vec<String>),
}

impl FilterValue {
    /// As a list.
    pub(crate) fn values(&self) -> Vec<String> {
        match self {
            FilterValue::One(v) => vec![v.clone()],
            FilterValue::Many(v) => v.clone(),
        }
    }
}

/// One `[[hosts]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HostEntry {
    /// Short unique name used in output and `--hosts`.
    pub name: Spanned<String>,
    /// DNS name or IP address to connect to.
    pub address: Spanned<String>,
    /// Per-host port override.
    pub port: Option<u16>,
    /// Per-host user override.
    pub user: Option<String>,
    /// Roles for `--roles`.
    #[serde(default)]
    pub roles: Vec<Spanned<String>>,
    /// Per-host deploy_to override (e.g. several apps' hosts on one machine).
    pub deploy_to: Option<Spanned<String>>,
    /// Per-host jump host(s), overriding `[ssh] jump`.
    pub jump: Option<Spanned<String>>,
}

impl Config {
    /// Reads, parses and validates a hosts.toml, with environment `env`
    /// (`[env.<env>]`) merged over it when given.
    pub(crate) fn load(path: &Path, env: Option<&str>) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::file(path, format!("cannot read it ({e}); pass another file with -c/--config or SHIP_CONFIG"))
        })?;
        let base = Config::parse(path, &text)?;
        let Some(name) = env else { return Ok(base) };
        let Some(over) = base.env.get(name).cloned() else {
            let known: Vec<&str> = base.env.keys().map(String::as_str).collect();
            let known =
                if known.is_empty() { "none is defined".to_string() } else { format!("known: {}", known.join(", ")) };
            return Err(ConfigError::file(
                path,
                format!("no [env.{name}] table ({known}); check -e/--env or SHIP_ENV"),
            ));
        };
        let mut over = over;
        if let Some(k) = over.keys().find(|k| !ENV_KEYS.contains(&k.as_str())) {
            return Err(ConfigError::file(
                path,
                format!("[env.{name}]: unknown key `{k}`; an environment may set {}", ENV_KEYS.join(", ")),
            ));
        }
        let confirm = match over.remove("confirm") {
            None => false,
            Some(toml::Value::Boolean(b)) => b,
            Some(_) => return Err(ConfigError::file(path, format!("[env.{name}]: confirm must be true or false"))),
        };
        let mut merged: toml::Table =
            toml::from_str(&text).map_err(|e| ConfigError::file(path, e.message().trim().to_string()))?;
        merged.remove("env");
        deep_merge(&mut merged, over);
        let merged_text = toml::to_string(&merged).map_err(|e| ConfigError::file(path, e.to_string()))?;
        // Lines of the merged text are not lines of the file: name the environment instead.
        let mut config = Config::parse(path, &merged_text).map_err(|e| ConfigError {
            path: e.path,
            line: None,
            message: format!("with [env.{name}] applied: {}", e.message),
        })?;
        config.confirm = confirm;
        config.env_name = Some(name.to_string());
        Ok(config)
    }

    /// Parses and validates hosts.toml text; `path` is only used in errors.
    pub(crate) fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let at = |span: Option<std::ops::Range<usize>>, message: String| ConfigError {
            path: path.to_path_buf(),
            line: span.filter(|s| s.end > 0).map(|s| line_of(text, s.start)),
            message,
        };
        let config: Config = toml::from_str(text).map_err(|e| {
            let message = match e.span().and_then(|sp| key_at(text, sp.start)) {
                Some((key, label)) if !e.message().contains(&format!("`{key}`")) => {
                    format!("{label}: {}", e.message().trim())
                }
                _ => e.message().trim().to_string(),
            };
            at(e.span(), message)
        })?;
        let err = |s: &std::ops::Range<usize>, m: String| Err(at(Some(s.clone()), m));

        let name = &config.app.name;
        if !is_name(name.get_ref()) {
            return err(
                &name.span(),
                format!("app.name `{}` may use only letters, digits, `.`, `_` and `-`", name.get_ref()),
            );
        }
        check_deploy_to("app.deploy_to", &config.app.deploy_to)
            .map_err(|m| at(Some(config.app.deploy_to.span()), m))?;
        if *config.app.keep_releases.get_ref() == 0 {
            return err(
                &config.app.keep_releases.span(),
                "app.keep_releases must be at least 1 (the current release)".into(),
            );
        }
        for (key, list) in
            [("app.linked_dirs", &config.app.linked_dirs), ("app.linked_files", &config.app.linked_files)]
        {
            for p in list {
                check_relative(p.get_ref()).map_err(|m| at(Some(p.span()), format!("{key}: `{}` {m}", p.get_ref())))?;
            }
        }
        // A linked path inside another one would be written through the
        // other's symlink, i.e. into shared/ itself.
        let linked: Vec<(&str, &Spanned<String>)> = config
            .app
            .linked_dirs
            .iter()
            .map(|p| ("app.linked_dirs", p))
            .chain(config.app.linked_files.iter().map(|p| ("app.linked_files", p)))
            .collect();
        for (i, (key, p)) in linked.iter().enumerate() {
            for (other_key, q) in &linked[..i] {
                if let Some(how) = overlap(q.get_ref(), p.get_ref()) {
                    return err(
                        &p.span(),
                        format!(
                            "{key}: `{}` {how} `{}` ({other_key}); linked paths may not repeat or nest: \
keep only the outer one (files under a linked dir are already shared)",
                            p.get_ref(),
                            q.get_ref()
                        ),
                    );
                }
            }
        }
        if let Some(url) = &config.health.url {
            crate::config::HttpUrl::parse(url.get_ref())
                .map_err(|m| at(Some(url.span()), format!("health.url: {m}")))?;
        }
        if let Some(url) = &config.artifact.url {
            crate::config::pull::check_url(url.get_ref())
                .map_err(|m| at(Some(url.span()), format!("artifact.url: {m}")))?;
        }
        for j in config.ssh.jump.iter().chain(config.hosts.iter().filter_map(|h| h.jump.as_ref())) {
            crate::config::jump::parse(j.get_ref()).map_err(|m| at(Some(j.span()), m))?;
        }
        let mut seen = std::collections::HashSet::new();
        for h in &config.hosts {
            if !is_name(h.name.get_ref()) {
                return err(
                    &h.name.span(),
                    format!(
                        "host name `{}` may use only letters, digits, `.`, `_` and `-`, and not start with `-`",
                        h.name.get_ref()
                    ),
                );
            }
            if !seen.insert(h.name.get_ref().clone()) {
                return err(
                    &h.name.span(),
                    format!("host name `{}` is used twice; names must be unique", h.name.get_ref()),
                );
            }
            if !is_address(h.address.get_ref()) {
                return err(
                    &h.address.span(),
                    format!(
                        "host `{}`: address `{}` is not a host name or IP address",
                        h.name.get_ref(),
                        h.address.get_ref()
                    ),
                );
            }
            for r in &h.roles {
                if !is_name(r.get_ref()) {
                    return err(
                        &r.span(),
                        format!(
                            "host `{}`: role `{}` may use only letters, digits, `.`, `_` and `-`",
                            h.name.get_ref(),
                            r.get_ref()
                        ),
                    );
                }
            }
            if let Some(d) = &h.deploy_to {
                check_deploy_to("deploy_to", d)
                    .map_err(|m| at(Some(d.span()), format!("host `{}`: {m}", h.name.get_ref())))?;
            }
        }
        Ok(config)
    }

    /// The identity file, with `~` expanded and relative paths taken from the
    /// config file's directory.
    pub(crate) fn identity_file(&self, config_path: &Path, home: Option<&Path>) -> Option<PathBuf> {
        let f = self.ssh.identity_file.as_ref()?;
        Some(resolve_path(f.get_ref(), config_path, home))
    }
}

/// Expands `~/` and makes a relative path relative to the config file.
pub(crate) fn resolve_path(p: &str, config_path: &Path, home: Option<&Path>) -> PathBuf {
    if let (Some(rest), Some(home)) = (p.strip_prefix("~/"), home) {
        return home.join(rest);
    }
    let path = PathBuf::from(p);
    if path.is_absolute() {
        path
    } else {
        config_path.parent().unwrap_or(Path::new(".")).join(path)
    }
}

/// The key of the `key = value` line holding `offset`, and a label such as
/// ``key `port` in [[hosts]]``.
fn key_at(text: &str, offset: usize) -> Option<(String, String)> {
    let start = text[..offset.min(text.len())].rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].lines().next()?;
    let key = line.split_once('=')?.0.trim();
    if key.is_empty() || key.starts_with('[') {
        return None;
    }
    let table = text[..start].lines().rev().map(str::trim).find(|l| l.starts_with('['));
    let label = match table {
        Some(t) => format!("key `{key}` in {t}"),
        None => format!("key `{key}`"),
    };
    Some((key.to_string(), label))
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Names (hosts, roles, app): letters, digits, `.`, `_`, `-`; no leading `-`.
pub(crate) fn is_name(s: &str) -> bool {
    !s.is_empty() && !s.starts_with('-') && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// An absolute path with no newline or NUL: what `deploy_to` may be, from
/// hosts.toml or an inventory.
pub(crate) fn is_deploy_path(s: &str) -> bool {
    s.starts_with('/') && !s.contains(['\n', '\0'])
}

fn check_deploy_to(key: &str, v: &Spanned<String>) -> Result<(), String> {
    let d = v.get_ref();
    if !d.starts_with('/') {
        return Err(format!("{key} `{d}` must be an absolute path, e.g. /srv/myapp"));
    }
    if d.contains(['\n', '\0']) {
        return Err(format!("{key} must not contain a newline or NUL"));
    }
    Ok(())
}

/// How linked path `b` collides with `a`: the same path, or one inside
/// the other (whole components: `log` and `logs` do not collide).
fn overlap(a: &str, b: &str) -> Option<&'static str> {
    let inside = |outer: &str, inner: &str| inner.strip_prefix(outer).is_some_and(|rest| rest.starts_with('/'));
    if a == b {
        Some("repeats")
    } else if inside(a, b) {
        Some("is inside")
    } else if inside(b, a) {
        Some("contains")
    } else {
        None
    }
}

fn check_relative(p: &str) -> Result<(), String> {
    if p.is_empty() || p.starts_with('/') {
        return Err("must be a relative path under shared/".into());
    }
    if p.contains(['\n', '\0']) {
        return Err("must not contain a newline or NUL".into());
    }
    if p.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return Err("must not contain empty, `.` or `..` components".into());
    }
    if p == ".ship" || p.starts_with(".ship/") {
        return Err("must not be under .ship/, which ship owns".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[app]
name = "demo"
deploy_to = "/srv/demo"
linked_dirs = ["log"]

[ssh]
user = "deploy"
connect_timeout = "5s"

[[hosts]]
name = "web1"
address = "127.0.0.1"
port = 2222
roles = ["web"]
"#;

    fn parse(t: &str) -> Result<Config, String> {
        Config::parse(Path::new("hosts.toml"), t).map_err(|e| e.to_string())
    }

    #[test]
    fn parses_the_documented_keys() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.app.name.get_ref(), "demo");
        assert_eq!(*c.app.keep_releases.get_ref(), 5);
        assert_eq!(c.ssh.connect_timeout, Some(Duration::from_secs(5)));
        assert_eq!(c.hosts[0].port, Some(2222));
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let e = parse(&GOOD.replace("user = \"deploy\"", "user = \"deploy\"\ncolour = \"red\"")).unwrap_err();
        assert!(e.starts_with("hosts.toml:9: unknown field `colour`"), "{e}");
    }

    #[test]
    fn wrong_type_names_line() {
        let e = parse(&GOOD.replace("port = 2222", "port = \"x\"")).unwrap_err();
        assert!(e.starts_with("hosts.toml:14: key `port` in [[hosts]]: invalid type"), "{e}");
    }

    #[test]
    fn bad_duration_names_line() {
        let e = parse(&GOOD.replace("\"5s\"", "\"5 parsecs\"")).unwrap_err();
        assert!(e.starts_with("hosts.toml:9: key `connect_timeout` in [ssh]") && e.contains("unit"), "{e}");
    }

    #[test]
    fn relative_deploy_to_is_refused() {
        let e = parse(&GOOD.replace("/srv/demo", "srv/demo")).unwrap_err();
        assert!(e.starts_with("hosts.toml:4:") && e.contains("absolute"), "{e}");
    }

    #[test]
    fn option_like_host_name_is_just_a_bad_name() {
        let e = parse(&GOOD.replace("\"web1\"", "\"-oProxyCommand=touch /tmp/x\"")).unwrap_err();
        assert!(e.starts_with("hosts.toml:12:") && e.contains("host name"), "{e}");
    }

    #[test]
    fn linked_path_escaping_shared_is_refused() {
        let e = parse(&GOOD.replace("[\"log\"]", "[\"../etc\"]")).unwrap_err();
        assert!(e.starts_with("hosts.toml:5:") && e.contains(".."), "{e}");
    }

    #[test]
    fn repeated_or_nested_linked_paths_are_refused() {
        let nested =
            GOOD.replace("linked_dirs = [\"log\"]", "linked_dirs = [\"config\"]\nlinked_files = [\"config/db.yml\"]");
        let e = parse(&nested).unwrap_err();
        assert!(e.starts_with("hosts.toml:6:") && e.contains("`config/db.yml` is inside `config`"), "{e}");
        let twice = GOOD.replace("[\"log\"]", "[\"log\", \"log\"]");
        assert!(parse(&twice).unwrap_err().contains("`log` repeats `log`"));
        let outer_later = GOOD.replace("linked_dirs = [\"log\"]", "linked_dirs = [\"a/b\", \"a\"]");
        assert!(parse(&outer_later).unwrap_err().contains("`a` contains `a/b`"));
        assert!(parse(&GOOD.replace("[\"log\"]", "[\"log\", \"logs\", \"log2/x\"]")).is_ok());
    }

    #[test]
    fn duplicate_host_names_are_refused() {
        let twice = format!("{GOOD}\n[[hosts]]\nname = \"web1\"\naddress = \"127.0.0.2\"\n");
        assert!(parse(&twice).unwrap_err().contains("used twice"));
    }

    #[test]
    fn strategy_health_and_hooks_parse() {
        let t = format!(
            "{GOOD}\n[strategy]\nkind = \"rolling\"\nbatch = \"25%\"\ncanary = 1\npause = \"2s\"\non_failure = \"revert-wave\"\n\
[health]\nurl = \"http://127.0.0.1:8080/up\"\ntimeout = \"5s\"\n[hooks]\nrun_once = [\"./migrate\"]\n"
        );
        let c = parse(&t).unwrap();
        assert_eq!(c.strategy.kind, Some(StrategyKind::Rolling));
        assert_eq!(*c.strategy.batch.unwrap().get_ref(), Batch::Percent(25));
        assert_eq!(c.strategy.on_failure, Some(OnFailure::RevertWave));
        assert_eq!(c.hooks.run_once, ["./migrate"]);
        let n = parse(&format!("{GOOD}\n[strategy]\nbatch = 2\n")).unwrap();
        assert_eq!(*n.strategy.batch.unwrap().get_ref(), Batch::Count(2));
    }

    #[test]
    fn artifact_url_is_checked_and_names_the_line() {
        let ok = parse(&format!("{GOOD}\n[artifact]\nurl = \"https://cdn/app/{{sha256}}.tar.gz\"\n")).unwrap();
        assert_eq!(ok.artifact.url.unwrap().get_ref(), "https://cdn/app/{sha256}.tar.gz");
        let e = parse(&format!("{GOOD}\n[artifact]\nurl = \"https://cdn/{{version}}.tgz\"\n")).unwrap_err();
        assert!(e.starts_with("hosts.toml:18: artifact.url:") && e.contains("`{version}`"), "{e}");
    }

    #[test]
    fn bad_batch_and_url_name_the_line() {
        let e = parse(&format!("{GOOD}\n[strategy]\nbatch = \"0%\"\n")).unwrap_err();
        assert!(e.starts_with("hosts.toml:18:") && e.contains("1% and 100%"), "{e}");
        let e = parse(&format!("{GOOD}\n[health]\nurl = \"https://x/up\"\n")).unwrap_err();
        assert!(e.starts_with("hosts.toml:18: health.url") && e.contains("http://"), "{e}");
    }

    fn load_env(text: &str, env: Option<&str>) -> Result<Config, String> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("hosts.toml");
        std::fs::write(&p, text).unwrap();
        Config::load(&p, env).map_err(|e| e.to_string())
    }

    #[test]
    fn environments_override_tables_and_replace_host_lists() {
        let t = format!(
            "{GOOD}\n[env.production]\nconfirm = true\napp = {{ keep_releases = 9 }}\nssh = {{ user = \"prod\" }}\n\
[[env.production.hosts]]\nname = \"prod1\"\naddress = \"127.0.0.9\"\n"
        );
        let base = load_env(&t, None).unwrap();
        assert_eq!(base.hosts[0].name.get_ref(), "web1");
        assert!(!base.confirm);
        let prod = load_env(&t, Some("production")).unwrap();
        assert_eq!(*prod.app.keep_releases.get_ref(), 9);
        assert_eq!(prod.app.deploy_to.get_ref(), "/srv/demo", "untouched keys stay");
        assert_eq!(prod.ssh.user.as_deref(), Some("prod"));
        assert_eq!(prod.ssh.connect_timeout, Some(Duration::from_secs(5)));
        assert_eq!(prod.hosts.len(), 1);
        assert_eq!(prod.hosts[0].name.get_ref(), "prod1");
        assert!(prod.confirm);
        assert!(load_env(&t, Some("staging")).unwrap_err().contains("no [env.staging] table (known: production)"));
    }

    #[test]
    fn environment_errors_name_the_environment() {
        let t = format!("{GOOD}\n[env.production]\napp = {{ colour = 1 }}\n");
        let e = load_env(&t, Some("production")).unwrap_err();
        assert!(e.contains("with [env.production] applied") && e.contains("colour"), "{e}");
        let t = format!("{GOOD}\n[env.production]\nregion = 1\n");
        assert!(load_env(&t, Some("production")).unwrap_err().contains("unknown key `region`"));
    }

    #[test]
    fn the_documented_example_parses() {
        // hosts.toml.example documents every key: it must stay valid.
        let c = Config::parse(Path::new("hosts.toml.example"), include_str!("../../hosts.toml.example")).unwrap();
        assert_eq!(c.hosts.len(), 2);
        assert_eq!(c.strategy.kind, Some(StrategyKind::Rolling));
        assert!(c.health.url.is_some() && c.health.command.is_some());
        assert_eq!(c.hooks.run_once, ["./bin/migrate"]);
    }

    #[test]
    fn the_examples_hosts_toml_parses_with_its_environment() {
        let text = include_str!("../../examples/hosts.toml");
        let c = Config::parse(Path::new("examples/hosts.toml"), text).unwrap();
        assert_eq!(c.hosts.len(), 2);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("hosts.toml");
        std::fs::write(&p, text).unwrap();
        let prod = Config::load(&p, Some("production")).unwrap();
        assert!(prod.confirm && prod.notify.slack_webhook.is_some());
    }

    #[test]
    fn resolve_path_expands_home_and_config_dir() {
        let cfg = Path::new("/etc/ship/hosts.toml");
        assert_eq!(resolve_path("~/.ssh/id", cfg, Some(Path::new("/home/u"))), PathBuf::from("/home/u/.ssh/id"));
        assert_eq!(resolve_path("keys/id", cfg, None), PathBuf::from("/etc/ship/keys/id"));
    }
}
