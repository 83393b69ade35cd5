#!/usr/bin/env bash
# Two builds of mart, run alternately on the same projects, so that a change
# is measured against the code before it under the same machine load:
#
#   bash benches/ab.sh OLD_BINARY NEW_BINARY [ROUNDS]     (default: 7 rounds)
#
# Each round, for each binary: a first build of the generated 1,000-model
# project of benches/rebuild.sh, a no-op build of it, a no-op build of the
# example, and an incremental build of the example at scale 100 after one
# new day of data. Prints one line of milliseconds per binary and round.
set -euo pipefail
cd "$(dirname "$0")/.."
OLD=$(realpath "$1")
NEW=$(realpath "$2")
ROUNDS=${3:-7}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
ms() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1 || { echo "failed: $*"; exit 1; }; e=$(date +%s%N); echo $(((e - s) / 1000000)); }
sed -n '/^python3 - "\$WORK\/wide" <<.EOF.$/,/^EOF$/p' benches/rebuild.sh | sed '1d;$d' >"$W/wide.py"
for v in old new; do
  python3 "$W/wide.py" "$W/wide_$v"
  for copy in small inc; do mkdir -p "$W/${copy}_$v" && cp -r marts sql seeds "$W/${copy}_$v/"; done
  python3 seeds/generate.py --scale 100 --out "$W/inc_$v/seeds" >/dev/null
done
"$OLD" --project "$W/small_old" build -q >/dev/null && "$NEW" --project "$W/small_new" build -q >/dev/null
"$OLD" --project "$W/inc_old" build -q >/dev/null && "$NEW" --project "$W/inc_new" build -q >/dev/null
for _ in $(seq "$ROUNDS"); do
  for v in old new; do
    if [ $v = old ]; then M=$OLD; else M=$NEW; fi
    rm -rf "$W/wide_$v/warehouse"
    first=$(ms "$M" --project "$W/wide_$v" build -q)
    noop=$(ms "$M" --project "$W/wide_$v" build -q)
    small=$(ms "$M" --project "$W/small_$v" build -q)
    python3 seeds/generate.py --append-days 1 --out "$W/inc_$v/seeds" >/dev/null
    inc=$(ms "$M" --project "$W/inc_$v" build -q)
    echo "$v first_1000=$first noop_1000=$noop noop_example=$small incremental_x100=$inc"
  done
done
