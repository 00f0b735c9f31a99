#!/usr/bin/env bash
# Benchmark (not a test): ship against the raw OpenSSH pipe on a loopback
# fleet. Usage: scripts/bench.sh [HOSTS=3] [RUNS=3] [MB=50]
#   ship:  ship deploy BUILD  (package once, stream, verify, switch, restart=none)
#   raw:   tar czf once, then per host in parallel
#          ssh host 'mkdir -p R && tar xzf - -C R && ln -s R tmp && mv -T tmp current'
#   rollback: ship rollback --to ID  vs  per host in parallel
#          ssh host 'ln -sfn R tmp && mv -T tmp current'
#   delta: after changing 1% of the files, ship deploy BUILD (hosts get only
#          what changed) vs the raw full deploy; and its bytes vs the full
#          archive's. ship's full deploys use --full.
# Runs alternate; prints medians, the ratios, and ship's peak RSS, and
# records the row for this host count in docs/PERFORMANCE.md (with the
# machine and date) unless BENCH_NO_DOC=1.
set -euo pipefail
cd "$(dirname "$0")/.."
HOSTS=${1:-3}; RUNS=${2:-3}; MB=${3:-50}
. scripts/lib/ensure-sshd.sh
ensure_sshd
cargo build --release --locked --quiet
SHIP="$PWD/target/release/ship"
. scripts/lib/fleet.sh
# keep_releases is high so no prune (deleting a whole release) happens in
# the measured runs: the raw pipe cleans nothing up either.
fleet_config "keep_releases = 50"
fleet_start "$HOSTS" 101

# A realistic build with a fixed seed: ~60% of bytes in thousands of small
# compressible text files, ~40% in a few incompressible binaries.
python3 - "$WORK/build" "$MB" <<'PY'
import os, random, sys
root, mb = sys.argv[1], int(sys.argv[2])
rng = random.Random(42)
words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 10))) for _ in range(5000)]
text_bytes, n = int(mb * 0.6 * 2**20), 0
while text_bytes > 0:
    d = os.path.join(root, "app", f"mod{n % 50:02d}")
    os.makedirs(d, exist_ok=True)
    size = rng.randint(2_000, 18_000)
    body = []
    while sum(map(len, body)) < size:
        body.append(" ".join(rng.choice(words) for _ in range(12)) + ";\n")
    data = "".join(body).encode()
    open(os.path.join(d, f"f{n:05d}.js"), "wb").write(data)
    text_bytes -= len(data); n += 1
os.makedirs(os.path.join(root, "bin"), exist_ok=True)
for i in range(4):
    open(os.path.join(root, "bin", f"blob{i}.bin"), "wb").write(rng.randbytes(int(mb * 0.1 * 2**20)))
print(f"build: {n} text files + 4 binaries, {mb} MB", file=sys.stderr)
PY

SSH_OPTS=(-i "$CLIENT_KEY" -o UserKnownHostsFile="$KNOWN_HOSTS" -o StrictHostKeyChecking=yes -o BatchMode=yes)
raw_deploy() {
  local id; id=$(date -u +%Y%m%d%H%M%S)-raw$1
  tar czf "$WORK/raw.tar.gz" -C "$WORK/build" .
  local pids=() i
  for i in $(seq 0 $((HOSTS - 1))); do
    local d="${FLEET_DIRS[$i]}/raw"
    ssh "${SSH_OPTS[@]}" -p "${FLEET_PORTS[$i]}" "$(id -un)@${FLEET_ADDRS[$i]}" \
      "mkdir -p $d/releases/$id && tar xzf - -C $d/releases/$id && ln -s $d/releases/$id $d/current.tmp && mv -T $d/current.tmp $d/current" \
      < "$WORK/raw.tar.gz" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
}
raw_cleanup() {
  for i in $(seq 0 $((HOSTS - 1))); do rm -rf "${FLEET_DIRS[$i]}/raw/releases"; done
}
# Dirty pages of one run must not be flushed during the next one's timing.
settle() { sync; sleep 1; }
ship_deploy() {
  /usr/bin/time -f "%M" -o "$WORK/rss" "$SHIP" -c "$WORK/hosts.toml" -q deploy --full "$WORK/build" > /dev/null
}
now() { date +%s.%N; }

ship_times=(); raw_times=(); rss=()
for r in $(seq 1 "$RUNS"); do
  settle; t0=$(now); raw_deploy "$r"; t1=$(now); raw_times+=("$(awk "BEGIN {print $t1 - $t0}")")
  settle; t0=$(now); ship_deploy; t1=$(now); ship_times+=("$(awk "BEGIN {print $t1 - $t0}")"); rss+=("$(cat "$WORK/rss")")
  echo "run $r: raw ${raw_times[-1]} s, ship ${ship_times[-1]} s" >&2
