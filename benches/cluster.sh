#!/usr/bin/env bash
# `churn run` locally beside the same run through a Ballista cluster on this machine (one scheduler,
# two executors, all on 127.0.0.1), side by side in one sitting.
#
#   benches/cluster.sh [CUSTOMERS] [MEAN_DAYS_BETWEEN_ORDERS] [RUNS]
#
# Defaults: 1,000,000 customers, one order per 100 days (about 10 million rows), three runs of each.
# On one 2-core machine a cluster can only add cost (the executors share the driver's cores, and the
# shuffle goes through disk and loopback): this measures that overhead, and where it goes, from the
# read stage's timing (`compact query`, the one read of the log) in each run's debug log.
# Prints each run's wall time, the driver's peak RSS and the executors' (their VmHWM), and the medians.
set -euo pipefail
cd "$(dirname "$0")/.."

customers="${1:-1000000}"
days="${2:-100}"
runs="${3:-3}"
. benches/bench_data.sh "$customers" "$days"

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 600); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "nothing listens on $1" >&2
  exit 1
}

scheduler=$(port)
"$churn" cluster scheduler --port "$scheduler" > "$work/scheduler.log" 2>&1 &
pids+=($!)
wait_port "$scheduler"
executors=()
for i in 1 2; do
  p=$(port)
  g=$(port)
  "$churn" cluster executor --scheduler "127.0.0.1:$scheduler" --port "$p" --grpc-port "$g" \
    --work-dir "$work/executor-$i" > "$work/executor-$i.log" 2>&1 &
  pids+=($!)
  executors+=($!)
  wait_port "$p"
done
echo "cluster: scheduler on $scheduler, executors ${executors[*]} (2 tasks each)"

# one_run NAME [FLAGS...]: a `churn run` from empty directories, timed, with the read stage's time.
one_run() {
  local name="$1"
  shift
  rm -rf "$work/run"
  CHURN_LOG=churn_features=debug,churn=info,ballista_core=info /usr/bin/time -o "$work/time" -f "%e %M" \
    "$churn" run --config "$dir/churn.toml" --output-dir "$work/run/output" --models-dir "$work/run/models" \
    --json "$@" > "$work/run.json" 2> "$work/run.log"
  read -r wall rss < "$work/time"
  local read_s
  read_s=$({ grep -o 'compact query seconds=[0-9.]*' "$work/run.log" || true; } | head -1 | sed 's/.*seconds=//')
  # The cluster's own account of the read's job: its execution on the executors (Ballista's client
  # logs "Job ... finished executing in <duration>"); the rest of the read stage is planning,
  # queueing and fetching the result into the driver's timelines.
  local job_s
  job_s=$({ grep -o 'finished executing in [0-9.]*[mµn]*s' "$work/run.log" || true; } | head -1 | python3 -c '
import re, sys
text = sys.stdin.read().strip()
m = re.search(r"in ([0-9.]+)(ms|µs|ns|s)$", text)
scale = {"s": 1, "ms": 1e-3, "µs": 1e-6, "ns": 1e-9}
print(f"{float(m.group(1)) * scale[m.group(2)]:.2f}" if m else "0")')
  printf '  %-8s %6.1f s wall, %5d MiB driver peak RSS, read stage %s s (job on the executors %s s)\n' \
    "$name" "$wall" "$((rss / 1024))" "$read_s" "$job_s"
  python3 benches/print_stages.py < "$work/run.json"
  echo "$name $wall $rss $read_s $job_s" >> "$work/results"
}

for run in $(seq "$runs"); do
  one_run local
  one_run cluster --cluster "df://127.0.0.1:$scheduler"
done
hwm=""
for pid in "${executors[@]}"; do
  hwm="$hwm $(awk '/VmHWM/ {print $2}' "/proc/$pid/status")"
done

python3 - "$work/results" $hwm <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
hwm = [int(k) / 1024 for k in sys.argv[2:]]
def med(who, i):
    return statistics.median(float(r[i]) for r in rows if r[0] == who)
l, c = med("local", 1), med("cluster", 1)
print()
print("| churn run | wall (median) | read stage (median) | driver peak RSS | executors' peak RSS |")
print("|---|---|---|---|---|")
print(f"| local | {l:.1f} s | {med('local', 3):.1f} s | {med('local', 2) / 1024:.0f} MiB | |")
print(f"| 1 scheduler + 2 executors on 127.0.0.1 | {c:.1f} s | {med('cluster', 3):.1f} s | "
      f"{med('cluster', 2) / 1024:.0f} MiB | {' + '.join(f'{h:.0f}' for h in hwm)} MiB |")
print(f"| overhead | {c - l:+.1f} s | {med('cluster', 3) - med('local', 3):+.1f} s | | |")
print()
print(f"read stage on the cluster: {med('cluster', 4):.1f} s executing the job on the executors (median), "
      f"{med('cluster', 3) - med('cluster', 4):.1f} s planning, queueing and fetching the result into the timelines")
PY

# One more cluster run, with executor 1 killed as soon as it writes its first shuffle file: how long
# the retry on the survivor takes (Ballista notices the loss by the missed heartbeats).
rm -rf "$work/run" "$work/executor-1"/*
/usr/bin/time -o "$work/time" -f "%e %M" \
  "$churn" run --config "$dir/churn.toml" --output-dir "$work/run/output" --models-dir "$work/run/models" \
  --cluster "df://127.0.0.1:$scheduler" --quiet > /dev/null 2> "$work/kill.log" &
runner=$!
until [ -n "$(find "$work/executor-1" -type f 2>/dev/null | head -1)" ] || ! kill -0 "$runner" 2>/dev/null; do
  sleep 0.05
done
kill -9 "${executors[0]}" 2>/dev/null && echo "  killed executor 1 mid-job"
if wait "$runner"; then
  read -r wall rss < "$work/time"
  echo "  with executor 1 killed mid-job: $wall s wall, exit 0"
else
  echo "  with executor 1 killed mid-job: the run failed: $(tail -3 "$work/kill.log")"
fi
