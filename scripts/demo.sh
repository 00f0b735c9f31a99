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
SSHD_BIN=${SSHD:-/usr/sbin/sshd}

echo "==> building ship"
cargo build --release --locked --quiet
SHIP="$PWD/target/release/ship"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ship-demo.XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { # a port free on $1 right now
  python3 -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1],0)); print(s.getsockname()[1])' "$1"
}
wait_banner() { # until sshd on $1:$2 says SSH-2.0, at most 10 s
  for _ in $(seq 1 100); do
    if timeout 1 bash -c "exec 3<>/dev/tcp/$1/$2 && head -c 7 <&3" 2>/dev/null | grep -q SSH-2.0; then return 0; fi
    sleep 0.1
  done
  echo "sshd on $1:$2 did not start; log:" >&2; cat "$WORK/$3/sshd.log" >&2; exit 1
}

ssh-keygen -q -t ed25519 -N '' -C ship-demo -f "$WORK/client_key"
cp "$WORK/client_key.pub" "$WORK/authorized_keys"
: > "$WORK/known_hosts"
USER_NAME=$(id -un)
cat > "$WORK/hosts.toml" <<TOML
[app]
name = "demo"
deploy_to = "/srv/demo"          # overridden per host below: three "hosts" share this machine
keep_releases = 3
restart = 'echo "\$(date -u +%H:%M:%S) restarted \$SHIP_RELEASE" >> "\$SHIP_DEPLOY_TO/service.log"'
linked_dirs = ["log"]

[ssh]
user = "$USER_NAME"
identity_file = "$WORK/client_key"
known_hosts = "$WORK/known_hosts"
host_key_checking = "strict"
connect_timeout = "5s"
TOML

echo "==> starting 3 sshd hosts"
for i in 1 2 3; do
  addr="127.0.0.2$i"; port=$(free_port "$addr"); dir="$WORK/web$i"
  mkdir -p "$dir"
  ssh-keygen -q -t ed25519 -N '' -f "$dir/host_key"
  cat > "$dir/sshd_config" <<CFG
Port $port
ListenAddress $addr
HostKey $dir/host_key
PidFile $dir/sshd.pid
AuthorizedKeysFile $WORK/authorized_keys
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
CFG
  "$SSHD_BIN" -D -e -f "$dir/sshd_config" 2>"$dir/sshd.log" &
  PIDS+=($!)
  wait_banner "$addr" "$port" "web$i"
  echo "[$addr]:$port $(cut -d' ' -f1,2 "$dir/host_key.pub")" >> "$WORK/known_hosts"
  cat >> "$WORK/hosts.toml" <<TOML

[[hosts]]
name = "web$i"
address = "$addr"
port = $port
deploy_to = "$dir/srv/demo"
roles = ["web"]
TOML
  echo "    web$i  $addr:$port"
done

ship() { echo; echo "\$ ship $*"; "$SHIP" -c "$WORK/hosts.toml" "$@"; }
make_build() { # version
  rm -rf "$WORK/build"; mkdir -p "$WORK/build/public"
  echo "<h1>demo $1</h1>" > "$WORK/build/public/index.html"
  printf '#!/bin/sh\necho "demo %s"\n' "$1" > "$WORK/build/run"; chmod +x "$WORK/build/run"
}

ship hosts
make_build v1; ship deploy "$WORK/build" --version v1
make_build v2; ship deploy "$WORK/build" --version v2
ship status
ship releases --hosts web1
ship rollback
ship status
echo
echo "==> what each host serves now"
for i in 1 2 3; do echo "web$i: $(cat "$WORK/web$i/srv/demo/current/public/index.html")"; done
echo "==> web1's service log"; cat "$WORK/web1/srv/demo/service.log"
echo "==> web1's deploy log (.ship/log.jsonl)"; cat "$WORK/web1/srv/demo/.ship/log.jsonl"
echo; echo "demo finished; stopping the hosts"
