#!/usr/bin/env bash
# The server's memory under a flood of uploads: builds jobboard, starts it
# on a database of its own (jobboard_uploads, dropped and made again), and
# runs bench/uploads: N concurrent applications with a resume of SIZE bytes
# each, the server's resident set sampled throughout. Results are recorded
# in bench/README.md.
#
#   ./bench/uploads/run.sh                 # from the repository root
#   N=40 SIZE=5242880 ./bench/uploads/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
N=${N:-40}
SIZE=${SIZE:-5242880}
ADDR=${ADDR:-127.0.0.1:18093}
OUT=${OUT:-/tmp/jobboard-uploads}
DB=jobboard_uploads
mkdir -p "$OUT"
go build -o "$OUT/jobboard" ./cmd/jobboard
go build -o "$OUT/uploads" ./bench/uploads
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB"
server=''
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; wait 2>/dev/null || true' EXIT
# EXTRA_ENV: more settings for the server, e.g. EXTRA_ENV="JOBBOARD_ROLE=api".
# shellcheck disable=SC2086 # EXTRA_ENV is split on purpose
env DATABASE_URL="postgres://$PGUSER@$PGHOST:$PGPORT/$DB?sslmode=disable" HTTP_ADDR="$ADDR" LOG_LEVEL=warn \
  JWT_SECRET="$(head -c 48 /dev/urandom | base64)" WRITE_RATE_LIMIT=0 MAIL_DIR="$OUT/mail" ${EXTRA_ENV:-} \
  "$OUT/jobboard" serve >"$OUT/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do curl -fsS -o /dev/null "http://$ADDR/readyz" 2>/dev/null && break; sleep 0.1; done
curl -fsS -o /dev/null "http://$ADDR/readyz"
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ); nproc: $(nproc); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
"$OUT/uploads" -url "http://$ADDR" -pid "$server" -n "$N" -size "$SIZE"
