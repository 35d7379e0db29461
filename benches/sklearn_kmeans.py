"""scikit-learn's KMeans on the same matrix `churn segment` clusters, for the benchmark table.

    python benches/sklearn_kmeans.py bench-data/c1000000-d100/features.parquet [K] [N_INIT]

Builds recency_days, log1p(frequency), signed log1p(monetary_total) and tenure_days, standardizes
them over the population (mean, population standard deviation), fits KMeans (k-means++, n_init
runs, seed 0), and prints the fit time and the inertia per row, which is what `churn segment`
reports as `inertia`. Needs numpy, pyarrow and scikit-learn (pip install scikit-learn pyarrow).
"""

import sys
import time

import numpy as np
import pyarrow.parquet as pq
from sklearn.cluster import KMeans


def main() -> None:
    path = sys.argv[1]
    k = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    n_init = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    t = pq.read_table(path, columns=["recency_days", "frequency", "monetary_total", "tenure_days"])
    m = t.column("monetary_total").to_numpy().astype(np.float64)
    x = np.column_stack(
        [
            t.column("recency_days").to_numpy().astype(np.float64),
            np.log1p(t.column("frequency").to_numpy().astype(np.float64)),
            np.sign(m) * np.log1p(np.abs(m)),
            t.column("tenure_days").to_numpy().astype(np.float64),
        ]
    )
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    started = time.perf_counter()
    km = KMeans(n_clusters=k, n_init=n_init, random_state=0).fit(z)
    seconds = time.perf_counter() - started
    print(
        f"scikit-learn KMeans k={k} n_init={n_init} on {z.shape[0]:,} x {z.shape[1]}: "
        f"{seconds:.2f} s, {km.n_iter_} iterations, inertia per row {km.inertia_ / z.shape[0]:.5f}"
    )


if __name__ == "__main__":
    main()
