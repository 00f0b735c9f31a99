#!/bin/sh
# The restart command of the zero-downtime example: stops the app this
# host runs (if any) and starts the new release's from the release dir,
# then waits until it listens. The host's address and port are in
# shared/bind (written when the host was set up).
set -eu
shared="$SHIP_DEPLOY_TO/shared"
read -r addr port < "$shared/bind"
if [ -f "$shared/app.pid" ]; then
  old=$(cat "$shared/app.pid")
  kill "$old" 2>/dev/null || true
  i=0; while kill -0 "$old" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
fi
setsid python3 app.py "$addr" "$port" </dev/null >>"$shared/app.log" 2>&1 &
echo $! > "$shared/app.pid"
i=0; until python3 -c 'import socket,sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 0.2)' "$addr" "$port" 2>/dev/null; do
  i=$((i + 1)); [ $i -lt 50 ] || { echo "the app did not listen on $addr:$port" >&2; exit 1; }
  sleep 0.1
done
