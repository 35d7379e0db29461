#!/usr/bin/env bash
# End-to-end benchmark of `churn features` on generated data (release build).
#
#   benches/features.sh [CUSTOMERS] [MEAN_DAYS_BETWEEN_ORDERS]
#
# Defaults: 1,000,000 customers at one order per 100 days, which makes about 10 million rows.
# For the memory check, keep the customers and buy more often: 18 days gives about 50 million rows.
# Data goes to bench-data/ (git-ignored) and is reused across runs. Runs `churn features` and the same
# contract as one DuckDB query (benches/duckdb_features.py) in turn, three times each, and prints
# wall time and peak RSS (GNU time) of each run and the medians.
set -euo pipefail
cd "$(dirname "$0")/.."

customers="${1:-1000000}"
days="${2:-100}"
. benches/bench_data.sh "$customers" "$days"
ls -l "$dir/transactions.parquet"
results=$(mktemp)
for run in 1 2 3; do
  /usr/bin/time -o "$results.one" -f "%e %M" \
    "$churn" features --config "$dir/churn.toml" --out "$dir/features.parquet" --quiet
  read -r wall rss < "$results.one"
  echo "churn features $run: $wall s wall, $((rss / 1024)) MiB peak RSS"
  echo "churn $wall $rss" >> "$results"
  /usr/bin/time -o "$results.one" -f "%e %M" \
    python3 benches/duckdb_features.py "$dir/transactions.parquet" 2024-01-01 "$dir/duckdb_features.parquet" | sed 's/^/  /'
  read -r wall rss < "$results.one"
  echo "duckdb $run: $wall s wall, $((rss / 1024)) MiB peak RSS"
  echo "duckdb $wall $rss" >> "$results"
done
python3 - "$results" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
def med(who, i):
    return statistics.median(float(r[i]) for r in rows if r[0] == who)
c, d = med("churn", 1), med("duckdb", 1)
print()
print("| one snapshot | wall (median) | peak RSS (median) |")
print("|---|---|---|")
print(f"| churn features | {c:.1f} s | {med('churn', 2) / 1024:.0f} MiB |")
print(f"| DuckDB, the v1 contract as one query | {d:.1f} s | {med('duckdb', 2) / 1024:.0f} MiB |")
print(f"| ratio churn / DuckDB | {c / d:.2f} | |")
PY
rm -f "$results" "$results.one"
