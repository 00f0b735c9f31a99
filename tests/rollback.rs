//! Rollbacks against real sshd hosts.
