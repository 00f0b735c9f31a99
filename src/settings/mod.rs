//! One `Settings`, resolved from the command line, hosts.toml and the
//! environment. This is the only module that reads environment variables;
//! everything after it takes `&Settings`.

mod connect;
mod services;
pub(crate) use services::Service;

#[cfg(test)]
use connect::known_hosts_files;
pub(crate) use connect::SshSettings;
use connect::{load_ssh_config, ssh_settings};

use crate::cli::{Cli, Command, Format, OnFailureArg, StrategyArg};
use crate::config::{Batch, Config, OnFailure, StrategyKind};
use crate::error::Error;
use crate::inventory::{self, Host};
use crate::ssh::ssh_config::SshConfigFile;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How a deploy releases hosts, from `[strategy]` and the deploy flags.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rollout {
    /// parallel or rolling.
    pub kind: StrategyKind,
    /// Hosts per wave (rolling).
    pub batch: Batch,
    /// Size of the first wave (0: none).
    pub canary: usize,
    /// Wait between waves.
    pub pause: Duration,
    /// What a failed wave does.
    pub on_failure: OnFailure,
}

/// `[health]` with defaults applied.
#[derive(Debug, Clone)]
pub(crate) struct HealthSettings {
    /// Command run on the host.
    pub command: Option<String>,
    /// URL fetched through the SSH connection (`{host}`, `{address}`
    /// filled per host).
    pub url: Option<crate::config::HealthUrl>,
    /// Give up after.
    pub timeout: Duration,
    /// Between tries.
    pub interval: Duration,
    /// The health output must name the new release.
    pub expect_release: bool,
    /// `[health] bake` (zero: none).
    pub bake: Duration,
}

/// `[verify]` with defaults applied.
#[derive(Debug, Clone)]
pub(crate) struct VerifySettings {
    /// How to find the service's processes.
    pub find: crate::remote::serving::Finder,
    /// Keep looking this long (default `[health] timeout`).
    pub timeout: Duration,
    /// Between looks (`[health] interval`).
    pub interval: Duration,
}

/// How long remote steps may run: past its limit a step and everything it
/// started are stopped on the host, and the step fails.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StepLimits {
    /// `[app] restart_timeout` (default 5m).
    pub restart: Duration,
    /// `[hooks] timeout`, per before_switch / after_switch hook (default 10m).
    pub hooks: Duration,
    /// `[hooks] run_once_timeout`, per run_once hook (default 30m).
    pub run_once: Duration,
}

/// Everything a command needs, checked.
#[derive(Debug)]
pub(crate) struct Settings {
    /// The parsed config.
    pub config: Config,
    /// Selected hosts, filters applied.
    pub hosts: Vec<Host>,
    /// How to connect.
    pub ssh: SshSettings,
    /// Hosts worked on at once.
    pub concurrency: usize,
    /// `user@machine`, recorded in release.json and the log.
    pub deployer: String,
    /// Waves and failure policy.
    pub rollout: Rollout,
    /// Health checks.
    pub health: HealthSettings,
    /// `[verify]`, when it names a way to find the service's processes.
    pub verify: Option<VerifySettings>,
    /// `[roles.<name>]` services, by role name.
    pub roles: Vec<Service>,
    /// Time limits of remote steps.
    pub limits: StepLimits,
    /// `--skip-run-once`
    pub skip_run_once: bool,
    /// `deploy --full`: no delta, every host gets the whole archive.
    pub full: bool,
    /// Pull mode's URL template (`--from-url`, else `[artifact] url`).
    pub pull_url: Option<crate::config::pull::UrlTemplate>,
    /// gzip effort for packaged builds (`--compression`, else `[artifact]`).
    pub compression: crate::config::Compression,
    /// Ask before changing hosts (the environment has `confirm = true` and
    /// `--yes` was not given).
    pub ask: bool,
    /// This app's artifact cache directory, for the selected environment.
    pub cache_dir: Option<PathBuf>,
    /// Things to tell the user before the command runs (e.g. ssh_config `Match`).
    pub warnings: Vec<String>,
    /// `[hooks] secret_env`: name and value, read from ship's environment.
    pub secrets: Vec<(String, String)>,
    /// `[notify]`, checked.
    pub notify: NotifySettings,
}

/// `[notify]` with defaults applied.
#[derive(Debug, Clone)]
pub(crate) struct NotifySettings {
    /// Where to send.
    pub targets: Vec<Target>,
    /// Limit per notification.
    pub timeout: Duration,
}

