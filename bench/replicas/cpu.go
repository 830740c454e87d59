package main

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The CPU accounting reads /proc, so that each phase can say where its CPU
// went: the API under test, the worker, the primary's and the replica's
// PostgreSQL processes, this load generator, and everything else on the
// machine. The last matters because other engineers run tests here: a
// phase that shared the two cores with someone else's work says so.

// tick is the unit of /proc's CPU times (USER_HZ), 100 per second on
// every Linux this runs on; reading it needs sysconf, which Go does not
// offer without cgo.
const tick = 10 * time.Millisecond

// cpuSample is the CPU time used so far, by name: the machine's busy time
// ("machine"), this process ("load"), and each process tree followed.
type cpuSample map[string]time.Duration

// procStat is what /proc/PID/stat says of a process's CPU.
type procStat struct {
	ppid     int
	self     time.Duration // utime + stime
	children time.Duration // cutime + cstime: its children that have exited and been waited for
}

// readProcStat parses /proc/PID/stat. The command name, in parentheses,
// may hold spaces, so the fields are counted from the last ')'.
func readProcStat(pid string) (procStat, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", pid, "stat"))
	if err != nil {
		return procStat{}, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, false
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state)
	if len(f) < 15 {
		return procStat{}, false
	}
	n := func(field int) int64 { v, _ := strconv.ParseInt(f[field-3], 10, 64); return v }
	ppid, _ := strconv.Atoi(f[1])
	return procStat{ppid: ppid, self: time.Duration(n(14)+n(15)) * tick, children: time.Duration(n(16)+n(17)) * tick}, true
}

// sampleCPU reads the CPU time of each root's process tree (the root and
// its direct children: a postmaster's backends, which all are), the
// machine's and this process's. A backend that exited since the last
// sample is counted in its postmaster's children time once reaped, so
// a tree's time only grows.
func sampleCPU(roots map[string]int) cpuSample {
	s := cpuSample{"machine": machineBusy()}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		s["load"] = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	byPid := map[int]string{}
	for name, pid := range roots {
		byPid[pid] = name
		s[name] = 0
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, ok := readProcStat(e.Name())
		if !ok {
			continue
		}
		if name, ok := byPid[pid]; ok {
			s[name] += st.self + st.children
		} else if name, ok := byPid[st.ppid]; ok {
			s[name] += st.self + st.children
		}
	}
	return s
}

// machineBusy is the time all cores have spent busy since boot, from
// /proc/stat's first line: user, nice, system, irq, softirq and steal.
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var busy int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		v, _ := strconv.ParseInt(f[i], 10, 64)
		busy += v
	}
	return time.Duration(busy) * tick
}

// postmasterPID is the pid on the first line of a data directory's
// postmaster.pid.
func postmasterPID(dir string) int {
	b, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(line))
	return pid
}

// machine describes the machine for the report.
type machine struct {
	cpus           int
	model, memory  string
	kernel         string
	loadavg        string
	goVersion      string
	postgres, psql string
}

// machineNow reads what the report says of the machine; the load average
// is read again at the end.
func machineNow() machine {
	m := machine{cpus: runtime.NumCPU(), goVersion: runtime.Version(), loadavg: loadavg()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.model = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		kb := func(key string) float64 {
			for _, line := range strings.Split(string(b), "\n") {
				if f := strings.Fields(line); len(f) >= 2 && f[0] == key+":" {
					v, _ := strconv.ParseFloat(f[1], 64)
					return v
				}
			}
			return 0
		}
		m.memory = strconv.FormatFloat(kb("MemTotal")/(1<<20), 'f', 1, 64) + " GiB total, " +
			strconv.FormatFloat(kb("MemAvailable")/(1<<20), 'f', 1, 64) + " GiB available"
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.kernel = strings.TrimSpace(string(b))
	}
	return m
}

// loadavg is /proc/loadavg's 1, 5 and 15 minute averages.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
