//! ship: deploy prebuilt builds to fleets of Linux servers over SSH.
//!
//! Data flows one way: config + inventory -> hosts -> per-host steps over
//! SSH -> events -> a reporter.
//!
//! - [`cli`]: clap definitions, parsing only
//! - [`settings`]: CLI + hosts.toml + environment, resolved once
//! - [`config`]: the hosts.toml schema and its validation
//! - [`inventory`]: where hosts come from, and the filters
//! - [`ssh`]: russh sessions, credentials, known_hosts
//! - [`artifact`]: package the build once, hash it, share it in chunks
//! - [`remote`]: every remote shell command, quoted in one place
//! - [`host_state`]: what a host says about its releases
//! - [`release`]: release ids
//! - [`fleet`]: connect every host, run a step, record failures as values
//! - [`stage`]: upload, verify, link a release on one host
//! - [`activate`]: switch, restart, health-check on one host (and revert)
//! - [`deploy`], [`rollback`], [`sync`], [`inspect`]: the commands
//! - [`plan`]: `ship plan` / `deploy --dry-run`, what a deploy would do
//! - [`exec`]: `ship exec`, ad-hoc commands on the hosts
//! - [`check`]: `ship check`, the read-only preflight doctor
//! - [`cache`]: the local artifact cache `ship sync` draws on
//! - [`manual`]: shell completions and the man page
//! - [`notify`]: webhook and Slack notifications
//! - [`secret`]: values never printed (`[hooks] secret_env`)
//! - [`event`], [`report`]: logic emits events; only the reporter prints
//! - [`outcome`]: a host's result as a value
//! - [`error`]: run-ending errors and exit codes
//! - [`shutdown`]: Ctrl-C stops at a step boundary
//! - [`strategy`]: hosts -> waves (parallel, rolling, canary)
//! - [`health`]: health checks after a restart
//! - [`lock`]: the on-host deploy lock, `ship lock` / `ship unlock`

pub mod activate;
pub mod artifact;
pub mod cache;
pub mod check;
pub mod cli;
pub mod config;
pub mod delta;
pub mod deploy;
pub mod error;
pub mod event;
pub mod exec;
pub mod fleet;
pub mod health;
pub mod host_state;
pub mod inspect;
pub mod inventory;
pub mod lock;
pub mod manifest;
pub mod manual;
pub mod notify;
pub mod outcome;
pub mod parallel;
pub mod plan;
#[cfg(test)]
mod proptests;
pub mod pull;
pub mod release;
pub mod remote;
pub mod report;
pub mod rollback;
pub mod run;
pub mod secret;
pub mod settings;
pub mod shutdown;
pub mod spool;
pub mod ssh;
pub mod stage;
pub mod strategy;
pub mod sync;
pub mod text;
