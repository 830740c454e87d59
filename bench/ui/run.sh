#!/usr/bin/env bash
# The web UI's search page next to the API listing it is rendered from, over
# 100,000 jobs, side by side in one run, end to end:
#   create the database, migrate it with the binary, seed it (bench/jobs'
#   seed, then bench/search/backfill.sql), start `jobboard serve` once, and
#   measure GET /jobs?title=<w>&location=<c> and GET /app/?title=<w>&location=<c>
#   with the same draws, clients and duration, alternating API, UI, API, UI
#   (bench/ui/load), then print a table and the UI/API throughput ratio.
#
#   ./bench/ui/run.sh                          # from anywhere
#   SEED=0 ./bench/ui/run.sh                   # reuse the seeded database
#   ROUNDS=3 DURATION=30 CLIENTS=16 ./bench/ui/run.sh
#
# Target (the issue): the page's throughput is at least 80 % of the API
# listing's. Results are recorded in bench/ui/README.md.
#
# Needs a PostgreSQL server on this machine (PGHOST/PGPORT/PGUSER, default
# 127.0.0.1:5432, postgres, which may create databases and roles), psql,
# curl and Go. Everything listens on loopback only.
set -euo pipefail
cd "$(dirname "$0")/../.."

export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
DB=${DB:-jobboard_ui_bench}
JOBS=${JOBS:-100000}
CLIENTS=${CLIENTS:-16}
DURATION=${DURATION:-20} # seconds measured, each phase
WARMUP=${WARMUP:-10}     # seconds before each phase, not counted
ROUNDS=${ROUNDS:-2}      # API, UI pairs
ADDR=${ADDR:-127.0.0.1:18097}
SEED=${SEED:-1}
OUT=${OUT:-/tmp/jobboard-bench-ui}
JOBBOARD_BIN=${JOBBOARD_BIN:-}
# The service runs as its own restricted role, as deployed; the owner
# migrates and seeds.
OWNER_URL="postgres://$PGUSER@$PGHOST:$PGPORT/$DB?sslmode=disable"
SERVICE_URL="postgres://jobboard_app@$PGHOST:$PGPORT/$DB?sslmode=disable"

case $ADDR in
  127.*|localhost:*|\[::1\]:*) ;;
  *) echo "ADDR must be a loopback address" >&2; exit 2 ;;
