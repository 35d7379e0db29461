#!/usr/bin/env bash
# End-to-end benchmark of `churn segment` on generated data (release build).
#
#   benches/segment.sh [CUSTOMERS]
#
# Uses (and if missing, makes) bench-data/c<CUSTOMERS>-d100/features.parquet, the output of
# benches/features.sh. Times, with GNU time: a fit with k = 8, automatic k over 2..=10, assigning
# everyone with the saved model, and a fit on the whole population instead of the default
# 100,000-customer sample, whose inertia the sampled fit should match within 1 %. Each summary's
# `inertia` is the mean squared distance of every customer to its centroid.
set -euo pipefail
cd "$(dirname "$0")/.."

customers="${1:-1000000}"
. benches/bench_data.sh "$customers" 100
if [ ! -f "$dir/features.parquet" ]; then
  "$churn" features --config "$dir/churn.toml" --out "$dir/features.parquet" --quiet
fi
out="$dir/segment-bench"
mkdir -p "$out"
cat > "$out/full.toml" <<TOML
[segments]
fit_sample = $customers
TOML

inertia() { grep -o '"inertia":[0-9.e-]*' | head -1 | cut -d: -f2; }

for run in 1 2 3; do
  /usr/bin/time -f "fit k=8 run $run: %e s wall, %M KiB peak RSS" \
    "$churn" segment --features "$dir/features.parquet" --k 8 --model-out "$out/k8.json" \
    --out "$out/k8.parquet" --json > "$out/k8.json.out"
done
echo "  inertia (sample fit, all customers): $(inertia < "$out/k8.json.out")"
/usr/bin/time -f "fit k=8 on everyone: %e s wall, %M KiB peak RSS" \
  "$churn" segment --features "$dir/features.parquet" --k 8 --config "$out/full.toml" \
  --model-out "$out/full.json" --out "$out/full.parquet" --json > "$out/full.json.out"
echo "  inertia (full fit): $(inertia < "$out/full.json.out")"
for run in 1 2; do
  /usr/bin/time -f "auto k 2..=10 run $run: %e s wall, %M KiB peak RSS" \
    "$churn" segment --features "$dir/features.parquet" --k auto --model-out "$out/auto.json" \
    --out "$out/auto.parquet" --quiet
done
for run in 1 2 3; do
  /usr/bin/time -f "assign run $run: %e s wall, %M KiB peak RSS" \
    "$churn" segment --features "$dir/features.parquet" --model "$out/k8.json" --out "$out/assign.parquet" --quiet
done
