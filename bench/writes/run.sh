#!/usr/bin/env bash
# Writes through the HTTP API, next to PostgreSQL's raw insert rate, end to
# end and in one run:
#   build; create, migrate and seed the database (real events, replayed into
#   the read models: seed() below); start `jobboard serve`; then
#   idle    the transactions/s the idle server makes (xact_commit over IDLE s)
#   raw     pgbench: a single-row JSONB insert per transaction (raw_insert.sql)
#   create  POST /jobs              (load -mode create)
#   apply   POST /jobs/{id}/apply   (load -mode apply)
#   get     GET /jobs/{id}          (load -mode get, a reference read)
# each WARMUP s not counted, then DURATION s measured at CLIENTS connections.
# Over each measured window it reads the CPU time of the server process, of
# PostgreSQL (the whole cluster, and this database's backends), of the load
# generator and of the whole machine (/proc), xact_commit (pg_stat_database:
# this database, the cluster), the transaction id counter and the row
# activity per table (pg_stat_user_tables), and prints per request: server
# CPU, PostgreSQL CPU and PostgreSQL transactions, next to the raw insert's.
#
#   ./bench/writes/run.sh                          # from the repository root
#   JOBS=2000 DURATION=5 ./bench/writes/run.sh     # a quick smoke test
#   SEED=0 ./bench/writes/run.sh                   # reuse the seeded database
#   JOBBOARD_BIN=/path/to/jobboard DB=jobboard_writes_before OUT=/tmp/jobboard-writes-before ./bench/writes/run.sh
#
# Knobs (environment): CLIENTS (16), DURATION (20), WARMUP (5), IDLE (10),
# DATA_KEY (default: a fresh one per seed, kept in $OUT/data.key),
# JOBS (100000), SEEKERS (2000), RECRUITERS (200), SEED (1; 0 reuses DB),
# DB (jobboard_writes; must start with jobboard_writes, since it is dropped
# and created again), JOBBOARD_BIN (default: built from this tree), OUT
# (/tmp/jobboard-writes: binaries, logs, results), ADDR (127.0.0.1:18091,
# loopback only), PGHOST/PGPORT/PGUSER (127.0.0.1, 5432, postgres).
#
# Needs a local PostgreSQL (its processes are read from /proc, so it must
# run on this machine), psql and pgbench on PATH, Go, gawk. Results are
# recorded in bench/writes/README.md.
set -euo pipefail
cd "$(dirname "$0")/../.."

export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
DB=${DB:-jobboard_writes}
JOBS=${JOBS:-100000}
SEEKERS=${SEEKERS:-2000}
RECRUITERS=${RECRUITERS:-200}
CLIENTS=${CLIENTS:-16}
DURATION=${DURATION:-20} # seconds measured, each phase
WARMUP=${WARMUP:-5}      # seconds not counted, before each phase
IDLE=${IDLE:-10}         # seconds of the idle measurement
ADDR=${ADDR:-127.0.0.1:18091}
SEED=${SEED:-1}
OUT=${OUT:-/tmp/jobboard-writes}
JOBBOARD_BIN=${JOBBOARD_BIN:-}
# A secret of this run's own, which the load generator is given to mint
# the server's tokens. The server only listens on loopback.
JWT_SECRET=$(head -c 48 /dev/urandom | base64 | tr -d '\n')
DATABASE_URL="postgres://$PGUSER@$PGHOST:$PGPORT/$DB?sslmode=disable"

case $ADDR in
  127.*|localhost:*|\[::1\]:*) ;;
  *) echo "ADDR must be a loopback address" >&2; exit 2 ;;
esac
[[ $DB =~ ^jobboard_writes[a-z0-9_]*$ ]] || { echo "DB must match jobboard_writes[a-z0-9_]* (it is dropped and created again)" >&2; exit 2; }
for v in JOBS SEEKERS RECRUITERS CLIENTS DURATION WARMUP IDLE; do
  [[ ${!v} =~ ^[0-9]+$ && ${!v} -gt 0 ]] || { echo "$v must be a positive integer" >&2; exit 2; }