esac
case $PGHOST in
  127.*|localhost|::1|/*) ;;
  *) echo "PGHOST must be on this machine" >&2; exit 2 ;;
esac
mkdir -p "$OUT"
log() { printf '== %s\n' "$*" >&2; }

log "build"
if [ -z "$JOBBOARD_BIN" ]; then
  go build -o "$OUT/jobboard" ./cmd/jobboard
  JOBBOARD_BIN=$OUT/jobboard
fi
go build -o "$OUT/load" ./bench/ui/load

migrate() {
  DATABASE_URL=$SERVICE_URL MIGRATE_DATABASE_URL=$OWNER_URL LOG_LEVEL=warn "$JOBBOARD_BIN" migrate
}
if [ "$SEED" = 1 ]; then
  log "create and migrate $DB"
  psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
  migrate
  log "seed $JOBS jobs (bench/jobs/seed.sql: straight into the jobs read model, then VACUUM ANALYZE)"
  psql -X -q -v n="$JOBS" -f bench/jobs/seed.sql "$DB"
else
  log "migrate $DB to this build's schema"
  migrate
fi
log "copy the seeded jobs into job_search (bench/search/backfill.sql)"
psql -X -q -f bench/search/backfill.sql "$DB"

log "start the server on $ADDR"
DATABASE_URL=$SERVICE_URL MIGRATE_DATABASE_URL=$OWNER_URL HTTP_ADDR=$ADDR LOG_LEVEL=warn READ_RATE_LIMIT=0 \
  JWT_SECRET=$(head -c 48 /dev/urandom | base64 -w0) "$JOBBOARD_BIN" serve >"$OUT/server.log" 2>&1 &
server=$!
stop_server() {
  if kill -0 "$server" 2>/dev/null; then
    kill -TERM "$server"
    wait "$server" || true
  fi
}
trap stop_server EXIT
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "http://$ADDR/healthz" 2>/dev/null && break
  sleep 0.1
done
curl -fsS -o /dev/null "http://$ADDR/healthz"
if ! curl -fsS -o /dev/null "http://$ADDR/app/"; then
  echo "GET /app/ does not answer 200: this build has no web UI" >&2
  exit 1
fi

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
log "measure: $CLIENTS clients, $ROUNDS rounds of API then UI, ${WARMUP}s not counted + ${DURATION}s each (load $load_before)"
"$OUT/load" -url "http://$ADDR" -c "$CLIENTS" -rounds "$ROUNDS" -warmup "${WARMUP}s" -d "${DURATION}s" \
  -server-pid "$server" | tee "$OUT/load.txt" >&2
ended=$(date -u +%Y-%m-%dT%H:%M:%SZ)
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
stop_server
trap - EXIT

# The load tool's lines are key=value pairs; row NAME LINE prints one.
row() {
  local label=$1 line=$2
  local -A v=()
  local kv
  for kv in $line; do
    [[ $kv == *=* ]] && v[${kv%%=*}]=${kv#*=}
  done
  printf '| %-26s | %8s | %7s | %7s | %7s | %8s | %6s | %7s | %7s | %7s |\n' "$label" "${v[rps]}" "${v[p50_ms]}" \
    "${v[p90_ms]}" "${v[p99_ms]}" "${v[max_ms]}" "${v[errors]}" "${v[bytes]}" "${v[server_cpu_ms]}" "${v[machine_cpu_ms]}"
}

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
mem=$(awk '/^MemTotal:/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
echo
echo "GET /jobs vs GET /app/ (?title=…&location=…) over $(psql -X -At -c 'SELECT count(*) FROM jobs' "$DB") jobs, $CLIENTS clients, $ROUNDS rounds, ${DURATION}s measured a phase"
echo "$started – $ended (date -u); $(nproc) cores ($cpu), $mem; $(go version | cut -d' ' -f3-4);" \
  "PostgreSQL $(psql -X -At -c 'SHOW server_version' postgres); load average before $load_before, after $load_after"
echo
printf '| %-26s | %8s | %7s | %7s | %7s | %8s | %6s | %7s | %7s | %7s |\n' "" "req/s" "p50 ms" "p90 ms" "p99 ms" "max ms" "errors" "bytes" "server" "machine"
echo "|----------------------------|---------:|--------:|--------:|--------:|---------:|-------:|--------:|--------:|--------:|"
label() { case $1 in api) echo "API GET /jobs" ;; ui) echo "UI GET /app/" ;; *) echo "$1" ;; esac; }
grep '^PHASE ' "$OUT/load.txt" | while read -r _ round rest; do
  t=${rest%% *}
  row "$(label "${t#target=}"), round ${round#round=}" "$rest"
done
grep '^TOTAL ' "$OUT/load.txt" | while read -r _ rest; do
  t=${rest%% *}
  row "**$(label "${t#target=}"), all**" "$rest"
done
echo
echo "(bytes: average answer size; server, machine: CPU ms per request of the server process, and of all cores together)"
ratio_line=$(grep '^RATIO ' "$OUT/load.txt")
ratio=$(sed -n 's/^RATIO ui\/api=\([0-9.]*\)%.*/\1/p' <<<"$ratio_line")
echo "UI / API throughput: ${ratio} % (per round: $(sed 's/^RATIO ui\/api=[^ ]* //; s/round\([0-9]*\)=/round \1: /g' <<<"$ratio_line"))"
awk -v r="$ratio" 'BEGIN { if (r >= 80) print "target (>= 80 %): met"; else print "target (>= 80 %): NOT met" }'
