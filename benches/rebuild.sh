#!/usr/bin/env bash
# How much a rebuild costs: a no-op build of the example mart, loading and
# building generated projects of 1,000 and 10,000 models, and a full against
# an incremental build
# of the example at a larger scale after a day of new data.
#
#   bash benches/rebuild.sh [SCALE] [RUNS] [MODELS]   (defaults: 30, 5, 10000)
#
# Prints a Markdown table of medians (wall-clock milliseconds).
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE=${1:-30}
RUNS=${2:-5}
MODELS=${3:-10000}
cargo build --release --quiet
MART="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/mart"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# Milliseconds one command takes (its output is dropped; a failure stops all).
ms() {
  local start end
  start=$(date +%s%N)
  "$@" >"$WORK/out.log" 2>&1 || { cat "$WORK/out.log"; exit 1; }
  end=$(date +%s%N)
  echo $(((end - start) / 1000000))
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2 ? a[(NR + 1) / 2] : int((a[NR / 2] + a[NR / 2 + 1]) / 2))}'; }
# The median of RUNS runs of a command.
bench() { for _ in $(seq "$RUNS"); do ms "$@"; done | median; }
example() { mkdir -p "$1" && cp -r marts sql seeds "$1/"; }

# 1. No-op build of the example as committed.
example "$WORK/small"
"$MART" --project "$WORK/small" build --quiet >/dev/null
noop=$(bench "$MART" --project "$WORK/small" build --quiet)

# 2. 1,000 models over one small source: each reads two of the 50 models
#    before it; 70 % are tables, 20 % views, 10 % ephemeral models.
python3 - "$WORK/wide" <<'EOF'
import os, random, sys
root = sys.argv[1]
rng = random.Random(7)
os.makedirs(f"{root}/sql", exist_ok=True)
os.makedirs(f"{root}/marts", exist_ok=True)
os.makedirs(f"{root}/data", exist_ok=True)
with open(f"{root}/data/t.csv", "w") as f:
    f.write("id,g,v\n" + "".join(f"{i},{i % 10},{i * 3}\n" for i in range(100)))
yaml = ["sources:\n  - name: t\n    path: data/t.csv\nmodels:\n"]
kinds = ["table"] * 7 + ["view"] * 2 + ["ephemeral"]
for i in range(1000):
    kind = kinds[i % 10]
    yaml.append(f"  - name: m{i:04d}\n    materialized: {kind}\n    tags: [t{i % 7}]\n")
    if i < 10:
        sql = f"select id, g, v + {i} as v from raw.t"
    else:
        a, b = rng.sample(range(max(0, i - 50), i), 2)
        sql = f"select a.id, a.g, a.v + b.v as v from m{a:04d} a join m{b:04d} b on a.id = b.id"
    with open(f"{root}/sql/m{i:04d}.sql", "w") as f:
        f.write(sql + "\n")
with open(f"{root}/marts/models.yml", "w") as f:
    f.write("".join(yaml))
EOF
ls_1000=$(bench "$MART" --project "$WORK/wide" ls)
full_1000=$(ms "$MART" --project "$WORK/wide" build --quiet)
noop_1000=$(bench "$MART" --project "$WORK/wide" build --quiet)

# 3. MODELS (10,000) models as a large team's mart: SQL in 20 folders, each a
#    CTE, a join of two of the 200 models before it and a window.
python3 benches/many_models.py "$MODELS" "$WORK/many"
ls_many=$(bench "$MART" --project "$WORK/many" ls)
full_many=$(ms "$MART" --project "$WORK/many" build --quiet)
noop_many=$(bench "$MART" --project "$WORK/many" build --quiet)

# 4. The example at SCALE, twice: each run appends the same new day to both
#    copies, then builds one incrementally and the other in full; both land
#    the changed raw files.
example "$WORK/inc"
python3 seeds/generate.py --scale "$SCALE" --out "$WORK/inc/seeds" >"$WORK/gen.log"
cp -r "$WORK/inc" "$WORK/full"
first=$(ms "$MART" --project "$WORK/inc" build --quiet)
"$MART" --project "$WORK/full" build --quiet >/dev/null
inc=(); full=()
for _ in $(seq "$RUNS"); do
  for copy in inc full; do
    python3 seeds/generate.py --append-days 1 --out "$WORK/$copy/seeds" >/dev/null
  done
  inc+=("$(ms "$MART" --project "$WORK/inc" build --quiet)")
  cp "$WORK/out.log" "$WORK/inc.log"
  full+=("$(ms "$MART" --project "$WORK/full" build --quiet --full-refresh)")
  cp "$WORK/out.log" "$WORK/full.log"
done
# Same data, same tables.
for table in daily_revenue stg_events cohort_retention; do
  cmp -s <("$MART" --project "$WORK/inc" query --format csv "select * from $table" | sort) \
         <("$MART" --project "$WORK/full" query --format csv "select * from $table" | sort) ||
    { echo "incremental and full builds of $table differ"; exit 1; }
done
inc_ms=$(printf '%s\n' "${inc[@]}" | median)
full_ms=$(printf '%s\n' "${full[@]}" | median)
rows=$(grep -o '[0-9,]* users, [0-9,]* orders, [0-9,]* events' "$WORK/gen.log")

echo
echo "mart $("$MART" --version | cut -d' ' -f2), $(nproc) cores, $(date -u +%Y-%m-%d), median of $RUNS runs"
echo
echo "| what | command | ms |"
echo "|---|---|---:|"
echo "| no-op build, example mart (13 nodes) | \`mart build\` (all up to date) | $noop |"
echo "| load, parse and order 1,000 models | \`mart ls\` | $ls_1000 |"
echo "| first build, 1,000 models | \`mart build\` | $full_1000 |"
echo "| no-op build, 1,000 models | \`mart build\` (all up to date) | $noop_1000 |"
echo "| load, parse and order $MODELS models in 20 folders | \`mart ls\` | $ls_many |"
echo "| first build, $MODELS models | \`mart build\` | $full_many |"
echo "| no-op build, $MODELS models | \`mart build\` (all up to date) | $noop_many |"
echo "| first build, example at scale $SCALE ($rows) | \`mart build\` | $first |"
echo "| after one new day: full rebuild | \`mart build --full-refresh\` | $full_ms |"
echo "| after one new day: incremental build | \`mart build\` | $inc_ms |"
echo
echo "The last full rebuild:"
cat "$WORK/full.log"
echo
echo "The last incremental build:"
cat "$WORK/inc.log"
