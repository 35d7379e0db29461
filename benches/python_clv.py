"""The Python reference for benches/clv.sh: the `lifetimes` package (BetaGeoFitter, GammaGammaFitter)
fitted on the same summaries `churn clv` computes, timed.

    python benches/python_clv.py bench-data/c1000000-bgnbd/transactions.parquet 2024-01-01 [CUSTOMERS]

Summaries: purchase rows (amount >= 0) before the as-of date, merged per UTC day; x = days - 1,
t_x = last - first day, T = (as-of - 1 day) - first day, in days; mean repeat value. Fitting only
is timed (lifetimes' own summary helper is slower still). With CUSTOMERS, a seeded subset is fitted.
Needs pandas, pyarrow and lifetimes.
"""

import sys
import time

import numpy as np
import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter


def main():
    path, as_of = sys.argv[1], pd.Timestamp(sys.argv[2], tz="UTC")
    limit = int(sys.argv[3]) if len(sys.argv) > 3 else None
    started = time.perf_counter()
    tx = pd.read_parquet(path, columns=["customer_id", "ts", "amount"])
    tx = tx[(tx["amount"] >= 0) & (tx["ts"] < as_of)]
    tx["day"] = tx["ts"].dt.floor("D")
    days = tx.groupby(["customer_id", "day"], sort=True)["amount"].sum().reset_index()
    g = days.groupby("customer_id")
    first, last, n = g["day"].min(), g["day"].max(), g["day"].count()
    total, first_value = g["amount"].sum(), g["amount"].first()
    end = as_of - pd.Timedelta(days=1)
    s = pd.DataFrame({
        "x": n - 1,
        "t_x": (last - first).dt.days.astype(float),
        "T": (end - first).dt.days.astype(float),
    })
    s["m"] = np.where(s["x"] > 0, (total - first_value) / s["x"].clip(lower=1), 0.0)
    if limit:
        s = s.sample(n=min(limit, len(s)), random_state=42)
    print(f"summaries: {len(s)} customers in {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    bg = BetaGeoFitter(penalizer_coef=0.0)
    bg.fit(s["x"], s["t_x"], s["T"])
    bg_seconds = time.perf_counter() - started
    print(f"lifetimes BG/NBD fit: {bg_seconds:.1f} s; {bg.params_.to_dict()}")
    repeat = s[(s["x"] > 0) & (s["m"] > 0)]
    started = time.perf_counter()
    gg = GammaGammaFitter(penalizer_coef=0.0)
    gg.fit(repeat["x"], repeat["m"])
    print(f"lifetimes Gamma-Gamma fit: {time.perf_counter() - started:.1f} s; {gg.params_.to_dict()}")


if __name__ == "__main__":
    main()
