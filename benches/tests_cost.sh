#!/usr/bin/env bash
# What the data tests cost a build of the example mart: the median wall time
# of `mart build --full-refresh` with its tests (write-audit-publish) and
# with --no-test, and of `mart test` alone, at a chosen scale.
#
#   bash benches/tests_cost.sh [SCALE] [RUNS]      (default: 1 and 100, 9 runs)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
RUNS=${2:-9}
cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml"
MART="${CARGO_TARGET_DIR:-$ROOT/target}/release/mart"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ms() { # run a command RUNS times, print the median in ms
  for _ in $(seq "$RUNS"); do
    local t0=$(date +%s%N); "$@" >/dev/null 2>&1; local t1=$(date +%s%N)
    echo $(( (t1 - t0) / 1000000 ))
  done | median
}

printf "| scale | build with tests ms | build --no-test ms | cost | mart test ms |\n|---:|---:|---:|---:|---:|\n"
for scale in ${1:-1 100}; do
  rm -rf "$WORK/p" && mkdir -p "$WORK/p"
  cp -r "$ROOT/marts" "$ROOT/sql" "$WORK/p/"
  if [ "$scale" = 1 ]; then
    cp -r "$ROOT/seeds" "$WORK/p/"
  else
    python3 "$ROOT/seeds/generate.py" --scale "$scale" --out "$WORK/p/seeds" >/dev/null
  fi
  "$MART" --project "$WORK/p" build -q >/dev/null
  with=$(ms "$MART" --project "$WORK/p" build -q --full-refresh)
  without=$(ms "$MART" --project "$WORK/p" build -q --full-refresh --no-test)
  alone=$(ms "$MART" --project "$WORK/p" test)
  cost=$(awk -v a="$with" -v b="$without" 'BEGIN { printf "%+.0f%%", (a - b) * 100 / b }')
  echo "| $scale | $with | $without | $cost | $alone |"
done