done
mkdir -p "$OUT"
# The key-encryption key of personal data, which every jobboard command
# needs (README, "Privacy"; without it serve and migrate would make
# ./.jobboard/data.key, and replay would stop): a fresh one with each seed,
# kept in $OUT for SEED=0 runs on the same database. Builds from before
# encryption ignore it.
if [ -z "${DATA_KEY:-}" ]; then
  if [ "$SEED" = 1 ] || [ ! -s "$OUT/data.key" ]; then
    (umask 077 && od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$OUT/data.key")
  fi
  DATA_KEY=$(cat "$OUT/data.key")
fi
export DATA_KEY
log() { printf '== %s\n' "$*" >&2; }
q() { psql -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
CLK=$(getconf CLK_TCK)

# Every process this script starts in the background, so that it never
# leaves one behind: the server, the load generator, pgbench.
server='' load_pid='' pgbench_pid=''
stop() { # pid [seconds to wait before SIGKILL]
  local pid=$1 i
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < ${2:-20} * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  stop "$load_pid" 5
  stop "$pgbench_pid" 5
  stop "$server" 20
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if curl -fsS -o /dev/null "http://$ADDR/healthz" 2>/dev/null; then
  echo "something already answers on $ADDR: stop it or set ADDR" >&2
  exit 1
fi

log "build"
if [ -z "$JOBBOARD_BIN" ]; then
  go build -o "$OUT/jobboard" ./cmd/jobboard
  JOBBOARD_BIN=$OUT/jobboard
fi
go build -o "$OUT/load" ./bench/writes/load

# seed: the one place that decides how the benchmark's history gets into
# the database (with seed.sql). It writes UserRegistered and JobPosted
# events straight into `events`, as the event store stores them (see the
# header of seed.sql), lets `jobboard replay --all` build the read models
# (users, jobs) from that log and set the projections' checkpoints to its
# end, then VACUUM ANALYZE and CHECKPOINT, so that the measured writes do
# not pay for the seed (dirty pages, hint bits, missing statistics).
#
# The seeded events are deliberately not published to the message bus.
# Up to 6bba135 the subscribers read watermill_events (and their positions
# in watermill_offsets_events), so they never see events written only into
# `events`: the server starts with nothing to deliver, and the projectors
# would skip those events anyway (they are at or before the checkpoints the
# replay set). Since 0007_log_is_the_topic.sql the subscribers read `events`
# itself, each consumer group's position a row of `checkpoints`: a group
# without a row would start from the beginning of the log and walk every
# seeded event when the server starts (inside the idle measurement). The
# replay writes the projections' rows; the mailer is the other group (no
# ApplicationSubmitted is seeded, so it would send nothing, but it would
# still read the whole log): the step after the replay sets its row to the
# end of the log when `checkpoints` exists, and does nothing with the older
# tables. If the bus's tables change again, this is the place to move every
# consumer group's position to the end of the log, in the bus's own terms.
seed() {
  log "create and migrate $DB"
  psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB"
  DATABASE_URL=$DATABASE_URL LOG_LEVEL=warn "$JOBBOARD_BIN" migrate >&2
  log "seed the log: $RECRUITERS recruiters, $SEEKERS job seekers, $JOBS jobs (bench/writes/seed.sql)"
  q -v recruiters="$RECRUITERS" -v seekers="$SEEKERS" -v jobs="$JOBS" -f bench/writes/seed.sql >&2
  # Each account's credentials row, as a registration writes it with its
  # event: since crypto-shredding, an authenticated request is refused (401,
  # "this account was erased") for an account without one. In clear, as a
  # database from before encryption holds them: `serve` replaces the email
  # by its keyed hash at its start, with the events' personal fields. No
  # password: the load generator mints its tokens, nobody logs in.
  q -c "INSERT INTO credentials (user_id, email, password_hash)
        SELECT stream_id, data->>'email', '!' FROM events WHERE event_type = 'UserRegistered'"
  # A replay reads the log only below the oldest transaction running in the
  # cluster (eventstore.ReadAll): wait until the seed is visible there,
  # in case another user of the cluster holds a transaction open.
  local i
  for ((i = 0; i < 600; i++)); do
    [ "$(q -At -c "SELECT count(*) = (SELECT count(*) FROM events) FROM events
                   WHERE tx_id < pg_snapshot_xmin(pg_current_snapshot())")" = t ] && break
    sleep 0.2
  done
  log "replay the log into the read models"
  DATABASE_URL=$DATABASE_URL LOG_LEVEL=warn "$JOBBOARD_BIN" replay --all --progress lines >&2
  local got
  got=$(q -At -c "SELECT (SELECT count(*) FROM users) || ' ' || (SELECT count(*) FROM jobs)")
  if [ "$got" != "$((RECRUITERS + SEEKERS)) $JOBS" ]; then
    echo "after the replay: users and jobs are $got, want $((RECRUITERS + SEEKERS)) $JOBS" >&2
    exit 1
  fi
  q -c "DO \$\$ BEGIN
          IF to_regclass('checkpoints') IS NOT NULL THEN
            INSERT INTO checkpoints (name, tx_id, position)
            SELECT 'mailer', tx_id, position FROM events ORDER BY tx_id DESC, position DESC LIMIT 1
            ON CONFLICT (name) DO NOTHING;
          END IF;
        END \$\$"
  q -c "VACUUM ANALYZE" -c "CHECKPOINT"
}

if [ "$SEED" = 1 ]; then
  seed
elif ! q -At -c "SELECT 1 FROM users LIMIT 1" >/dev/null 2>&1; then
  echo "SEED=0 but $DB has no seeded read models: run with SEED=1 first" >&2
  exit 1
fi
# The raw insert's scratch table, new each run.
q -c "DROP TABLE IF EXISTS raw_inserts" -c "CREATE TABLE raw_inserts (id bigserial PRIMARY KEY, data jsonb NOT NULL)"

# The postmaster: the parent of the checkpointer.
ckpt=$(q -At -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'")
PM=$(awk '{sub(/^.*\) /, ""); print $2}' "/proc/$ckpt/stat" 2>/dev/null || true)
if [ -z "$PM" ] || ! grep -q postgres "/proc/$PM/cmdline" 2>/dev/null; then
  echo "cannot find the PostgreSQL server's processes in /proc (is it on this machine?)" >&2
  exit 1
fi

# CPU time (clock ticks) of one process: utime + stime; 0 when it is gone.
ticks_of() {
  [ -n "$1" ] || { echo 0; return; }
  awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$1/stat" 2>/dev/null || echo 0
}
# CPU time of PostgreSQL, two ways: the whole cluster (the postmaster's own
# and its reaped children's: utime, stime, cutime, cstime; plus every live
# child's; a backend that ends in the window moves its whole time into the
# postmaster's cutime, which the live sum had counted up to the start), and
# only this database (the live backends connected to it and the background
# processes: checkpointer, WAL writer…), which leaves out the backends of
# other users of a shared cluster.
pg_ticks() {
  # Each stat line starts with its pid. cat, not awk, opens the stat files:
  # a process may end between the glob and the read.
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v pm="$PM" -v db="$DB" '{
      pid = $1; line = $0; sub(/^.*\) /, "", line); split(line, f, " ")
      if (pid == pm) { all += f[12] + f[13] + f[14] + f[15]; next }
      if (f[2] != pm) next
      t = f[12] + f[13] + f[14] + f[15]; all += t
      title = ""; file = "/proc/" pid "/cmdline"
      if ((getline title < file) < 0) title = ""
      close(file)
      gsub(/\0/, " ", title)
      # A client backend is titled "postgres: [cluster: ]user database host(port) state".
      # Parallel workers are left out: they may work for any database.
      if (index(title, " " db " ") > 0 || title !~ /[0-9a-f:.]\([0-9]+\) |\[local\] |parallel worker/) mine += t
    } END {printf "%d %d\n", all, mine}'
}
# CPU time the whole machine spent busy (all cores, /proc/stat: user, nice,
# system, irq, softirq), and the part of it in interrupts (irq, softirq:
# loopback networking mostly), so that what other processes took during a
# window can be told.
machine_ticks() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8, $7 + $8; exit}' /proc/stat; }
# One sample, as columns: 1 unix time, 2 server ticks, 3 PostgreSQL ticks
# (cluster), 4 load generator ticks, 5 and 6 xact_commit of the database
# and of the cluster, 7 the cluster's next transaction id, 8 and 9 the
# machine's busy and interrupt ticks, 10 PostgreSQL ticks (this database).
# CPU first: psql's own connection would otherwise be counted. xact_commit
# counts every committed transaction, read-only ones included, but backends
# publish it at most once a second; the transaction id counter is exact,
# and moves only for transactions that write (cluster-wide).
snap() { # name [load generator pid]
  local t s p pd l x c
  t=$(date +%s.%N) c=$(machine_ticks) s=$(ticks_of "$server") l=$(ticks_of "${2:-}")
  read -r p pd < <(pg_ticks)
  [[ $s =~ ^[0-9]+$ && $p =~ ^[0-9]+$ && $pd =~ ^[0-9]+$ && $l =~ ^[0-9]+$ ]] || { echo "snap $1: bad CPU sample '$s' '$p' '$pd' '$l'" >&2; exit 1; }
  x=$(q -At -F ' ' -c "SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()),
                              (SELECT sum(xact_commit) FROM pg_stat_database),
                              pg_snapshot_xmax(pg_current_snapshot())")
  echo "$t $s $p $l $x $c $pd" >"$OUT/$1.snap"
}
# Row activity per table (pg_stat_user_tables): where a write's
# transactions go. Same flush lag as xact_commit.
tables_snap() { # name
  q -At -F ' ' -c "SELECT relname, n_tup_ins, n_tup_upd, n_tup_del, coalesce(seq_scan, 0) + coalesce(idx_scan, 0)
                   FROM pg_stat_user_tables" >"$OUT/$1.tables"
}
now() { date +%s.%N; }
add() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a + b}'; }
sleep_until() { sleep "$(awk -v t="$1" -v n="$(now)" 'BEGIN {d = t - n; printf "%.3f", (d > 0 ? d : 0)}')"; }

log "start the server on $ADDR"
rm -rf "$OUT/mail"
# Mails go to files in $OUT/mail (no SMTP_URL): the mailer's work is part of
# what an application costs the server.
env -u SMTP_URL DATABASE_URL="$DATABASE_URL" HTTP_ADDR="$ADDR" JWT_SECRET="$JWT_SECRET" LOG_LEVEL=warn \
  WRITE_RATE_LIMIT=0 READ_RATE_LIMIT=0 JOBBOARD_ROLE=all MAIL_DIR="$OUT/mail" "$JOBBOARD_BIN" serve >"$OUT/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "http://$ADDR/readyz" 2>/dev/null && break
  sleep 0.1
done
curl -fsS -o /dev/null "http://$ADDR/readyz"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
others_start=$(pgrep -fc 'go test|\.test( |$)' || true)
sleep 2

log "idle: ${IDLE}s with the server idle"
snap idle.start
sleep "$IDLE"
snap idle.end

# pgbench runs WARMUP + DURATION + 2 s on new connections; only the
# transactions that end in the DURATION s after the first WARMUP count (its
# -l log: latency in µs in field 3, end time in fields 5 and 6). The extra
# 2 s keep it running while the window's last sample is taken.
log "raw: pgbench raw_insert.sql, $CLIENTS clients, ${WARMUP}s not counted, then ${DURATION}s"
q -c CHECKPOINT
rm -f "$OUT"/raw-log.*
t0=$(now)
pgbench -n -M prepared -c "$CLIENTS" -j 2 -T "$((WARMUP + DURATION + 2))" -f bench/writes/raw_insert.sql \
  -l --log-prefix="$OUT/raw-log" "$DB" >"$OUT/raw.txt" 2>&1 &
pgbench_pid=$!
sleep_until "$(add "$t0" "$WARMUP")"
snap raw.start "$pgbench_pid"
sleep_until "$(add "$t0" "$((WARMUP + DURATION))")"
snap raw.end "$pgbench_pid"
wait "$pgbench_pid" || { cat "$OUT/raw.txt" >&2; echo "pgbench failed" >&2; exit 1; }
pgbench_pid=''
cat "$OUT/raw.txt" >&2
cat "$OUT"/raw-log.* | awk -v from="$(add "$t0" "$WARMUP")" -v d="$DURATION" \
  '$3 ~ /^[0-9]+$/ && $5 + $6 / 1e6 >= from && $5 + $6 / 1e6 < from + d {print $3}' | sort -n >"$OUT/raw.lat"

# The load generator does its setup (reading ids, minting tokens) first and
# starts its warm-up at -start-at, so that the samples frame its window.
load_phase() { # mode
  local mode=$1 t0 rc=0
  log "$mode: $CLIENTS clients, ${WARMUP}s not counted, then ${DURATION}s"
  q -c CHECKPOINT
  t0=$(add "$(now)" 4)
  JWT_SECRET=$JWT_SECRET "$OUT/load" -mode "$mode" -url "http://$ADDR" -db "$DATABASE_URL" -c "$CLIENTS" \
    -warmup "${WARMUP}s" -d "${DURATION}s" -start-at "$t0" >"$OUT/$mode.txt" 2>"$OUT/$mode.err" &
  load_pid=$!
  sleep_until "$(add "$t0" "$WARMUP")"
  snap "$mode.start"
  tables_snap "$mode.start"
  sleep_until "$(add "$t0" "$((WARMUP + DURATION))")"
  snap "$mode.end"
  tables_snap "$mode.end"
  wait "$load_pid" || rc=$?
  load_pid=''
  cat "$OUT/$mode.txt" "$OUT/$mode.err" >&2
  if [ "$rc" != 0 ]; then
    echo "load -mode $mode failed" >&2
    exit 1
  fi
}
load_phase create
load_phase apply
pending_after_apply=$(q -At -c "SELECT count(*) FROM email_deliveries WHERE status = 'pending'")
# The mailer sends on after the applies: let it finish before the next
# phase, so that its work is not counted against GET /jobs/{id}, and
# measure what the backlog cost (it belongs to the applies).
snap drain.start
for ((i = 0; i < 600; i++)); do
  [ "$(q -At -c "SELECT count(*) FROM email_deliveries WHERE status = 'pending'")" = 0 ] && break
  sleep 0.2
done
snap drain.end
load_phase get
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
stop "$server" 20
server=''

# ---- the report ----
result() { grep '^RESULT' "$OUT/$1.txt" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
pct() { # file fraction -> milliseconds
  awk -v p="$2" '{a[NR] = $1} END {i = int(NR * p + 0.5); if (i < 1) i = 1; if (i > NR) i = NR; printf "%.2f", a[i] / 1000}' "$1"
}
# delta name column: end sample minus start sample
delta() { paste "$OUT/$1.start.snap" "$OUT/$1.end.snap" | awk -v c="$2" '{n = NF / 2; printf "%.3f", $(n + c) - $c}'; }

raw_n=$(wc -l <"$OUT/raw.lat")
raw_rps=$(awk -v n="$raw_n" -v d="$DURATION" 'BEGIN {printf "%.1f", n / d}')
declare -A N RPS P50 P90 P99 MAX ERR STATUSES LOADCPU
N[raw]=$raw_n RPS[raw]=$raw_rps ERR[raw]=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$OUT/raw.txt")
P50[raw]=$(pct "$OUT/raw.lat" 0.50) P90[raw]=$(pct "$OUT/raw.lat" 0.90) P99[raw]=$(pct "$OUT/raw.lat" 0.99) MAX[raw]=$(pct "$OUT/raw.lat" 1)
STATUSES[raw]="$raw_n committed"
LOADCPU[raw]=$(awk -v t="$(delta raw 4)" -v k="$CLK" 'BEGIN {printf "%.3f", t / k}')
for m in create apply get; do
  N[$m]=$(result "$m" requests) RPS[$m]=$(result "$m" rps) ERR[$m]=$(result "$m" errors)
  P50[$m]=$(result "$m" p50_ms) P90[$m]=$(result "$m" p90_ms) P99[$m]=$(result "$m" p99_ms) MAX[$m]=$(result "$m" max_ms)
  STATUSES[$m]=$(result "$m" statuses) LOADCPU[$m]=$(result "$m" load_cpu_s)
done
idle_db=$(awk -v x="$(delta idle 5)" -v s="$(delta idle 1)" 'BEGIN {printf "%.1f", x / s}')
idle_cl=$(awk -v x="$(delta idle 6)" -v s="$(delta idle 1)" 'BEGIN {printf "%.1f", x / s}')
idle_xid=$(awk -v x="$(delta idle 7)" -v s="$(delta idle 1)" 'BEGIN {printf "%.1f", x / s}')
idle_srv=$(awk -v t="$(delta idle 2)" -v k="$CLK" -v s="$(delta idle 1)" 'BEGIN {printf "%.1f", 100 * t / k / s}')
idle_pg=$(awk -v t="$(delta idle 3)" -v k="$CLK" -v s="$(delta idle 1)" 'BEGIN {printf "%.1f", 100 * t / k / s}')
idle_pgdb=$(awk -v t="$(delta idle 10)" -v k="$CLK" -v s="$(delta idle 1)" 'BEGIN {printf "%.1f", 100 * t / k / s}')
label() { case $1 in raw) echo "raw insert (pgbench)" ;; create) echo "POST /jobs" ;; apply) echo "POST /jobs/{id}/apply" ;; get) echo "GET /jobs/{id}" ;; esac; }

