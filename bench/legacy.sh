#!/usr/bin/env bash
# Times Plateau's database-free ingestion (`plateau ingest --profile ... --out
# ...`) against the plain Python csv-module implementation of the same
# transform (bench/reference_transform.py) on the same generated file of
# the seed's layout, checks that both wrote the same four files byte for
# byte, and prints lines per second and peak memory (GNU time).
#
#   bench/legacy.sh [RECORDS] [RUNS]      defaults: 1000000 records, 3 runs each
#
# BENCH_DIR (default /tmp/plateau-bench) holds the file and the outputs.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"

records=${1:-1000000}
runs=${2:-3}
dir=${BENCH_DIR:-/tmp/plateau-bench}
at=2026-11-23T08:00:00+01:00
profile=examples/profiles/flexycall.yaml
mkdir -p "$dir"

[[ -x /usr/bin/time ]] || { echo "GNU time (/usr/bin/time) is needed: apt-get install time" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 is needed" >&2; exit 1; }

input="$dir/leads-$records.csv"
if [[ ! -s $input ]]; then
  go run ./bench/gen -records "$records" -seed 1 -o "$input"
fi

# The real command when cmd/plateau builds with it; otherwise the same code
# through bench/transform.
if go build -o "$dir/plateau" ./cmd/plateau 2>/dev/null && "$dir/plateau" ingest --help >/dev/null 2>&1; then
  gocmd=("$dir/plateau" ingest --profile "$profile" --at "$at" --json)
  goname="plateau ingest"
else
  go build -o "$dir/transform" ./bench/transform
  gocmd=("$dir/transform" -profile "$profile" -at "$at")
  goname="bench/transform (same code as plateau ingest --profile)"
fi
pycmd=(python3 bench/reference_transform.py --at "$at")

# measure NAME OUTDIR CMD... : runs CMD (output folder appended) $runs times
# and prints "wall user sys maxrss_kb" of the median run by wall time.
measure() {
  local out=$1; shift
  local i
  for ((i = 0; i < runs; i++)); do
    rm -rf "$out"
    /usr/bin/time -f "%e %U %S %M" -o "$dir/time.txt" "$@" "$out" "$input" >/dev/null
    cat "$dir/time.txt"
  done | sort -n | sed -n "$(((runs + 1) / 2))p"
}

echo "input: $input ($records records, $(du -h "$input" | cut -f1))"
echo "go:     $goname"
read -r gwall guser gsys grss < <(measure "$dir/go-out" "${gocmd[@]}" --out)
echo "python: bench/reference_transform.py ($(python3 --version))"
read -r pwall puser psys prss < <(measure "$dir/py-out" "${pycmd[@]}" --out)

same=yes
for f in mission.csv "CRM phonak.csv" Automate.csv "Call Centers.csv"; do
  cmp -s "$dir/go-out/$f" "$dir/py-out/$f" || { same=no; echo "DIFFERENT: $f" >&2; }
done

awk -v n="$records" -v gw="$gwall" -v gu="$guser" -v gs="$gsys" -v gr="$grss" \
  -v pw="$pwall" -v pu="$puser" -v ps="$psys" -v pr="$prss" -v same="$same" -v runs="$runs" 'BEGIN {
  printf "\n| implementation | wall s | user s | sys s | records/s | peak RSS MB |\n|---|---|---|---|---|---|\n"
  printf "| Go (Plateau) | %.2f | %.2f | %.2f | %.0f | %.0f |\n", gw, gu, gs, n / gw, gr / 1024
  printf "| Python csv module | %.2f | %.2f | %.2f | %.0f | %.0f |\n", pw, pu, ps, n / pw, pr / 1024
  printf "\nspeed-up: %.1fx (median of %d runs each); outputs identical: %s\n", pw / gw, runs, same
}'
[[ $same == yes ]]
