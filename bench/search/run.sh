#!/usr/bin/env bash
# The worst GET /jobs filters over 100,000 jobs, one client, through the
# HTTP API and straight against PostgreSQL:
#   create the database, migrate it with the binary, seed it (bench/jobs'
#   seed, then job_search from it), start the server, and for each case of
#   bench/search/cases.txt measure the API (bench/search/load, one client),
#   stop the server, measure the same statements with pgbench (one client),
#   print a table of p50/p99/max.
#
#   ./bench/search/run.sh                        # from the repository root
#   SEED=0 DB=jobboard_search ./bench/search/run.sh   # reuse a seeded database
#   CASES='^(company-y|title-e)$' DURATION=30 ./bench/search/run.sh
#
# The statements pgbench sends are the ones projections.JobsView.List
# builds, written out by projections.TestWriteSearchBenchSQL from the code
# of this tree. To measure another build (e.g. the code before a change),
# give its binary and the statements its code sends:
#   JOBBOARD_BIN=/tmp/jb-before SQL_DIR=bench/search/sql/before ./bench/search/run.sh
#
# Needs a PostgreSQL server (PGHOST/PGPORT/PGUSER, default 127.0.0.1:5432,
# postgres), psql and pgbench on PATH, and Go. Everything listens on
# loopback only. Results are recorded in bench/search/README.md.
set -euo pipefail
cd "$(dirname "$0")/../.."

export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
DB=${DB:-jobboard_search}
JOBS=${JOBS:-100000}
CLIENTS=${CLIENTS:-1}
DURATION=${DURATION:-15} # seconds, for each case and each of HTTP and SQL
WARMUP=${WARMUP:-3}      # seconds, not counted
ADDR=${ADDR:-127.0.0.1:18091}
SEED=${SEED:-1}
OUT=${OUT:-/tmp/jobboard-bench-search}
CASES=${CASES:-.}        # a regular expression over the case names
MEASURE=${MEASURE:-both} # both, http or sql
JOBBOARD_BIN=${JOBBOARD_BIN:-}
SQL_DIR=${SQL_DIR:-}
DATABASE_URL="postgres://$PGUSER@$PGHOST:$PGPORT/$DB?sslmode=disable"

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
go build -o "$OUT/load" ./bench/search/load
if [ -z "$SQL_DIR" ]; then
  SQL_DIR=$OUT/sql
  rm -rf "$SQL_DIR"
  BENCH_SEARCH_SQL=$SQL_DIR go test -count=1 -run '^TestWriteSearchBenchSQL$' ./projections/ >/dev/null
fi

if [ "$SEED" = 1 ]; then
  log "create and migrate $DB"
  psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB"
  DATABASE_URL=$DATABASE_URL LOG_LEVEL=warn "$JOBBOARD_BIN" migrate
  log "seed $JOBS jobs (bench/jobs/seed.sql)"
  psql -X -q -v n="$JOBS" -f bench/jobs/seed.sql "$DB"
else
  log "migrate $DB to this build's schema"
  DATABASE_URL=$DATABASE_URL LOG_LEVEL=warn "$JOBBOARD_BIN" migrate
fi
# job_search holds the seeded jobs too, and is vacuumed (autovacuum may be
# off, and a migration cannot vacuum); nothing to do before migration 0010.
psql -X -q -f bench/search/backfill.sql "$DB"

mapfile -t cases < <(grep -v '^#' bench/search/cases.txt | awk -v re="$CASES" 'NF && $1 ~ re')
[ "${#cases[@]}" -gt 0 ] || { echo "no case matches CASES=$CASES" >&2; exit 2; }

