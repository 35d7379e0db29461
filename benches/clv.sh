#!/usr/bin/env bash
# End-to-end benchmark of `churn clv` on generated BG/NBD data (release build).
#
#   benches/clv.sh [CUSTOMERS]
#
# Generates (once) bench-data/c<CUSTOMERS>-bgnbd/ with `churn generate --process bg-nbd`, whose
# truth is r = 0.9, alpha = 81 days, a = 0.8, b = 2.5, then fits BG/NBD + Gamma-Gamma three times in
# days and once in weeks. Prints wall time and peak RSS (GNU time), the command's own split into
# reading the histories, fitting and predicting, and the fitted parameters beside the truth. With
# benches/python_clv.py and the Python `lifetimes` package installed, also times lifetimes on the
# same summaries.
set -euo pipefail
cd "$(dirname "$0")/.."

customers="${1:-1000000}"
. benches/release.sh
dir="bench-data/c${customers}-bgnbd"
if [ ! -f "$dir/transactions.parquet" ]; then
  "$churn" generate --customers "$customers" --process bg-nbd --out "$dir" --quiet
fi
cat > "$dir/clv.toml" <<TOML
[input]
transactions = "transactions.parquet"
[input.columns]
timestamp = "ts"
order_id = "order_id"
TOML

field() { grep -o "\"$1\":[0-9.e-]*" | head -1 | cut -d: -f2; }
report() {
  local out="$1"
  echo "  read $(field read_seconds < "$out") s, fit $(field fit_seconds < "$out") s, predict $(field predict_seconds < "$out") s"
  echo "  r $(field r < "$out"), alpha $(field alpha < "$out"), a $(field a < "$out"), b $(field b < "$out") (truth 0.9, 81 days or 11.57 weeks, 0.8, 2.5)"
  echo "  Gamma-Gamma p $(field p < "$out"), q $(field q < "$out"), gamma $(field gamma < "$out"); distinct summaries $(field distinct_summaries < "$out")"
}
for run in 1 2 3; do
  /usr/bin/time -f "clv in days, run $run: %e s wall, %M KiB peak RSS" \
    "$churn" clv --config "$dir/clv.toml" --calibration-end 2023-12-31 --time-unit day \
    --model-out "$dir/clv-day.json" --out "$dir/clv-day.parquet" --json > "$dir/clv-day.out"
  report "$dir/clv-day.out"
done
/usr/bin/time -f "clv in weeks: %e s wall, %M KiB peak RSS" \
  "$churn" clv --config "$dir/clv.toml" --calibration-end 2023-12-31 --time-unit week \
  --model-out "$dir/clv-week.json" --out "$dir/clv-week.parquet" --json > "$dir/clv-week.out"
report "$dir/clv-week.out"
