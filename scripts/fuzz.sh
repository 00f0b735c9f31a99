#!/usr/bin/env bash
# Fuzzes the parsers of untrusted text (hosts.toml, Ansible inventory JSON,
# known_hosts) with the property tests of src/proptests.rs: random text and
# random edits of valid seeds, a million cases each by default. A panic
# fails the run (proptest shrinks it to a minimal input); a hang is caught
# by the per-parser time limit. Not part of the test command: the tests run
# 256 cases of each.
#
#   scripts/fuzz.sh [CASES]
set -euo pipefail
cd "$(dirname "$0")/.."
cases="${1:-1000000}"
limit="${FUZZ_TIME_LIMIT:-3600}"
cargo test --locked --lib --no-run >/dev/null 2>&1 || cargo test --locked --lib --no-run
for t in hosts_toml_parser_never_panics inventory_reader_never_panics known_hosts_matcher_never_panics; do
  start=$(date +%s)
  if ! PROPTEST_CASES="$cases" timeout "$limit" cargo test --locked --lib -q -- --exact "proptests::$t" >"target/fuzz-$t.log" 2>&1; then
    cat "target/fuzz-$t.log"
    echo "FAILED: $t (a panic, or no end within ${limit}s: a hang)" >&2
    exit 1
  fi
  echo "$t: $cases cases, no panic, $(( $(date +%s) - start ))s"
done
