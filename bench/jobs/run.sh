#!/usr/bin/env bash
# GET /jobs?title=…&location=… over 100,000 jobs, through the HTTP API and
# straight against PostgreSQL, end to end:
#   create the database, migrate it with the binary, seed it, start the
#   server, warm up, measure the API (bench/jobs/load), stop the server,
#   measure the same SQL with pgbench (bench/search/jobs-list.sql, the
#   statements List sends since migration 0010), print a table.
#
#   ./bench/jobs/run.sh                      # from the repository root
#   CLIENTS=16 DURATION=20 JOBS=100000 ./bench/jobs/run.sh
#   SEED=0 ./bench/jobs/run.sh               # reuse an already seeded database
#
# To measure another build (e.g. the code before a change) against its own
# database: JOBBOARD_BIN=/path/to/jobboard DB=jobboard_bench_before
# LIST_SQL=bench/jobs/list-two.sql ./bench/jobs/run.sh
#
# Needs a PostgreSQL server (PGHOST/PGPORT/PGUSER, default 127.0.0.1:5432,
# postgres), psql and pgbench on PATH, and Go. Everything listens on
# loopback only. Results are recorded in bench/jobs/README.md.
set -euo pipefail
cd "$(dirname "$0")/../.."

export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
DB=${DB:-jobboard_bench}
JOBS=${JOBS:-100000}
CLIENTS=${CLIENTS:-16}
DURATION=${DURATION:-20}   # seconds, for each measurement
WARMUP=${WARMUP:-10}       # seconds
ADDR=${ADDR:-127.0.0.1:18090}
SEED=${SEED:-1}
OUT=${OUT:-/tmp/jobboard-bench}
# The statements JobsView.List sends since migration 0010 (job_search);
# bench/jobs/list.sql is what it sent before, kept for comparison.
LIST_SQL=${LIST_SQL:-bench/search/jobs-list.sql}
JOBBOARD_BIN=${JOBBOARD_BIN:-}
DATABASE_URL="postgres://$PGUSER@$PGHOST:$PGPORT/$DB?sslmode=disable"

case $ADDR in
  127.*|localhost:*|\[::1\]:*) ;;
  *) echo "ADDR must be a loopback address" >&2; exit 2 ;;
esac
mkdir -p "$OUT"
log() { printf '== %s\n' "$*" >&2; }

log "build"
if [ -z "$JOBBOARD_BIN" ]; then
  go build -o "$OUT/jobboard" ./cmd/jobboard
  JOBBOARD_BIN=$OUT/jobboard
fi
go build -o "$OUT/load" ./bench/jobs/load

if [ "$SEED" = 1 ]; then
  log "create and migrate $DB"
  psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB"
  DATABASE_URL=$DATABASE_URL LOG_LEVEL=warn "$JOBBOARD_BIN" migrate
  log "seed $JOBS jobs (direct SQL into the jobs read model, then VACUUM ANALYZE)"
  psql -X -q -v n="$JOBS" -f bench/jobs/seed.sql "$DB"
  log "copy the seeded jobs into job_search (as migration 0010 does)"
  psql -X -q -f bench/search/backfill.sql "$DB"
fi

log "start the server on $ADDR"
DATABASE_URL=$DATABASE_URL HTTP_ADDR=$ADDR LOG_LEVEL=warn READ_RATE_LIMIT=0 "$JOBBOARD_BIN" serve >"$OUT/server.log" 2>&1 &
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

# The warm-up runs in the same process, on the same connections, as the
# measurement: a new load process's first second has outliers of up to a
# second (new connections, goroutines, heap growth) that are not the API's.
log "measure the API: $CLIENTS clients, ${WARMUP}s not counted, then ${DURATION}s"
"$OUT/load" -url "http://$ADDR" -c "$CLIENTS" -warmup "${WARMUP}s" -d "${DURATION}s" | tee "$OUT/load.txt" >&2
stop_server
trap - EXIT

