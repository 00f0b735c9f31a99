#!/usr/bin/env bash
# Zero downtime, measured: nginx (Debian's) balances 4 loopback hosts, each
# running examples/zero-downtime/app.py from `current`, restarted by the
# example's restart.sh. While wrk sends a steady load through nginx, ship
# deploys a new release three ways and this prints, for each, how many
# requests were made and how many failed:
#   parallel            every host restarted at once
#   rolling             --batch 1 with a health URL (expect_release) and [verify]
#   rolling + drain     the same, with local_drain/local_undrain taking each
#                       host out of nginx around its restart (examples/zero-downtime/lb.sh)
# Sends traffic only to loopback. Needs nginx and wrk (installed with
# apt-get when run as root). SHIP=path/to/ship to skip the release build.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/ensure-sshd.sh
ensure_sshd
if ! command -v nginx >/dev/null || ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx-light wrk >/dev/null
  else
    echo "zero-downtime.sh needs nginx and wrk: sudo apt-get install nginx-light wrk" >&2; exit 1
  fi
fi
if [ -z "${SHIP:-}" ]; then
  echo "==> building ship"; cargo build --release --locked --quiet; SHIP="$PWD/target/release/ship"
fi
DURATION=${DURATION:-25}
EXAMPLE="$PWD/examples/zero-downtime"

. scripts/lib/fleet.sh
fleet_config "keep_releases = 3
restart = 'sh ./restart.sh'"
echo "==> starting 4 sshd hosts"
fleet_start 4 31
# One app port free on every host's address.
for _ in $(seq 1 50); do
  APP_PORT=$(free_port 127.0.0.1); ok=1
  for a in "${FLEET_ADDRS[@]}"; do
    python3 -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1], int(sys.argv[2])))' "$a" "$APP_PORT" 2>/dev/null || ok=0
  done
  [ $ok = 1 ] && break
done
for i in 0 1 2 3; do
  mkdir -p "${FLEET_DIRS[$i]}/srv/demo/shared"
  echo "${FLEET_ADDRS[$i]} $APP_PORT" > "${FLEET_DIRS[$i]}/srv/demo/shared/bind"
done
cat >> "$WORK/hosts.toml" <<TOML

[health]
url = "http://{address}:$APP_PORT/up"
expect_release = true
timeout = "5s"
interval = "100ms"

[verify]
pidfile = "shared/app.pid"
TOML
cp "$WORK/hosts.toml" "$WORK/hosts-drain.toml"
cat >> "$WORK/hosts-drain.toml" <<TOML

[hooks]
local_drain = ['$EXAMPLE/lb.sh down "\$SHIP_HOST"']
local_undrain = ['$EXAMPLE/lb.sh up "\$SHIP_HOST"']
TOML

export LB_DIR="$WORK/lb"
mkdir -p "$LB_DIR/tmp"
LB_PORT=$(free_port 127.0.0.1)
: > "$LB_DIR/upstream.conf"
for i in 0 1 2 3; do
  echo "  server ${FLEET_ADDRS[$i]}:$APP_PORT max_fails=1 fail_timeout=2s; # web$((i + 1))" >> "$LB_DIR/upstream.conf"
done
cat > "$LB_DIR/nginx.conf" <<CONF
worker_processes 1;
pid nginx.pid;
error_log error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path tmp/body; proxy_temp_path tmp/proxy; fastcgi_temp_path tmp/fcgi;
  uwsgi_temp_path tmp/uwsgi; scgi_temp_path tmp/scgi;
  upstream app {
    include upstream.conf;
    keepalive 16;
  }
  server {
    listen 127.0.0.1:$LB_PORT;
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
CONF
stop_lb() { nginx -p "$LB_DIR/" -c nginx.conf -s stop 2>/dev/null || true; }
stop_apps() { for d in "${FLEET_DIRS[@]}"; do [ -f "$d/srv/demo/shared/app.pid" ] && kill "$(cat "$d/srv/demo/shared/app.pid")" 2>/dev/null || true; done; }
trap 'stop_lb; stop_apps; fleet_cleanup' EXIT

make_build() { rm -rf "$WORK/$1"; mkdir -p "$WORK/$1"; cp "$EXAMPLE/app.py" "$EXAMPLE/restart.sh" "$WORK/$1/"; echo "$1" > "$WORK/$1/VERSION"; }
make_build v1
echo "==> v1 on every host, then nginx in front on 127.0.0.1:$LB_PORT"
"$SHIP" -c "$WORK/hosts.toml" --no-progress -q deploy "$WORK/v1" --strategy parallel
nginx -p "$LB_DIR/" -c nginx.conf

measure() { # name config strategy-flags...
  local name=$1 config=$2; shift 2
  make_build "$name"
  # A new connection per request, as most clients behind a balancer make:
  # a reload of nginx closes idle keep-alive connections, which wrk would
  # count as errors though no request was lost.
  wrk -t2 -c16 -d"${DURATION}s" -H "Connection: close" "http://127.0.0.1:$LB_PORT/" > "$WORK/wrk.out" 2>&1 &
  local wrk_pid=$!
  sleep 2
  local t0; t0=$(date +%s.%N)
  "$SHIP" -c "$config" --no-progress -q deploy "$WORK/$name" "$@" > "$WORK/deploy.out" 2>&1 || { cat "$WORK/deploy.out"; }
  local took; took=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$t0" "$(date +%s.%N)")
  wait "$wrk_pid"
  local requests non2xx socket
  requests=$(awk '/requests in/ {print $1}' "$WORK/wrk.out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$WORK/wrk.out"); non2xx=${non2xx:-0}
  socket=$(awk '/Socket errors/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$WORK/wrk.out"); socket=${socket:-0}
  printf '%-18s %9s %8s %10ss\n' "$name" "$requests" "$((non2xx + socket))" "$took"
  if [ -n "${DEBUG:-}" ]; then cat "$WORK/wrk.out" "$WORK/deploy.out"; tail -5 "$LB_DIR/error.log"; cat "$LB_DIR/upstream.conf"; fi
}
echo
printf '%-18s %9s %8s %11s\n' RUN REQUESTS FAILED DEPLOY
measure parallel "$WORK/hosts.toml" --strategy parallel
measure rolling "$WORK/hosts.toml" --strategy rolling --batch 1
measure rolling+drain "$WORK/hosts-drain.toml" --strategy rolling --batch 1
echo
echo "(each run: wrk -t2 -c16 -H 'Connection: close' for ${DURATION}s through nginx, max_fails=1 fail_timeout=2s;"
echo " the deploy starts 2 s in and must end before the load does)"
