//! Command-line definitions (clap derive). Parsing only: `settings.rs` turns
//! this into the checked [`crate::settings::Settings`] that the rest uses.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Ship prebuilt builds to fleets of Linux servers over SSH.
///
/// Exit codes: 0 ok, 1 a host failed, 2 usage or config error, 3 lock held,
/// 130 interrupted.
#[derive(Debug, Parser)]
#[command(name = "ship", version, about, long_about)]
pub struct Cli {
    /// Options for every command.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options for every command.
#[derive(Debug, Args)]
pub struct Global {
    /// Environment: merges `[env.NAME]` of the config over the rest.
    #[arg(short, long, global = true, env = "SHIP_ENV")]
    pub env: Option<String>,
    /// Do not ask for confirmation (environments with `confirm = true`).
    #[arg(short = 'y', long, global = true)]
    pub yes: bool,
    /// Configuration file.
    #[arg(short, long, global = true, env = "SHIP_CONFIG", default_value = "hosts.toml")]
    pub config: PathBuf,
    /// Only these hosts (comma-separated names or globs, e.g. 'web*').
    #[arg(long, global = true, value_delimiter = ',')]
    pub hosts: Vec<String>,
    /// Only hosts with one of these roles (comma-separated).
    #[arg(long, global = true, value_delimiter = ',')]
    pub roles: Vec<String>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Print only results and errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print every step, including upload progress, as lines.
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// No progress bars, even on a terminal.
    #[arg(long, global = true)]
    pub no_progress: bool,
    /// Colours: auto (a terminal, and NO_COLOR unset), always or never.
    #[arg(long, global = true, value_enum, default_value_t = ColorArg::Auto)]
    pub color: ColorArg,
    /// Hosts worked on at once.
    #[arg(long, global = true, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Tables and lines for people.
    Text,
    /// One JSON document on stdout (shapes in README.md).
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Package a build, ship it to every host, switch `current`, restart, prune.
    ///
    /// If any host fails before the switch, no host switches and the new
    /// release is removed everywhere.
    Deploy {
        /// A build directory, or an existing .tar.gz/.tgz archive.
        path: PathBuf,
        /// A version label stored in release.json and the log (default:
        /// `git describe --always --dirty` when PATH is in a git work tree).
        #[arg(long = "version", value_name = "LABEL")]
        label: Option<String>,
        /// Release in one wave (parallel) or in waves (rolling).
        #[arg(long, value_enum)]
        strategy: Option<StrategyArg>,
        /// Hosts per wave for rolling: a number or a percentage ("25%").
        #[arg(long)]
        batch: Option<String>,
        /// First wave of this many hosts, which must pass before the rest.
        #[arg(long)]
        canary: Option<usize>,
        /// Wait between waves, e.g. 5s.
        #[arg(long)]
        pause: Option<String>,
        /// What a failed wave does: revert-all, revert-wave or stop.
        #[arg(long, value_enum)]
        on_failure: Option<OnFailureArg>,
        /// Do not run the [hooks] run_once commands (e.g. migrations).
        #[arg(long)]
        skip_run_once: bool,
        /// Send every file, even to hosts whose current release already has
        /// most of them (by default such hosts get only what changed).
        #[arg(long)]
        full: bool,
        /// Pull mode: every host downloads the archive from this http(s)
        /// URL itself (curl or wget), checked against PATH's sha256; PATH
        /// must be that archive. `{release}` and `{sha256}` are filled in.
        /// Overrides `[artifact] url`.
        #[arg(long, value_name = "URL")]
        from_url: Option<String>,
        /// gzip effort for the archive ship makes from a build directory
        /// (default fast; overrides `[artifact] compression`).
        #[arg(long, value_enum)]
        compression: Option<CompressionArg>,
        /// Only show what would happen (hosts, waves, current -> new, bytes,
        /// hooks, locks); change nothing on any host.
        #[arg(long)]
        dry_run: bool,
    },
    /// What `ship deploy PATH` would do, changing nothing (= deploy --dry-run).
    Plan {
        /// A build directory, or an existing .tar.gz/.tgz archive.
        path: PathBuf,
        /// The version label, as for deploy.
        #[arg(long = "version", value_name = "LABEL")]
        label: Option<String>,
    },
    /// Switch `current` back to the previous release (or --to ID), no upload.
    Rollback {
        /// Release id to go to; it must exist on every selected host.
        #[arg(long)]
        to: Option<String>,
        /// Go back in one wave (parallel) or in waves (rolling), each host
        /// restarted, health-checked and verified; default `[strategy] kind`.
        #[arg(long, value_enum)]
        strategy: Option<StrategyArg>,
        /// Hosts per wave for rolling: a number or a percentage ("25%").
        #[arg(long)]
        batch: Option<String>,
        /// Wait between waves, e.g. 5s.
        #[arg(long)]
        pause: Option<String>,
    },
    /// Bring hosts that lack the fleet's current release (new or were down) to it.
    Sync,
    /// List each host's releases, newest first, current marked.
    Releases,
    /// Show each host's current release and whether the fleet is consistent.
    Status,
    /// Remove old releases, never the current one nor the rollback target.
    Prune {
        /// Releases to keep (default: app.keep_releases).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        keep: Option<u32>,
    },
    /// Check every selected host is ready for a deploy (reach, host key, auth,
    /// deploy_to, disk, tools, restart, lock, clock); changes nothing.
    Check,
    /// Show the resolved host list.
    Hosts,
    /// Hold the lock on every selected host (e.g. during an incident).
    Lock {
        /// Why, shown to anyone who finds the fleet locked.
        #[arg(short, long)]
        message: Option<String>,
    },
    /// Release the locks you hold (with --force: any lock, logged).
    Unlock {
        /// Break locks held by others (a crashed deploy, a colleague away).
        #[arg(long)]
        force: bool,
    },
    /// Run a shell command on the selected hosts, in the current release
    /// directory; output grouped per host; exit 1 if any host failed.
    Exec {
        /// The command, after `--` (e.g. `ship exec -- systemctl status app`).
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Print a shell completion script (e.g. `ship completions bash > /etc/bash_completion.d/ship`).
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), e.g. `ship man > ship.1 && man ./ship.1`.
    Man,
    /// The hosts' deploy logs merged, newest first.
    Log {
        /// How many entries.
        #[arg(short = 'n', long, default_value_t = 20)]
        lines: usize,
    },
}

impl Command {
    /// Whether the command changes what hosts serve (and so may need confirming).
    pub fn changes_hosts(&self) -> bool {
        matches!(
            self,
            Command::Deploy { .. }
                | Command::Rollback { .. }
                | Command::Prune { .. }
                | Command::Sync
                | Command::Exec { .. }
        )
    }
}

/// `--color`
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorArg {
    /// On a terminal, unless NO_COLOR is set (and TERM is not dumb).
    Auto,
    /// Always, even into a pipe or with NO_COLOR.
    Always,
    /// Never.
    Never,
}

/// `--compression`
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompressionArg {
    /// Stored, not compressed: fast links, already-compressed builds.
    None,
    /// gzip level 1 (the default).
    Fast,
    /// gzip level 6.
    Default,
    /// gzip level 9: slow links.
    Best,
}

/// `--strategy`
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StrategyArg {
    /// Every host in one wave.
    Parallel,
    /// Waves of --batch hosts.
    Rolling,
}

/// `--on-failure`
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnFailureArg {
    /// Revert the failed wave and every earlier one.
    RevertAll,
    /// Revert only the failed wave.
    RevertWave,
    /// Revert nothing.
    Stop,
}
