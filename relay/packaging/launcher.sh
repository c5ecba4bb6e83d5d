#!/bin/sh
# /usr/lib/edgeboot-relay/launcher: what edgeboot-relay.service runs. It starts the release the relay
# installed for itself (relay/src/update/release-dir.ts), else the packaged executable:
#
#   releases/trial    a verified new release: started at most 3 times, then abandoned (failed.json
#                     says why; the relay that runs next reports the rollback to the cloud)
#   releases/current  the release that proved healthy
#   otherwise         /usr/lib/edgeboot-relay/edgeboot-relay
#
# It `exec`s, so systemd watches the relay itself (kill -9, restarts, exit statuses).
set -u
STATE=${EDGEBOOT_RELAY_STATE:-/var/lib/edgeboot-relay}
R="$STATE/releases"
exe=/usr/lib/edgeboot-relay/edgeboot-relay
if [ -L "$R/current" ] && [ -x "$R/current" ]; then exe="$R/current"; fi
if [ -L "$R/trial" ]; then
  n=$(cat "$R/trial-starts" 2>/dev/null || echo 0)
  case $n in '' | *[!0-9]*) n=0 ;; esac
  v=$(readlink "$R/trial")
  v=${v%%/*}
  if [ "$n" -lt 3 ] && [ -x "$R/trial" ]; then
    echo $((n + 1)) >"$R/trial-starts"
    exe="$R/trial"
  else
    printf '{"version":"%s","reason":"the new release stopped before it was healthy, %s times","at":"%s"}\n' "$v" "$n" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$R/failed.json.tmp" &&
      mv -f "$R/failed.json.tmp" "$R/failed.json"
    rm -f "$R/trial" "$R/trial-starts"
    echo "edgeboot-relay launcher: release $v stopped $n times before it was healthy: starting $exe" >&2
  fi
fi
EDGEBOOT_RELAY_LAUNCHER=1
export EDGEBOOT_RELAY_LAUNCHER
exec "$exe" "$@"
