package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/jobboard/jobboard/projections"
	"github.com/jobboard/jobboard/replay"
)

const replayHelp = `Rebuilds read models from the event log while the service keeps serving.

Each projection is rebuilt into new tables next to the live ones (schema
replay_<name>): the log, up to where it ends when the replay begins, is
folded in memory by the projection's own code and copied into the new
tables in bulk; then the indexes are built, the events that arrived
meanwhile are applied, and, in one transaction, the new tables replace the
live ones and the old ones are dropped. Readers see the old tables until
that instant and the new ones after it; the live projectors pause for that
transaction only.

Memory: about 1 KB per read-model row (a user, a job, an application),
so about 1 GB at the default --rows-in-memory. A read model with more rows
than that is built in parts, each from one more read of the log; a smaller
--rows-in-memory uses less memory and reads the log more times.

Safe to interrupt (nothing live changes before the switch) and to run again
(it starts over). A second replay of the same projection while one runs is
refused. Only read models are rebuilt: no email is sent, nothing else runs.

Projections: %s.

Usage: jobboard replay --all | --projection NAME [--projection NAME]...

Examples:
  jobboard replay --all
  jobboard replay --projection jobs --progress lines 2>> replay.log`

// replayCmd rebuilds projections.
func replayCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	all := projections.All()
	names := make([]string, len(all))
	for i, p := range all {
		names[i] = p.Name()
	}
	fs := newFlagSet("replay", fmt.Sprintf(replayHelp, strings.Join(names, ", ")), stderr)
	var chosen []string
	fs.Func("projection", "a projection to rebuild (repeat for more)", func(s string) error {
		if !slices.Contains(names, s) {
			return fmt.Errorf("unknown projection %q (want one of %s)", s, strings.Join(names, ", "))
		}
		chosen = append(chosen, s)
		return nil
	})
	everything := fs.Bool("all", false, "rebuild every projection")
	batch := fs.Int("batch", replay.DefaultBatchSize, "events applied per transaction to catch up with the events appended during the rebuild")
	rowsInMemory := fs.Int("rows-in-memory", replay.DefaultRowsInMemory, "read-model rows held in memory at most; more are built in parts")
	progress := fs.String("progress", "auto", "bar (a progress bar), lines (a log line every few seconds), or auto (bar on a terminal)")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if *everything == (len(chosen) > 0) {
		return usageError(fs, "give --all or at least one --projection (not both)")
	}
	if *batch < 1 || *batch > 100000 {
		return usageError(fs, "--batch: want 1 to 100000")
	}
	if *rowsInMemory < 1000 {
		return usageError(fs, "--rows-in-memory: want 1000 or more")
	}
	if *progress != "auto" && *progress != "bar" && *progress != "lines" {
		return usageError(fs, "--progress %q: want auto, bar or lines", *progress)
	}
	var ps []projections.Projector
	for _, p := range all {
		if *everything || slices.Contains(chosen, p.Name()) {
			ps = append(ps, p)
		}
	}
	keys, err := openKeyring(getenv, stderr)
	if err != nil {
		return err
	}
	pool, err := openForCommand(ctx, getenv, stderr, asOwner)
	if err != nil {
		return err
	}
	defer pool.Close()

	bar := *progress == "bar" || *progress == "auto" && isTerminal(stderr)
	report := progressLines(stderr)
	if bar {
		report = progressBar(stderr)
	}
	fmt.Fprintf(stderr, "replaying %s\n", replay.Describe(ps))
	res, err := replay.Run(ctx, pool, ps, replay.Options{BatchSize: *batch, RowsInMemory: *rowsInMemory, Progress: report, Keys: keys})
	if errors.Is(err, replay.ErrBusy) {
		return fmt.Errorf("%w; wait for it to finish", err)
	}
	if err != nil {
		return err
	}
	rate := float64(res.Events) / max(res.Duration.Seconds(), 1e-9)
	parts := ""
	if res.Parts > 1 {
		parts = fmt.Sprintf(", in %d parts", res.Parts)
	}
	fmt.Fprintf(stdout, "rebuilt %s from %d events in %s (%.0f events/s%s)\n",
		strings.Join(res.Projections, ", "), res.Events, res.Duration.Round(time.Millisecond), rate, parts)
	return nil
}

// progressBar draws the rebuild on a terminal: events applied of those in
// the log, with events/s and the time left.
func progressBar(w io.Writer) func(replay.Progress) {
	var bar *progressbar.ProgressBar
	phase := ""
	return func(p replay.Progress) {
		if p.Phase != phase {
			if bar != nil {
				_ = bar.Finish()
				fmt.Fprintln(w)
				bar = nil
			}
			phase = p.Phase
			if p.Phase == replay.PhaseRebuild && p.Total > 0 {
				bar = progressbar.NewOptions64(p.Total,
					progressbar.OptionSetWriter(w),
					progressbar.OptionSetDescription("rebuild"),
					progressbar.OptionShowCount(),
					progressbar.OptionShowIts(),
					progressbar.OptionSetItsString("events"),
					progressbar.OptionSetPredictTime(true),
					progressbar.OptionThrottle(100*time.Millisecond),
					progressbar.OptionSetWidth(30),
				)
			} else if p.Phase != replay.PhaseDone {
				fmt.Fprintf(w, "%s…\n", p.Phase)
			}
		}
		if bar != nil {
			if p.Total != bar.GetMax64() {
				bar.ChangeMax64(p.Total) // a part split in two: one more read of the log
			}
			_ = bar.Set64(min(p.Applied, p.Total))
		}
	}
}

// progressLines logs the progress every few seconds and at each phase: for
// logs, where a bar's redrawing is noise.
func progressLines(w io.Writer) func(replay.Progress) {
	var last time.Time
	phase := ""
	return func(p replay.Progress) {
		if p.Phase == phase && time.Since(last) < 2*time.Second {
			return
		}
		phase, last = p.Phase, time.Now()
		line := fmt.Sprintf("replay: %s, %d events applied", p.Phase, p.Applied)
		if p.Total > 0 && p.Phase == replay.PhaseRebuild {
			rate := float64(p.Applied) / max(p.Elapsed.Seconds(), 1e-9)
			line += fmt.Sprintf(" of %d (%.0f%%), %.0f events/s", p.Total, 100*float64(p.Applied)/float64(p.Total), rate)
			if rate > 0 && p.Applied < p.Total {
				left := time.Duration(float64(p.Total-p.Applied) / rate * float64(time.Second))
				line += fmt.Sprintf(", about %s left", left.Round(time.Second))
			}
		}
		fmt.Fprintln(w, line)
	}
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}
