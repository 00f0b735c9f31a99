#!/bin/sh
# lb.sh down|up HOST: takes HOST out of the nginx upstream, or puts it
# back, and reloads nginx gracefully. Used as local_drain / local_undrain
# (`lb.sh down "$SHIP_HOST"`); LB_DIR is where nginx.conf and
# upstream.conf live (one `server ADDR:PORT ...; # HOST` line per host).
set -eu
conf="$LB_DIR/upstream.conf"
case "$1" in
  down) sed -i "s/^\(  server [^ ]*\) .*; # $2\$/\1 down; # $2/" "$conf" ;;
  up) sed -i "s/^\(  server [^ ]*\) .*; # $2\$/\1 max_fails=1 fail_timeout=2s; # $2/" "$conf" ;;
  *) echo "usage: lb.sh down|up HOST" >&2; exit 2 ;;
esac
nginx -p "$LB_DIR/" -c nginx.conf -s reload
# Old workers finish the requests they hold; new ones use the new list.
sleep 1
