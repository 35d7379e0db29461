"""scikit-learn's LogisticRegression on the same design `churn train` builds, for comparison.

    python benches/sklearn_logistic.py FIT.parquet FIT_LATER.parquet EVAL.parquet EVAL_LATER.parquet H

FIT.parquet and EVAL.parquet are `churn features` outputs at S - 2H and S - H; *_LATER at S - H and
S give the labels (churned = recency_days > H in the later snapshot, as `churn train` does). The
design repeats `churn train`'s defaults: log1p on counts, signed log1p on money, the interval between
orders filled with its training median and flagged, standardized over the fit snapshot. Prints the
out-of-time ROC AUC, PR AUC and Brier score of LogisticRegression(C=1, lbfgs), the fit time, and the
same for a fit on the production snapshot (EVAL with labels from EVAL_LATER) timed alone.
"""

import sys
import time

import numpy as np
import pyarrow.parquet as pq
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

INPUTS = [
    ("recency_days", "id"),
    ("frequency", "log1p"),
    ("monetary_total", "slog1p"),
    ("monetary_avg_order", "slog1p"),
    ("tenure_days", "id"),
    ("spend_30d", "slog1p"),
    ("spend_90d", "slog1p"),
    ("spend_365d", "slog1p"),
    ("orders_90d", "log1p"),
    ("avg_days_between_orders", "log1p"),
    ("return_ratio", "id"),
]


def transform(x, how):
    if how == "log1p":
        return np.log1p(x)
    if how == "slog1p":
        return np.sign(x) * np.log1p(np.abs(x))
    return x


def load(path):
    return pq.read_table(path).to_pandas()


def labels(frame, later, h):
    recency = later.set_index("customer_id")["recency_days"]
    return (recency.loc[frame["customer_id"]].to_numpy() > h).astype(int)


def design(frame, fills=None):
    cols, fit_fills = [], {}
    for name, how in INPUTS:
        raw = frame[name].to_numpy(dtype=float)
        missing = np.isnan(raw)
        value = transform(np.where(missing, 0.0, raw), how)
        if fills is None and missing.any():
            fit_fills[name] = float(np.median(value[~missing]))
        fill = (fills if fills is not None else fit_fills).get(name)
        if fill is not None:
            cols.append(np.where(missing, fill, value))
            cols.append(missing.astype(float))
        else:
            cols.append(value)
    return np.column_stack(cols), (fills if fills is not None else fit_fills)


def main():
    fit_path, fit_later, eval_path, eval_later, h = sys.argv[1:6]
    h = float(h)
    fit, eval_ = load(fit_path), load(eval_path)
    y_fit, y_eval = labels(fit, load(fit_later), h), labels(eval_, load(eval_later), h)
    x_fit, fills = design(fit)
    x_eval, _ = design(eval_, fills)
    mean, std = x_fit.mean(axis=0), x_fit.std(axis=0)
    std[std == 0] = 1.0
    started = time.perf_counter()
    model = LogisticRegression(C=1.0, max_iter=1000).fit((x_fit - mean) / std, y_fit)
    seconds = time.perf_counter() - started
    p = model.predict_proba((x_eval - mean) / std)[:, 1]
    print(
        f"scikit-learn out of time: fit on {len(y_fit):,} ({seconds:.2f} s), evaluated on {len(y_eval):,}: "
        f"ROC AUC {roc_auc_score(y_eval, p):.4f}, PR AUC {average_precision_score(y_eval, p):.4f}, "
        f"Brier {brier_score_loss(y_eval, p):.4f}"
    )
    x_prod, _ = design(eval_)
    m2, s2 = x_prod.mean(axis=0), x_prod.std(axis=0)
    s2[s2 == 0] = 1.0
    started = time.perf_counter()
    LogisticRegression(C=1.0, max_iter=1000).fit((x_prod - m2) / s2, y_eval)
    print(f"scikit-learn production fit on {len(y_eval):,} x {x_prod.shape[1]}: {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