impl Settings {
    /// Output settings only; usable before the config is read (to report its errors).
    pub(crate) fn output(cli: &Cli) -> OutputSettings {
        OutputSettings {
            json: cli.global.format == Format::Json,
            quiet: cli.global.quiet,
            verbose: cli.global.verbose,
            bars: std::io::stderr().is_terminal() && !cli.global.no_progress && !cli.global.verbose,
            color: (
                color_wanted(
                    cli.global.color,
                    std::io::stdout().is_terminal(),
                    std::env::var("NO_COLOR").ok().as_deref(),
                    std::env::var("TERM").ok().as_deref(),
                ),
                color_wanted(
                    cli.global.color,
                    std::io::stderr().is_terminal(),
                    std::env::var("NO_COLOR").ok().as_deref(),
                    std::env::var("TERM").ok().as_deref(),
                ),
            ),
            stream: matches!(
                cli.command,
                Command::Deploy { dry_run: false, .. } | Command::Rollback { .. } | Command::Sync
            ),
        }
    }

    /// Reads hosts.toml and the environment, applies the filters.
    pub(crate) async fn resolve(cli: &Cli, stop: &crate::shutdown::Shutdown) -> Result<Settings, Error> {
        let g = &cli.global;
        let config = Config::load(&g.config, g.env.as_deref())?;
        if config.confirm && !g.yes && cli.command.changes_hosts() && !std::io::stdin().is_terminal() {
            return Err(Error::Usage(format!(
                "environment `{}` asks for confirmation before changing hosts: run on a terminal, or pass --yes",
                config.env_name.as_deref().unwrap_or_default()
            )));
        }
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let local_user = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).ok().or_else(user_from_uid);
        let ssh_config = load_ssh_config(&config, &g.config, home.as_deref())?;
        let hosts = resolve_hosts(cli, &config, ssh_config.as_ref(), local_user.as_deref(), stop).await?;
        let ssh = ssh_settings(&config, &g.config, &hosts, ssh_config.as_ref(), home);
        let rollout = rollout(&config, &cli.command)?;
        let health = services::health_settings(&config.health);
        let app_verify = services::verify(&config.verify, &health);
        let roles = services::role_services(&config, &health, &app_verify);
        let verify = app_verify;
        let limits = StepLimits {
            restart: config.app.restart_timeout.unwrap_or(Duration::from_secs(5 * 60)),
            hooks: config.hooks.timeout.unwrap_or(Duration::from_secs(10 * 60)),
            run_once: config.hooks.run_once_timeout.unwrap_or(Duration::from_secs(30 * 60)),
        };
        let skip_run_once = matches!(cli.command, Command::Deploy { skip_run_once: true, .. });
        let full = matches!(cli.command, Command::Deploy { full: true, .. });
        let pull_url = match &cli.command {
            Command::Deploy { from_url: Some(u), .. } => {
                Some(crate::config::pull::UrlTemplate::parse(u).map_err(|m| Error::Usage(format!("--from-url: {m}")))?)
            }
            _ => config.artifact.template.clone(),
        };
        let secrets = secret_env(&config.hooks.secret_env, &g.config)?;
        let notify = notify(&config.notify, &g.config)?;
        // Webhook URLs embed tokens: masked like secrets.
        let urls = notify.targets.iter().map(|t| match t {
            Target::Webhook(u) | Target::Slack(u) => u.clone(),
        });
        let compression = compression(&config, &cli.command);
        // A pull URL's query and userinfo are credentials; the filled URL's
        // are added when a deploy fills it.
        let pulled = pull_url.as_ref().map(crate::config::pull::UrlTemplate::secret_parts).unwrap_or_default();
        crate::secret::register(secrets.iter().map(|(_, v)| v.clone()).chain(urls).chain(pulled));
        let machine = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "unknown".into());
        Ok(Settings {
            hosts,
            ssh,
            concurrency: usize::from(g.concurrency),
            deployer: format!("{}@{machine}", local_user.unwrap_or_else(|| "unknown".into())),
            rollout,
            health,
            verify,
            roles,
            limits,
            skip_run_once,
            full,
            pull_url,
            compression,
            ask: config.confirm && !g.yes,
            warnings: ssh_config.map(|c| c.warnings).unwrap_or_default(),
            secrets,
            notify,
            cache_dir: std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
                .map(|c| {
                    crate::build::cache::dir(&c.join("ship"), config.app.name.get_ref(), config.env_name.as_deref())
                }),
            config,
        })
    }

    /// Runs a restart command under `[app] restart_timeout`.
    pub(crate) fn restart_step(&self) -> crate::ssh::StepControl {
        crate::ssh::StepControl { deadline: Some((self.limits.restart, "restart_timeout")), ..Default::default() }
    }

    /// Runs one of ship's own scripts under `[ssh] command_timeout`, plus
    /// a second per MiB of `bytes` it reads (a delta's linked files are
    /// hashed: work that grows with the release, like the upload).
    pub(crate) fn command_step(&self, bytes: u64) -> crate::ssh::StepControl {
        let extra = Duration::from_secs(bytes.div_ceil(1 << 20));
        crate::ssh::StepControl {
            deadline: Some((self.ssh.command_timeout + extra, "[ssh] command_timeout")),
            ..Default::default()
        }
    }

    /// Runs a before_switch / after_switch hook under `[hooks] timeout`.
    pub(crate) fn hook_step(&self) -> crate::ssh::StepControl {
        crate::ssh::StepControl { deadline: Some((self.limits.hooks, "[hooks] timeout")), ..Default::default() }
    }

    /// Runs a run_once hook under `[hooks] run_once_timeout`.
    pub(crate) fn run_once_step(&self) -> crate::ssh::StepControl {
        crate::ssh::StepControl { deadline: Some((self.limits.run_once, "run_once_timeout")), ..Default::default() }
    }

    /// `[hooks] timeout`, for hooks ship runs on this machine around a
    /// host's switch (local_drain, local_undrain).
    pub(crate) fn hook_step_limit(&self) -> Duration {
        self.limits.hooks
    }

    /// Runs the health command: it retries until `[health] timeout` by
    /// itself; the step's limit is that plus 10 s, and a first Ctrl-C ends
    /// it (it is only a wait).
    pub(crate) fn health_step(&self, health: &HealthSettings) -> crate::ssh::StepControl {
        crate::ssh::StepControl {
            deadline: Some((health.timeout + Duration::from_secs(10), "[health] timeout")),
            on_interrupt: true,
            ..Default::default()
        }
    }

    /// `app.keep_releases`
    pub(crate) fn keep_releases(&self) -> usize {
        *self.config.app.keep_releases.get_ref()
    }

    /// `app.linked_files`
    pub(crate) fn linked_files(&self) -> Vec<String> {
        self.config.app.linked_files.iter().map(|s| s.get_ref().clone()).collect()
    }

    /// `app.linked_dirs`
    pub(crate) fn linked_dirs(&self) -> Vec<String> {
        self.config.app.linked_dirs.iter().map(|s| s.get_ref().clone()).collect()
    }

    /// Every linked path, dirs then files: what a release's manifest leaves out.
    pub(crate) fn linked_paths(&self) -> Vec<String> {
        self.linked_dirs().into_iter().chain(self.linked_files()).collect()
    }
}

