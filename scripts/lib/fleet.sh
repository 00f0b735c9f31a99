# Sourced by demo.sh and bench.sh: a fleet of real sshd hosts on loopback.
#   fleet_start N FIRST_OCTET   starts N sshd on 127.0.0.FIRST_OCTET.. with free ports
# It sets WORK (temp dir), FLEET_ADDRS/FLEET_PORTS/FLEET_DIRS (arrays),
# CLIENT_KEY and KNOWN_HOSTS, and appends one [[hosts]] table per host to
# $WORK/hosts.toml (write the [app] and [ssh] tables first with fleet_config).
# An EXIT trap stops every sshd and removes WORK.

SSHD_BIN=${SSHD:-/usr/sbin/sshd}
FLEET_PIDS=()
FLEET_ADDRS=()
FLEET_PORTS=()
FLEET_DIRS=()
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ship-fleet.XXXXXX")
CLIENT_KEY="$WORK/client_key"
KNOWN_HOSTS="$WORK/known_hosts"

fleet_cleanup() {
  for p in "${FLEET_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${FLEET_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap fleet_cleanup EXIT

free_port() { # a port free on $1 right now
  python3 -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1],0)); print(s.getsockname()[1])' "$1"
}

wait_banner() { # until sshd on $1:$2 says SSH-2.0, at most 10 s; $3 = its dir
  for _ in $(seq 1 100); do
    if timeout 1 bash -c "exec 3<>/dev/tcp/$1/$2 && head -c 7 <&3" 2>/dev/null | grep -q SSH-2.0; then return 0; fi
    sleep 0.1
  done
  echo "sshd on $1:$2 did not start; log:" >&2; cat "$3/sshd.log" >&2; exit 1
}

# [app] and [ssh] tables; $1 = extra [app] lines.
fleet_config() {
  ssh-keygen -q -t ed25519 -N '' -C ship-fleet -f "$CLIENT_KEY"
  cp "$CLIENT_KEY.pub" "$WORK/authorized_keys"
  : > "$KNOWN_HOSTS"
  cat > "$WORK/hosts.toml" <<TOML
[app]
name = "demo"
deploy_to = "/srv/demo"          # overridden per host: these "hosts" share one machine
$1

[ssh]
user = "$(id -un)"
identity_file = "$CLIENT_KEY"
known_hosts = "$KNOWN_HOSTS"
host_key_checking = "strict"
connect_timeout = "10s"
TOML
}

fleet_start() { # N FIRST_OCTET
  local n=$1 first=$2 i k addr port dir
  if [ "$(id -u)" = 0 ]; then mkdir -p /run/sshd; fi
  for i in $(seq 1 "$n"); do
    # 127.0.0.FIRST.. up to .254, then on into 127.0.1.x, 127.0.2.x (for 200+ hosts).
    k=$((first + i - 1))
    if [ "$k" -le 254 ]; then addr="127.0.0.$k"; else addr="127.0.$(( (k - 1) / 254 )).$(( (k - 1) % 254 + 1 ))"; fi
    port=$(free_port "$addr"); dir="$WORK/web$i"
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
MaxStartups 200:30:400
CFG
    "$SSHD_BIN" -D -e -f "$dir/sshd_config" 2>"$dir/sshd.log" &
    FLEET_PIDS+=($!)
    wait_banner "$addr" "$port" "$dir"
    echo "[$addr]:$port $(cut -d' ' -f1,2 "$dir/host_key.pub")" >> "$KNOWN_HOSTS"
    cat >> "$WORK/hosts.toml" <<TOML

[[hosts]]
name = "web$i"
address = "$addr"
port = $port
deploy_to = "$dir/srv/demo"
roles = ["web"]
TOML
    FLEET_ADDRS+=("$addr"); FLEET_PORTS+=("$port"); FLEET_DIRS+=("$dir")
  done
}
