#!/usr/bin/env bash
# End-to-end benchmark of `churn train` and `churn score` on generated data (release build).
#
#   benches/model.sh [CUSTOMERS]
#
# Uses bench-data/c<CUSTOMERS>-d100 (made by benches/features.sh if missing). `churn train` computes
# the features of three snapshots and then fits; its JSON summary separates the feature time from
# the evaluation and the production fit. The production fit runs once on the default seeded
# 250,000-customer sample and once on everyone, to compare their out-of-time ROC AUC. Then `churn
# score` scores every customer and writes scores.parquet and at_risk.csv.
set -euo pipefail
cd "$(dirname "$0")/.."

customers="${1:-1000000}"
. benches/bench_data.sh "$customers" 100
if [ ! -f "$dir/features.parquet" ]; then
  "$churn" features --config "$dir/churn.toml" --out "$dir/features.parquet" --quiet
fi
out="$dir/model-bench"
mkdir -p "$out"
cp "$dir/churn.toml" "$out/everyone.toml"
printf '[model]\ntrain_sample = %s\n' "$customers" >> "$out/everyone.toml"
sed -i "s|transactions = \"transactions.parquet\"|transactions = \"$PWD/$dir/transactions.parquet\"|" "$out/everyone.toml"

# Summaries of the JSON outputs (python3 is only used to read them).
read -r -d '' TRAIN_PY <<'PY' || true
import json, sys
d = json.load(sys.stdin)
t, e = d['timings'], d['evaluation']
print(f"  customers {d['customers']:,}, fit sample {d['train_sample']:,}: features {t['features_seconds']:.2f} s, "
      f"evaluation (3 fits) {t['evaluation_seconds']:.2f} s, production fit {t['production_fit_seconds']:.2f} s; "
      f"out-of-time ROC AUC {e['model']['roc_auc']:.4f} (recency {e['recency_baseline']['roc_auc']:.4f}, "
      f"RFM {e['rfm_baseline']['roc_auc']:.4f})")
PY
read -r -d '' SCORE_PY <<'PY' || true
import json, sys
d = json.load(sys.stdin)
t = d['timings']
print(f"  read {t['read_seconds']:.2f} s, score and write {t['score_and_write_seconds']:.2f} s, at risk {d['at_risk']:,}")
PY
summary() { python3 -c "$TRAIN_PY"; }

echo "train, seeded sample:"
"$churn" train --config "$dir/churn.toml" --model-out "$out/model.json" --json | summary
echo "train, everyone:"
"$churn" train --config "$out/everyone.toml" --model-out "$out/model-all.json" --json | summary
for run in 1 2 3; do
  /usr/bin/time -f "score run $run: %e s wall, %M KiB peak RSS" \
    "$churn" score --features "$dir/features.parquet" --model "$out/model.json" --out "$out/scores.parquet" --json \
    | python3 -c "$SCORE_PY"
done