/// The login name of this process's uid, from /proc and /etc/passwd (for
/// when USER and LOGNAME are unset, as under cron or in containers).
fn user_from_uid() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status.lines().find_map(|l| l.strip_prefix("Uid:"))?.split_whitespace().next()?.to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 2 && f[2] == uid).then(|| f[0].to_string())
    })
}

/// `[strategy]` overridden by the deploy flags.
fn rollout(config: &Config, command: &Command) -> Result<Rollout, Error> {
    let st = &config.strategy;
    let mut r = Rollout {
        kind: st.kind.unwrap_or_default(),
        batch: st.batch.as_ref().map_or(Batch::Count(1), |b| *b.get_ref()),
        canary: st.canary.unwrap_or(0),
        pause: st.pause.unwrap_or_default(),
        on_failure: st.on_failure.unwrap_or_default(),
    };
    let (strategy, batch, canary, pause, on_failure) = match command {
        Command::Deploy { strategy, batch, canary, pause, on_failure, .. } => {
            (strategy, batch, canary.as_ref(), pause, on_failure.as_ref())
        }
        Command::Rollback { strategy, batch, pause, .. } => (strategy, batch, None, pause, None),
        _ => return Ok(r),
    };
    if let Some(k) = strategy {
        r.kind = match k {
            StrategyArg::Parallel => StrategyKind::Parallel,
            StrategyArg::Rolling => StrategyKind::Rolling,
        };
    }
    if let Some(b) = batch {
        r.batch = Batch::parse(b).map_err(|m| Error::Usage(format!("--batch: {m}")))?;
    }
    if let Some(c) = canary {
        r.canary = *c;
    }
    if let Some(p) = pause {
        r.pause = crate::config::duration::parse(p).map_err(|m| Error::Usage(format!("--pause: {m}")))?;
    }
    if let Some(f) = on_failure {
        r.on_failure = match f {
            OnFailureArg::RevertAll => OnFailure::RevertAll,
            OnFailureArg::RevertWave => OnFailure::RevertWave,
            OnFailureArg::Stop => OnFailure::Stop,
        };
    }
    Ok(r)
}

