#!/usr/bin/env bash
# The kill loop of tests/it/reliability.rs with many more kills than CI's 50:
#   bash tests/kill_loop.sh [KILLS] [SEED]     (default 1000, a new seed)
# A failure prints MART_KILL_SEED; pass it back to replay the same kills.
set -euo pipefail
cd "$(dirname "$0")/.."
export MART_KILLS=${1:-1000}
if [ -n "${2:-}" ]; then export MART_KILL_SEED=$2; fi
cargo test --test it builds_killed_at_random_moments -- --nocapture
