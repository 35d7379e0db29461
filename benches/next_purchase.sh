#!/usr/bin/env bash
# Out of time: the next-purchase columns (p_purchase_30d/90d/365d, next_purchase_days and its 80 %
# interval) against what the customers of CDNOW master and Online Retail II did next, from both
# sources: the BG/NBD posterior (`churn clv`, as a run with [clv] gives them) and the churn model's
# rhythm (`scores.parquet` of a `churn run` without [clv], horizon 90 days).
#
#   benches/next_purchase.sh
#
# CDNOW master is calibrated through 1997-06-30 and checked on the following year (1997-07-01 to
# 1998-06-30): every column. Online Retail II (2009-2010) is calibrated through 2010-06-30 and checked
# to its end (2010-12-09, 162 days): the 30- and 90-day chances only. Weeks are the time unit.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/release.sh
. benches/real_data.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

check() {
  local name="$1" input="$2" cal_end="$3" holdout_end="$4"
  printf '%s\n[clv]\ntime_unit = "week"\n' "$input" > "$work/$name.toml"
  "$churn" clv --config "$work/$name.toml" --calibration-end "$cal_end" --out "$work/$name.parquet" \
    --model-out "$work/$name.json" --quiet
  echo "== $name, calibration through $cal_end"
  python3 benches/next_purchase.py "$work/$name.parquet" "$work/$name-purchases.csv" "$cal_end" "$holdout_end"
}

# The same check on the scores of a run without [clv]: the churn model's rhythm.
check_rhythm() {
  local name="$1" input="$2" cal_end="$3" holdout_end="$4"
  local as_of
  as_of=$(date -d "$cal_end + 1 day" +%F)
  # No gate: CDNOW's out-of-time ROC AUC at this early date (everyone a recent first buyer) is 0.52,
  # and the check is about the dates, not the promotion.
  printf 'as_of = "%s"\nhorizon_days = 90\n%s\n[gates]\nmin_roc_auc = 0.0\n[run]\noutput_dir = "%s"\nmodels_dir = "%s"\n' \
    "$as_of" "$input" "$work/$name-out" "$work/$name-models" > "$work/$name-rhythm.toml"
  "$churn" run --config "$work/$name-rhythm.toml" --quiet
  echo "== $name, the churn model's rhythm, as of $as_of"
  python3 benches/next_purchase.py "$work/$name-out/current/scores.parquet" "$work/$name-purchases.csv" \
    "$cal_end" "$holdout_end"
}

# Purchase days (positive amounts) per customer, as churn counts them.
python3 - "$shared" "$work" <<'PY'
import csv, gzip, sys
shared, work = sys.argv[1:3]
with open(f"{work}/cdnow-purchases.csv", "w", newline="") as out:
    w = csv.writer(out)
    w.writerow(["customer_id", "day"])
    for line in open(f"{shared}/cdnow/CDNOW_master.txt"):
        f = line.split()
        if len(f) == 4 and f[0] != "customer_id" and float(f[3]) > 0:
            w.writerow([f[0], f"{f[1][:4]}-{f[1][4:6]}-{f[1][6:8]}"])
with open(f"{work}/retail-purchases.csv", "w", newline="") as out:
    w = csv.writer(out)
    w.writerow(["customer_id", "day"])
    with gzip.open(f"{shared}/online_retail_ii/online_retail_II_2009_2010.csv.gz", "rt", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            cid = row["Customer ID"]
            if cid and not row["Invoice"].startswith("A") and float(row["Quantity"]) * float(row["Price"]) > 0:
                w.writerow([cid, row["InvoiceDate"][:10]])
PY
check cdnow "$cdnow_input" 1997-06-30 1998-07-01
check retail "$retail_input" 2010-06-30 2010-12-10
check_rhythm cdnow "$cdnow_input" 1997-06-30 1998-07-01
check_rhythm retail "$retail_input" 2010-06-30 2010-12-10