/// Reads `[hooks] secret_env` from the environment. A value travels to the
/// host as one line of the command's stdin (never its command line, which
/// other users of the host could see), so it may not hold a newline.
fn secret_env(names: &[String], config: &Path) -> Result<Vec<(String, String)>, Error> {
    let at = |m: String| Error::Usage(format!("{}: [hooks] secret_env: {m}", config.display()));
    names
        .iter()
        .map(|name| {
            let valid = name.bytes().next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !valid {
                return Err(at(format!("`{name}` is not a variable name (letters, digits, _)")));
            }
            let value = std::env::var(name)
                .map_err(|_| at(format!("`{name}` is not set in ship's environment: export it, then run again")))?;
            if value.contains(['\n', '\0']) {
                return Err(at(format!("`{name}` holds a newline or NUL, which cannot be passed on")));
            }
            Ok((name.clone(), value))
        })
        .collect()
}

/// Checks `[notify]` URLs (http or https).
fn notify(n: &crate::config::Notify, config: &Path) -> Result<NotifySettings, Error> {
    let mut targets = Vec::new();
    for (key, url, make) in [
        ("webhook", &n.webhook, Target::Webhook as fn(String) -> Target),
        ("slack_webhook", &n.slack_webhook, Target::Slack as fn(String) -> Target),
    ] {
        if let Some(u) = url {
            if !(u.starts_with("http://") || u.starts_with("https://")) || u.contains(char::is_whitespace) {
                return Err(Error::Usage(format!(
                    "{}: [notify] {key} must be an http:// or https:// URL",
                    config.display()
                )));
            }
            targets.push(make(u.clone()));
        }
    }
    Ok(NotifySettings { targets, timeout: n.timeout.unwrap_or(Duration::from_secs(5)) })
}

/// How output should look, resolved once here, before anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OutputSettings {
    /// `--format json`
    pub json: bool,
    /// `-q`: results and errors only.
    pub quiet: bool,
    /// `-v`: every progress step.
    pub verbose: bool,
    /// Progress bars (stderr is a TTY and not `--no-progress`).
    pub bars: bool,
    /// With `json`: stream JSON Lines events (deploy, rollback, sync).
    pub stream: bool,
    /// Colour results on stdout / messages on stderr.
    pub color: (bool, bool),
}

/// Whether to colour a stream: `--color`, then NO_COLOR (set and not
/// empty: no colour, per no-color.org), TERM=dumb, and whether it is a terminal.
pub(crate) fn color_wanted(
    flag: crate::cli::ColorArg,
    is_tty: bool,
    no_color: Option<&str>,
    term: Option<&str>,
) -> bool {
    use crate::cli::ColorArg;
    match flag {
        ColorArg::Always => true,
        ColorArg::Never => false,
        ColorArg::Auto => is_tty && no_color.is_none_or(str::is_empty) && term != Some("dumb"),
    }
}

/// Where notifications go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// Our JSON body, POSTed as is.
    Webhook(String),
    /// Slack incoming webhook: `{"text": "…"}`.
    Slack(String),
}

/// `deploy --compression`, else `[artifact] compression`.
fn compression(config: &Config, command: &Command) -> crate::config::Compression {
    match command {
        Command::Deploy { compression: Some(c), .. } => match c {
            crate::cli::CompressionArg::None => crate::config::Compression::None,
            crate::cli::CompressionArg::Fast => crate::config::Compression::Fast,
            crate::cli::CompressionArg::Default => crate::config::Compression::Default,
            crate::cli::CompressionArg::Best => crate::config::Compression::Best,
        },
        _ => config.artifact.compression.unwrap_or_default(),
    }
}

