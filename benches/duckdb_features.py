"""The v1 feature contract as one DuckDB query: the bar `churn features` is measured against.

    python benches/duckdb_features.py bench-data/c1000000-d100/transactions.parquet 2024-01-01 OUT.parquet [--hashed]

What `churn features` computes for one snapshot, written the way a DuckDB user would: exact duplicate
rows counted by grouping whole rows, lines into orders (a line without an order id is its own
order), orders into customers, money in integer cents, the 30/90/365-day windows, the order
interval, the return ratio, R/F/M quintile scores (DuckDB's `ntile`, which breaks ties by row
order where churn gives tied values one score) and the result sorted by customer id and written to
Parquet. No validation of the input and no row report beyond the duplicate count. Needs duckdb.
"""

import sys
import time

import duckdb

# How duplicates are counted: by grouping whole rows into lines first (the default), or, with
# --hashed, as rows minus distinct row hashes inside each order (DuckDB's 64-bit `hash`), the way
# churn counts them.
WHOLE_ROWS = """WITH lines AS (
    SELECT customer_id, order_id, ts, amount, count(*) AS n
    FROM read_parquet('{path}')
    WHERE customer_id IS NOT NULL
    GROUP BY customer_id, order_id, ts, amount, quantity, category
), valued AS (
    SELECT *, ts < TIMESTAMP '{s}' AS before, CAST(round(amount * 100) AS BIGINT) AS cents
    FROM lines
), orders AS (
    SELECT customer_id, order_id,
        sum(n - 1) FILTER (WHERE before) AS duplicates,"""
HASHED_ROWS = """WITH valued AS (
    SELECT customer_id, order_id, ts, amount, 1 AS n, hash(ts, amount, quantity, category) AS line,
        ts < TIMESTAMP '{s}' AS before, CAST(round(amount * 100) AS BIGINT) AS cents
    FROM read_parquet('{path}')
    WHERE customer_id IS NOT NULL
), orders AS (
    SELECT customer_id, order_id,
        count(*) FILTER (WHERE before) - count(DISTINCT line) FILTER (WHERE before) AS duplicates,"""

SQL = """
COPY (
{duplicates}
        sum(n * cents) FILTER (WHERE before) AS net,
        sum(n * cents) FILTER (WHERE before AND amount > 0) AS purchases,
        sum(n * cents) FILTER (WHERE before AND amount < 0) AS returns,
        sum(n * cents) FILTER (WHERE before AND ts >= TIMESTAMP '{s}' - INTERVAL 30 DAY) AS s30,
        sum(n * cents) FILTER (WHERE before AND ts >= TIMESTAMP '{s}' - INTERVAL 90 DAY) AS s90,
        sum(n * cents) FILTER (WHERE before AND ts >= TIMESTAMP '{s}' - INTERVAL 365 DAY) AS s365,
        min(ts) FILTER (WHERE before AND amount > 0) AS first_ts,
        max(ts) FILTER (WHERE before AND amount > 0) AS last_ts,
        sum(n) FILTER (WHERE before AND amount > 0) AS purchase_lines,
        sum(n) FILTER (WHERE before AND amount > 0 AND ts >= TIMESTAMP '{s}' - INTERVAL 90 DAY) AS lines_90d
    FROM valued
    GROUP BY customer_id, order_id
), c AS (
    SELECT customer_id,
        sum(duplicates) AS duplicates,
        sum(CASE WHEN order_id IS NULL THEN coalesce(purchase_lines, 0) WHEN purchase_lines > 0 THEN 1 ELSE 0 END)
            AS frequency,
        sum(CASE WHEN order_id IS NULL THEN coalesce(lines_90d, 0) WHEN lines_90d > 0 THEN 1 ELSE 0 END)
            AS orders_90d,
        coalesce(sum(net), 0) / 100.0 AS monetary_total,
        coalesce(sum(s30), 0) / 100.0 AS spend_30d,
        coalesce(sum(s90), 0) / 100.0 AS spend_90d,
        coalesce(sum(s365), 0) / 100.0 AS spend_365d,
        sum(purchases) AS purchases, sum(returns) AS returns,
        min(first_ts) AS first_ts, max(last_ts) AS last_ts
    FROM orders
    GROUP BY customer_id
), f AS (
    SELECT customer_id, duplicates,
        epoch_us(TIMESTAMP '{s}' - last_ts) / 86400e6 AS recency_days,
        frequency, monetary_total, monetary_total / frequency AS monetary_avg_order,
        epoch_us(TIMESTAMP '{s}' - first_ts) / 86400e6 AS tenure_days,
        spend_30d, spend_90d, spend_365d, orders_90d,
        CASE WHEN frequency > 1 THEN epoch_us(last_ts - first_ts) / 86400e6 / (frequency - 1) END
            AS avg_days_between_orders,
        CASE WHEN purchases > 0 THEN -coalesce(returns, 0) / purchases END AS return_ratio
    FROM c
    WHERE frequency > 0
)
SELECT *,
    ntile(5) OVER (ORDER BY recency_days DESC) AS r_score,
    ntile(5) OVER (ORDER BY frequency) AS f_score,
    ntile(5) OVER (ORDER BY monetary_total) AS m_score
FROM f
ORDER BY customer_id
) TO '{out}' (FORMAT parquet)
"""


def main():
    path, as_of, out = sys.argv[1:4]
    duplicates = HASHED_ROWS if "--hashed" in sys.argv[4:] else WHOLE_ROWS
    started = time.perf_counter()
    con = duckdb.connect()
    con.execute(SQL.format(duplicates=duplicates.format(path=path, s=as_of), s=as_of, out=out))
    rows, duplicates = con.execute(f"SELECT count(*), sum(duplicates) FROM read_parquet('{out}')").fetchone()
    print(f"duckdb v1 features: {rows} customers, {duplicates} duplicate rows, "
          f"{time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
