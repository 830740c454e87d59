package main

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// pct is the p-th fraction of sorted latencies, as bench/jobs/load takes it.
func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d.Microseconds())/1000) }

func (p *phase) rps() float64 { return float64(len(p.latencies)) / p.dur.Seconds() }

// summary is the phase's progress line.
func (p *phase) summary() string {
	return fmt.Sprintf("req/s %.1f  p50 %s  p90 %s  p99 %s  max %s ms  errors %d  reads replica/primary %.0f/%.0f  load avg %s",
		p.rps(), ms(pct(p.latencies, 0.5)), ms(pct(p.latencies, 0.9)), ms(pct(p.latencies, 0.99)), ms(pct(p.latencies, 1)),
		p.errors, p.reads.replica, p.reads.primary, p.loadavg)
}

// cpuCells are the CPU columns of a phase's row: milliseconds per request
// for the API under test, the worker, each cluster and the load generator;
// then the CPU seconds used by everything else on the machine in the
// window (other people's work, the idle API's), and how busy the machine's
// cores were.
func (p *phase) cpuCells(cpus int) string {
	n := float64(len(p.latencies))
	per := func(key string) string { return fmt.Sprintf("%.2f", p.cpu[key].Seconds()*1000/n) }
	other := p.cpu["machine"]
	for _, k := range []string{"load", "api-" + p.server, "worker", "pg-primary", "pg-replica"} {
		other -= p.cpu[k]
	}
	busy := 100 * p.cpu["machine"].Seconds() / (p.dur.Seconds() * float64(cpus))
	return fmt.Sprintf("%s | %s | %s | %s | %s | %.1f | %.0f %%", per("api-"+p.server), per("worker"), per("pg-primary"), per("pg-replica"),
		per("load"), max(other, 0).Seconds(), busy)
}

// readsCell is where the replica server's reads went in the window; for
// the primary server, which has no replicas, it says so.
func (p *phase) readsCell() string {
	if p.server == "primary" {
		return fmt.Sprintf("all primary (replica server idle: %.0f / %.0f)", p.reads.replica, p.reads.primary)
	}
	return fmt.Sprintf("%.0f / %.0f", p.reads.replica, p.reads.primary)
}

// versions asks the primary and psql which PostgreSQL they are.
func (b *bench) versions(ctx context.Context) (server, client string) {
	if conn, err := pgx.Connect(ctx, b.pair.primary.URL("postgres")); err == nil {
		conn.QueryRow(ctx, "SELECT version()").Scan(&server) //nolint:errcheck // "" says unknown
		conn.Close(ctx)
	}
	if out, err := exec.CommandContext(ctx, "psql", "--version").Output(); err == nil {
		client = strings.TrimSpace(string(out))
	}
	return server, client
}