/// Every host of hosts.toml and the inventories, merged (ssh_config's
/// ProxyJump followed), then the `--hosts`/`--roles` filters applied.
async fn resolve_hosts(
    cli: &Cli,
    config: &Config,
    ssh_config: Option<&SshConfigFile>,
    local_user: Option<&str>,
    stop: &crate::shutdown::Shutdown,
) -> Result<Vec<Host>, Error> {
    let g = &cli.global;
    let source = g.config.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut lists = vec![inventory::file::hosts(config, local_user, &source, ssh_config)
        .map_err(|m| Error::Usage(format!("{}: {m}", g.config.display())))?];
    let defaults = inventory::command::Defaults {
        user: config.ssh.user.clone().or_else(|| local_user.map(str::to_string)),
        port: config.ssh.port.unwrap_or(22),
        deploy_to: config.app.deploy_to.get_ref().clone(),
        // Inventory hosts take `[ssh] jump`, its hops looked up as ssh_config aliases.
        jump: match (config.ssh.jump.as_ref().map(|j| j.get_ref()), ssh_config) {
            (Some(j), Some(c)) => {
                Some(c.expand_jump(j).map_err(|m| Error::Usage(format!("{}: [ssh] jump: {m}", g.config.display())))?)
            }
            (j, _) => j
                .map(|j| crate::config::jump::Chain::parse(j))
                .transpose()
                .map_err(|m| Error::Usage(format!("{}: [ssh] jump: {m}", g.config.display())))?,
        },
    };
    for inv in &config.inventory {
        if let Some(cmd) = &inv.command {
            let timeout = inv.timeout.unwrap_or(Duration::from_secs(30));
            let stopped = || stop.requested();
            lists.push(inventory::command::hosts(cmd, timeout, &defaults, &stopped).map_err(Error::Inventory)?);
        }
        if let Some(ec2) = &inv.ec2 {
            lists.push(inventory::ec2::hosts(ec2, &defaults).await.map_err(Error::Inventory)?);
        }
    }
    // Inventory hosts follow ssh_config's ProxyJump (and refuse its
    // ProxyCommand) as `[[hosts]]` do.
    if let Some(c) = ssh_config {
        let ssh_jump = config.ssh.jump.as_ref().map(|j| j.get_ref().as_str());
        for list in lists.iter_mut().skip(1) {
            inventory::follow_ssh_config(list, c, ssh_jump)
                .map_err(|m| Error::Usage(format!("{}: {m}", g.config.display())))?;
        }
    }
    let mut all = inventory::merge(lists).map_err(Error::Usage)?;
    inventory::complete_jumps(&mut all);
    if all.is_empty() {
        return Err(Error::Usage(format!(
            "{}: no hosts: add a [[hosts]] table with name and address, or an [[inventory]]",
            g.config.display()
        )));
    }
    inventory::select(all, &g.hosts, &g.roles).map_err(Error::Usage)
}

#[cfg(test)]
mod tests {
    #[test]
    fn colour_follows_the_flag_no_color_and_the_terminal() {
        use crate::cli::ColorArg::{Always, Auto, Never};
        assert!(color_wanted(Auto, true, None, Some("xterm")));
        assert!(!color_wanted(Auto, false, None, Some("xterm")), "not a terminal");
        assert!(!color_wanted(Auto, true, Some("1"), None), "NO_COLOR set");
        assert!(color_wanted(Auto, true, Some(""), None), "NO_COLOR empty counts as unset");
        assert!(!color_wanted(Auto, true, None, Some("dumb")));
        assert!(color_wanted(Always, false, Some("1"), None), "--color always wins");
        assert!(!color_wanted(Never, true, None, None));
    }

    use super::*;

    use crate::ssh::ssh_config::Resolved;

    fn r(user: &[&str], global: &[&str]) -> Resolved {
        Resolved {
            known_hosts: user.iter().map(PathBuf::from).collect(),
            global_known_hosts: global.iter().map(PathBuf::from).collect(),
            ..Resolved::default()
        }
    }

    #[test]
    fn every_known_hosts_file_is_read_and_the_first_is_written() {
        let (home, cfg) = (Some(Path::new("/h")), Path::new("/c/hosts.toml"));
        let files = |rs: &[Resolved]| known_hosts_files(None, rs, home, cfg);
        let p = |v: &[&str]| v.iter().map(PathBuf::from).collect::<Vec<_>>();
        let globals = ["/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"];
        assert_eq!(files(&[]), p(&["/h/.ssh/known_hosts", "/h/.ssh/known_hosts2", globals[0], globals[1]]));
        assert_eq!(
            files(&[r(&["~/kh1", "/kh2"], &["/etc/g"]), r(&["/kh2"], &["/etc/g"])]),
            p(&["/h/kh1", "/kh2", "/etc/g"])
        );
        // A host that names no file reads the default ones, as OpenSSH does.
        assert_eq!(
            files(&[r(&[], &[]), r(&["/kh2"], &[])]),
            p(&["/h/.ssh/known_hosts", "/h/.ssh/known_hosts2", "/kh2", globals[0], globals[1]])
        );
        // `[ssh] known_hosts` replaces the user files, not the global ones.
        assert_eq!(
            known_hosts_files(Some(PathBuf::from("/x")), &[r(&[], &[])], home, cfg),
            p(&["/x", globals[0], globals[1]])
        );
    }
}
