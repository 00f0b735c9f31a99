//! Host key verification against real sshd hosts.