declare -A http_res sql_res
if [ "$MEASURE" != sql ]; then
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
  for c in "${cases[@]}"; do
    read -r name query <<<"$c"
    log "HTTP $name ($(cut -d' ' -f1-3 /proc/loadavg) load)"
    "$OUT/load" -url "http://$ADDR" -query "$query" -c "$CLIENTS" -warmup "${WARMUP}s" -d "${DURATION}s" >"$OUT/http-$name.txt"
    http_res[$name]=$(sed -n 's/^RESULT .*p50_ms=\([^ ]*\) .*p99_ms=\([^ ]*\) max_ms=\([^ ]*\) requests=\([^ ]*\) errors=\([^ ]*\) total=\(.*\)$/\6 \1 \2 \3 \4 \5/p' "$OUT/http-$name.txt")
  done
  stop_server
  trap - EXIT
fi

# pgbench has no warm-up of its own and its connection is new (a new
# backend is slow for its first seconds: page faults on shared memory,
# catalog caches, planning), so it runs WARMUP+DURATION seconds and only the
# transactions that end in the last DURATION count, from its -l log:
# latency in microseconds (field 3), end time (fields 5 and 6).
pct() { # file fraction -> milliseconds
  awk -v p="$2" '{a[NR]=$1} END {i=int(NR*p+0.5); if (i<1) i=1; if (i>NR) i=NR; printf "%.2f", a[i]/1000}' "$1"
}
if [ "$MEASURE" != http ]; then
  for c in "${cases[@]}"; do
    read -r name _ <<<"$c"
    [ -f "$SQL_DIR/$name.sql" ] || { echo "no $SQL_DIR/$name.sql: regenerate the statements" >&2; exit 1; }
    vars=()
    while IFS= read -r v; do vars+=(-D "$v"); done <"$SQL_DIR/$name.vars"
    log "SQL $name ($(cut -d' ' -f1-3 /proc/loadavg) load)"
    rm -f "$OUT/sql-$name-log".*
    start=$(date +%s.%N)
    pgbench -n -M prepared -c "$CLIENTS" -j 1 -T "$((WARMUP + DURATION))" "${vars[@]}" -f "$SQL_DIR/$name.sql" \
      -l --log-prefix="$OUT/sql-$name-log" "$DB" >"$OUT/sql-$name.txt" 2>&1 || { cat "$OUT/sql-$name.txt" >&2; exit 1; }
    cat "$OUT/sql-$name-log".* | awk -v from="$(awk -v s="$start" -v w="$WARMUP" 'BEGIN {printf "%.6f", s + w}')" -v d="$DURATION" \
      '$5 + $6 / 1e6 >= from && $5 + $6 / 1e6 < from + d {print $3}' | sort -n >"$OUT/sql-$name.lat"
    sql_res[$name]="$(pct "$OUT/sql-$name.lat" 0.50) $(pct "$OUT/sql-$name.lat" 0.99) $(pct "$OUT/sql-$name.lat" 1) $(wc -l <"$OUT/sql-$name.lat")"
  done
fi

echo
echo "GET /jobs, $CLIENTS client(s), ${DURATION}s a case, database $DB ($(psql -X -At -c 'SELECT count(*) FROM jobs' "$DB") jobs), $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, binary $JOBBOARD_BIN, statements $SQL_DIR"
echo
printf '| %-22s | %7s | %8s | %8s | %8s | %7s | %8s | %8s | %8s | %7s |\n' case matches "HTTP p50" "p99" "max" "n" "SQL p50" "p99" "max" "n"
printf '|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..24})" "--------:" "---------:" "---------:" "---------:" "--------:" "---------:" "---------:" "---------:" "--------:"
for c in "${cases[@]}"; do
  read -r name _ <<<"$c"
  read -r total hp50 hp99 hmax hn herr <<<"${http_res[$name]:-- - - - - -}"
  read -r sp50 sp99 smax sn <<<"${sql_res[$name]:-- - - -}"
  [ "${herr:--}" = - ] || [ "$herr" = 0 ] || hn="$hn ($herr errors)"
  printf '| %-22s | %7s | %8s | %8s | %8s | %7s | %8s | %8s | %8s | %7s |\n' "$name" "$total" "$hp50" "$hp99" "$hmax" "$hn" "$sp50" "$sp99" "$smax" "$sn"
done
echo
echo "(latencies in ms; matches = the listing's total; n = requests / transactions measured)"
