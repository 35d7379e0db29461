#!/usr/bin/env bash
# End-to-end benchmark of `churn run` on generated data (release build).
#
#   benches/run.sh [CUSTOMERS]
#
# Uses bench-data/c<CUSTOMERS>-d100 (made by benches/features.sh if missing): about 10 million rows
# for a million customers. Each run starts from empty output and model directories (so it fits
# segments and has no current model), and prints wall time and peak RSS (GNU time) and the
# manifest's stage timings.
set -euo pipefail
cd "$(dirname "$0")/.."

customers="${1:-1000000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/churn-target}"
cargo build --release --quiet --bin churn
churn="$CARGO_TARGET_DIR/release/churn"
dir="bench-data/c${customers}-d100"
if [ ! -f "$dir/transactions.parquet" ]; then
  benches/features.sh "$customers" 100
fi
read -r -d '' TIMINGS_PY <<'PY' || true
import json, sys
t = json.load(sys.stdin)["timings"]
print("  " + ", ".join(f"{k.replace('_seconds', '')} {v:.2f} s" for k, v in t.items()))
PY
for run in 1 2; do
  rm -rf "$dir/run-bench"
  /usr/bin/time -f "run $run: %e s wall, %M KiB peak RSS" \
    "$churn" run --config "$dir/churn.toml" --output-dir "$dir/run-bench/output" \
    --models-dir "$dir/run-bench/models" --json | python3 -c "$TIMINGS_PY"
done
