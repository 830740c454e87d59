#!/usr/bin/env bash
# Cost of the horizon queries (pgbench, -M prepared), with 0 or 16 other
# connections appending to events as fast as they can, and what each costs
# the appenders. Prints one TSV line per case. ROUNDS (default 3) x about 3 min.
set -euo pipefail
cd "$(dirname "$0")"
HOST=${PGHOST:-127.0.0.1} PORT=${PGPORT:-5498} DB=${DB:-jb} T=${T:-10} ROUNDS=${ROUNDS:-3}
PGBENCH=${PGBENCH:-/usr/lib/postgresql/15/bin/pgbench}
pgb() { "$PGBENCH" -h "$HOST" -p "$PORT" -U postgres -n "$@" "$DB" 2>&1; }
tps() { sed -n 's/^tps = \([0-9.]*\).*/\1/p'; }
# latency minus the schedule lag of a rate-limited run: the query's own time
lat() { awk '/^latency average/ { l = $4 } /^rate limit schedule lag/ { g = $6 } END { if (l != "") printf "%.1f", (l - g) * 1000 }'; }
printf 'round\tload1\tappenders\tquery\tclients\trate\tquery_calls_per_s\tquery_latency_us\tappends_per_s\n'
FULL="xmin:1 xmin:4 horizon:1 horizon:4 horizon-safe:1 horizon-safe:4"
PACED="xmin:1:100 horizon:1:100 horizon-safe:1:100 xmin:1:1000 horizon:1:1000 horizon-safe:1:1000"
for r in $(seq "$ROUNDS"); do
  for app in 0 16; do
    cases="$FULL"; [ "$app" -gt 0 ] && cases="none:0 $FULL $PACED"
    for qc in $cases; do
      IFS=: read -r q c rate <<<"$qc"
      ropt=(); [ -n "$rate" ] && ropt=(-R "$rate")
      load=$(cut -d' ' -f1 /proc/loadavg)
      af=$(mktemp) qf=$(mktemp)
      if [ "$app" -gt 0 ]; then pgb -M prepared -c "$app" -j 2 -T "$T" -f append.sql >"$af" & fi
      if [ "$q" != none ]; then pgb -M prepared -c "$c" -j "$c" -T "$T" "${ropt[@]}" -f "$q.sql" >"$qf"; fi
      wait
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%.0f\t%s\t%.0f\n' "$r" "$load" "$app" "$q" "$c" "${rate:-max}" \
        "$(tps <"$qf")" "$(lat <"$qf")" "$(tps <"$af")"
      rm -f "$af" "$qf"
    done
  done
done
