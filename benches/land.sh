#!/usr/bin/env bash
# Landing a database table as Parquet: `mart land` against DuckDB's postgres
# and mysql extensions, ConnectorX (+ pyarrow's writer), and `psql \copy` to
# CSV then `mart land` of the CSV, one after the other on this machine:
#
#   bash benches/land.sh [ROWS]      (default 10000000)
#
# A table of ROWS rows and 15 columns (integers, a numeric, floats, text,
# a boolean, times, a date) is made in a local PostgreSQL and copied into a
# local MariaDB (tests/databases/start.sh starts both); each tool lands it
# whole; then `mart land` of an incremental source after 1 % new rows.
# Prints wall seconds, rows per second and peak memory (max RSS) of each.
# Needs what .ci/run installs, and a virtual environment it makes here with
# DuckDB 1.4.4 and its extensions from pip (no network for INSTALL), and
# ConnectorX.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-10000000}
VENV="$HOME/.cache/mart-bench-venv"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q "duckdb==1.4.4" duckdb-ext-postgres duckdb-ext-mysql connectorx pyarrow
PY="$VENV/bin/python"
cargo build --release --quiet
MART="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/mart"
W=$(mktemp -d /tmp/mart-land-bench.XXXXXX)
chmod 755 "$W"
trap 'bash tests/databases/stop.sh "$W/db"; rm -rf "$W"' EXIT
eval "$(bash tests/databases/start.sh "$W/db")"
PG="$MART_TEST_POSTGRES_URL"
MY_BASE="${MART_TEST_MYSQL_URL%/*}"
my() {
  local rest=${MY_BASE#mysql://}; local auth=${rest%@*}; local hp=${rest#*@}
  mariadb --no-defaults --local-infile=1 -h "${hp%:*}" -P "${hp#*:}" -u "${auth%:*}" -p"${auth#*:}" "$@"
}

echo "making a table of $ROWS rows in PostgreSQL and MariaDB"
psql "$PG" -qc "
  create table big (
    id bigint primary key, user_id integer, amount numeric(12, 2), price double precision,
    qty smallint, status text, country char(2), note varchar(64), paid boolean,
    created_at timestamptz, updated_at timestamp, day date, score real, views bigint, code integer);
  insert into big select g, g % 100000, (g % 1000000) / 100.0, g * 0.001, (g % 100)::smallint,
    (array['new', 'paid', 'shipped', 'refunded'])[1 + g % 4], (array['KR', 'US', 'DE', 'FR'])[1 + g % 4],
    'order note ' || g, g % 3 = 0, '2026-01-01'::timestamptz + g * interval '1 second',
    '2026-01-01'::timestamp + g * interval '1 second', '2026-01-01'::date + (g % 365), (g % 1000) / 7.0,
    g * 3, g % 65536
  from generate_series(1, $ROWS) g;
  create index on big (updated_at);"
psql "$PG" -qc "vacuum analyze big"
psql "$PG" -qc "\\copy big to '$W/big.csv' csv header"
my -e "create database shop;"
my shop -e "
  create table big (
    id bigint primary key, user_id int, amount decimal(12, 2), price double, qty smallint,
    status text, country char(2), note varchar(64), paid boolean, created_at timestamp(6) null,
    updated_at datetime(6), day date, score float, views bigint, code int, index (updated_at));
  set time_zone = '+00:00';
  load data local infile '$W/big.csv' into table big fields terminated by ',' optionally enclosed by '\"'
    ignore 1 lines
    (id, user_id, amount, price, qty, status, country, note, @paid, @created, updated_at, day, score, views, code)
    set paid = (@paid = 't'), created_at = replace(@created, '+00', '');"

P="$W/project"
mkdir -p "$P/marts"
cat >"$P/marts/sources.yml" <<EOF
sources:
  - name: pg1
    postgres: {url_env: PG, table: public.big}
  - name: pg4
    postgres: {url_env: PG, table: public.big}
    partitions: 4
  - name: my1
    mysql: {url_env: MY, table: big}
  - name: pg_inc
    postgres: {url_env: PG, table: public.big}
    incremental: {cursor: updated_at, primary_key: [id]}
  - name: csv
    path: big.csv
EOF
export PG MY="$MY_BASE/shop"

# name, command...: wall seconds (the median of $REPEAT runs: this machine's
# timings vary by 10-20 % from run to run) and the largest max RSS.
REPEAT=${REPEAT:-3}
results=()
measure() {
  local name=$1; shift
  local walls=() peak=0 secs rss
  for _ in $(seq "$REPEAT"); do
    sync
    /usr/bin/time -o "$W/time" -f "%e %M" "$@" >/dev/null 2>"$W/err" || { cat "$W/err"; exit 1; }
    read -r secs rss <"$W/time"
    walls+=("$secs")
    ((rss > peak)) && peak=$rss
  done
  secs=$(printf '%s\n' "${walls[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  results+=("$(printf '%-44s %8.2f s %12s rows/s %8d MB   (runs: %s)' "$name" "$secs" \
    "$(python3 -c "print(f'{$ROWS / $secs:,.0f}')")" $((peak / 1024)) "${walls[*]}")")
  echo "${results[-1]}"
}
PGKW="$(python3 -c "
import sys, urllib.parse as u
p = u.urlparse(sys.argv[1])
print(f'host={p.hostname} port={p.port} user={p.username} password={p.password} dbname={p.path[1:]}')" "$PG")"
MYKW="$(python3 -c "
import sys, urllib.parse as u
p = u.urlparse(sys.argv[1])
print(f'host={p.hostname} port={p.port} user={p.username} password={p.password} database=shop')" "$MY")"

measure "mart land (PostgreSQL, 1 connection)" "$MART" --project "$P" land pg1 --full-refresh
measure "mart land (PostgreSQL, 4 partitions)" "$MART" --project "$P" land pg4 --full-refresh
measure "mart land (MariaDB)" "$MART" --project "$P" land my1 --full-refresh
measure "DuckDB 1.4.4 postgres extension" "$PY" -c "
import duckdb, duckdb_ext, os
c = duckdb.connect(config={'extension_directory': os.path.join(list(duckdb_ext.__path__)[0], 'extensions')})
c.execute('LOAD postgres')
c.execute(\"ATTACH '$PGKW' AS pg (TYPE postgres, READ_ONLY)\")
c.execute(\"COPY (FROM pg.public.big) TO '$W/duck_pg.parquet'\")"
measure "DuckDB 1.4.4 mysql extension" "$PY" -c "
import duckdb, duckdb_ext, os
c = duckdb.connect(config={'extension_directory': os.path.join(list(duckdb_ext.__path__)[0], 'extensions')})
c.execute('LOAD mysql')
c.execute(\"ATTACH '$MYKW' AS my (TYPE mysql, READ_ONLY)\")
c.execute(\"COPY (FROM my.shop.big) TO '$W/duck_my.parquet'\")"
for n in 1 4; do
  measure "ConnectorX + pyarrow (PostgreSQL, $n)" "$PY" -c "
import connectorx as cx, pyarrow.parquet as pq
kw = dict(partition_on='id', partition_num=$n) if $n > 1 else {}
t = cx.read_sql('${PG}', 'select * from big', return_type='arrow', **kw)
pq.write_table(t, '$W/cx_pg$n.parquet')"
done
measure "ConnectorX + pyarrow (MariaDB)" "$PY" -c "
import connectorx as cx, pyarrow.parquet as pq
t = cx.read_sql('$MY', 'select * from big', return_type='arrow')
pq.write_table(t, '$W/cx_my.parquet')"
measure "psql \\copy to CSV" psql "$PG" -qc "\\copy big to '$P/big.csv' csv header"
REPEAT=1 measure "  then mart land of the CSV" "$MART" --project "$P" land csv

echo "incremental: a whole landing, then 1 % new rows"
REPEAT=1 measure "mart land, incremental source, first (whole)" "$MART" --project "$P" land pg_inc
NEW=$((ROWS / 100))
psql "$PG" -qc "insert into big select id + $ROWS, user_id, amount, price, qty, status, country, note, paid,
  created_at, updated_at + interval '1 year', day, score, views, code from big where id <= $NEW"
REPEAT=1 measure "mart land, incremental, after 1 % new rows" "$MART" --project "$P" land pg_inc
"$MART" --project "$P" query "select count(*) as rows from raw.pg_inc"
echo
printf '%s\n' "${results[@]}"
