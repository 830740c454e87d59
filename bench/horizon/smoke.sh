#!/usr/bin/env bash
# Correctness smoke test of the appender horizon (horizon.sql, horizon-safe.sql)
# against pg_snapshot_xmin. Needs a cluster with the job board's schema in
# database $DB and a second database $OTHER. Takes about 30 s.
set -euo pipefail
cd "$(dirname "$0")"
HOST=${PGHOST:-127.0.0.1} PORT=${PGPORT:-5498} DB=${DB:-jb} OTHER=${OTHER:-other}
q() { psql -h "$HOST" -p "$PORT" -U postgres -d "$DB" -XAtq "$@"; }
qo() { psql -h "$HOST" -p "$PORT" -U postgres -d "$OTHER" -XAtq "$@"; }
H() { q -f horizon.sql; }
HS() { q -f horizon-safe.sql; }
XMIN() { q -c 'SELECT pg_snapshot_xmin(pg_current_snapshot())'; }
xid_of() { q -c "SELECT backend_xid FROM pg_stat_activity WHERE application_name = '$1'"; }
APPEND="INSERT INTO events (event_id, stream_type, stream_id, stream_version, event_type, schema_version, data, occurred_at)
        VALUES (gen_random_uuid(), 'smoke', gen_random_uuid(), 1, 'Smoke', 1, '{}', now())"
fails=0
check() { if [ "$2" = t ]; then echo "PASS  $1"; else echo "FAIL  $1"; fails=$((fails + 1)); fi; }
lt() { q -c "SELECT '$1'::xid8 < '$2'::xid8"; }
le() { q -c "SELECT '$1'::xid8 <= '$2'::xid8"; }

echo "== 1. an append transaction left open in this database holds H back"
PGAPPNAME=smoke-writer q -c "BEGIN; $APPEND; SELECT pg_sleep(4); COMMIT" >/dev/null &
sleep 1
W=$(xid_of smoke-writer)
E=$(q -c "$APPEND RETURNING tx_id")          # commits now, after W started
h=$(H); hs=$(HS); xm=$(XMIN)
echo "   open writer xid=$W, later committed append tx_id=$E: H=$h H'=$hs xmin=$xm"
check "H <= open writer's xid"                 "$(le "$h" "$W")"
check "H' <= open writer's xid"                "$(le "$hs" "$W")"
check "the later append is not below H yet"    "$(le "$h" "$E")"
wait
h=$(H); hs=$(HS)
echo "   after the writer committed: H=$h H'=$hs"
check "H passes the writer's xid once it has committed" "$(lt "$W" "$h")"
check "H passes the later append too"                   "$(lt "$E" "$h")"

echo "== 2. a write transaction in ANOTHER database does not hold H back (it holds xmin back)"
qo -c 'DROP TABLE IF EXISTS t' 2>/dev/null
PGAPPNAME=smoke-foreign qo -c 'BEGIN; CREATE TABLE t(i int); SELECT pg_sleep(10); COMMIT' >/dev/null &
sleep 1
F=$(xid_of smoke-foreign)
E=$(q -c "$APPEND RETURNING tx_id")
h=$(H); hs=$(HS); xm=$(XMIN)
echo "   foreign xid=$F, append committed after it tx_id=$E: H=$h H'=$hs xmin=$xm"
check "xmin is held back by the foreign xid"        "$(le "$xm" "$F")"
check "H passes the foreign xid"                    "$(lt "$F" "$h")"
check "H' passes the foreign xid"                   "$(lt "$F" "$hs")"
check "the later append is readable below H"        "$(lt "$E" "$h")"
check "the later append is NOT readable below xmin" "$(le "$xm" "$E")"
n=$(q -c "SELECT count(*) FROM events WHERE tx_id = '$E' AND tx_id < '$h'")
check "a later statement reads it (tx_id < H): $n row" "$( [ "$n" = 1 ] && echo t || echo f)"
wait

echo "== 2b. a write transaction in THIS database that does not touch events (a projector's) does not hold H back"
PGAPPNAME=smoke-projector q -c "BEGIN; INSERT INTO projection_checkpoints (name) VALUES ('smoke-' || gen_random_uuid()); SELECT pg_sleep(3); ROLLBACK" >/dev/null &
sleep 1
P=$(xid_of smoke-projector); E=$(q -c "$APPEND RETURNING tx_id"); h=$(H); xm=$(XMIN)
echo "   projector xid=$P, later append tx_id=$E: H=$h xmin=$xm"
check "H passes the projector's xid and the later append" "$(lt "$E" "$h")"
check "xmin does not"                                      "$(le "$xm" "$P")"
wait

echo "== 2c. widening a 32-bit xid to xid8 relative to the snapshot's xmax, across an epoch boundary"
w=$(q -c "SELECT string_agg((n + ((((x - (n & 4294967295)) + 6442450944) % 4294967296) - 2147483648))::text, ',' ORDER BY n, x)
          FROM (VALUES (8589934592::bigint, 4294967295::bigint), (21474836485, 4294967290),
                       (21474836490, 5), (21474836490, 10), (21474836490, 4294967290)) v(n, x)")
echo "   (xmax, xid): (2*2^32, 2^32-1) (5*2^32+5, 2^32-6) (5*2^32+10, 5) (5*2^32+10, 10) (5*2^32+10, 2^32-6) -> $w"
check "widened as expected" "$( [ "$w" = 8589934591,21474836474,21474836485,21474836490,21474836474 ] && echo t || echo f)"

echo "== 3. the invariant: the events lock must come BEFORE the xid"
PGAPPNAME=smoke-late q -c "BEGIN;
  INSERT INTO credentials (user_id, email, password_hash) VALUES (gen_random_uuid(), gen_random_uuid()::text, 'x');
  SELECT pg_sleep(3); $APPEND; COMMIT" >/dev/null &
sleep 1
V=$(xid_of smoke-late); q -c "$APPEND" >/dev/null; h=$(H)
echo "   xid taken by another write first (xid=$V), events inserted 2 s later; an append committed meanwhile: H=$h"
check "VIOLATION SHOWN: H passes that xid, so its event would land behind a reader (expected)" "$(lt "$V" "$h")"
wait
PGAPPNAME=smoke-locked q -c "BEGIN; LOCK TABLE events IN ROW EXCLUSIVE MODE;
  INSERT INTO credentials (user_id, email, password_hash) VALUES (gen_random_uuid(), gen_random_uuid()::text, 'x');
  SELECT pg_sleep(3); $APPEND; COMMIT" >/dev/null &
sleep 1
V=$(xid_of smoke-locked); q -c "$APPEND" >/dev/null; h=$(H)
echo "   same, with LOCK TABLE events IN ROW EXCLUSIVE MODE first (xid=$V): H=$h"
check "with the lock taken first, H <= that xid" "$(le "$h" "$V")"
wait
qo -c 'DROP TABLE IF EXISTS t' 2>/dev/null
echo "failures: $fails"
exit $((fails > 0))
