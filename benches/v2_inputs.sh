#!/usr/bin/env bash
# The churn model with feature-set version 1 inputs against version 1 + version 2 inputs, out of time,
# on the bundled sample, a generated log and the two real logs in ../shared/data.
#
#   benches/v2_inputs.sh [OUT_DIR]
#
# For each dataset, `churn train` fits on S - 2H and evaluates on S - H twice: with the default
# (version 1) inputs, and with them plus each customer's rhythm and trend (typical_gap_days,
# overdue_ratio, orders_prev_90d, spend_prev_90d). Prints ROC AUC, PR AUC and Brier score of both.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-bench-data/v2-inputs}"
. benches/release.sh
mkdir -p "$out"
shared="$(cd .. && pwd)/shared/data"

v1='"recency_days", "log1p(frequency)", "signed_log1p(monetary_total)", "signed_log1p(monetary_avg_order)",
  "tenure_days", "signed_log1p(spend_30d)", "signed_log1p(spend_90d)", "signed_log1p(spend_365d)",
  "log1p(orders_90d)", "log1p(avg_days_between_orders)", "return_ratio"'
v2="$v1, \"log1p(typical_gap_days)\", \"log1p(overdue_ratio)\", \"log1p(orders_prev_90d)\", \"signed_log1p(spend_prev_90d)\""

if [ ! -f "$out/generated/transactions.parquet" ]; then
  "$churn" generate --customers 100000 --seed 9 --mean-days-between-orders 45 --out "$out/generated" --quiet
fi

# name | input TOML | as-of | horizon
datasets=(
  "sample|[input]
transactions = \"$(pwd)/data/sample/transactions.csv\"
[input.columns]
customer_id = \"customer_id\"
timestamp = \"ts\"
amount = \"amount\"
order_id = \"order_id\"|2024-01-01|90"
  "generated (100k customers)|[input]
transactions = \"$(pwd)/$out/generated/transactions.parquet\"
[input.columns]
customer_id = \"customer_id\"
timestamp = \"ts\"
amount = \"amount\"
order_id = \"order_id\"|2024-01-01|90"
  "CDNOW master|[input]
transactions = \"$shared/cdnow/CDNOW_master.txt\"
delimiter = \"whitespace\"
timestamp_format = \"%Y%m%d\"
[input.columns]
customer_id = \"customer_id\"
timestamp = \"date\"
amount = \"dollar_value\"|1998-07-01|182"
  "Online Retail II|[input]
transactions = \"$shared/online_retail_ii/online_retail_II_2009_2010.csv.gz\"
where = \"Invoice NOT LIKE 'A%'\"
[input.columns]
customer_id = '\"Customer ID\"'
timestamp = \"InvoiceDate\"
amount = \"Quantity * Price\"
order_id = \"Invoice\"|2010-12-01|91"
)

echo "| data | S, H | inputs | ROC AUC | PR AUC | Brier |"
echo "|---|---|---|---|---|---|"
for entry in "${datasets[@]}"; do
  IFS='|' read -r name input as_of h <<< "$entry"
  for set in v1 v2; do
    features="${!set}"
    config="$out/$set.toml"
    printf '%s\n[model]\nfeatures = [%s]\n' "$input" "$features" > "$config"
    "$churn" train --config "$config" --as-of "$as_of" --horizon-days "$h" --model-out "$out/model-$set.json" \
      --json --quiet > "$out/train-$set.json"
    python3 - "$out/train-$set.json" "$name" "$as_of" "$h" "$set" <<'PY'
import json, sys
summary = json.load(open(sys.argv[1]))
m = summary["evaluation"]["model"]
label = "version 1" if sys.argv[5] == "v1" else "versions 1 + 2"
print(f"| {sys.argv[2]} | {sys.argv[3]}, {sys.argv[4]} | {label} | {m['roc_auc']:.4f} | {m['pr_auc']:.4f} | {m['brier']:.4f} |")
PY
  done
done