# pgbench has no warm-up of its own, and its connections are new: a new
# PostgreSQL backend is slow for its first seconds (on this machine the
# first run of the statement takes ~45 ms instead of ~7: page faults on
# shared memory, catalog caches, planning), while the API's pool keeps its
# connections from the warm-up. So pgbench runs WARMUP+DURATION seconds and
# only the transactions that end in the DURATION seconds after the first
# WARMUP count. With
# -l it writes one line per transaction: latency in microseconds (field 3)
# and when it ended (fields 5 and 6, seconds and microseconds).
pgbench_run() { # name script
  local name=$1 script=$2 start
  rm -f "$OUT/$name-log".*
  start=$(date +%s.%N)
  pgbench -n -M prepared -c "$CLIENTS" -j 2 -T "$((WARMUP + DURATION))" -f "$script" \
    -l --log-prefix="$OUT/$name-log" "$DB" >"$OUT/$name.txt" 2>&1
  cat "$OUT/$name.txt" >&2
  cat "$OUT/$name-log".* | awk -v from="$(awk -v s="$start" -v w="$WARMUP" 'BEGIN {printf "%.6f", s + w}')" -v d="$DURATION" \
    '$5 + $6 / 1e6 >= from && $5 + $6 / 1e6 < from + d {print $3}' | sort -n >"$OUT/$name.lat"
}
pct() { # file fraction -> milliseconds
  awk -v p="$2" '{a[NR]=$1} END {i=int(NR*p+0.5); if (i<1) i=1; if (i>NR) i=NR; printf "%.2f", a[i]/1000}' "$1"
}
tps() { awk -v d="$DURATION" 'END {printf "%.1f", NR / d}' "$OUT/$1.lat"; }
failed() { sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$OUT/$1.txt"; }

log "measure the same SQL with pgbench: $CLIENTS clients, ${WARMUP}s not counted, then ${DURATION}s"
pgbench_run pgbench "$LIST_SQL"
log "measure list.sql's value look-up alone (the round trip the HTTP path does not make)"
pgbench_run lookup bench/jobs/lookup.sql

read -r http_rps http_p50 http_p90 http_p99 http_max http_err < <(
  sed -n 's/^RESULT rps=\([^ ]*\) p50_ms=\([^ ]*\) p90_ms=\([^ ]*\) p99_ms=\([^ ]*\) max_ms=\([^ ]*\) requests=[^ ]* errors=\(.*\)$/\1 \2 \3 \4 \5 \6/p' "$OUT/load.txt")
pg_tps=$(tps pgbench)
lk_tps=$(tps lookup)

echo
echo "GET /jobs?title=…&location=… over $JOBS jobs, $CLIENTS clients, ${DURATION}s each ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores)"
echo
printf '| %-42s | %9s | %8s | %8s | %8s | %8s | %6s |\n' "" "req/s" "p50 ms" "p90 ms" "p99 ms" "max ms" "errors"
printf '|%s|%s|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..44})" "----------:" "---------:" "---------:" "---------:" "---------:" "-------:"
printf '| %-42s | %9s | %8s | %8s | %8s | %8s | %6s |\n' "HTTP: GET /jobs (bench/jobs/load)" "$http_rps" "$http_p50" "$http_p90" "$http_p99" "$http_max" "$http_err"
printf '| %-42s | %9.1f | %8s | %8s | %8s | %8s | %6s |\n' "SQL: pgbench $(basename "$LIST_SQL")" "$pg_tps" \
  "$(pct "$OUT/pgbench.lat" 0.50)" "$(pct "$OUT/pgbench.lat" 0.90)" "$(pct "$OUT/pgbench.lat" 0.99)" "$(pct "$OUT/pgbench.lat" 1)" "$(failed pgbench)"
printf '| %-42s | %9.1f | %8s | %8s | %8s | %8s | %6s |\n' "SQL: pgbench lookup.sql (look-up only)" "$lk_tps" \
  "$(pct "$OUT/lookup.lat" 0.50)" "$(pct "$OUT/lookup.lat" 0.90)" "$(pct "$OUT/lookup.lat" 0.99)" "$(pct "$OUT/lookup.lat" 1)" "$(failed lookup)"
echo
awk -v h="$http_rps" -v p="$pg_tps" -v l="$lk_tps" 'BEGIN {
  printf "HTTP throughput / raw SQL throughput: %.0f %%\n", 100 * h / p
  # list.sql spends 1/l seconds (of 16 clients on the machine) per look-up;
  # without it, the raw throughput would be at most 1 / (1/p - 1/l).
  printf "raw SQL without the look-up (upper bound): %.0f tps; ratio against it: %.0f %%\n", 1 / (1/p - 1/l), 100 * h * (1/p - 1/l)
}'