done
# Raw releases are removed only now: deleting tens of thousands of files
# right before ship's timed run made ship pay for it (ext4 journal and
# discard work landed in the next run: 16.7 s vs 7.5 s for the same deploy).
raw_cleanup
# Rollback: flip current between the last two releases, alternating.
if [ "$RUNS" -lt 2 ]; then ship_deploy; fi # two releases to flip between
ids=($("$SHIP" -c "$WORK/hosts.toml" --format json releases | python3 -c 'import json,sys; r=json.load(sys.stdin)[0]["releases"]; print(r[1]["id"], r[0]["id"])'))
for i in $(seq 0 $((HOSTS - 1))); do mkdir -p "${FLEET_DIRS[$i]}/raw/releases/a" "${FLEET_DIRS[$i]}/raw/releases/b"; done
raw_rollback() {
  local pids=() i d
  for i in $(seq 0 $((HOSTS - 1))); do
    d="${FLEET_DIRS[$i]}/raw"
    ssh "${SSH_OPTS[@]}" -p "${FLEET_PORTS[$i]}" "$(id -un)@${FLEET_ADDRS[$i]}" \
      "ln -sfn $d/releases/$1 $d/current.tmp && mv -T $d/current.tmp $d/current" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
}
ship_rb=(); raw_rb=()
for r in $(seq 1 "$RUNS"); do
  to=${ids[$(((r + 1) % 2))]}; ab=$([ $((r % 2)) = 0 ] && echo a || echo b)
  t0=$(now); raw_rollback "$ab"; t1=$(now); raw_rb+=("$(awk "BEGIN {print $t1 - $t0}")")
  t0=$(now); "$SHIP" -c "$WORK/hosts.toml" -q rollback --to "$to" > /dev/null; t1=$(now); ship_rb+=("$(awk "BEGIN {print $t1 - $t0}")")
  echo "rollback $r: raw ${raw_rb[-1]} s, ship ${ship_rb[-1]} s" >&2
done

# Delta: each run changes 1% of the text files (another fixed-seed pick),
# then deploys; the base is whatever release is current.
change_files() {
  python3 - "$WORK/build" "$1" <<'PY'
import glob, random, sys
root, seed = sys.argv[1], int(sys.argv[2])
files = sorted(glob.glob(f"{root}/app/*/*.js"))
for p in random.Random(seed).sample(files, max(1, len(files) // 100)):
    open(p, "a").write(f"// changed in run {seed}\n")
PY
}
ship_delta=(); delta_pct=()
for r in $(seq 1 "$RUNS"); do
  change_files "$r"
  settle; t0=$(now); "$SHIP" -c "$WORK/hosts.toml" --format json deploy "$WORK/build" > "$WORK/delta.json"; t1=$(now)
  ship_delta+=("$(awk "BEGIN {print $t1 - $t0}")")
  delta_pct+=("$(python3 -c 'import json,sys
ev=[json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
d=[e for e in ev if e.get("type")=="delta"]
print(100.0*sum(e["bytes"]*len(e["hosts"]) for e in d)/max(1,sum(e["full_bytes"]*len(e["hosts"]) for e in d)) if d else 100)' "$WORK/delta.json")")
  echo "delta $r: ship ${ship_delta[-1]} s, ${delta_pct[-1]}% of the full bytes" >&2
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}'; }
ms=$(median "${ship_times[@]}"); mr=$(median "${raw_times[@]}"); mrss=$(median "${rss[@]}")
rs=$(median "${ship_rb[@]}"); rr=$(median "${raw_rb[@]}")
md=$(median "${ship_delta[@]}"); mp=$(median "${delta_pct[@]}")
row=$(printf '| %s | %s MB | %s | %.2f s | %.2f s | %.2f | %.2f s | %.2f s | %.2f | %.2f s | %.2f | %.1f%% | %d MB |' \
  "$HOSTS" "$MB" "$RUNS" "$ms" "$mr" "$(awk "BEGIN {print $ms / $mr}")" "$rs" "$rr" "$(awk "BEGIN {print $rs / $rr}")" \
  "$md" "$(awk "BEGIN {print $md / $mr}")" "$mp" "$((mrss / 1024))")
header='| hosts | build | runs | ship deploy | raw OpenSSH deploy | ratio | ship rollback | raw mv -T loop | ratio | ship delta (1% of files) | vs raw deploy | delta bytes vs full | ship peak RSS |'
echo
echo "$header"
echo "$row"
[ "${BENCH_NO_DOC:-}" = 1 ] && exit 0
machine="$(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(ssh -V 2>&1)"
python3 - docs/PERFORMANCE.md "$HOSTS" "$row" "$header" "$machine" <<'PY'
import datetime, os, sys
path, hosts, row, header, machine = sys.argv[1:]
rows, notes = {}, ""
if os.path.exists(path):
    text = open(path).read()
    # Everything from "## Analysis" on is written by hand and kept.
    if "\n## Analysis" in text:
        notes = text[text.index("\n## Analysis"):]
    for line in text.split("\n"):
        cells = line.split("|")
        if len(cells) > 2 and cells[1].strip().isdigit():
            rows[int(cells[1])] = line.rstrip("\n")
rows[int(hosts)] = row
today = datetime.date.today().isoformat()
body = f"""# Performance

Measured by `scripts/bench.sh HOSTS RUNS MB` (a benchmark, never part of the
tests): a loopback fleet of real sshd hosts on one machine, a realistic
build (fixed seed: ~60% of bytes in thousands of small text files, ~40% in
4 incompressible binaries), runs alternating between ship and the raw
OpenSSH equivalent, medians. Raw deploy: `tar czf` once, then per host in
parallel `ssh host 'tar xzf - -C R && ln -s R tmp && mv -T tmp current'`.
Raw rollback: per host in parallel `ssh host 'ln -sfn R tmp && mv -T tmp
current'`. Delta: each run first changes 1% of the text files (appends a
line), then `ship deploy` (hosts hard-link what they have and receive the
rest); its wall time is divided by the raw full deploy's median, its bytes
by the full archive's. ship's full deploys use `--full`. Ratios below 1
mean ship is faster. The machine is shared and noisy: compare ratios from
one run, not absolute times across runs. The 200-host row predates the
delta columns (its last cell is the RSS).

Last run: {today}, {machine}.

{header}
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
""" + "\n".join(rows[k] for k in sorted(rows)) + "\n" + notes
open(path, "w").write(body)
PY
echo "recorded in docs/PERFORMANCE.md" >&2
