#!/usr/bin/env bash
# The main job end to end on this machine: starts 3 real sshd hosts on
# 127.0.0.21-23 (temp dir, generated keys, free ports), writes a hosts.toml
# for them, builds ship, deploys an example app twice, shows the fleet,
# rolls back, shows it again, then stops the hosts it started.
# Works as root or as a normal user; sends traffic only to loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/ensure-sshd.sh
ensure_sshd

echo "==> building ship"
cargo build --release --locked --quiet
SHIP="$PWD/target/release/ship"

. scripts/lib/fleet.sh
fleet_config "keep_releases = 3
restart = 'echo \"\$(date -u +%H:%M:%S) restarted \$SHIP_RELEASE\" >> \"\$SHIP_DEPLOY_TO/service.log\"'
linked_dirs = [\"log\"]

[health]
# The demo app is healthy when its release ships a public/up file.
command = 'test -f public/up'
timeout = '2s'
interval = '200ms'

[strategy]
canary = 1
batch = 1"
echo "==> starting 3 sshd hosts"
fleet_start 3 21
for i in 0 1 2; do echo "    web$((i + 1))  ${FLEET_ADDRS[$i]}:${FLEET_PORTS[$i]}"; done

ship() { echo; echo "\$ ship $*"; "$SHIP" -c "$WORK/hosts.toml" "$@"; }
make_build() { # version [broken]
  rm -rf "$WORK/build"; mkdir -p "$WORK/build/public"
  echo "<h1>demo $1</h1>" > "$WORK/build/public/index.html"
  if [ "${2:-}" != broken ]; then echo ok > "$WORK/build/public/up"; fi
  printf '#!/bin/sh\necho "demo %s"\n' "$1" > "$WORK/build/run"; chmod +x "$WORK/build/run"
}

ship hosts
make_build v1; ship deploy "$WORK/build" --version v1
make_build v2; ship deploy "$WORK/build" --version v2 --strategy rolling
ship status
echo; echo "==> v3 is broken (no health endpoint): its canary fails, is reverted, and no other host switches"
make_build v3 broken; ship deploy "$WORK/build" --version v3 --strategy rolling || echo "(exit $? as expected)"
ship status
ship releases --hosts web1
ship rollback
ship status
ship log -n 8
echo
echo "==> what each host serves now"
for i in 1 2 3; do echo "web$i: $(cat "$WORK/web$i/srv/demo/current/public/index.html")"; done
echo "==> web1's service log"; cat "$WORK/web1/srv/demo/service.log"
echo "==> web1's deploy log (.ship/log.jsonl)"; cat "$WORK/web1/srv/demo/.ship/log.jsonl"
echo; echo "demo finished; stopping the hosts"
