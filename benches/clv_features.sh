#!/usr/bin/env bash
# Do the lifetime-value outputs help the churn model? Out-of-time ROC AUC of `churn train` without and
# with `clv.churn_features`, and of P(alive) and expected purchases alone, on the bundled sample,
# Online Retail II (2009-2010) and the CDNOW master file from ../shared/data.
#
#   benches/clv_features.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-bench-data/clv-features}"
. benches/real_data.sh
. benches/release.sh
mkdir -p "$out"

write_configs() { # name, as-of, horizon, [input] body
  local name="$1" as_of="$2" h="$3" input="$4"
  printf 'as_of = "%s"\nhorizon_days = %s\n%s\n' "$as_of" "$h" "$input" > "$out/$name-without.toml"
  { cat "$out/$name-without.toml"; printf '[clv]\ntime_unit = "week"\nchurn_features = true\n'; } > "$out/$name-with.toml"
  { cat "$out/$name-with.toml"; printf '[model]\nfeatures = ["p_alive"]\n'; } > "$out/$name-p_alive.toml"
  { cat "$out/$name-with.toml"; printf '[model]\nfeatures = ["log1p(expected_purchases_365d)"]\n'; } > "$out/$name-expected.toml"
}

write_configs sample 2024-01-01 90 "[input]
transactions = \"$PWD/data/sample/transactions.csv\"
[input.columns]
timestamp = \"ts\"
order_id = \"order_id\""

write_configs retail 2010-12-01 91 "$retail_input"
write_configs cdnow 1998-07-01 91 "$cdnow_input"

printf '%-8s %9s %9s %9s %9s %9s\n' data customers without with p_alive expected
for name in sample retail cdnow; do
  row="$name"
  for variant in without with p_alive expected; do
    "$churn" train --config "$out/$name-$variant.toml" --model-out "$out/$name-$variant.json" --json --quiet \
      > "$out/$name-$variant.out"
    [ "$variant" = without ] && row="$row $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["customers"])' "$out/$name-$variant.out")"
    auc=$(python3 -c 'import json,sys; print("%.4f" % json.load(open(sys.argv[1]))["evaluation"]["model"]["roc_auc"])' "$out/$name-$variant.out")
    row="$row $auc"
  done
  printf '%-8s %9s %9s %9s %9s %9s\n' $row
done
