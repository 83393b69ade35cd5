#!/usr/bin/env bash
# The performance benchmark: two workloads, each built by `mart`, by bare
# DataFusion (benches/bare_datafusion.rs) and by DuckDB (benches/duckdb_run.py)
# on the same SQL and the same raw files, side by side.
#
#   bash benches/perf.sh                      # defaults below
#   RUNS=5 EXAMPLE_SCALE=300 TPCH_SF=1 bash benches/perf.sh
#   RUNS=1 TPCH_SF=10 MEMORY_LIMIT=2GiB bash benches/perf.sh
#
# MEMORY_LIMIT runs mart with --memory-limit (as MART_MEMORY_LIMIT) and
# DuckDB with that memory_limit; bare DataFusion runs without one.
#
# Workloads: the example mart at EXAMPLE_SCALE (seeds/generate.py), and the
# TPC-H mart of benches/tpch at scale factor TPCH_SF (data from tpchgen-cli,
# installed with cargo). For each: a full `mart build` into an empty
# warehouse, the same SQL by bare DataFusion and by DuckDB (installed with pip
# into a virtual environment; skipped with a message when that fails), a
# no-op build, an incremental build after appending about 1 % new data, and
# `mart query "select 1"`. Medians of RUNS runs; peak memory is the largest
# maximum resident set size (/usr/bin/time) of those runs.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUNS=${RUNS:-3}
EXAMPLE_SCALE=${EXAMPLE_SCALE:-300}
TPCH_SF=${TPCH_SF:-1}
if [ -n "${MEMORY_LIMIT:-}" ]; then
  export MART_MEMORY_LIMIT=$MEMORY_LIMIT
  export DUCKDB_MEMORY_LIMIT=${MEMORY_LIMIT/iB/B}
fi
CACHE=${MART_BENCH_CACHE:-$HOME/.cache/mart-bench}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$CACHE"

