package local

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tierdeploy/tier/config"
)

// defaultPath is the PATH a process gets when its image sets none, as
// Docker does.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// run is one build of one service in one environment.
type run struct {
	env    config.Environment
	local  *config.Local
	svc    config.Service
	digest v1.Hash
	commit string
	log    string
}

// spec is how to start a run.
type spec struct {
	// path is the executable; argv[0] is the name the image gave it.
	path string
	argv []string
	dir  string
	env  []string
}

// spec resolves how to start r from its unpacked image.
func (t *Target) spec(img *image, r run) (spec, error) {
	c := img.Config
	argv := append(append([]string{}, c.Entrypoint...), c.Cmd...)
	if len(argv) == 0 || argv[0] == "" {
		return spec{}, fmt.Errorf("image %s has no entrypoint or cmd to run", img.Digest)
	}
	dir := img.Rootfs
	if c.WorkingDir != "" {
		dir = filepath.Join(img.Rootfs, path.Clean("/"+c.WorkingDir))
	}
	imagePath := ""
	for _, kv := range c.Env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			imagePath = v
		}
	}
	var env []string
	if imagePath == "" {
		imagePath = defaultPath
		env = append(env, "PATH="+defaultPath)
	}
	// Later entries win (os/exec keeps the last of duplicate keys): the
	// image, then the environment's settings, then tier's own.
	env = append(env, c.Env...)
	keys := make([]string, 0, len(r.local.Env))
	for k := range r.local.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+r.local.Env[k])
	}
	env = append(env,
		"PORT="+strconv.Itoa(r.local.Port),
		"TIER_ENVIRONMENT="+r.env.Name,
		"TIER_TIER="+r.env.Tier,
		"TIER_TENANT="+r.env.Tenant,
		"TIER_SERVICE="+r.svc.Name,
		"TIER_DIGEST="+r.digest.String(),
		"TIER_COMMIT="+r.commit,
	)
	return spec{path: executable(img.Rootfs, dir, argv[0], imagePath), argv: argv, dir: dir, env: env}, nil
}

// executable finds argv0 the way the image means it, inside rootfs: an
// absolute path that exists under rootfs is taken from there, a bare name
// is looked up in the image's PATH under rootfs, and a relative path is
// relative to the working directory. Anything else is used as given,
// looked up on this machine.
func executable(rootfs, dir, argv0, pathList string) string {
	switch {
	case path.IsAbs(argv0):
		p := filepath.Join(rootfs, argv0)
		if _, err := os.Lstat(p); err == nil {
			return p
		}
		return argv0
	case strings.Contains(argv0, "/"):
		return filepath.Join(dir, argv0)
	}
	for _, d := range filepath.SplitList(pathList) {
		if !path.IsAbs(d) {
			continue
		}
		p := filepath.Join(rootfs, d, argv0)
		fi, err := os.Lstat(p)
		if err != nil {
			continue
		}
		if fi.Mode()&os.ModeSymlink != 0 || (fi.Mode().IsRegular() && fi.Mode()&0o111 != 0) {
			return p
		}
	}
	if p, err := exec.LookPath(argv0); err == nil {
		return p
	}
	return argv0
}

// proc is a process this Target started.
type proc struct {
	pid       int
	start     uint64
	startedAt time.Time
	// logOffset is where its output starts in the log file.
	logOffset int64
	// exited is closed once the process has been reaped; state is set
	// before.
	exited chan struct{}
	state  *os.ProcessState
}

// start starts sp in its own session, with stdin /dev/null and output
// appended to the log. A goroutine reaps it while this process lives, so
// it never lingers as a zombie that looks alive; once this process exits,
// the started one is re-parented and lives on.
func (t *Target) start(sp spec, r run) (*proc, error) {
	if err := os.MkdirAll(filepath.Dir(r.log), 0o755); err != nil {
		return nil, fmt.Errorf("creating log directory: %w", err)
	}
	f, err := os.OpenFile(r.log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening log: %w", err)
	}
	defer f.Close()
	fmt.Fprintf(f, "==> %s tier: starting %s (%s) for %s: %s\n", time.Now().UTC().Format(time.RFC3339), r.digest, r.commit, r.env.Name, strings.Join(sp.argv, " "))
	off, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, fmt.Errorf("opening log: %w", err)
	}
	cmd := &exec.Cmd{
		Path:        sp.path,
		Args:        sp.argv,
		Dir:         sp.dir,
		Env:         sp.env,
		Stdout:      f,
		Stderr:      f,
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(f, "==> tier: %v\n", err)
		return &proc{logOffset: off}, fmt.Errorf("starting %s: %w", sp.path, err)
	}
	p := &proc{pid: cmd.Process.Pid, startedAt: time.Now(), logOffset: off, exited: make(chan struct{})}
	// Read before the reaper runs: until then the pid cannot be reused.
	if st, err := readStat(p.pid); err == nil {
		p.start = st.start
	}
	go func() {
		cmd.Wait()
		p.state = cmd.ProcessState
		close(p.exited)
	}()
	return p, nil
}

