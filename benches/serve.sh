#!/usr/bin/env bash
# `mart serve` against PostgreSQL holding the same tables, and `mart query`:
#
#   bash benches/serve.sh [SCALE] [SECONDS]     (defaults: 100 and 10)
#
# The example mart at SCALE (seeds/generate.py; raw.events has about 1.07M rows
# at 100) is built and served; a PostgreSQL server (initdb in a temporary
# folder, run as the `postgres` user when this runs as root) is loaded with
# the same tables from the mart. benches/serve_bench.py then measures, through
# psycopg, p50/p99 latency of a point query and of a dashboard aggregate, and
# the point query's throughput with 1, 8 and 32 clients for SECONDS each;
# for `mart serve` with its tables in memory (the default) and with
# `--cache 0` (every query reads the Parquet), and `mart query` (a process
# per query) for the same two queries.
# Needs psql, initdb/pg_ctl, and psycopg (the venv that .ci/run makes).
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE=${1:-100}
SECONDS_EACH=${2:-10}
PY=${MART_TEST_PYTHON:-$HOME/.cache/mart-venv/bin/python}
cargo build --release --quiet
MART="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/mart"
W=$(mktemp -d)
chmod 755 "$W"
PG_PORT=55432
MART_PORT=55433
FILES_PORT=55434
cleanup() {
  [ -n "${SERVE_PID:-}" ] && kill "$SERVE_PID" 2>/dev/null || true
  [ -n "${FILES_PID:-}" ] && kill "$FILES_PID" 2>/dev/null || true
  as_pg pg_ctl -D "$W/pg" stop -m fast >/dev/null 2>&1 || true
  rm -rf "$W"
}
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
trap cleanup EXIT

cp -r marts sql seeds "$W/"
python3 seeds/generate.py --scale "$SCALE" --out "$W/seeds" >/dev/null
"$MART" --project "$W" build -q
"$MART" --project "$W" serve --listen "127.0.0.1:$MART_PORT" >"$W/serve.log" 2>&1 &
SERVE_PID=$!
# The same without its tables in memory: every query reads the Parquet.
"$MART" --project "$W" serve --cache 0 --listen "127.0.0.1:$FILES_PORT" >"$W/files.log" 2>&1 &
FILES_PID=$!

mkdir "$W/pg" && { [ "$(id -u)" != 0 ] || chown postgres "$W/pg"; }
as_pg initdb -D "$W/pg" -A trust -U bench >/dev/null
as_pg pg_ctl -D "$W/pg" -o "-p $PG_PORT -k $W/pg -c listen_addresses=127.0.0.1" -l "$W/pg/log" start >/dev/null
until psql "host=127.0.0.1 port=$PG_PORT user=bench dbname=postgres" -Atc "select 1" >/dev/null 2>&1; do sleep 0.2; done
psql "host=127.0.0.1 port=$PG_PORT user=bench dbname=postgres" -qc "create schema raw" >/dev/null
until grep -q "in memory" "$W/serve.log" && grep -q "listening on" "$W/files.log"; do sleep 0.2; done
grep "in memory" "$W/serve.log"

"$PY" benches/serve_bench.py \
  --mart "host=127.0.0.1 port=$MART_PORT user=bench dbname=mart sslmode=disable" \
  --mart-files "host=127.0.0.1 port=$FILES_PORT user=bench dbname=mart sslmode=disable" \
  --postgres "host=127.0.0.1 port=$PG_PORT user=bench dbname=postgres sslmode=disable" \
  --mart-bin "$MART" --project "$W" --seconds "$SECONDS_EACH"
