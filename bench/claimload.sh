#!/usr/bin/env bash
# The call queue under load through the HTTP API: builds plateau, makes a fresh
# data folder (and on PostgreSQL a fresh schema), creates mission 26 open around
# the clock, loads CONTACTS contacts into it with `plateau ingest` (a file from
# bench/gen), adds AGENTS agents assigned to it with one API token each, starts
# `plateau serve`, and runs bench/claimload: every agent goes in service, then
# loops "next contact" / "outcome" for DURATION. Prints claims/s,
# qualifications/s, the claim latency percentiles, the errors and the double
# leases seen.
#
#   bench/claimload.sh [--db sqlite|postgres] [--contacts N] [--agents N] [--duration 60s] [--code CODE]
#       defaults: sqlite, 1000000 contacts, 200 agents, 60s, code "repondeur"
#       (retryable, two hours before the contact is due again)
#
# PostgreSQL needs PLATEAU_TEST_POSTGRES (a database URL; a schema is created in
# it and dropped at the end). BENCH_DIR (default /tmp/plateau-claimload) holds
# the lead files (kept between runs), the binaries and the data folder.
# KEEP=1 leaves the data folder, the schema and the server log in place.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"

engine=sqlite contacts=1000000 agents=200 duration=60s code=repondeur
while [[ $# -gt 0 ]]; do
  case $1 in
    --db) engine=$2; shift 2 ;;
    --contacts) contacts=$2; shift 2 ;;
    --agents) agents=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --code) code=$2; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ $engine == sqlite || $engine == postgres ]] || { echo "--db sqlite or postgres" >&2; exit 2; }

dir=${BENCH_DIR:-/tmp/plateau-claimload}
data="$dir/data-$engine"
mkdir -p "$dir"
go build -o "$dir/plateau" ./cmd/plateau
go build -o "$dir/claimload" ./bench/claimload
plateau="$dir/plateau"

db=() schema=""
cleanup() {
  [[ -n ${server:-} ]] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  if [[ ${KEEP:-} != 1 ]]; then
    [[ -n $schema ]] && psql -q "$PLATEAU_TEST_POSTGRES" -c "DROP SCHEMA IF EXISTS $schema CASCADE" 2>/dev/null
    rm -rf "$data"
  fi
  return 0
}
trap cleanup EXIT
rm -rf "$data"
if [[ $engine == postgres ]]; then
  [[ -n ${PLATEAU_TEST_POSTGRES:-} ]] || { echo "PLATEAU_TEST_POSTGRES is not set" >&2; exit 2; }
  schema="claimload_$$"
  psql -q "$PLATEAU_TEST_POSTGRES" -c "CREATE SCHEMA $schema"
  sep='?'; [[ $PLATEAU_TEST_POSTGRES == *\?* ]] && sep='&'
  db=(--db "$PLATEAU_TEST_POSTGRES${sep}search_path=$schema")
fi
store=(--data "$data" "${db[@]}")
step() { printf '%s  %s\n' "$(date -u +%T)" "$*" >&2; }

step "schema and mission 26 ($engine)"
"$plateau" migrate "${store[@]}" >/dev/null
"$plateau" mission create "${store[@]}" --number 26 --name "Mission Sortant J+3" \
  --client bench --regime b2b --profile examples/profiles/flexycall.yaml >/dev/null
"$plateau" mission update "${store[@]}" --number 26 --windows 'mon-sun 00:00-24:00' --holidays open >/dev/null

# About 3 % of the generator's records are bad or duplicates (quarantined):
# 3.5 % more records give at least CONTACTS contacts.
records=$((contacts * 1035 / 1000))
leads="$dir/leads-$records.csv"
if [[ ! -s $leads ]]; then
  step "generating $records lead records"
  go run ./bench/gen -records "$records" -seed 7 -o "$leads"
fi
step "loading $leads"
PLATEAU_LOG_LEVEL=warn "$plateau" ingest "${store[@]}" --mission 26 --json --no-outputs "$leads" >"$dir/ingest.json"
loaded=$(grep -m1 '"loaded"' "$dir/ingest.json" | tr -dc 0-9)
step "loaded $loaded contacts"

step "$agents agents, assigned, one API token each"
logins=()
for ((i = 0; i < agents; i++)); do logins+=("$(printf 'agent%03d' "$i")"); done
printf '%s\n' "${logins[@]}" | xargs -P 4 -I{} "$plateau" user add "${store[@]}" --login {} --name {} --role agent >/dev/null
"$plateau" mission assign "${store[@]}" --number 26 "${logins[@]}" >/dev/null
tokens="$dir/tokens-$engine.txt"
printf '%s\n' "${logins[@]}" | xargs -P 4 -I{} "$plateau" token create "${store[@]}" --login {} --name claimload >"$tokens"
[[ $(wc -l <"$tokens") -eq $agents ]] || { echo "expected $agents tokens in $tokens" >&2; exit 1; }

port=$((20000 + $$ % 20000))
step "plateau serve on 127.0.0.1:$port"
PLATEAU_LOG_LEVEL=warn "$plateau" serve "${store[@]}" --addr "127.0.0.1:$port" >"$dir/serve-$engine.log" 2>&1 &
server=$!
for ((i = 0; i < 100; i++)); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { cat "$dir/serve-$engine.log" >&2; exit 1; }
  sleep 0.2
done

step "load: $agents agents for $duration"
echo "engine $engine, mission of $loaded contacts, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
status=0
"$dir/claimload" -url "http://127.0.0.1:$port" -mission 26 -tokens "$tokens" -agents "$agents" \
  -duration "$duration" -code "$code" || status=$?
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $status
