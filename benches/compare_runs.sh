#!/usr/bin/env bash
# Runs two churn binaries on the same transactions, three nights each (2024-01-01 with a fit, then
# 2023-12-01 and 2024-01-01 again with the saved models), and compares every published file and
# model byte for byte; manifests without their run ids and timings, history.csv without its run-id
# column. Exit 0 when all are identical. Used to show that a refactoring or a faster engine changed
# no output.
#
#   benches/compare_runs.sh OLD_CHURN NEW_CHURN TRANSACTIONS.csv [EXTRA_TOML]
#
# TRANSACTIONS has the generator's columns (customer_id, order_id, ts, amount, quantity, category);
# EXTRA_TOML is appended to the config (tables such as [clv] or [gates]).
set -euo pipefail
old=$1 new=$2 tx=$3 extra=${4:-}
work=$(mktemp -d)
for who in old new; do
  bin=${!who}
  d=$work/$who; mkdir -p $d
  cat > $d/churn.toml <<TOML
as_of = "2024-01-01"
[input]
transactions = "$tx"
$(cat "$(dirname "$0")/generated_columns.toml")
[[features.custom]]
name = "distinct_categories"
sql = "count(DISTINCT category)"
$extra
[run]
output_dir = "out"
models_dir = "models"
TOML
  (cd $d && $bin run --config churn.toml -q > run1.txt && $bin run --config churn.toml --as-of 2023-12-01 --json > run2.json && $bin run --config churn.toml -q > run3.txt)
done
status=0
oldruns=($(ls $work/old/out/runs)); newruns=($(ls $work/new/out/runs))
for i in "${!oldruns[@]}"; do
  o=$work/old/out/runs/${oldruns[$i]}; n=$work/new/out/runs/${newruns[$i]}
  for f in $(ls $o); do
    if [ "$f" = manifest.json ]; then
      python3 - "$o/$f" "$n/$f" <<'PY' || status=1
import json,sys
def clean(p):
    m=json.load(open(p)); m.pop('run_id'); m.pop('timings')
    return m
a,b=clean(sys.argv[1]),clean(sys.argv[2])
if a!=b:
    for k in a:
        if a[k]!=b.get(k): print('manifest differs at', k, json.dumps(a[k])[:300], '|', json.dumps(b.get(k))[:300])
    sys.exit(1)
PY
    elif [ "$f" = history.csv ]; then
      # Each night's run id is its second column; everything else must be equal.
      cmp -s <(cut -d, -f1,3- $o/$f) <(cut -d, -f1,3- $n/$f) || { echo "DIFF run $i $f"; status=1; }
    elif ! cmp -s $o/$f $n/$f; then echo "DIFF run $i $f"; status=1; fi
  done
  [ "$(ls $o)" = "$(ls $n)" ] || { echo "file sets differ in run $i"; status=1; }
done
for f in $(ls $work/old/models); do cmp -s $work/old/models/$f $work/new/models/$f || { echo "DIFF model $f"; status=1; }; done
[ "$(ls $work/old/models)" = "$(ls $work/new/models)" ] || { echo "model sets differ"; status=1; }
echo "runs compared: ${#oldruns[@]}; models: $(ls $work/old/models | wc -l); status $status"
echo $work
exit $status