// report is the results as Markdown: the machine, one row per phase, and
// each server's phases pooled.
func (b *bench) report(ctx context.Context, from, to time.Time, before, after machine) string {
	var w strings.Builder
	pr := func(format string, args ...any) { fmt.Fprintf(&w, format, args...) }
	server, client := b.versions(ctx)
	pr("# bench/replicas: %s – %s UTC\n\n", from.Format("2006-01-02 15:04:05"), to.Format("15:04:05"))
	pr("| | |\n|---|---|\n")
	pr("| `date -u` | %s to %s |\n", from.Format(time.RFC3339), to.Format(time.RFC3339))
	pr("| CPU | %d (`nproc`), %s |\n", before.cpus, before.model)
	pr("| memory | %s |\n", before.memory)
	pr("| kernel | %s |\n", before.kernel)
	pr("| Go | %s |\n", before.goVersion)
	pr("| PostgreSQL | %s; %s |\n", server, client)
	pr("| load average (1, 5, 15 min) | %s at the start, %s at the end |\n", before.loadavg, after.loadavg)
	pr("| clusters | scratch primary + streaming replica (internal/pgcluster), shared_buffers %s, wal_writer_delay %s, fsync off |\n",
		or(b.o.sharedBuffers, "16MB"), or(b.o.walWriter, "200ms"))
	pr("| data | %s |\n", b.pair.dataSize)
	pr("| replica server | REPLICA_MAX_LAG=%s |\n\n", b.o.maxLag)

	head := "| clients | round | server | req/s | p50 ms | p90 ms | p99 ms | max ms | errors | replica server's reads: replica / primary | " +
		"CPU ms/req: API | worker | PG primary | PG replica | load gen | else, CPU s | machine busy |\n"
	sep := "|---|---:|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|\n"
	row := func(p *phase, first string) {
		pr("| %s | %d | %s | %.1f | %s | %s | %s | %s | %d | %s | %s |\n", first, p.round, p.name(), p.rps(),
			ms(pct(p.latencies, 0.5)), ms(pct(p.latencies, 0.9)), ms(pct(p.latencies, 0.99)), ms(pct(p.latencies, 1)),
			p.errors, p.readsCell(), p.cpuCells(before.cpus))
	}
	pr("## Listing: GET /jobs?title=…&location=…, %d clients, %s measured per phase (%s warm-up)\n\n", b.o.clients, b.o.dur, b.o.warmup)
	w.WriteString(head)
	w.WriteString(sep)
	for _, p := range b.phases {
		if p.kind == "list" {
			row(p, fmt.Sprint(p.clients))
		}
	}
	pr("\n## Writes: POST /jobs, %s measured per phase (%s warm-up)\n\n", b.o.writeDur, b.o.writeWarmup)
	w.WriteString(head)
	w.WriteString(sep)
	for _, p := range b.phases {
		if p.kind == "write" {
			row(p, fmt.Sprint(p.clients))
		}
	}

	// Each (kind, clients, server) over all its phases.
	type key struct {
		kind, name string
		clients    int
	}
	var order []key
	pooled := map[key]*phase{}
	for _, p := range b.phases {
		k := key{p.kind, p.name(), p.clients}
		t := pooled[k]
		if t == nil {
			t = &phase{kind: p.kind, server: p.server, paused: p.paused, clients: p.clients}
			pooled[k] = t
			order = append(order, k)
		}
		t.latencies = append(t.latencies, p.latencies...)
		t.errors += p.errors
		t.dur += p.dur
	}
	pr("\nThe replica server's reads between the write phases (a few listings each, counted by jobboard_db_reads_total):\n\n")
	for _, p := range b.probes {
		pr("- %s: jobboard_replica_serving %v; %d listings read %.0f times from the replica, %.0f from the primary\n",
			p.when, p.reads.serving, p.n, p.reads.replica, p.reads.primary)
	}
	pr("\n## Pooled: every phase of a server, together\n\n")
	pr("| load | clients | server | phases' time | req/s | p50 ms | p90 ms | p99 ms | max ms | errors |\n")
	pr("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, k := range order {
		t := pooled[k]
		slices.Sort(t.latencies)
		what := "GET /jobs"
		if k.kind == "write" {
			what = "POST /jobs"
		}
		pr("| %s | %d | %s | %s | %.1f | %s | %s | %s | %s | %d |\n", what, k.clients, k.name, t.dur, t.rps(),
			ms(pct(t.latencies, 0.5)), ms(pct(t.latencies, 0.9)), ms(pct(t.latencies, 0.99)), ms(pct(t.latencies, 1)), t.errors)
	}
	pr("\n")
	if p, r := pooled[key{"list", "primary", b.o.clients}], pooled[key{"list", "replica", b.o.clients}]; p != nil && r != nil {
		pr("Listing throughput, replica server / primary server: %.1f %%\n", 100*r.rps()/p.rps())
	}
	for _, c := range b.o.writeClients {
		p, r, z := pooled[key{"write", "primary", c}], pooled[key{"write", "replica", c}], pooled[key{"write", "replica, replay paused", c}]
		if p == nil || r == nil {
			continue
		}
		pr("POST /jobs, %d client(s): waiting for the replica adds %+.2f ms at p50, %+.2f ms at p99", c,
			msf(pct(r.latencies, 0.5)-pct(p.latencies, 0.5)), msf(pct(r.latencies, 0.99)-pct(p.latencies, 0.99)))
		if z != nil {
			pr("; with replay paused, %+.2f ms at p50, %+.2f ms at p99", msf(pct(z.latencies, 0.5)-pct(p.latencies, 0.5)),
				msf(pct(z.latencies, 0.99)-pct(p.latencies, 0.99)))
		}
		pr("\n")
	}
	return w.String()
}

func msf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
