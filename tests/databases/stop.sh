#!/usr/bin/env bash
# Stop what start.sh started in DIR and remove DIR.
set -uo pipefail
dir="${1:?usage: stop.sh DIR}"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
pg_ctl="$(dirname "$(command -v initdb 2>/dev/null || ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -1)")/pg_ctl"
[ -d "$dir/pg/data" ] && as_pg "$pg_ctl" -D "$dir/pg/data" -m immediate stop >/dev/null 2>&1
if [ -f "$dir/my/pid" ]; then kill "$(cat "$dir/my/pid")" 2>/dev/null; sleep 1; fi
rm -rf "$dir"
