package pgcluster

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// howToInstall ends every error about a missing piece of PostgreSQL: the
// programs and the postgres OS user come with the same package, the one
// scripts/ensure-postgres installs.
const howToInstall = "install PostgreSQL 15's server package (as root: apt-get install -y postgresql-15, " +
	"which scripts/ensure-postgres does), or set PGCLUSTER_BINDIR to a directory holding initdb, postgres and pg_basebackup"

// programs are the server programs a pair needs; pg_ctl is not among them
// because the postmaster is started and stopped from Go (see Cluster.Start).
var programs = []string{"initdb", "postgres", "pg_basebackup"}

// findBinDir returns the directory holding PostgreSQL's server programs.
// Debian keeps them off PATH, under /usr/lib/postgresql/VERSION/bin; 15 is
// the version the project runs on, so it comes first, and another installed
// version only when 15 is missing.
func findBinDir() (string, error) {
	if dir := os.Getenv("PGCLUSTER_BINDIR"); dir != "" {
		if missing := missingPrograms(dir); len(missing) > 0 {
			return "", fmt.Errorf("pgcluster: PGCLUSTER_BINDIR=%s has no %s: %s", dir, strings.Join(missing, ", "), howToInstall)
		}
		return dir, nil
	}
	candidates := []string{"/usr/lib/postgresql/15/bin"}
	others, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Sort(sort.Reverse(sort.StringSlice(others)))
	candidates = append(candidates, others...)
	if initdb, err := exec.LookPath("initdb"); err == nil {
		candidates = append(candidates, filepath.Dir(initdb))
	}
	for _, dir := range candidates {
		if len(missingPrograms(dir)) == 0 {
			return dir, nil
		}
	}
	return "", fmt.Errorf("pgcluster: PostgreSQL's server programs (%s) are not in /usr/lib/postgresql/15/bin, "+
		"any other /usr/lib/postgresql/*/bin, or PATH: %s", strings.Join(programs, ", "), howToInstall)
}

// missingPrograms lists the server programs that dir lacks.
func missingPrograms(dir string) []string {
	var missing []string
	for _, p := range programs {
		fi, err := os.Stat(filepath.Join(dir, p))
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			missing = append(missing, p)
		}
	}
	return missing
}

// runner is the OS user the server programs run as. initdb and postgres
// refuse to run as root (a server compromised through SQL would own the
// machine), and the tests and CI run as root here, so root hands them to the
// postgres user that the server package creates; anyone else runs them as
// themselves.
type runner struct {
	uid, gid int
	groups   []uint32
	name     string
	home     string
	asRoot   bool // we are root and switch to the postgres user
}

func currentRunner() (*runner, error) {
	if os.Geteuid() != 0 {
		r := &runner{uid: os.Getuid(), gid: os.Getgid(), home: os.Getenv("HOME")}
		if u, err := user.Current(); err == nil {
			r.name = u.Username
		}
		return r, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgcluster: running as root, and PostgreSQL refuses to run as root, so the scratch "+
			"clusters run as the OS user postgres, which is missing (%v): %s", err, howToInstall)
	}
	r := &runner{name: u.Username, home: u.HomeDir, asRoot: true}
	if r.uid, err = strconv.Atoi(u.Uid); err != nil {
		return nil, fmt.Errorf("pgcluster: user postgres: uid %q: %w", u.Uid, err)
	}
	if r.gid, err = strconv.Atoi(u.Gid); err != nil {
		return nil, fmt.Errorf("pgcluster: user postgres: gid %q: %w", u.Gid, err)
	}
	// Supplementary groups too (ssl-cert, on Debian), so that the server
	// sees what it would see when started by the system.
	gids, _ := u.GroupIds()
	for _, g := range gids {
		if n, err := strconv.Atoi(g); err == nil {
			r.groups = append(r.groups, uint32(n))
		}
	}
	return r, nil
}

// command prepares a server program to run as r, in a process group of its
// own: signals meant for go test's group (a terminal's Ctrl-C) are not the
// servers' to act on; they shut down when the test binary exits (see
// Cluster.Start). PG* variables are dropped: a PGPORT or PGDATA meant for
// the machine's own cluster must not steer initdb or pg_basebackup to it.
func (r *runner) command(ctx context.Context, dir, program string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, program, args...)
	// The working directory must be one the runner may enter: go test runs
	// in the package's directory, which postgres may not be able to read.
	cmd.Dir = dir
	env := []string{"LC_ALL=C", "TZ=UTC"}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "PG"), strings.HasPrefix(k, "LC_"), k == "LANG", k == "TZ", k == "HOME", k == "USER", k == "LOGNAME":
		default:
			env = append(env, kv)
		}
	}
	if r.home != "" {
		env = append(env, "HOME="+r.home)
	}
	if r.name != "" {
		env = append(env, "USER="+r.name, "LOGNAME="+r.name)
	}
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if r.asRoot {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(r.uid), Gid: uint32(r.gid), Groups: r.groups}
	}
	return cmd
}

// run runs a program to completion and returns its output in the error
// when it fails: initdb and pg_basebackup say what went wrong on stderr.
func (r *runner) run(ctx context.Context, dir, program string, args ...string) error {
	cmd := r.command(ctx, dir, program, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return fmt.Errorf("%s %s: %w\n%s", filepath.Base(program), strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// prepareDir creates dir (which must be missing or empty: it becomes a
// data directory) and gives it to the runner. It also checks that the
// runner can reach it, which a root-only TMPDIR would prevent, because
// initdb's own message for that ("could not change permissions") points
// nowhere near the cause.
func (r *runner) prepareDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("pgcluster: %s is not empty: a new cluster needs an empty or missing directory", dir)
	}
	if !r.asRoot {
		return nil
	}
	if err := os.Chown(dir, r.uid, r.gid); err != nil {
		return fmt.Errorf("pgcluster: give %s to user %s: %w", dir, r.name, err)
	}
	for parent := filepath.Dir(dir); ; parent = filepath.Dir(parent) {
		if !r.canEnter(parent) {
			return fmt.Errorf("pgcluster: user %s, which the server runs as, cannot enter %s (on the way to %s): "+
				"put the cluster elsewhere (TMPDIR) or let others enter it (chmod o+x %s)", r.name, parent, dir, parent)
		}
		if parent == filepath.Dir(parent) {
			return nil
		}
	}
}

// canEnter reports whether the runner has search permission on dir.
func (r *runner) canEnter(dir string) bool {
	fi, err := os.Stat(dir)
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return true
	}
	mode := fi.Mode().Perm()
	switch {
	case int(st.Uid) == r.uid:
		return mode&0o100 != 0
	case int(st.Gid) == r.gid || containsGID(r.groups, st.Gid):
		return mode&0o010 != 0
	default:
		return mode&0o001 != 0
	}
}

func containsGID(groups []uint32, gid uint32) bool {
	for _, g := range groups {
		if g == gid {
			return true
		}
	}
	return false
}
