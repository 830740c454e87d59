#!/usr/bin/env bash
# A legitimate login while POST /register is flooded (issue 13, item 3):
# builds the server and bench/loginflood, and for each scenario starts the
# server on a fresh database, runs the flood, stops the server.
#
#   ./bench/loginflood/run.sh                 # from the repository root
#   CLIENTS=30 DURATION=20 BCRYPT_COST=12 ./bench/loginflood/run.sh
#   SCENARIOS="spread" ./bench/loginflood/run.sh
#
# Scenarios: spread (every registration from a client of its own, fresh
# emails: only the bound on bcrypt work holds it), one (one client, fresh
# emails: the register throttle stops it), taken (many clients, an email
# that exists: refused before any hash).
#
# To measure another build (the code before the change):
# JOBBOARD_BIN=/path/to/jobboard ./bench/loginflood/run.sh
#
# Needs a PostgreSQL server (PGHOST/PGPORT/PGUSER, default 127.0.0.1:5432,
# postgres), psql and Go. Everything listens on loopback only.
set -euo pipefail
cd "$(dirname "$0")/../.."

export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
DB=${DB:-jobboard_bench_loginflood}
CLIENTS=${CLIENTS:-30}
DURATION=${DURATION:-20}   # seconds of flood, per scenario
BCRYPT_COST=${BCRYPT_COST:-12}
SCENARIOS=${SCENARIOS:-spread one taken}
ADDR=${ADDR:-127.0.0.1:18095}
OUT=${OUT:-/tmp/jobboard-bench-loginflood}
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
go build -o "$OUT/loginflood" ./bench/loginflood

server=
stop_server() {
  if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then
    kill -TERM "$server"
    wait "$server" || true
  fi
  server=
}
trap stop_server EXIT

status=0
for scenario in $SCENARIOS; do
  case $scenario in
    spread) flags=(-spread) ;;
    one) flags=() ;;
    taken) flags=(-spread -taken) ;;
    *) echo "unknown scenario $scenario" >&2; exit 2 ;;
  esac
  log "$scenario: fresh database $DB, server on $ADDR (BCRYPT_COST=$BCRYPT_COST, $(nproc) cores)"
  psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB"
  # The loopback proxy is trusted, so that -spread's X-Forwarded-For makes
  # each flood request a client of its own.
  env DATABASE_URL="$DATABASE_URL" HTTP_ADDR="$ADDR" LOG_LEVEL=warn BCRYPT_COST="$BCRYPT_COST" \
    JWT_SECRET="$(head -c 48 /dev/urandom | base64)" TRUSTED_PROXIES=127.0.0.1/32 MAIL_DIR="$OUT/mail" \
    "$JOBBOARD_BIN" serve >"$OUT/server-$scenario.log" 2>&1 &
  server=$!
  for _ in $(seq 100); do
    curl -fsS -o /dev/null "http://$ADDR/readyz" 2>/dev/null && break
    sleep 0.2
  done
  curl -fsS -o /dev/null "http://$ADDR/readyz"
  "$OUT/loginflood" -url "http://$ADDR" -c "$CLIENTS" -d "${DURATION}s" "${flags[@]}" | tee "$OUT/$scenario.txt" || status=1
  stop_server
done
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB"
exit $status
