"""The leanest honest Python for the nightly job: the bar `churn run` is measured against.

    python benches/python_lean.py bench-data/c1000000-d100/transactions.parquet 2024-01-01 90 OUT_DIR

What a data scientist writes in an afternoon: DuckDB computes the v1-style features in one query per
snapshot, at S - H (training) and at S (scoring; its recency also gives the training labels);
scikit-learn fits KMeans(k=6, n_init=3) on four standardized inputs at S and LogisticRegression on
eleven inputs at S - H, evaluated on a random 20 % holdout (not out of time); everyone at S is scored
and scores.parquet and at_risk.csv are written. No validation, no duplicates report, no reasons, no
baselines, no drift, no report, no atomic publishing. benches/python_pipeline.py is the fuller
version (three snapshots, out-of-time evaluation). Needs duckdb, pandas, pyarrow and scikit-learn.
"""

import sys
import time
from datetime import date, timedelta

import duckdb
import numpy as np
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

# One statement per snapshot: purchases and orders, money, windows, tenure and the order interval.
FEATURES_SQL = """
WITH tx AS (SELECT customer_id, order_id, ts, amount FROM read_parquet('{path}') WHERE ts < TIMESTAMP '{s}'),
c AS (
  SELECT customer_id,
         count(DISTINCT order_id) FILTER (WHERE amount > 0) AS frequency,
         min(ts) FILTER (WHERE amount > 0) AS first_ts, max(ts) FILTER (WHERE amount > 0) AS last_ts,
         count(DISTINCT order_id) FILTER (WHERE amount > 0 AND ts >= TIMESTAMP '{s}' - INTERVAL 90 DAY) AS orders_90d,
         sum(amount) AS monetary_total,
         sum(amount) FILTER (WHERE ts >= TIMESTAMP '{s}' - INTERVAL 30 DAY) AS spend_30d,
         sum(amount) FILTER (WHERE ts >= TIMESTAMP '{s}' - INTERVAL 90 DAY) AS spend_90d,
         sum(amount) FILTER (WHERE ts >= TIMESTAMP '{s}' - INTERVAL 365 DAY) AS spend_365d,
         -sum(amount) FILTER (WHERE amount < 0) / nullif(sum(amount) FILTER (WHERE amount > 0), 0) AS return_ratio
  FROM tx GROUP BY customer_id
)
SELECT customer_id,
       epoch(TIMESTAMP '{s}' - last_ts) / 86400.0 AS recency_days,
       frequency, monetary_total, monetary_total / frequency AS monetary_avg_order,
       epoch(TIMESTAMP '{s}' - first_ts) / 86400.0 AS tenure_days,
       coalesce(spend_30d, 0) AS spend_30d, coalesce(spend_90d, 0) AS spend_90d,
       coalesce(spend_365d, 0) AS spend_365d, orders_90d,
       CASE WHEN frequency > 1 THEN epoch(last_ts - first_ts) / 86400.0 / (frequency - 1) END AS avg_days_between_orders,
       coalesce(return_ratio, 0) AS return_ratio
FROM c WHERE frequency > 0 ORDER BY customer_id
"""


def slog(x):
    return np.sign(x) * np.log1p(np.abs(x))


def design(df):
    gap = df["avg_days_between_orders"].to_numpy(dtype=float)
    gap = np.log1p(np.where(np.isnan(gap), 0.0, gap))
    return np.column_stack([
        df["recency_days"], np.log1p(df["frequency"]), slog(df["monetary_total"]), slog(df["monetary_avg_order"]),
        df["tenure_days"], slog(df["spend_30d"]), slog(df["spend_90d"]), slog(df["spend_365d"]),
        np.log1p(df["orders_90d"]), gap, df["return_ratio"],
    ]).astype(float)


def write_scores(now, p, segments, out):
    """scores.parquet for everyone and at_risk.csv (medium and high risk, by value at risk)."""
    scores = now[["customer_id"]].copy()
    scores["churn_probability"] = p
    scores["risk_band"] = np.where(p >= 0.7, "high", np.where(p >= 0.4, "medium", "low"))
    scores["value_at_risk"] = p * np.maximum(now["spend_365d"].to_numpy(), 0)
    scores["segment"] = segments
    scores.to_parquet(f"{out}/scores.parquet", index=False)
    risky = scores[scores["risk_band"] != "low"].sort_values(["value_at_risk", "customer_id"], ascending=[False, True])
    risky.to_csv(f"{out}/at_risk.csv", index=False)


def main():
    path, s, h, out = sys.argv[1], date.fromisoformat(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    t0 = time.perf_counter()
    con = duckdb.connect()
    now = con.execute(FEATURES_SQL.format(path=path, s=s)).df()
    then = con.execute(FEATURES_SQL.format(path=path, s=s - timedelta(h))).df()
    t_features = time.perf_counter() - t0

    t1 = time.perf_counter()
    seg = np.column_stack([now["recency_days"], np.log1p(now["frequency"]), slog(now["monetary_total"]), now["tenure_days"]])
    seg = (seg - seg.mean(0)) / seg.std(0)
    segments = KMeans(n_clusters=6, n_init=3, random_state=0).fit_predict(seg)
    t_segments = time.perf_counter() - t1

    t2 = time.perf_counter()
    recency_now = now.set_index("customer_id")["recency_days"]
    y = (recency_now.loc[then["customer_id"]].to_numpy() > h).astype(int)
    x = design(then)
    mu, sd = x.mean(0), x.std(0)
    sd[sd == 0] = 1
    x = (x - mu) / sd
    x_fit, x_test, y_fit, y_test = train_test_split(x, y, test_size=0.2, random_state=0)
    model = LogisticRegression(C=1.0, max_iter=1000).fit(x_fit, y_fit)
    auc = roc_auc_score(y_test, model.predict_proba(x_test)[:, 1])
    t_model = time.perf_counter() - t2

    t3 = time.perf_counter()
    p = model.predict_proba((design(now) - mu) / sd)[:, 1]
    t_score = time.perf_counter() - t3
    t4 = time.perf_counter()
    write_scores(now, p, segments, out)
    t_write = time.perf_counter() - t4
    total = time.perf_counter() - t0
    print(
        f"lean python: {len(now):,} customers, total {total:.2f} s (features {t_features:.2f} s, k-means "
        f"{t_segments:.2f} s, logistic {t_model:.2f} s, score {t_score:.2f} s, write {t_write:.2f} s); "
        f"holdout ROC AUC {auc:.4f}"
    )


if __name__ == "__main__":
    main()
