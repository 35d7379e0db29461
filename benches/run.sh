#!/usr/bin/env bash
# End-to-end benchmark of `churn run` beside the lean Python pipeline, side by side in one sitting.
#
#   benches/run.sh [CUSTOMERS] [MEAN_DAYS_BETWEEN_ORDERS] [RUNS] [clv]
#
# Defaults: 1,000,000 customers buying once per 100 days on average (about 10 million rows, Parquet),
# three runs of each. Data goes to bench-data/ (git-ignored) and is reused. Each `churn run` starts
# from empty output and model directories (so it fits segments with automatic k and evaluates out of
# time); benches/python_lean.py does the same job the lean way (see its docstring). Prints each run's
# wall time, peak RSS and CPU seconds (GNU time), churn's stage timings, and the medians with their
# ratio; then the floor under any such run (benches/floor.py: the log's columns read once, the
# outputs written once).
# Each churn run is followed by the next night's (the same log and directories: the saved segment
# model assigns everyone, the churn model is fitted and gated against the saved one, and
# changes.csv compares with the run before), reported on its own line: the job's steady state.
# With `clv` last, each sitting also runs `churn run` with `[clv]` (lifetime values with their
# defaults, fitted each night; from empty directories) and reports its extra time over the plain run.
set -euo pipefail
cd "$(dirname "$0")/.."

customers="${1:-1000000}"
days="${2:-100}"
runs="${3:-3}"
with_clv="${4:-}"
[ -z "$with_clv" ] || [ "$with_clv" = clv ] || { echo "the fourth argument can only be 'clv'" >&2; exit 2; }
. benches/bench_data.sh "$customers" "$days"
rows=$(python3 -c "import pyarrow.parquet as pq, sys; print(pq.ParquetFile(sys.argv[1]).metadata.num_rows)" "$dir/transactions.parquet")
echo "input: $dir/transactions.parquet, $rows rows, $customers customers"

results=$(mktemp)
for run in $(seq "$runs"); do
  timed_churn_run "$dir/run-bench" "$results.one"
  read -r wall rss user sys < "$results.one"
  echo "  churn run $run: $wall s wall, $((rss / 1024)) MiB peak RSS, CPU $user s user + $sys s system"
  echo "churn $wall $rss $user $sys" >> "$results"
  /usr/bin/time -o "$results.one" -f "%e %M %U %S" "$churn" run --config "$dir/churn.toml" \
    --output-dir "$dir/run-bench/output" --models-dir "$dir/run-bench/models" -q
  read -r wall rss user sys < "$results.one"
  echo "  churn run $run, next night: $wall s wall, $((rss / 1024)) MiB peak RSS, CPU $user s user + $sys s system"
  echo "night2 $wall $rss $user $sys" >> "$results"
  if [ -n "$with_clv" ]; then
    # The same config with a [clv] table of defaults, beside it so its relative paths still hold.
    { cat "$dir/churn.toml"; printf '\n[clv]\n'; } > "$dir/churn-clv.toml"
    rm -rf "$dir/run-bench"
    /usr/bin/time -o "$results.one" -f "%e %M %U %S" "$churn" run --config "$dir/churn-clv.toml" \
      --output-dir "$dir/run-bench/output" --models-dir "$dir/run-bench/models" --json > "$results.one.json"
    python3 benches/print_stages.py < "$results.one.json"
    read -r wall rss user sys < "$results.one"
    echo "  churn run $run with [clv]: $wall s wall, $((rss / 1024)) MiB peak RSS, CPU $user s user + $sys s system"
    echo "clv $wall $rss $user $sys" >> "$results"
  fi
  rm -rf "$dir/py-bench" && mkdir -p "$dir/py-bench"
  /usr/bin/time -o "$results.one" -f "%e %M %U %S" \
    python3 benches/python_lean.py "$dir/transactions.parquet" 2024-01-01 90 "$dir/py-bench" | sed 's/^/    /'
  read -r wall rss user sys < "$results.one"
  echo "  lean python $run: $wall s wall, $((rss / 1024)) MiB peak RSS, CPU $user s user + $sys s system"
  echo "python $wall $rss $user $sys" >> "$results"
done
python3 - "$results" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
def med(who, i):
    return statistics.median(float(r[i]) for r in rows if r[0] == who)
c, p = med("churn", 1), med("python", 1)
cm, pm = med("churn", 2) / 1024, med("python", 2) / 1024
print()
def cpu(who):
    return f"{med(who, 3):.1f} + {med(who, 4):.1f} s"
print("| pipeline | wall (median) | peak RSS (median) | CPU, user + system (medians) |")
print("|---|---|---|---|")
print(f"| churn run | {c:.1f} s | {cm:.0f} MiB | {cpu('churn')} |")
n, nm = med("night2", 1), med("night2", 2) / 1024
print(f"| churn run, the next night | {n:.1f} s | {nm:.0f} MiB | {cpu('night2')} |")
print(f"| lean DuckDB + scikit-learn | {p:.1f} s | {pm:.0f} MiB | {cpu('python')} |")
if any(r[0] == "clv" for r in rows):
    v, vm = med("clv", 1), med("clv", 2) / 1024
    print(f"| churn run with [clv] | {v:.1f} s (+{v - c:.1f} s) | {vm:.0f} MiB | {cpu('clv')} |")
print(f"| ratio python / churn | {p / c:.2f}x | {pm / cm:.2f}x | |")
print(f"| ratio python / churn, the next night | {p / n:.2f}x | {pm / nm:.2f}x | |")
PY
echo
echo "the floor (benches/floor.py: the log's columns read once, the run's outputs written once):"
python3 benches/floor.py "$dir/transactions.parquet" "$dir/run-bench/output/current" | sed 's/^/  /'
rm -f "$results" "$results.one" "$results.one.json"
