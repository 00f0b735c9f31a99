#!/usr/bin/env bash
# Runs every check CI runs: installs OpenSSH's sshd when missing (the
# integration tests start real sshd processes on loopback) and moto's EC2
# server into target/moto-venv, then format, clippy and the whole test suite
# with --locked.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/ensure-sshd.sh
. scripts/lib/ensure-moto.sh
ensure_sshd
ensure_moto

cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
# sshd-heavy tests: bounded parallelism on small machines.
cargo test --locked -- --test-threads "${SHIP_TEST_THREADS:-4}"
