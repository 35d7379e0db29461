#!/usr/bin/env bash
# End-to-end benchmark of `churn features` on generated data (release build).
#
#   benches/features.sh [CUSTOMERS] [MEAN_DAYS_BETWEEN_ORDERS]
#
# Defaults: 1,000,000 customers at one order per 100 days, which makes about 10 million rows.
# For the memory check, keep the customers and buy more often: 18 days gives about 50 million rows.
# Data goes to bench-data/ (git-ignored) and is reused across runs. Prints wall time and peak RSS
# of three runs, measured by GNU time.
set -euo pipefail
cd "$(dirname "$0")/.."

customers="${1:-1000000}"
days="${2:-100}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/churn-target}"
cargo build --release --quiet
churn="$CARGO_TARGET_DIR/release/churn"
dir="bench-data/c${customers}-d${days}"

if [ ! -f "$dir/transactions.parquet" ]; then
  echo "generating $customers customers (one order per $days days) into $dir"
  /usr/bin/time -f "generate: %e s wall, %M KiB peak RSS" \
    "$churn" generate --customers "$customers" --mean-days-between-orders "$days" --seed 1 --out "$dir" --quiet
fi
cat > "$dir/churn.toml" <<'TOML'
as_of = "2024-01-01"
[input]
transactions = "transactions.parquet"
[input.columns]
customer_id = "customer_id"
timestamp = "ts"
amount = "amount"
order_id = "order_id"
quantity = "quantity"
category = "category"
TOML
ls -l "$dir/transactions.parquet"
for run in 1 2 3; do
  /usr/bin/time -f "features run $run: %e s wall, %M KiB peak RSS, %P CPU" \
    "$churn" features --config "$dir/churn.toml" --out "$dir/features.parquet" --json
done
