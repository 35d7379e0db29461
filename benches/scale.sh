#!/usr/bin/env bash
# How `churn run` scales with the rows of the log: the same 1,000,000 customers buying more often.
#
#   benches/scale.sh [DAYS...]
#
# DAYS are mean days between orders (default: 100 33 10 8, about 10.6, 25.8, 77.9 and 96.6 million
# rows). Each log is generated once into bench-data/ (git-ignored; the largest is about 0.6 GB of
# Parquet) and run once from empty output and model directories. Prints rows, wall time, peak RSS
# (GNU time), time per million rows and churn's stage timings. The budget is peak RSS under 4 GiB
# at about 100 million rows and time at most linear in rows.
set -euo pipefail
cd "$(dirname "$0")/.."

days=("$@")
[ ${#days[@]} -gt 0 ] || days=(100 33 10 8)
results=$(mktemp)
for d in "${days[@]}"; do
  . benches/bench_data.sh 1000000 "$d"
  rows=$(python3 -c "import pyarrow.parquet as pq, sys; print(pq.ParquetFile(sys.argv[1]).metadata.num_rows)" "$dir/transactions.parquet")
  timed_churn_run "$dir/scale-run" "$results.one"
  read -r wall rss _ < "$results.one"
  echo "$rows $wall $rss" >> "$results"
  rm -rf "$dir/scale-run"
done
python3 - "$results" <<'PY'
import sys
print()
print("| rows | wall | per million rows | peak RSS |")
print("|---|---|---|---|")
for line in open(sys.argv[1]):
    rows, wall, rss = line.split()
    rows, wall, rss = int(rows), float(wall), int(rss)
    print(f"| {rows:,} | {wall:.1f} s | {wall / rows * 1e6:.2f} s | {rss / 1024 / 1024:.2f} GiB |")
PY
rm -f "$results" "$results.one" "$results.one.json"
