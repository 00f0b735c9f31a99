//! Integration tests: the real `ship` binary against real OpenSSH `sshd`
//! processes started per test on loopback addresses.

mod support;

mod cli;
mod deploy;
mod host_keys;
mod rollback;
