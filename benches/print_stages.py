"""Prints the stage timings of a `churn run --json` summary read from stdin, on one line.

Used by benches/run.sh and benches/scale.sh.
"""
import json
import sys

timings = json.load(sys.stdin)["timings"]
print("  stages: " + ", ".join(f"{k.replace('_seconds', '')} {v:.2f} s" for k, v in timings.items()))
