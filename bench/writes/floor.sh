#!/usr/bin/env bash
# The database's floor under the two writes: how fast PostgreSQL alone
# writes the rows a create and an application must write (floor_create.sql,
# floor_apply.sql: the event with the append's version check, the read
# models' rows with all their indexes, the claim and the mail's queue row),
# one transaction each, next to the raw single-row insert (raw_insert.sql),
# all with pgbench at CLIENTS connections on the database run.sh seeded.
# Nothing of the service runs: it is the ceiling the service's writes
# approach as everything else it does (subscriber reads, checkpoints,
# horizon readings, stream reads, HTTP, JSON) tends to nothing.
#
#   ./bench/writes/run.sh && ./bench/writes/floor.sh    # from the repository root
#
# Knobs: DB (jobboard_writes), CLIENTS (16), DURATION (20), WARMUP (5),
# PGHOST/PGPORT/PGUSER. It works on copies of the tables (floor_*), made
# from the seeded ones and dropped at the end: the seeded data is left as
# it was.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
DB=${DB:-jobboard_writes}
CLIENTS=${CLIENTS:-16}
DURATION=${DURATION:-20}
WARMUP=${WARMUP:-5}
[[ $DB =~ ^jobboard_writes[a-z0-9_]*$ ]] || { echo "DB must be a database run.sh seeded (jobboard_writes…)" >&2; exit 2; }
q() { psql -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
q -At -c "SELECT 1 FROM jobs LIMIT 1" >/dev/null || { echo "$DB has no jobs: run bench/writes/run.sh first" >&2; exit 1; }

drop() {
  q -c "DROP TABLE IF EXISTS floor_events, floor_jobs, floor_claims, floor_applications, floor_deliveries, floor_job_ids, raw_inserts"
}
trap drop EXIT
drop
# Copies with every index, default, identity and generated column, and the
# seeded rows (so that the indexes have their real depth).
q <<'SQL'
CREATE TABLE floor_events (LIKE events INCLUDING ALL);
INSERT INTO floor_events OVERRIDING SYSTEM VALUE SELECT * FROM events;
DO $$ BEGIN PERFORM setval(pg_get_serial_sequence('floor_events', 'position'), (SELECT max(position) FROM floor_events)); END $$;
CREATE TABLE floor_jobs (LIKE jobs INCLUDING ALL) WITH (fillfactor = 80);
INSERT INTO floor_jobs (id, recruiter_id, title, description, company, location, employment_type, remote, salary_min,
                        salary_max, salary_currency, status, created_at, updated_at, version, application_count)
SELECT id, recruiter_id, title, description, company, location, employment_type, remote, salary_min,
       salary_max, salary_currency, status, created_at, updated_at, version, application_count FROM jobs;
CREATE TABLE floor_claims (LIKE application_claims INCLUDING ALL);
CREATE TABLE floor_applications (LIKE applications INCLUDING ALL);
CREATE TABLE floor_deliveries (LIKE email_deliveries INCLUDING ALL);
CREATE TABLE floor_job_ids (n bigint PRIMARY KEY, id uuid NOT NULL);
INSERT INTO floor_job_ids SELECT row_number() OVER (ORDER BY id), id FROM floor_jobs;
CREATE TABLE raw_inserts (id bigserial PRIMARY KEY, data jsonb NOT NULL);
SQL
# The GIN indexes' settings, as in the migrations.
q -At -c "SELECT format('ALTER INDEX %I SET (%s)', c.relname, array_to_string(o.reloptions, ', '))
          FROM pg_index i JOIN pg_class o ON o.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid
          JOIN pg_class c ON c.relkind = 'i' AND c.relname LIKE 'floor_jobs_%'
          WHERE t.relname = 'jobs' AND o.reloptions IS NOT NULL
            AND pg_get_indexdef(c.oid) = replace(pg_get_indexdef(o.oid), ' ON public.jobs ', ' ON public.floor_jobs ')" |
  while read -r stmt; do q -c "$stmt"; done
q -c "VACUUM ANALYZE floor_events, floor_jobs, floor_job_ids" -c CHECKPOINT

run() { # script: prints the mean transactions/s of the seconds after the warm-up
  local out
  out=$(pgbench -n -M prepared -c "$CLIENTS" -j 2 -T "$((WARMUP + DURATION))" --progress-timestamp -P 1 -f "$1" "$DB" 2>&1) ||
    { echo "$out" >&2; echo "pgbench $1 failed" >&2; return 1; }
  awk -v w="$WARMUP" '/^progress:/ {n++; if (n > w) {s += $4; c++}} END {if (!c) exit 1; printf "%.1f", s / c}' <<<"$out" ||
    { echo "$out" >&2; echo "pgbench $1: no progress reported" >&2; return 1; }
}
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ); nproc: $(nproc); load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
  raw=$(run bench/writes/raw_insert.sql)
  create=$(run bench/writes/floor_create.sql)
  apply=$(run bench/writes/floor_apply.sql)
  echo
  echo "| pgbench, $CLIENTS connections, ${DURATION} s after ${WARMUP} s | transactions/s | % of raw |"
  echo "|---|---:|---:|"
  for row in "raw insert (raw_insert.sql):$raw" "create's rows (floor_create.sql):$create" "application's rows (floor_apply.sql):$apply"; do
    awk -v l="${row%%:*}" -v t="${row##*:}" -v r="$raw" 'BEGIN {printf "| %s | %.1f | %.1f %% |\n", l, t, 100 * t / r}'
  done
}