{
  echo "Writes over $JOBS seeded jobs, $SEEKERS job seekers, $RECRUITERS recruiters; $CLIENTS connections, ${WARMUP}s warm-up + ${DURATION}s measured each"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ); nproc: $(nproc); CPU: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
  echo "- load average (1/5/15 min) when the server started: $load_start; at the end: $load_end; test processes running at the start: $others_start"
  echo "- idle server (${IDLE}s): $idle_db transactions/s in $DB, $idle_cl in the whole cluster ($idle_xid/s writing); CPU: server ${idle_srv} %, PostgreSQL ${idle_pg} % (this database: ${idle_pgdb} %) of one core"
  echo
  echo "| | req/s | % of raw | p50 ms | p90 ms | p99 ms | max ms | errors | server CPU ms/req | PG CPU ms/req (cluster / db) | PG xacts/req (db / cluster) | PG write xacts/req |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for m in raw create apply get; do
    awk -v label="$(label "$m")" -v rps="${RPS[$m]}" -v raw="$raw_rps" -v n="${N[$m]}" -v k="$CLK" \
      -v p50="${P50[$m]}" -v p90="${P90[$m]}" -v p99="${P99[$m]}" -v mx="${MAX[$m]}" -v err="${ERR[$m]}" \
      -v srv="$(delta "$m" 2)" -v pg="$(delta "$m" 3)" -v xdb="$(delta "$m" 5)" -v xcl="$(delta "$m" 6)" \
      -v xid="$(delta "$m" 7)" -v pd="$(delta "$m" 10)" 'BEGIN {
        n = n > 0 ? n : 1
        printf "| %s | %.1f | %.1f %% | %s | %s | %s | %s | %s | %.3f | %.3f / %.3f | %.2f / %.2f | %.2f |\n",
          label, rps, 100 * rps / raw, p50, p90, p99, mx, err, 1000 * srv / k / n, 1000 * pg / k / n, 1000 * pd / k / n,
          xdb / n, xcl / n, xid / n
      }'
  done
  echo
  echo "Per measured window (CPU in seconds, and in % of one core; the machine has $(nproc)):"
  echo
  echo "| | window s | requests | server CPU | PostgreSQL CPU: cluster / this database | load generator CPU | interrupts | other processes | xact_commit db / cluster, xids | statuses |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
  for m in raw create apply get; do
    awk -v label="$(label "$m")" -v s="$(delta "$m" 1)" -v n="${N[$m]}" -v k="$CLK" -v lc="${LOADCPU[$m]}" \
      -v srv="$(delta "$m" 2)" -v pg="$(delta "$m" 3)" -v xdb="$(delta "$m" 5)" -v xcl="$(delta "$m" 6)" \
      -v xid="$(delta "$m" 7)" -v all="$(delta "$m" 8)" -v irq="$(delta "$m" 9)" -v pd="$(delta "$m" 10)" \
      -v st="${STATUSES[$m]}" 'BEGIN {
        o = (all - irq - srv - pg) / k - lc
        printf "| %s | %.2f | %d | %.2f (%.0f %%) | %.2f / %.2f (%.0f / %.0f %%) | %.2f (%.0f %%) | %.2f (%.0f %%) | %.2f (%.0f %%) | %d / %d, %d | %s |\n",
          label, s, n, srv / k, 100 * srv / k / s, pg / k, pd / k, 100 * pg / k / s, 100 * pd / k / s, lc, 100 * lc / s,
          irq / k, 100 * irq / k / s, o, 100 * o / s, xdb, xcl, xid, st
      }'
  done
  echo
  echo "Rows inserted / updated / deleted, and scans, per request, by table (pg_stat_user_tables; tables with activity):"
  echo
  echo "| table | POST /jobs: ins / upd / del | scans | POST /jobs/{id}/apply: ins / upd / del | scans |"
  echo "|---|---:|---:|---:|---:|"
  awk -v nc="${N[create]}" -v na="${N[apply]}" '
    FILENAME ~ /create.start/ {cs[$1] = $0; next}
    FILENAME ~ /create.end/   {ce[$1] = $0; next}
    FILENAME ~ /apply.start/  {as[$1] = $0; next}
    FILENAME ~ /apply.end/    {ae[$1] = $0; next}
    END {
      for (t in ce) {
        split(ce[t], e); split(cs[t], b); split(ae[t], f); split(as[t], a)
        ci = (e[2] - b[2]) / nc; cu = (e[3] - b[3]) / nc; cd = (e[4] - b[4]) / nc; cx = (e[5] - b[5]) / nc
        ai = (f[2] - a[2]) / na; au = (f[3] - a[3]) / na; ad = (f[4] - a[4]) / na; ax = (f[5] - a[5]) / na
        if (ci + cu + cd + cx + ai + au + ad + ax > 0.005)
          printf "| %s | %.2f / %.2f / %.2f | %.2f | %.2f / %.2f / %.2f | %.2f |\n", t, ci, cu, cd, cx, ai, au, ad, ax
      }
    }' "$OUT/create.start.tables" "$OUT/create.end.tables" "$OUT/apply.start.tables" "$OUT/apply.end.tables" | sort
  echo
  awk -v n="$pending_after_apply" -v na="${N[apply]}" -v k="$CLK" -v s="$(delta drain 1)" -v srv="$(delta drain 2)" \
    -v pg="$(delta drain 3)" -v pd="$(delta drain 10)" 'BEGIN {
      printf "Emails pending when the apply window ended: %d; the queue was empty %.1f s later, having cost the server %.2f s",
        n, s, srv / k
      printf " and PostgreSQL %.2f s (this database: %.2f s; the cluster figure includes this script polling the queue)",
        pg / k, pd / k
      printf " of CPU more: %.3f and %.3f ms per apply of the window (not in the tables above; a backlog also holds",
        1000 * srv / k / na, 1000 * pd / k / na
      printf " mails of the warm-up).\n"
    }'
  echo
  for m in create apply; do
    awk -v label="$(label "$m")" -v rps="${RPS[$m]}" -v raw="$raw_rps" -v p99="${P99[$m]}" 'BEGIN {
      r = 100 * rps / raw
      printf "%s: %.1f %% of the raw insert rate (target >= 20 %%: %s), p99 %s ms (target <= 50 ms: %s)\n",
        label, r, (r >= 20 ? "met" : "missed"), p99, (p99 <= 50 ? "met" : "missed")
    }'
  done
} | tee "$OUT/summary.md"
