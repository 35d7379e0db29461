"""Out-of-time check of the next-purchase columns of `clv.parquet` (days after S) or `scores.parquet`
(dates) against what the customers did.

    python3 benches/next_purchase.py CLV_OR_SCORES_PARQUET PURCHASES_CSV CALIBRATION_END HOLDOUT_END

PURCHASES_CSV has `customer_id,day` rows (one per customer and purchase day, any order), as
benches/next_purchase.sh writes them from the raw logs. For each customer in CLV_PARQUET it finds the
first purchase day after CALIBRATION_END (up to HOLDOUT_END, exclusive) and prints:

- calibration of p_purchase_30d, p_purchase_90d and p_purchase_365d (the windows the holdout
  covers): predicted vs observed share, overall and by predicted decile;
- for customers with a predicted date (a purchase within a year likelier than not) who bought
  within the year: the share whose first purchase fell inside [next_purchase_low_days,
  next_purchase_high_days] (the goal is 75-85 %), and inside the half below the median;
- for the "unlikely" customers (no date): the share who bought within the year anyway.
"""
import csv
import datetime as dt
import sys

import pyarrow.parquet as pq


def main():
    clv_path, purchases_path, cal_end, holdout_end = sys.argv[1:5]
    cal_end = dt.date.fromisoformat(cal_end)
    holdout_end = dt.date.fromisoformat(holdout_end)
    # The as-of date S is the day after the calibration end; waits are days after S.
    s = cal_end + dt.timedelta(days=1)
    first = {}
    with open(purchases_path) as f:
        for row in csv.DictReader(f):
            day = dt.date.fromisoformat(row["day"])
            if s <= day < holdout_end:
                wait = (day - s).days
                cid = row["customer_id"]
                if cid not in first or wait < first[cid]:
                    first[cid] = wait
    t = pq.read_table(clv_path).to_pydict()
    n = len(t["customer_id"])
    span = (holdout_end - s).days
    print(f"{n} customers, holdout {s} to {holdout_end} ({span} days)")
    for window in (30, 90, 365):
        if window > span:
            print(f"p_purchase_{window}d: the holdout is shorter than {window} days, not checked")
            continue
        p = t[f"p_purchase_{window}d"]
        hit = [1 if first.get(c, 10**9) < window else 0 for c in t["customer_id"]]
        print(f"p_purchase_{window}d: predicted {sum(p) / n:.3f}, observed {sum(hit) / n:.3f}")
        order = sorted(range(n), key=lambda i: p[i])
        cells = []
        for d in range(10):
            idx = order[d * n // 10:(d + 1) * n // 10]
            cells.append(f"{sum(p[i] for i in idx) / len(idx):.2f}/{sum(hit[i] for i in idx) / len(idx):.2f}")
        print("  by decile (predicted/observed): " + " ".join(cells))
    if span < 365:
        print("80 % interval: the holdout is shorter than a year, not checked")
        return
    if "next_purchase_date" in t:
        # scores.parquet: dates. A purchase on the interval's first or last day is inside it; days
        # after S as whole days, with the purchase at mid-day for the median.
        def days(column):
            return [None if d is None else (d - s).days for d in t[column]]

        low, med, high = days("next_purchase_low_date"), days("next_purchase_date"), days("next_purchase_high_date")
        hi = [None if h is None else h + 1 for h in high]
        mid = [None if m is None else m + 0.5 for m in med]
    else:
        # clv.parquet: fractional days after S; a purchase day counts at its middle.
        low, mid, hi = t["next_purchase_low_days"], t["next_purchase_days"], t["next_purchase_high_days"]
        med = mid
    dated = [i for i in range(n) if med[i] is not None]
    bought = [i for i in dated if first.get(t["customer_id"][i], 10**9) < 365]
    inside = [i for i in bought if low[i] <= first[t["customer_id"][i]] + 0.5 <= hi[i]]
    below = [i for i in bought if first[t["customer_id"][i]] + 0.5 <= mid[i]]
    print(f"with a date: {len(dated)} customers, {len(bought)} bought within the year")
    print(f"  first purchase inside the 80 % interval: {len(inside) / max(len(bought), 1):.3f}")
    print(f"  first purchase before the median: {len(below) / max(len(bought), 1):.3f}")
    undated = [i for i in range(n) if med[i] is None]
    came = [i for i in undated if first.get(t["customer_id"][i], 10**9) < 365]
    print(f"'unlikely' (no date): {len(undated)} customers, {len(came) / max(len(undated), 1):.3f} bought within the year")


if __name__ == "__main__":
    main()
