#!/usr/bin/env bash
# Runs every check CI runs: installs OpenSSH's sshd when missing (the
# integration tests start real sshd processes on loopback), then format,
# clippy and the whole test suite with --locked.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/ensure-sshd.sh
ensure_sshd

cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
# sshd-heavy tests: bounded parallelism on small machines.
cargo test --locked -- --test-threads "${SHIP_TEST_THREADS:-4}"
