"""The floor under `churn run`: reading the log's columns once and writing the run's outputs once.

    python3 benches/floor.py TRANSACTIONS.parquet RUN_DIR [RUNS]

RUN_DIR is a published run (for example bench-data/.../run-bench/output/current). Prints, as medians
of RUNS (default 3):

- read: pyarrow decoding every column of the log into memory on every core (`pq.read_table`,
  threaded), the least any reader can do before it has seen a row;
- write: the run's output files, already in memory, written to a new directory and fsynced, as the
  run's publish step must (the bytes are what churn wrote, so the volume is the run's own).

Nothing of churn's runs here: the two figures bound from below what any pipeline producing the same
files from the same log must spend, whatever it computes in between. The CPU seconds (user + system)
of the process are printed beside the wall time, since on a machine of two cores the CPU a run
spends bounds its wall time too.
"""

import os
import resource
import statistics
import sys
import tempfile
import time

import pyarrow.parquet as pq


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(step):
    """Wall and CPU seconds of one call of `step`."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    step()
    return time.perf_counter() - wall, cpu_seconds() - cpu


def read_columns(path):
    table = pq.read_table(path, use_threads=True)
    assert table.num_rows > 0, f"{path} has no rows"


def write_outputs(files, into):
    for name, data in files.items():
        with open(os.path.join(into, name), "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
    fd = os.open(into, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    log, run = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) == 4 else 3
    files = {}
    for name in sorted(os.listdir(run)):
        path = os.path.join(run, name)
        if os.path.isfile(path):
            with open(path, "rb") as f:
                files[name] = f.read()
    if not files:
        sys.exit(f"{run} holds no files: is it a run directory (output/current)?")
    size = sum(len(b) for b in files.values())
    reads, writes = [], []
    for _ in range(runs):
        reads.append(timed(lambda: read_columns(log)))
        # Beside the run directory, so the same file system takes the writes.
        with tempfile.TemporaryDirectory(dir=os.path.dirname(os.path.abspath(run))) as into:
            writes.append(timed(lambda: write_outputs(files, into)))
    rows = pq.ParquetFile(log).metadata.num_rows
    for what, measured in ((f"read {rows:,} rows, every column", reads),
                           (f"write {len(files)} files, {size / 1e6:.0f} MB, fsynced", writes)):
        wall = statistics.median(w for w, _ in measured)
        cpu = statistics.median(c for _, c in measured)
        print(f"{what}: {wall:.2f} s wall, {cpu:.2f} CPU-s (medians of {runs})")


if __name__ == "__main__":
    main()
