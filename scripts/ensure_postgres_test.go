// Package scripts_test tests the repository's shell scripts: their
// decisions, with the commands they run replaced by stubs on a temporary
// PATH, so that no package is installed and no server started.
package scripts_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matryer/is"
)

// machine is a pretend machine for scripts/ensure-postgres: stubs of
// pg_isready, pg_ctlcluster, apt-get, apt-cache and id that answer from
// files in state and log their calls there, and the real tools the script
// needs besides.
type machine struct {
	t     *testing.T
	bin   string // the PATH: stubs and links to real tools
	state string // what the stubs read and write
	etc   string // PG_ETC
}

// realTools are the commands the script runs that are not stubbed.
var realTools = []string{"bash", "env", "ls", "sort", "cat", "grep", "rm", "seq", "mkdir", "touch", "printf"}

const stubs = `
#!/bin/bash
# pg_isready: the server answers once "running" exists.
[ -e "$STATE/running" ]
---
#!/bin/bash
# pg_ctlcluster
echo "pg_ctlcluster $*" >>"$STATE/calls"
case " $* " in
  *" start "*) [ -e "$STATE/start-fails" ] && exit 1; touch "$STATE/running" ;;
esac
exit 0
---
#!/bin/bash
# apt-get: "install" puts a cluster of the version asked for under PG_ETC
# and pg_ctlcluster on the PATH, as the Debian packages do.
echo "apt-get $*" >>"$STATE/calls"
if [ "$1" = install ]; then
  v=15
  case " $* " in *" postgresql "*) v=$(cat "$STATE/distro-version") ;; esac
  mkdir -p "$PG_ETC/$v/main"
  printf 'local all postgres peer\nhost all all 127.0.0.1/32 scram-sha-256\n' >"$PG_ETC/$v/main/pg_hba.conf"
  cp "$STATE/pg_ctlcluster" "$BIN/pg_ctlcluster"
fi
exit 0
---
#!/bin/bash
# apt-cache: postgresql-15 is packaged unless "no-15" exists.
[ "$1 $2" = "show postgresql-15" ] && [ ! -e "$STATE/no-15" ]
---
#!/bin/bash
# id
case "$1" in
  -u) cat "$STATE/uid" ;;
  -un) echo tester ;;
esac
---
#!/bin/bash
# sleep: the wait for the server need not take time here.
exit 0
`

var stubNames = []string{"pg_isready", "pg_ctlcluster", "apt-get", "apt-cache", "id", "sleep"}

