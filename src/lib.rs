//! ship: deploy prebuilt builds to fleets of Linux servers over SSH.
//!
//! Data flows one way: settings (CLI + hosts.toml + environment) -> hosts
//! -> per-host steps over SSH -> events -> a reporter. The modules form
//! layers, lowest first; a module imports only from its own layer or
//! below (`tests/layers.rs` keeps it so; docs/ARCHITECTURE.md explains
//! each layer):
//!
//! 0. leaves: [`text`], [`release`], [`outcome`], [`shutdown`], [`secret`],
//!    [`spool`], [`event`] (progress only), [`error`], [`cli`] (parsing only)
//! 1. [`config`]: the hosts.toml schema and the values parsed from it
//! 2. [`remote`]: every shell script run on a host, and the parser of what
//!    it prints
//! 3. [`ssh`]: russh sessions, the shell loop, credentials, known_hosts;
//!    [`build`]: the local package, its manifest, the artifact cache
//! 4. [`inventory`]: where hosts come from
//! 5. [`settings`]: CLI + file + environment, resolved once
//! 6. [`fleet`]: connect every host, run a step, the fleet lock
//! 7. [`deploy`]: the recipe as phases (stage, activate, waves, hooks)
//! 8. [`commands`]: one file per other subcommand; [`notify`]: webhooks
//! 9. [`report`]: the only code that prints
//! 10. [`app`]: the pipeline from a parsed command line to an exit code

mod app;
mod build;
mod cli;
mod commands;
mod config;
mod deploy;
mod error;
mod event;
mod fleet;
mod inventory;
mod notify;
mod outcome;
#[cfg(test)]
mod proptests;
mod release;
mod remote;
mod report;
mod secret;
mod settings;
mod shutdown;
mod spool;
mod ssh;
mod text;

// The binary needs these two; everything else is private to the crate, so
// the compiler reports what nothing uses.
pub use app::run;
pub use cli::Cli;
