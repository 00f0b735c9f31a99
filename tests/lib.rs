//! Integration tests: the real `ship` binary against real OpenSSH `sshd`
//! processes started per test on loopback addresses.

// The sshd fixture prints its log to stderr when a test fails.
#![allow(clippy::print_stderr)]
// One test crate: its support code is shared by `pub`, not exported.
#![allow(unreachable_pub)]

mod support;

mod archives;
mod auth;
mod check;
mod cli;
mod delta;
mod deploy;
mod drain;
mod ec2;
mod environments;
mod errors;
mod exec;
mod faults;
mod host_keys;
mod inventory;
mod jump;
mod layers;
mod layout;
mod leaks;
mod locks;
mod notify;
mod plan;
mod pull;
mod review13;
mod review13b;
mod review13c;
mod review13d;
mod review13e;
mod review13f;
mod review14;
mod review15;
mod review15b;
mod review_keys;
mod roles;
mod rollback;
mod rolling;
mod serving;
mod signals;
mod ssh_config;
mod sync;
