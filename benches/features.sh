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
. benches/bench_data.sh "$customers" "$days"
ls -l "$dir/transactions.parquet"
for run in 1 2 3; do
  /usr/bin/time -f "features run $run: %e s wall, %M KiB peak RSS, %P CPU" \
    "$churn" features --config "$dir/churn.toml" --out "$dir/features.parquet" --json
done
