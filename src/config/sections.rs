//! The tables of hosts.toml, one struct each, as serde reads them: `[app]`,
//! `[strategy]`, `[health]`, `[artifact]`, `[notify]`, `[hooks]`, `[ssh]`,
//! `[inventory]` and `[[hosts]]`. Key names here are ship's public
//! interface (`hosts.toml.example` documents each).

use serde::Deserialize;
use std::time::Duration;
use toml::Spanned;

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
    /// `url` as checked when the file was read (parsed once, there).
    #[serde(skip)]
    pub http: Option<super::HealthUrl>,
    /// Give up after this long (default 30s).
    #[serde(default, with = "crate::config::duration::serde_opt")]
    pub timeout: Option<Duration>,
    /// Wait between tries (default 1s).
    #[serde(default, with = "crate::config::duration::serde_opt")]
    pub interval: Option<Duration>,
    /// The health command's output or the health URL's body must contain
    /// the new release's id or version label: proof that the process that
    /// answered is the new one.
    #[serde(default)]
    pub expect_release: bool,
    /// After the last wave, keep checking every released host (health and
    /// `[verify]`) this long; a failure reverts per `on_failure`.
    #[serde(default, with = "crate::config::duration::serde_opt")]
    pub bake: Option<Duration>,
}

/// `[roles.<name>]`: the service a role runs, for hosts with that role:
/// its own restart command, health check and `[verify]` rule. A host with
/// several roles restarts and checks each; a host with none of the roles
/// that have a table uses `[app] restart`, `[health]` and `[verify]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RoleService {
    /// Run on the host, in the new release dir, after the switch.
    pub restart: Option<String>,
    /// This role's health check (same keys as `[health]`; `bake` is the
    /// deploy's, from `[health]`).
    #[serde(default)]
    pub health: Health,
    /// This role's processes (same keys as `[verify]`).
    #[serde(default)]
    pub verify: Verify,
}

/// `[verify]`: how ship finds the service's processes on a host, to prove
/// that they run the release just switched to (see [`crate::remote::serving`]).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Verify {
    /// A file holding the main process's pid, relative to deploy_to
    /// (e.g. `shared/tmp/server.pid`).
    pub pidfile: Option<Spanned<String>>,
    /// The process listening on this TCP port.
    pub port: Option<u16>,
    /// The processes of this systemd unit.
    pub unit: Option<Spanned<String>>,
    /// Keep looking this long for every process to run the new release
    /// (default: `[health] timeout`), at `[health] interval`.
    #[serde(default, with = "crate::config::duration::serde_opt")]
    pub timeout: Option<Duration>,
}

impl Verify {
    /// Whether any way to find the processes is set.
    pub(crate) fn is_set(&self) -> bool {
        self.pidfile.is_some() || self.port.is_some() || self.unit.is_some()
    }
}

/// `[artifact]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ArtifactSource {
    /// Hosts download the archive from this http(s) URL instead of receiving
    /// it from ship; `{release}` and `{sha256}` are filled per deploy.
    pub url: Option<Spanned<String>>,
    /// `url` as checked when the file was read (parsed once, there).
    #[serde(skip)]
    pub template: Option<super::pull::UrlTemplate>,
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
    /// On each host, in its wave, right before its switch (in the new
    /// release dir): take it out of the load balancer.
    #[serde(default)]
    pub drain: Vec<String>,
    /// On each host once its health check and `[verify]` pass (or once it
    /// is back on its previous release): put it back.
    #[serde(default)]
    pub undrain: Vec<String>,
    /// [`Hooks::drain`] on the machine running ship, with `SHIP_HOST` set.
    #[serde(default)]
    pub local_drain: Vec<String>,
    /// [`Hooks::undrain`] on the machine running ship, with `SHIP_HOST` set.
    #[serde(default)]
    pub local_undrain: Vec<String>,
    /// Names of variables of ship's own environment handed to every hook,
    /// restart and health command; their values are never printed.
    #[serde(default)]
    pub secret_env: Vec<String>,
    /// Limit for each `before_switch` and `after_switch` hook (default 10m).
    #[serde(default, with = "crate::config::duration::serde_opt")]
    pub timeout: Option<Duration>,
    /// Run the `run_once` hooks on the first selected host with this role
    /// (Capistrano's `primary :db`), not on the first host.
    pub run_once_role: Option<String>,
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

pub(super) fn default_keep() -> Spanned<usize> {
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
    /// Per-host health URL, overriding `[health] url` for this host.
    pub health_url: Option<Spanned<String>>,
    /// `health_url` as checked when the file was read.
    #[serde(skip)]
    pub health: Option<super::HealthUrl>,
}