echo "building mart and the bare DataFusion runner (release)..." >&2
cargo build --release --quiet
TARGET=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
MART="$TARGET/release/mart"
BARE=$(cargo bench --bench bare_datafusion --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("executable") and m.get("target", {}).get("name") == "bare_datafusion":
        print(m["executable"])')

if [ ! -x "$CACHE/tools/bin/tpchgen-cli" ]; then
  echo "installing tpchgen-cli..." >&2
  cargo install --quiet --root "$CACHE/tools" tpchgen-cli
fi
DUCKDB_PY="$CACHE/venv/bin/python"
if ! "$DUCKDB_PY" -c 'import duckdb, numpy' 2>/dev/null; then
  echo "installing DuckDB into $CACHE/venv..." >&2
  { python3 -m venv "$CACHE/venv" && "$CACHE/venv/bin/pip" install --quiet duckdb numpy; } >&2 || true
fi
if "$DUCKDB_PY" -c 'import duckdb' 2>/dev/null; then
  DUCKDB_VERSION=$("$DUCKDB_PY" -c 'import duckdb; print(duckdb.__version__)')
else
  echo "DuckDB could not be installed: its column is left empty" >&2
  DUCKDB_PY=""
fi

# `measure CMD...`: run once; prints "seconds peak_kb" (wall clock to the
# millisecond, peak resident memory from /usr/bin/time). A failure stops all.
measure() {
  local start end
  start=$(date +%s%N)
  /usr/bin/time -f "%M" -o "$WORK/time" "$@" >"$WORK/out.log" 2>&1 || {
    cat "$WORK/out.log" >&2
    exit 1
  }
  end=$(date +%s%N)
  echo "$(awk -v ns=$((end - start)) 'BEGIN {printf "%.3f", ns / 1e9}') $(cat "$WORK/time")"
}
# `repeat SETUP CMD...`: RUNS times, SETUP (a shell snippet) then CMD;
# prints "median_seconds max_peak_kb".
repeat() {
  local setup=$1
  shift
  for _ in $(seq "$RUNS"); do
    eval "$setup"
    measure "$@"
  done | sort -n | awk '{s[NR] = $1; if ($2 > m) m = $2} END {printf "%.3f %d\n", (NR % 2 ? s[(NR + 1) / 2] : (s[NR / 2] + s[NR / 2 + 1]) / 2), m}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else printf "-"}'; }
mb() { awk -v k="$1" 'BEGIN {printf "%d", k / 1024}'; }

# `bench NAME PROJECT APPEND`: every measure of one workload; APPEND is a
# shell snippet that adds about 1 % new raw data to PROJECT.
bench() {
  local name=$1 p=$2 append=$3
  # --no-test: the same SQL as bare DataFusion and DuckDB run, the data
  # tests apart (their cost: benches/tests_cost.sh).
  echo "== $name: full builds" >&2
  read -r full full_kb < <(repeat "rm -rf '$p/warehouse'" "$MART" --project "$p" build --quiet --no-test)
  cp "$WORK/out.log" "$WORK/$name.full.log"
  read -r bare bare_kb < <(repeat "rm -rf '$WORK/bare'" "$BARE" "$p" "$p/warehouse/_mart/manifest.json" "$WORK/bare")
  local duck="" duck_kb=0
  if [ -n "$DUCKDB_PY" ]; then
    read -r duck duck_kb < <(repeat "rm -rf '$WORK/duck'" "$DUCKDB_PY" benches/duckdb_run.py "$p" "$p/warehouse/_mart/manifest.json" "$WORK/duck")
  fi
  echo "== $name: no-op build, select 1" >&2
  read -r noop _ < <(repeat ":" "$MART" --project "$p" build --quiet)
  read -r select1 _ < <(repeat ":" "$MART" --project "$p" query "select 1")
  echo "== $name: incremental builds" >&2
  read -r inc inc_kb < <(repeat "$append" "$MART" --project "$p" build --quiet --no-test)
  cp "$WORK/out.log" "$WORK/$name.inc.log"
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s / %s |\n' \
    "$name" "$full" "$bare" "${duck:--}" "$( [ -n "$duck" ] && ratio "$full" "$duck" || echo -)" \
    "$(ratio "$full" "$bare")" "$(awk -v s="$noop" 'BEGIN {printf "%d", s * 1000}')" \
    "$inc" "$(ratio "$inc" "$full")" "$(awk -v s="$select1" 'BEGIN {printf "%d", s * 1000}')" \
    "$(mb "$full_kb")" "$(mb "$bare_kb")" "$( [ -n "$duck" ] && mb "$duck_kb" || echo -)" >>"$WORK/table"
}

# Workload 1: the example mart at EXAMPLE_SCALE; an append is two more days
# of orders and events (about 1 % of the 181 days).
echo "generating the example at scale $EXAMPLE_SCALE..." >&2
mkdir -p "$WORK/example" && cp -r marts sql "$WORK/example/"
python3 seeds/generate.py --scale "$EXAMPLE_SCALE" --out "$WORK/example/seeds" >"$WORK/example.gen"
bench "example ×$EXAMPLE_SCALE" "$WORK/example" \
  "python3 '$ROOT/seeds/generate.py' --append-days 2 --out '$WORK/example/seeds' >/dev/null"

# Workload 2: TPC-H; an append is about 1 % of the orders and their lines
# again, with new keys and dates later than any before (as new data comes),
# as one more Parquet file per table.
echo "generating TPC-H at scale factor $TPCH_SF..." >&2
T="$WORK/tpch"
mkdir -p "$T" && cp -r benches/tpch/marts benches/tpch/sql "$T/"
"$CACHE/tools/bin/tpchgen-cli" parquet -s "$TPCH_SF" --output-dir "$WORK/tpch-gen" >/dev/null
for table in lineitem orders customer part partsupp supplier nation region; do
  mkdir -p "$T/data/$table" && mv "$WORK/tpch-gen/$table.parquet" "$T/data/$table/part-0.parquet"
done
append_tpch() {
  local n=$1 off=$((1000000000 * $1)) days=$((2600 * $1))
  "$MART" --project "$T" query -o "$T/data/orders/append-$n.parquet" "select o_orderkey + $off as o_orderkey, o_custkey, o_orderstatus, o_totalprice, o_orderdate + interval '$days days' as o_orderdate, o_orderpriority, o_clerk, o_shippriority, o_comment from raw.orders where o_orderkey % 100 = 7 and o_orderkey < 1000000000" >/dev/null
  "$MART" --project "$T" query -o "$T/data/lineitem/append-$n.parquet" "select l_orderkey + $off as l_orderkey, l_partkey, l_suppkey, l_linenumber, l_quantity, l_extendedprice, l_discount, l_tax, l_returnflag, l_linestatus, l_shipdate + interval '$days days' as l_shipdate, l_commitdate + interval '$days days' as l_commitdate, l_receiptdate + interval '$days days' as l_receiptdate, l_shipinstruct, l_shipmode, l_comment from raw.lineitem where l_orderkey % 100 = 7 and l_orderkey < 1000000000" >/dev/null
}
APPENDS=0
bench "TPC-H SF$TPCH_SF" "$T" 'APPENDS=$((APPENDS + 1)); append_tpch $APPENDS'

echo
echo "mart $("$MART" --version | cut -d' ' -f2), DataFusion 55, DuckDB ${DUCKDB_VERSION:-(not run)}; memory limit: ${MEMORY_LIMIT:-none}; $(nproc) cores, $(awk '/MemTotal/ {printf "%d GiB", $2 / 1048576}' /proc/meminfo); $(date -u +%Y-%m-%d); median of $RUNS runs, seconds unless said"
echo "example ×$EXAMPLE_SCALE: $(cat "$WORK/example.gen")"
echo
echo "| workload | mart build | bare DataFusion | DuckDB | mart / DuckDB | mart / bare DF | no-op build (ms) | incremental build after +1 % | incremental / full | mart query \"select 1\" (ms) | peak MB: mart / bare DF / DuckDB |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
cat "$WORK/table"
for log in "$WORK"/*.full.log "$WORK"/*.inc.log; do
  echo
  echo "$(basename "$log" .log):"
  cat "$log"
done
