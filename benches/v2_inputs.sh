#!/usr/bin/env bash
# The churn model with feature-set version 1 inputs against version 1 + version 2 inputs, out of time,
# on the bundled sample, a generated log and the two real logs in ../shared/data.
#
#   benches/v2_inputs.sh [OUT_DIR]
#
# For each dataset, `churn train` fits on S - 2H and evaluates on S - H: with the default (version 1)
# inputs, with each version-2 input added alone, and with all four (each customer's rhythm and trend:
# typical_gap_days, overdue_ratio, orders_prev_90d, spend_prev_90d). Prints ROC AUC, PR AUC and Brier
# score of each.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-bench-data/v2-inputs}"
. benches/release.sh
mkdir -p "$out"
. benches/real_data.sh

v1='"recency_days", "log1p(frequency)", "signed_log1p(monetary_total)", "signed_log1p(monetary_avg_order)",
  "tenure_days", "signed_log1p(spend_30d)", "signed_log1p(spend_90d)", "signed_log1p(spend_365d)",
  "log1p(orders_90d)", "log1p(avg_days_between_orders)", "return_ratio"'
gap='"log1p(typical_gap_days)"'
overdue='"log1p(overdue_ratio)"'
orders='"log1p(orders_prev_90d)"'
spend='"signed_log1p(spend_prev_90d)"'
v2="$v1, $gap, $overdue, $orders, $spend"
# Each version-2 input alone on top of version 1: what it adds.
with_gap="$v1, $gap"
with_overdue="$v1, $overdue"
with_orders="$v1, $orders"
with_spend="$v1, $spend"

if [ ! -f "$out/generated/transactions.parquet" ]; then
  "$churn" generate --customers 100000 --seed 9 --mean-days-between-orders 45 --out "$out/generated" --quiet
fi

echo "| data | S, H | inputs | ROC AUC | PR AUC | Brier |"
echo "|---|---|---|---|---|---|"
# compare NAME AS_OF HORIZON INPUT_TOML
compare() {
  local name="$1" as_of="$2" h="$3" input="$4"
  for set in v1 with_gap with_overdue with_orders with_spend v2; do
    local features="${!set}"
    local config="$out/$set.toml"
    printf '%s\n[model]\nfeatures = [%s]\n' "$input" "$features" > "$config"
    "$churn" train --config "$config" --as-of "$as_of" --horizon-days "$h" --model-out "$out/model-$set.json" \
      --json --quiet > "$out/train-$set.json"
    python3 - "$out/train-$set.json" "$name" "$as_of" "$h" "$set" <<'PY'
import json, sys
summary = json.load(open(sys.argv[1]))
m = summary["evaluation"]["model"]
label = {
    "v1": "version 1",
    "with_gap": "+ typical_gap_days",
    "with_overdue": "+ overdue_ratio",
    "with_orders": "+ orders_prev_90d",
    "with_spend": "+ spend_prev_90d",
    "v2": "versions 1 + 2 (all four)",
}[sys.argv[5]]
print(f"| {sys.argv[2]} | {sys.argv[3]}, {sys.argv[4]} | {label} | {m['roc_auc']:.4f} | {m['pr_auc']:.4f} | {m['brier']:.4f} |")
PY
  done
}

compare "sample" 2024-01-01 90 "$sample_input"
compare "generated (100k customers)" 2024-01-01 90 "$(generated_input "$PWD/$out/generated/transactions.parquet")"
compare "CDNOW master" 1998-07-01 182 "$cdnow_input"
compare "Online Retail II" 2010-12-01 91 "$retail_input"