// exit returns an *exitError once p has exited, else nil.
func (p *proc) exit() error {
	select {
	case <-p.exited:
		return &exitError{state: p.state}
	default:
		return nil
	}
}

// exitError says a process this Target started ended while it waited for
// the process to become healthy.
type exitError struct {
	state *os.ProcessState
}

func (e *exitError) Error() string {
	if ws, ok := e.state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return fmt.Sprintf("was killed by signal %d (%v)", int(ws.Signal()), ws.Signal())
	}
	return fmt.Sprintf("exited with status %d", e.state.ExitCode())
}

// procStat is what tier reads from /proc/<pid>/stat.
type procStat struct {
	state byte   // field 3: R, S, D, Z, X, ...
	pgrp  int    // field 5
	start uint64 // field 22: start time, clock ticks after boot
}

func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	// The command name (field 2) is in parentheses and may hold spaces and
	// parentheses itself: fields resume after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("parsing /proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 || len(f[0]) != 1 {
		return procStat{}, fmt.Errorf("parsing /proc/%d/stat: %d fields", pid, len(f)+2)
	}
	pgrp, err := strconv.Atoi(f[2])
	if err != nil {
		return procStat{}, fmt.Errorf("parsing /proc/%d/stat: process group: %w", pid, err)
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("parsing /proc/%d/stat: start time: %w", pid, err)
	}
	return procStat{state: f[0][0], pgrp: pgrp, start: start}, nil
}

// alive reports whether pid is the process that started at start (0:
// any) and has not exited: a zombie has exited.
func alive(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	st, err := readStat(pid)
	if err != nil {
		return false
	}
	if st.state == 'Z' || st.state == 'X' || st.state == 'x' {
		return false
	}
	return start == 0 || st.start == start
}

// stop ends the process pid that started at start, if it still runs:
// SIGTERM to its process group, SIGKILL after StopTimeout.
func (t *Target) stop(pid int, start uint64) error {
	st, err := readStat(pid)
	if err != nil || !alive(pid, start) {
		return nil
	}
	// tier starts every process as a session leader, so its group is its
	// pid; signal the group to reach the children it started too.
	group := st.pgrp == pid
	signal := func(sig syscall.Signal) {
		if group {
			syscall.Kill(-pid, sig)
		} else {
			syscall.Kill(pid, sig)
		}
	}
	signal(syscall.SIGTERM)
	if !t.waitGone(pid, start, t.o.StopTimeout) {
		t.log.Warn("process did not stop after SIGTERM; killing it", "pid", pid, "waited", t.o.StopTimeout)
		signal(syscall.SIGKILL)
		if !t.waitGone(pid, start, 5*time.Second) {
			return fmt.Errorf("stopping process %d: still running after SIGKILL", pid)
		}
	}
	if group {
		// Members of its group that outlived it would hold its port.
		if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			t.log.Warn("killing the rest of the process group", "pgid", pid, "err", err)
		}
	}
	return nil
}

// waitGone waits up to d for pid to exit.
func (t *Target) waitGone(pid int, start uint64, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for alive(pid, start) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// waitPortFree waits briefly for port to be free: the stopped process's
// group may take a moment to close it. Something else listening there
// would answer the new process's health check.
func waitPortFree(port int) error {
	deadline := time.Now().Add(2 * time.Second)
	for {
		ln, err := net.Listen("tcp", ":"+strconv.Itoa(port))
		if err == nil {
			ln.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("port %d is in use by a process tier did not start: stop it, or give the environment another local port (%v)", port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tailLog returns up to n last lines written to the log at or after off.
func tailLog(file string, off int64, n int) []string {
	const window = 64 << 10
	f, err := os.Open(file)
	if err != nil {
		return nil
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil
	}
	from, partial := off, false
	if fi.Size()-from > window {
		from, partial = fi.Size()-window, true
	}
	b, err := io.ReadAll(io.NewSectionReader(f, from, fi.Size()-from))
	if err != nil {
		return nil
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if partial && len(lines) > 0 {
		lines = lines[1:]
	}
	if len(lines) == 1 && lines[0] == "" {
		return nil
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		if len(l) > 300 {
			lines[i] = l[:300] + "…"
		}
	}
	return lines
}
