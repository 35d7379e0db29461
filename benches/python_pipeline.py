"""The `churn run` pipeline written the usual Python way, to time against `churn run` on one file.

    python benches/python_pipeline.py bench-data/c1000000-d100/transactions.parquet 2024-01-01 90 OUT_DIR

DuckDB computes the v1-style features at S - 2H, S - H and S (purchase rows amount > 0, orders by
order_id, net money, 30/90/365-day spend, tenure, interval between orders); labels come from the next
snapshot's recency as in `churn train`; scikit-learn fits KMeans (k = 8, n_init = 3) on 4
standardized inputs and LogisticRegression (C = 1) on 11 inputs plus a missing flag, evaluated out of
time; everyone at S is scored and scores.parquet and at_risk.csv are written. No validation, no
reasons, no atomic publishing: a lower bound for the same work. Needs duckdb, pandas, pyarrow and
scikit-learn.
"""

import sys
import time
from datetime import date, timedelta

import duckdb
import numpy as np
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

# The same scoring output and money transform as the lean script (benches/ is on the path when run).
from python_lean import slog, write_scores

FEATURES_SQL = """
WITH tx AS (SELECT customer_id, order_id, ts, amount FROM read_parquet('{path}') WHERE ts < TIMESTAMP '{s}'),
orders AS (
  SELECT customer_id, order_id, min(ts) AS ts FROM tx WHERE amount > 0 GROUP BY customer_id, order_id
),
o AS (
  SELECT customer_id, count(*) AS frequency, min(ts) AS first_ts, max(ts) AS last_ts,
         count(*) FILTER (WHERE ts >= TIMESTAMP '{s}' - INTERVAL 90 DAY) AS orders_90d
  FROM orders GROUP BY customer_id
),
m AS (
  SELECT customer_id, sum(amount) AS monetary_total,
         sum(amount) FILTER (WHERE ts >= TIMESTAMP '{s}' - INTERVAL 30 DAY) AS spend_30d,
         sum(amount) FILTER (WHERE ts >= TIMESTAMP '{s}' - INTERVAL 90 DAY) AS spend_90d,
         sum(amount) FILTER (WHERE ts >= TIMESTAMP '{s}' - INTERVAL 365 DAY) AS spend_365d,
         -sum(amount) FILTER (WHERE amount < 0) / nullif(sum(amount) FILTER (WHERE amount > 0), 0) AS return_ratio
  FROM tx GROUP BY customer_id
)
SELECT o.customer_id,
       epoch(TIMESTAMP '{s}' - last_ts) / 86400.0 AS recency_days,
       frequency, monetary_total, monetary_total / frequency AS monetary_avg_order,
       epoch(TIMESTAMP '{s}' - first_ts) / 86400.0 AS tenure_days,
       coalesce(spend_30d, 0) AS spend_30d, coalesce(spend_90d, 0) AS spend_90d,
       coalesce(spend_365d, 0) AS spend_365d, orders_90d,
       CASE WHEN frequency > 1 THEN epoch(last_ts - first_ts) / 86400.0 / (frequency - 1) END AS avg_days_between_orders,
       coalesce(return_ratio, 0) AS return_ratio
FROM o JOIN m USING (customer_id) ORDER BY o.customer_id
"""


def design(df, fill=None):
    gap = df["avg_days_between_orders"].to_numpy(dtype=float)
    missing = np.isnan(gap)
    gap = np.log1p(np.where(missing, 0.0, gap))
    fill = float(np.median(gap[~missing])) if fill is None else fill
    x = np.column_stack([
        df["recency_days"], np.log1p(df["frequency"]), slog(df["monetary_total"]), slog(df["monetary_avg_order"]),
        df["tenure_days"], slog(df["spend_30d"]), slog(df["spend_90d"]), slog(df["spend_365d"]),
        np.log1p(df["orders_90d"]), np.where(missing, fill, gap), missing.astype(float), df["return_ratio"],
    ]).astype(float)
    return x, fill


def main():
    path, s, h, out = sys.argv[1], date.fromisoformat(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    t0 = time.perf_counter()
    con = duckdb.connect()
    snap = {d: con.execute(FEATURES_SQL.format(path=path, s=d)).df() for d in (s, s - timedelta(h), s - timedelta(2 * h))}
    t_features = time.perf_counter() - t0

    def labels(frame, later):
        r = later.set_index("customer_id")["recency_days"]
        return (r.loc[frame["customer_id"]].to_numpy() > h).astype(int)

    now, c1, c2 = snap[s], snap[s - timedelta(h)], snap[s - timedelta(2 * h)]
    t1 = time.perf_counter()
    seg = np.column_stack([now["recency_days"], np.log1p(now["frequency"]), slog(now["monetary_total"]), now["tenure_days"]])
    seg = (seg - seg.mean(0)) / seg.std(0)
    segments = KMeans(n_clusters=8, n_init=3, random_state=0).fit_predict(seg)
    t_segments = time.perf_counter() - t1

    t2 = time.perf_counter()
    x2, fill = design(c2)
    mu, sd = x2.mean(0), x2.std(0)
    sd[sd == 0] = 1
    m_eval = LogisticRegression(C=1.0, max_iter=1000).fit((x2 - mu) / sd, labels(c2, c1))
    x1, _ = design(c1, fill)
    auc = roc_auc_score(labels(c1, now), m_eval.predict_proba((x1 - mu) / sd)[:, 1])
    x1, fill = design(c1)
    mu, sd = x1.mean(0), x1.std(0)
    sd[sd == 0] = 1
    model = LogisticRegression(C=1.0, max_iter=1000).fit((x1 - mu) / sd, labels(c1, now))
    t_model = time.perf_counter() - t2

    t3 = time.perf_counter()
    xs, _ = design(now, fill)
    p = model.predict_proba((xs - mu) / sd)[:, 1]
    write_scores(now, p, segments, out)
    t_score = time.perf_counter() - t3
    total = time.perf_counter() - t0
    print(
        f"python pipeline: {len(now):,} customers, total {total:.2f} s (features {t_features:.2f} s, segments "
        f"{t_segments:.2f} s, model {t_model:.2f} s, score and write {t_score:.2f} s); out-of-time ROC AUC {auc:.4f}"
    )


if __name__ == "__main__":
    main()
