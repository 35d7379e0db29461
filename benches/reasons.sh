#!/usr/bin/env bash
# The ten most frequent first reasons of `at_risk.csv` on CDNOW master and Online Retail II, with
# numbers written as N (so that reasons of one wording count together).
#
#   benches/reasons.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-bench-data/reasons}"
. benches/release.sh
. benches/real_data.sh
mkdir -p "$out"

# first_reasons NAME AS_OF HORIZON INPUT_TOML
first_reasons() {
  local name="$1" as_of="$2" h="$3" input="$4" dir="$out/$(echo "$1" | tr ' ' '-')"
  rm -rf "$dir" && mkdir -p "$dir"
  printf 'as_of = "%s"\n%s\n[run]\noutput_dir = "out"\nmodels_dir = "models"\n' "$as_of" "$input" > "$dir/churn.toml"
  "$churn" run --config "$dir/churn.toml" --horizon-days "$h" --quiet
  python3 - "$dir/out/current/at_risk.csv" "$name" <<'PY'
import collections, csv, re, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
counts = collections.Counter(re.sub(r"-?\d[\d,]*(\.\d+)?", "N", r["reason_1"]) or "(none)" for r in rows)
print(f"\n{sys.argv[2]}: {len(rows):,} customers on the list\n")
print("| first reason (numbers as N) | customers | share |")
print("|---|---|---|")
for text, n in counts.most_common(10):
    print(f"| {text} | {n:,} | {100 * n / len(rows):.1f} % |")
PY
}

first_reasons "CDNOW master" 1998-07-01 182 "$cdnow_input"
first_reasons "Online Retail II" 2010-12-01 91 "$retail_input"
