#!/usr/bin/env bash
# Churn-model quality on a real or generated log, beside scikit-learn on the same design.
#
#   benches/quality.sh CONFIG AS_OF HORIZON_DAYS [OUT_DIR]
#
# Runs `churn train` (out-of-time evaluation: fit on AS_OF - 2H, evaluate on AS_OF - H), writes the
# feature files of the three snapshots, and runs benches/sklearn_logistic.py on them. Needs a
# Python with numpy, pandas, pyarrow and scikit-learn as $PYTHON (default: python3).
set -euo pipefail
cd "$(dirname "$0")/.."
config="$1"; as_of="$2"; h="$3"; out="${4:-bench-data/quality}"
. benches/release.sh
mkdir -p "$out"
c1=$(date -d "$as_of - $h days" +%F)
c2=$(date -d "$as_of - $((2 * h)) days" +%F)
"$churn" train --config "$config" --as-of "$as_of" --horizon-days "$h" --model-out "$out/model.json"
for d in "$as_of" "$c1" "$c2"; do
  "$churn" features --config "$config" --as-of "$d" --out "$out/features-$d.parquet" --quiet
done
"${PYTHON:-python3}" benches/sklearn_logistic.py "$out/features-$c2.parquet" "$out/features-$c1.parquet" \
  "$out/features-$c1.parquet" "$out/features-$as_of.parquet" "$h"
