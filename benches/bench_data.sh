# Sourced by the benchmark scripts: builds the release binary and makes (once) the generated input.
#
#   . benches/bench_data.sh CUSTOMERS MEAN_DAYS_BETWEEN_ORDERS
#
# Sets `churn` (the release binary) and `dir` (bench-data/c<CUSTOMERS>-d<DAYS>, git-ignored) holding
# transactions.parquet and churn.toml (as-of 2024-01-01, the generator's columns).
bench_customers="$1"
bench_days="$2"
. benches/release.sh
dir="bench-data/c${bench_customers}-d${bench_days}"
if [ ! -f "$dir/transactions.parquet" ]; then
  echo "generating $bench_customers customers (one order per $bench_days days) into $dir"
  /usr/bin/time -f "generate: %e s wall, %M KiB peak RSS" \
    "$churn" generate --customers "$bench_customers" --mean-days-between-orders "$bench_days" --seed 1 \
    --out "$dir" --quiet
fi
{
  printf 'as_of = "2024-01-01"\n[input]\ntransactions = "transactions.parquet"\n'
  cat benches/generated_columns.toml
} > "$dir/churn.toml"

# timed_churn_run RUN_DIR TIME_FILE: `churn run` on $dir's log from empty output and model directories
# under RUN_DIR; GNU time writes "wall_seconds peak_rss_kib user_cpu_seconds system_cpu_seconds" to
# TIME_FILE, the JSON summary goes to TIME_FILE.json, and the stage timings are printed.
timed_churn_run() {
  rm -rf "$1"
  /usr/bin/time -o "$2" -f "%e %M %U %S" \
    "$churn" run --config "$dir/churn.toml" --output-dir "$1/output" --models-dir "$1/models" --json > "$2.json"
  python3 benches/print_stages.py < "$2.json"
}