func newMachine(t *testing.T, uid string) *machine {
	t.Helper()
	dir := t.TempDir()
	m := &machine{t: t, bin: filepath.Join(dir, "bin"), state: filepath.Join(dir, "state"), etc: filepath.Join(dir, "etc")}
	for _, d := range []string{m.bin, m.state, m.etc} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, tool := range realTools {
		path, err := exec.LookPath(tool)
		if err != nil {
			t.Fatalf("the script needs %s: %v", tool, err)
		}
		if err := os.Symlink(path, filepath.Join(m.bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	if path, err := exec.LookPath("cp"); err == nil {
		_ = os.Symlink(path, filepath.Join(m.bin, "cp"))
	}
	bodies := strings.Split(strings.TrimPrefix(stubs, "\n"), "---\n")
	for i, name := range stubNames {
		dst := filepath.Join(m.bin, name)
		if name == "pg_ctlcluster" {
			// Kept aside: on the PATH only once PostgreSQL is installed.
			dst = filepath.Join(m.state, name)
		}
		if err := os.WriteFile(dst, []byte(bodies[i]), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	m.write("uid", uid+"\n")
	m.write("distro-version", "16\n")
	return m
}

func (m *machine) write(name, content string) {
	m.t.Helper()
	if err := os.WriteFile(filepath.Join(m.state, name), []byte(content), 0o644); err != nil {
		m.t.Fatal(err)
	}
}

// installed puts a cluster of version on the machine, stopped.
func (m *machine) installed(version string) {
	m.t.Helper()
	if err := os.MkdirAll(filepath.Join(m.etc, version, "main"), 0o755); err != nil {
		m.t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(m.bin, "pg_ctlcluster")); err == nil {
		return
	}
	if err := os.Rename(filepath.Join(m.state, "pg_ctlcluster"), filepath.Join(m.bin, "pg_ctlcluster")); err != nil {
		m.t.Fatal(err)
	}
}

// run runs the script and returns its exit code, its stderr and the
// commands it called, in order.
func (m *machine) run() (code int, stderr string, calls []string) {
	m.t.Helper()
	cmd := exec.Command(filepath.Join(m.bin, "bash"), "ensure-postgres")
	cmd.Env = []string{"PATH=" + m.bin, "STATE=" + m.state, "PG_ETC=" + m.etc, "BIN=" + m.bin}
	var errb strings.Builder
	cmd.Stderr = &errb
	err := cmd.Run()
	if exit, ok := err.(*exec.ExitError); ok {
		code = exit.ExitCode()
	} else if err != nil {
		m.t.Fatalf("run ensure-postgres: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(m.state, "calls")); err == nil {
		calls = strings.Split(strings.TrimSpace(string(b)), "\n")
	}
	return code, errb.String(), calls
}

func TestEnsurePostgresRunning(t *testing.T) {
	is := is.New(t)
	m := newMachine(t, "1000")
	m.installed("15")
	m.write("running", "")
	code, _, calls := m.run()
	is.Equal(code, 0)       // a server that answers is enough
	is.Equal(len(calls), 0) // and nothing is started or installed
}

func TestEnsurePostgresStartsAnInstalledServer(t *testing.T) {
	for _, uid := range []string{"0", "1000"} {
		t.Run("uid "+uid, func(t *testing.T) {
			is := is.New(t)
			m := newMachine(t, uid)
			m.installed("13")
			m.installed("15")
			code, stderr, calls := m.run()
			is.Equal(code, 0) // it started
			is.True(len(calls) > 0)
			is.Equal(calls[0], "pg_ctlcluster --skip-systemctl-redirect 15 main start") // the newest cluster
			for _, c := range calls {
				is.True(!strings.HasPrefix(c, "apt-get")) // nothing was installed
			}
			is.True(strings.Contains(stderr, "starting PostgreSQL 15"))
		})
	}
}

func TestEnsurePostgresCannotStartAsAUser(t *testing.T) {
	is := is.New(t)
	m := newMachine(t, "1000")
	m.installed("15")
	m.write("start-fails", "")
	code, stderr, _ := m.run()
	is.Equal(code, 1)                                                     // it fails
	is.True(strings.Contains(stderr, "sudo pg_ctlcluster 15 main start")) // saying what to run
}

func TestEnsurePostgresInstallsAsRoot(t *testing.T) {
	tests := []struct {
		name, want, version string
		no15                bool
	}{
		{"postgresql-15 packaged", "apt-get install -y -q postgresql-15", "15", false},
		{"only the distribution's", "apt-get install -y -q postgresql", "16", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			m := newMachine(t, "0")
			if tt.no15 {
				m.write("no-15", "")
			}
			code, stderr, calls := m.run()
			if code != 0 {
				t.Fatalf("exit %d:\n%s", code, stderr)
			}
			is.Equal(calls[0], "apt-get update -q")
			is.Equal(calls[1], tt.want)                                                             // the package asked for
			is.Equal(calls[2], "pg_ctlcluster --skip-systemctl-redirect "+tt.version+" main start") // then started
			hba, err := os.ReadFile(filepath.Join(m.etc, tt.version, "main", "pg_hba.conf"))
			is.NoErr(err)
			lines := strings.Split(string(hba), "\n")
			is.Equal(lines[1], "host all all 127.0.0.1/32 trust") // loopback is trusted, ahead of the package's rules
			is.Equal(lines[3], "local all postgres peer")         // which are kept

			// A second run on the same machine adds nothing.
			is.NoErr(os.Remove(filepath.Join(m.state, "running")))
			code, _, _ = m.run()
			is.Equal(code, 0)
			again, err := os.ReadFile(filepath.Join(m.etc, tt.version, "main", "pg_hba.conf"))
			is.NoErr(err)
			is.Equal(string(again), string(hba)) // the rules are added once
		})
	}
}

func TestEnsurePostgresTellsAUserWhatToInstall(t *testing.T) {
	is := is.New(t)
	m := newMachine(t, "1000")
	code, stderr, calls := m.run()
	is.Equal(code, 1)                                                       // it fails
	is.True(strings.Contains(stderr, "sudo apt-get install -y postgresql")) // naming the one command to run
	is.Equal(len(calls), 0)                                                 // and installs nothing
}
