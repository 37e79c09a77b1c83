#!/usr/bin/env bash
# Times full ingestion — `plateau ingest --mission`: the file received into its
# sealed archive, then parsed, normalised, sealed and loaded as contacts in
# chunks committed with the batch's progress — of a generated file of the
# seed's layout, into SQLite and into PostgreSQL, and prints lines per second,
# CPU time and peak memory (GNU time).
#
#   bench/ingest.sh [RECORDS] [RUNS] [ENGINES]
#       defaults: 1000000 records, 3 runs, "sqlite postgres" (postgres only when
#       PLATEAU_TEST_POSTGRES is set; each run gets a fresh schema there)
#
# OUTPUTS=1 also writes the profile's four legacy files (by default --no-outputs:
# the goal is about the load). BENCH_DIR (default /tmp/plateau-ingest-bench) holds
# the file, the data folders and the binary.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"

records=${1:-1000000}
runs=${2:-3}
engines=${3:-sqlite${PLATEAU_TEST_POSTGRES:+ postgres}}
dir=${BENCH_DIR:-/tmp/plateau-ingest-bench}
at=2026-11-23T08:00:00+01:00
profile=examples/profiles/flexycall.yaml
mkdir -p "$dir"

[[ -x /usr/bin/time ]] || { echo "GNU time (/usr/bin/time) is needed: apt-get install time" >&2; exit 1; }

input="$dir/leads-$records.csv"
if [[ ! -s $input ]]; then
  go run ./bench/gen -records "$records" -seed 1 -o "$input"
fi
go build -o "$dir/plateau" ./cmd/plateau
plateau="$dir/plateau"
outputs=(--no-outputs)
[[ ${OUTPUTS:-} == 1 ]] && outputs=()

# pg_cpu prints the CPU seconds the local PostgreSQL server has used so far:
# every server process, plus the finished backends (children of the
# postmaster). Other clients of the same server count too.
pg_cpu() {
  local total=0 pid f
  for pid in $(pgrep -x postgres 2>/dev/null; pgrep -f '^postgres: ' 2>/dev/null); do
    f=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    f=${f##*) }
    set -- $f
    total=$((total + ${12} + ${13}))
    [[ $(ps -o comm= -p "$pid") == postgres && $(ps -o ppid= -p "$pid" | tr -d ' ') == 1 ]] && total=$((total + ${14} + ${15}))
  done
  echo "scale=2; $total / $(getconf CLK_TCK)" | bc
}

echo "input: $input ($records records, $(du -h "$input" | cut -f1)); $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf "\n| engine | run | wall s | lines/s | user s | sys s | peak RSS MB | server CPU s |\n|---|---|---|---|---|---|---|---|\n"
for engine in $engines; do
  for ((i = 1; i <= runs; i++)); do
    data="$dir/data-$engine"
    rm -rf "$data"
    db=()
    schema=""
    if [[ $engine == postgres ]]; then
      schema="bench_$$_$i"
      psql -q "$PLATEAU_TEST_POSTGRES" -c "CREATE SCHEMA $schema"
      sep='?'; [[ $PLATEAU_TEST_POSTGRES == *\?* ]] && sep='&'
      db=(--db "$PLATEAU_TEST_POSTGRES${sep}search_path=$schema")
    fi
    "$plateau" migrate --data "$data" "${db[@]}" >/dev/null 2>&1
    "$plateau" mission create --data "$data" "${db[@]}" --number 26 --name "Mission Sortant J+3" \
      --client phonak --regime b2b --profile "$profile" >/dev/null
    sync
    before=0; [[ $engine == postgres ]] && before=$(pg_cpu)
    PLATEAU_LOG_LEVEL=warn /usr/bin/time -f "%e %U %S %M" -o "$dir/time.txt" \
      "$plateau" ingest --data "$data" "${db[@]}" --mission 26 --at "$at" --json "${outputs[@]}" "$input" >"$dir/out.json"
    server="-"; [[ $engine == postgres ]] && server=$(echo "$(pg_cpu) - $before" | bc)
    loaded=$(grep -m1 '"loaded"' "$dir/out.json" | tr -dc 0-9)
    read -r wall user sys rss <"$dir/time.txt"
    awk -v e="$engine" -v i="$i" -v n="$records" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" -v c="$server" \
      'BEGIN { printf "| %s | %d | %.2f | %.0f | %.2f | %.2f | %.0f | %s |\n", e, i, w, n / w, u, s, r / 1024, c }'
    [[ $loaded -gt 0 ]] || { echo "nothing loaded: see $dir/out.json" >&2; exit 1; }
    [[ -n $schema ]] && psql -q "$PLATEAU_TEST_POSTGRES" -c "DROP SCHEMA $schema CASCADE" 2>/dev/null
  done
done
