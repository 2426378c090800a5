package local_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/internal/testreg"
	"github.com/tierdeploy/tier/push"
	"github.com/tierdeploy/tier/registry"
	"github.com/tierdeploy/tier/target"
	"github.com/tierdeploy/tier/target/local"
	"github.com/tierdeploy/tier/target/targettest"
)

// TestMain doubles as the test web app: images built by the tests run this
// binary with TIER_LOCAL_TEST_APP=1 in their environment.
func TestMain(m *testing.M) {
	if os.Getenv("TIER_LOCAL_TEST_APP") == "1" {
		os.Exit(app())
	}
	os.Exit(m.Run())
}

// app serves GET / with its version, environment, digest and pid, and
// GET /healthz, on $PORT until SIGTERM. MODE=crash exits at once with
// status 3; MODE=unhealthy answers /healthz with 500.
func app() int {
	mode := os.Getenv("MODE")
	if mode == "crash" {
		fmt.Fprintln(os.Stderr, "crashing on purpose")
		return 3
	}
	version := os.Getenv("VERSION")
	if b, err := os.ReadFile("version.txt"); err == nil {
		version = strings.TrimSpace(string(b))
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "version=%s env=%s digest=%s pid=%d\n", version, os.Getenv("TIER_ENVIRONMENT"), os.Getenv("TIER_DIGEST"), os.Getpid())
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if mode == "unhealthy" {
			http.Error(w, "unhealthy on purpose", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	ln, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("PORT"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("%s listening on %s\n", version, ln.Addr())
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	<-sig
	fmt.Println("stopping on SIGTERM")
	srv.Close()
	return 0
}

const (
	commit1         = "1111111111111111111111111111111111111111"
	commit2         = "2222222222222222222222222222222222222222"
	commitCrash     = "3333333333333333333333333333333333333333"
	commitUnhealthy = "4444444444444444444444444444444444444444"
)

// noExitSleep spares a race-enabled app the race detector's second of
// sleep at exit.
const noExitSleep = "atexit_sleep_ms=0"

var (
	created = time.Date(2020, 11, 12, 10, 30, 0, 0, time.UTC)
	api     = config.Service{Name: "api", Repository: "api"}
)

// builds are the test app's images in a test registry.
type builds struct {
	host                     string
	v1, v2, crash, unhealthy v1.Hash
	commits                  map[v1.Hash]string
	run                      string // marks this test run's processes
}

// setup pushes the builds: v1 answers version=v1 from $VERSION; v2, v1
// plus a layer with /srv/version.txt, reads it from its working directory
// /srv; crash exits with status 3; unhealthy fails /healthz.
func setup(t *testing.T) *builds {
	t.Helper()
	ctx := context.Background()
	b := &builds{host: testreg.New(t), commits: map[v1.Hash]string{}, run: strconv.FormatInt(time.Now().UnixNano(), 36)}
	c := client(t, b.host, nil)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	plain := t.TempDir()
	if err := os.MkdirAll(filepath.Join(plain, "app"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(plain, "app", "server"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	// v2 layers version.txt on top of v1.
	versionFile := t.TempDir()
	if err := os.MkdirAll(filepath.Join(versionFile, "srv"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(versionFile, "srv", "version.txt"), []byte("v2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	push := func(dir, base, commit, workdir string, env ...string) v1.Hash {
		l := &push.Loader{
			Registry: func(host string) (*registry.Client, error) { return registry.New(host, registry.Options{}) },
			Files: push.FilesOptions{
				Base:       base,
				Entrypoint: []string{"/app/server"},
				Env:        append([]string{"TIER_LOCAL_TEST_APP=1"}, env...),
				WorkingDir: workdir,
				Created:    created,
			},
		}
		img, _, err := l.Load(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		d, err := c.Write(ctx, api.Repository, commit, img)
		if err != nil {
			t.Fatal(err)
		}
		b.commits[d] = commit
		return d
	}
	b.v1 = push(plain, "", commit1, "", "VERSION=v1")
	b.v2 = push(versionFile, b.host+"/api@"+b.v1.String(), commit2, "/srv", "VERSION=not-from-the-file")
	b.crash = push(plain, "", commitCrash, "", "VERSION=v3", "MODE=crash")
	b.unhealthy = push(plain, "", commitUnhealthy, "", "VERSION=v4", "MODE=unhealthy")
	return b
}

func client(t *testing.T, host string, rt http.RoundTripper) *registry.Client {
	t.Helper()
	c, err := registry.New(host, registry.Options{Transport: rt})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// environment returns a local environment on a free port.
func (b *builds) environment(t *testing.T, name, health string) config.Environment {
	return config.Environment{Name: name, Tier: "dev", Tenant: "default", Target: config.Target{Local: &config.Local{
		Port: targettest.FreePort(t), Health: health, Env: map[string]string{"TIER_LOCAL_TEST_RUN": b.run, "GORACE": noExitSleep},
	}}}
}

func (b *builds) deployment(env config.Environment, d v1.Hash) target.Deployment {
	return target.Deployment{Environment: env, Service: api, Image: b.host + "/api@" + d.String(),
		Repository: b.host + "/api", Tag: "dev", Digest: d, Commit: b.commits[d]}
}

// stopAtEnd stops env's process when the test ends.
func stopAtEnd(t *testing.T, tg *local.Target, env config.Environment) {
	t.Cleanup(func() {
		if err := tg.Stop(context.Background(), env, api); err != nil {
			t.Errorf("Stop(%s) = %v", env.Name, err)
		}
	})
}

// page is what the app answers on GET /.
type page struct {
	version, env, digest string
	pid                  int
}

func get(t *testing.T, port int) page {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/")
	if err != nil {
		t.Fatalf("GET / on port %d: %v", port, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var p page
	for _, f := range strings.Fields(string(body)) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "version":
			p.version = v
		case "env":
			p.env = v
		case "digest":
			p.digest = v
		case "pid":
			p.pid, _ = strconv.Atoi(v)
		}
	}
	if p.pid == 0 {
		t.Fatalf("GET / on port %d = %q, want version=... pid=...", port, body)
	}
	return p
}

// gone reports whether pid has exited (a zombie has).
func gone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	return i > 0 && len(b) > i+2 && b[i+2] == 'Z'
}

// waitGone waits for pid to exit; a stopped process is reaped in the
// background.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !gone(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still runs", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// apps lists the live processes of this test run in environment env.
func (b *builds) apps(env string) []int {
	dirs, _ := os.ReadDir("/proc")
	var pids []int
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || gone(pid) {
			continue
		}
		environ, err := os.ReadFile("/proc/" + d.Name() + "/environ")
		if err != nil {
			continue
		}
		vars := strings.Split(string(environ), "\x00")
		if contains(vars, "TIER_LOCAL_TEST_RUN="+b.run) && contains(vars, "TIER_ENVIRONMENT="+env) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func observe(t *testing.T, tg *local.Target, env config.Environment) target.Observation {
	t.Helper()
	o, err := tg.Observe(context.Background(), env, api)
	if err != nil {
		t.Fatalf("Observe(%s) error = %v", env.Name, err)
	}
	return o
}

func wantRunning(t *testing.T, o target.Observation, env config.Environment, d v1.Hash) {
	t.Helper()
	if o.State != target.Running || len(o.Running) != 1 || o.Running[0] != d {
		t.Fatalf("Observe(%s) = %s %v (%s), want running [%s]", env.Name, o.State, o.Running, o.Reason, d)
	}
	if want := fmt.Sprintf("http://127.0.0.1:%d/", env.Target.Local.Port); o.URL != want {
		t.Errorf("Observe(%s).URL = %q, want %q", env.Name, o.URL, want)
	}
}

func TestLocal(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	dir := t.TempDir()
	tg := local.New(local.Options{Dir: dir, Registry: client(t, b.host, nil), StopTimeout: 5 * time.Second})
	dev := b.environment(t, "dev", "/healthz")
	stopAtEnd(t, tg, dev)
	port := dev.Target.Local.Port

	var v2pid int
	t.Run("deploy", func(t *testing.T) {
		if err := tg.Deploy(ctx, b.deployment(dev, b.v1)); err != nil {
			t.Fatalf("Deploy(v1) = %v", err)
		}
		if p := get(t, port); p.version != "v1" || p.env != "dev" || p.digest != b.v1.String() {
			t.Errorf("GET / = %+v, want version v1, env dev, digest %s", p, b.v1)
		}
		wantRunning(t, observe(t, tg, dev), dev, b.v1)
	})

	t.Run("redeploy", func(t *testing.T) {
		before := get(t, port)
		if err := tg.Deploy(ctx, b.deployment(dev, b.v2)); err != nil {
			t.Fatalf("Deploy(v2) = %v", err)
		}
		p := get(t, port)
		if p.version != "v2" || p.digest != b.v2.String() {
			t.Errorf("GET / = %+v, want version v2 (from /srv/version.txt), digest %s", p, b.v2)
		}
		waitGone(t, before.pid)
		wantRunning(t, observe(t, tg, dev), dev, b.v2)
		if err := tg.Deploy(ctx, b.deployment(dev, b.v2)); err != nil {
			t.Fatalf("Deploy(v2) again = %v", err)
		}
		if again := get(t, port); again.pid != p.pid {
			t.Errorf("pid after deploying v2 again = %d, want %d (unchanged)", again.pid, p.pid)
		}
		if pids := b.apps("dev"); len(pids) != 1 || pids[0] != p.pid {
			t.Errorf("processes of dev = %v, want [%d]", pids, p.pid)
		}
		v2pid = p.pid
	})

	t.Run("crash restores previous", func(t *testing.T) {
		err := tg.Deploy(ctx, b.deployment(dev, b.crash))
		t.Logf("Deploy(crash) = %v", err)
		var de *target.DeployError
		if !errors.As(err, &de) {
			t.Fatalf("Deploy(crash) = %v, want a *target.DeployError", err)
		}
		if !strings.Contains(de.Reason, "exited with status 3") || de.ExitCode != 3 {
			t.Errorf("Deploy(crash) reason = %q (exit code %d), want it to say exited with status 3", de.Reason, de.ExitCode)
		}
		if !strings.Contains(err.Error(), "crashing on purpose") {
			t.Errorf("Deploy(crash) = %q, want the log line %q", err, "crashing on purpose")
		}
		if de.Restored != b.v2.String() {
			t.Errorf("Deploy(crash) restored = %q, want %s", de.Restored, b.v2)
		}
		if p := get(t, port); p.version != "v2" {
			t.Errorf("GET / after the failed deploy = %+v, want version v2", p)
		}
		o := observe(t, tg, dev)
		if o.State != target.Failed || len(o.Running) != 1 || o.Running[0] != b.v2 {
			t.Errorf("Observe(dev) = %s %v, want failed [%s]", o.State, o.Running, b.v2)
		}
		if !strings.Contains(o.Reason, "exited with status 3") || !strings.Contains(o.Reason, "restored") {
			t.Errorf("Observe(dev).Reason = %q, want the exit status and the restore", o.Reason)
		}
		if pids := b.apps("dev"); len(pids) != 1 {
			t.Errorf("processes of dev = %v, want one", pids)
		}
	})

	t.Run("unhealthy restores previous", func(t *testing.T) {
		// 4s: the unhealthy build times out, and the previous one, started
		// again, must pass within it even on a loaded machine under -race.
		short := local.New(local.Options{Dir: dir, Registry: client(t, b.host, nil), HealthTimeout: 4 * time.Second})
		err := short.Deploy(ctx, b.deployment(dev, b.unhealthy))
		t.Logf("Deploy(unhealthy) = %v", err)
		var de *target.DeployError
		if !errors.As(err, &de) {
			t.Fatalf("Deploy(unhealthy) = %v, want a *target.DeployError", err)
		}
		if !strings.Contains(de.Reason, "health check timed out after 4s") || !strings.Contains(de.Reason, "500") || de.ExitCode != -1 {
			t.Errorf("Deploy(unhealthy) reason = %q (exit code %d), want a timed-out health check answering 500", de.Reason, de.ExitCode)
		}
		if de.Restored != b.v2.String() {
			t.Errorf("Deploy(unhealthy) restored = %q, want %s", de.Restored, b.v2)
		}
		p := get(t, port)
		if p.version != "v2" {
			t.Errorf("GET / after the failed deploy = %+v, want version v2", p)
		}
		o := observe(t, tg, dev)
		if o.State != target.Failed || len(o.Running) != 1 || o.Running[0] != b.v2 || !strings.Contains(o.Reason, "health check timed out") {
			t.Errorf("Observe(dev) = %s %v %q, want failed [%s] with a timed-out health check", o.State, o.Running, o.Reason, b.v2)
		}
		if pids := b.apps("dev"); len(pids) != 1 || pids[0] != p.pid {
			t.Errorf("processes of dev = %v, want [%d]", pids, p.pid)
		}
		v2pid = p.pid
	})

	t.Run("deadline restores previous", func(t *testing.T) {
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		err := tg.Deploy(dctx, b.deployment(dev, b.unhealthy))
		t.Logf("Deploy(unhealthy) with a 1s deadline = %v", err)
		var de *target.DeployError
		if !errors.As(err, &de) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Deploy(unhealthy) with a 1s deadline = %v, want a *target.DeployError wrapping context.DeadlineExceeded", err)
		}
		if de.Restored != b.v2.String() {
			t.Errorf("Deploy(unhealthy) restored = %q, want %s", de.Restored, b.v2)
		}
		p := get(t, port)
		if p.version != "v2" {
			t.Errorf("GET / after the failed deploy = %+v, want version v2", p)
		}
		v2pid = p.pid
	})

	t.Run("deploy after failure", func(t *testing.T) {
		// The restored build is the one asked for: it is marked running
		// again, not restarted.
		if err := tg.Deploy(ctx, b.deployment(dev, b.v2)); err != nil {
			t.Fatalf("Deploy(v2) = %v", err)
		}
		wantRunning(t, observe(t, tg, dev), dev, b.v2)
		if p := get(t, port); p.pid != v2pid {
			t.Errorf("pid after deploying v2 = %d, want %d (unchanged)", p.pid, v2pid)
		}
	})

	t.Run("outlives the CLI", func(t *testing.T) {
		env := b.environment(t, "detached", "tcp")
		stopAtEnd(t, tg, env)
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
		cmd.Env = append(os.Environ(),
			"TIER_LOCAL_TEST_HELPER=1",
			"HELPER_REGISTRY="+b.host,
			"HELPER_DIR="+dir,
			"HELPER_ENV="+env.Name,
			"HELPER_PORT="+strconv.Itoa(env.Target.Local.Port),
			"HELPER_RUN="+b.run,
			"HELPER_DIGEST="+b.v1.String(),
			"HELPER_COMMIT="+commit1,
		)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("helper process deploying v1: %v\n%s", err, out)
		}
		wantRunning(t, observe(t, tg, env), env, b.v1)
		p := get(t, env.Target.Local.Port)
		if p.version != "v1" || p.env != "detached" {
			t.Errorf("GET / = %+v, want version v1 in detached", p)
		}
		if err := tg.Stop(ctx, env, api); err != nil {
			t.Fatalf("Stop(detached) = %v", err)
		}
		waitGone(t, p.pid)
		if o := observe(t, tg, env); o.State != target.NotDeployed || o.Running != nil {
			t.Errorf("Observe(detached) after Stop = %s %v, want not-deployed", o.State, o.Running)
		}
	})

	t.Run("killed by hand", func(t *testing.T) {
		env := b.environment(t, "killed", "/healthz")
		stopAtEnd(t, tg, env)
		if err := tg.Deploy(ctx, b.deployment(env, b.v1)); err != nil {
			t.Fatalf("Deploy(v1) = %v", err)
		}
		p := get(t, env.Target.Local.Port)
		if err := syscall.Kill(p.pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitGone(t, p.pid)
		o := observe(t, tg, env)
		want := fmt.Sprintf("process %d exited", p.pid)
		if o.State != target.Failed || o.Running != nil || !strings.Contains(o.Reason, want) {
			t.Errorf("Observe(killed) = %s %v %q, want failed, nothing running, %q", o.State, o.Running, o.Reason, want)
		}
	})

	t.Run("concurrent deploys", func(t *testing.T) {
		env := b.environment(t, "race", "/healthz")
		stopAtEnd(t, tg, env)
		other := local.New(local.Options{Dir: dir, Registry: client(t, b.host, nil)})
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, d := range []v1.Hash{b.v1, b.v2} {
			tgi := []*local.Target{tg, other}[i]
			wg.Go(func() { errs[i] = tgi.Deploy(ctx, b.deployment(env, d)) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("Deploy #%d = %v", i, err)
			}
		}
		o := observe(t, tg, env)
		if o.State != target.Running || len(o.Running) != 1 || (o.Running[0] != b.v1 && o.Running[0] != b.v2) {
			t.Fatalf("Observe(race) = %s %v, want running v1 or v2", o.State, o.Running)
		}
		p := get(t, env.Target.Local.Port)
		if p.digest != o.Running[0].String() {
			t.Errorf("GET / digest = %s, want %s (what Observe reports)", p.digest, o.Running[0])
		}
		if pids := b.apps("race"); len(pids) != 1 || pids[0] != p.pid {
			t.Errorf("processes of race = %v, want [%d]", pids, p.pid)
		}
	})

	t.Run("unpacks once per digest", func(t *testing.T) {
		counter := testreg.NewCounter(nil)
		fresh := t.TempDir()
		one := local.New(local.Options{Dir: fresh, Registry: client(t, b.host, counter)})
		two := local.New(local.Options{Dir: fresh, Registry: client(t, b.host, counter)})
		a, bb, c := b.environment(t, "once-a", "tcp"), b.environment(t, "once-b", "tcp"), b.environment(t, "once-c", "tcp")
		for _, e := range []config.Environment{a, bb, c} {
			stopAtEnd(t, one, e)
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		wg.Go(func() { errs[0] = one.Deploy(ctx, b.deployment(a, b.v1)) })
		wg.Go(func() { errs[1] = two.Deploy(ctx, b.deployment(bb, b.v1)) })
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("Deploy #%d = %v", i, err)
			}
		}
		if n := counter.Count("GET manifests"); n != 1 {
			t.Errorf("manifest fetches for two concurrent deploys of one digest = %d, want 1", n)
		}
		rootfs := filepath.Join(fresh, "images", "sha256-"+b.v1.Hex, "rootfs")
		before, err := os.Stat(rootfs)
		if err != nil {
			t.Fatal(err)
		}
		counter.Reset()
		if err := one.Deploy(ctx, b.deployment(c, b.v1)); err != nil {
			t.Fatalf("Deploy(v1) to once-c = %v", err)
		}
		if n := counter.Total(); n != 0 {
			t.Errorf("registry requests for a third deploy of one digest = %d, want 0", n)
		}
		after, err := os.Stat(rootfs)
		if err != nil {
			t.Fatal(err)
		}
		if before.Sys().(*syscall.Stat_t).Ino != after.Sys().(*syscall.Stat_t).Ino || !before.ModTime().Equal(after.ModTime()) {
			t.Errorf("rootfs changed between deploys of one digest: inode %d→%d, mtime %s→%s",
				before.Sys().(*syscall.Stat_t).Ino, after.Sys().(*syscall.Stat_t).Ino, before.ModTime(), after.ModTime())
		}
		for _, e := range []config.Environment{a, bb, c} {
			if p := get(t, e.Target.Local.Port); p.version != "v1" || p.env != e.Name {
				t.Errorf("GET / on %s = %+v, want v1 in %s", e.Name, p, e.Name)
			}
		}
		left, _ := filepath.Glob(filepath.Join(fresh, "images", ".tmp-*"))
		if len(left) != 0 {
			t.Errorf("temporary unpack directories left: %v", left)
		}
	})
}

// TestHelperProcess deploys once from a separate process and exits, as the
// tier command does; TestLocal runs it.
func TestHelperProcess(t *testing.T) {
	if os.Getenv("TIER_LOCAL_TEST_HELPER") != "1" {
		return
	}
	c, err := registry.New(os.Getenv("HELPER_REGISTRY"), registry.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	port, _ := strconv.Atoi(os.Getenv("HELPER_PORT"))
	d, err := v1.NewHash(os.Getenv("HELPER_DIGEST"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	env := config.Environment{Name: os.Getenv("HELPER_ENV"), Tier: "dev", Tenant: "default", Target: config.Target{Local: &config.Local{
		Port: port, Health: "tcp", Env: map[string]string{"TIER_LOCAL_TEST_RUN": os.Getenv("HELPER_RUN"), "GORACE": noExitSleep},
	}}}
	tg := local.New(local.Options{Dir: os.Getenv("HELPER_DIR"), Registry: c})
	err = tg.Deploy(context.Background(), target.Deployment{Environment: env, Service: api, Digest: d, Commit: os.Getenv("HELPER_COMMIT")})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}
