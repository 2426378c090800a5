package local

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/target"
)

// entry is one tar entry of a test layer.
type entry struct {
	name, body, link string
	typ              byte
	mode             int64
}

func layer(t *testing.T, entries ...entry) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Linkname: e.link, Size: int64(len(e.body)), ModTime: time.Unix(1600000000, 0)}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	b := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestUnpack(t *testing.T) {
	lower := layer(t,
		entry{name: "etc/", typ: tar.TypeDir, mode: 0o755},
		entry{name: "etc/config", typ: tar.TypeReg, body: "old", mode: 0o644},
		entry{name: "etc/removed", typ: tar.TypeReg, body: "x", mode: 0o644},
		entry{name: "bin/busybox", typ: tar.TypeReg, body: "#!", mode: 0o4755},
		entry{name: "bin/sh", typ: tar.TypeSymlink, link: "busybox"},
		entry{name: "opaque/", typ: tar.TypeDir, mode: 0o755},
		entry{name: "opaque/old", typ: tar.TypeReg, body: "x", mode: 0o644},
		entry{name: "ro/", typ: tar.TypeDir, mode: 0o555},
		entry{name: "ro/file", typ: tar.TypeReg, body: "r", mode: 0o444},
	)
	upper := layer(t,
		entry{name: "etc/config", typ: tar.TypeReg, body: "new", mode: 0o600},
		entry{name: "etc/.wh.removed", typ: tar.TypeReg},
		entry{name: "opaque/.wh..wh..opq", typ: tar.TypeReg},
		entry{name: "opaque/new", typ: tar.TypeReg, body: "n", mode: 0o644},
		// A hard link to a file of the lower layer, which Extract emits later.
		entry{name: "usr/bin/busybox", typ: tar.TypeLink, link: "bin/busybox"},
		entry{name: "deep/nested/file", typ: tar.TypeReg, body: "d", mode: 0o755},
	)
	img, err := mutate.AppendLayers(empty.Image, lower, upper)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "rootfs")
	if err := unpack(context.Background(), img, dir, "/srv/app"); err != nil {
		t.Fatalf("unpack = %v", err)
	}
	t.Cleanup(func() { removeAll(dir) })

	files := map[string]string{"etc/config": "new", "opaque/new": "n", "ro/file": "r", "deep/nested/file": "d", "bin/busybox": "#!", "usr/bin/busybox": "#!"}
	for name, want := range files {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(b) != want {
			t.Errorf("ReadFile(%s) = %q, %v, want %q", name, b, err, want)
		}
	}
	for _, name := range []string{"etc/removed", "opaque/old", "etc/.wh.removed", "opaque/.wh..wh..opq"} {
		if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
			t.Errorf("Lstat(%s) found it, want it absent", name)
		}
	}
	modes := map[string]os.FileMode{"etc/config": 0o600, "bin/busybox": 0o755, "ro": os.ModeDir | 0o555, "ro/file": 0o444, "deep/nested/file": 0o755, "srv/app": os.ModeDir | 0o755}
	for name, want := range modes {
		fi, err := os.Lstat(filepath.Join(dir, name))
		if err != nil || fi.Mode() != want {
			t.Errorf("Lstat(%s).Mode() = %v, %v, want %v", name, fi.Mode(), err, want)
		}
	}
	if link, err := os.Readlink(filepath.Join(dir, "bin/sh")); err != nil || link != "busybox" {
		t.Errorf("Readlink(bin/sh) = %q, %v, want busybox", link, err)
	}
	a, _ := os.Stat(filepath.Join(dir, "bin/busybox"))
	b, _ := os.Stat(filepath.Join(dir, "usr/bin/busybox"))
	if !os.SameFile(a, b) {
		t.Errorf("usr/bin/busybox is not a hard link of bin/busybox")
	}
}

func TestReadStat(t *testing.T) {
	st, err := readStat(os.Getpid())
	if err != nil {
		t.Fatalf("readStat(self) = %v", err)
	}
	if st.start == 0 || st.pgrp != syscall.Getpgrp() || strings.IndexByte("RSD", st.state) < 0 {
		t.Errorf("readStat(self) = %+v, want a start time, group %d, state R, S or D", st, syscall.Getpgrp())
	}
	if !alive(os.Getpid(), st.start) {
		t.Errorf("alive(self, %d) = false, want true", st.start)
	}
	if alive(os.Getpid(), st.start+1) {
		t.Errorf("alive(self, %d) = true, want false (another start time: a reused pid)", st.start+1)
	}
	if alive(0, 0) {
		t.Errorf("alive(0, 0) = true, want false")
	}
}

func TestTailLog(t *testing.T) {
	file := filepath.Join(t.TempDir(), "app.log")
	old := "==> earlier run\nold line\n"
	var lines []string
	for i := range 15 {
		lines = append(lines, strings.Repeat("x", i))
	}
	os.WriteFile(file, []byte(old+strings.Join(lines, "\n")+"\n"), 0o644)
	got := tailLog(file, int64(len(old)), 10)
	if strings.Join(got, "|") != strings.Join(lines[5:], "|") {
		t.Errorf("tailLog(file, %d, 10) = %q, want %q", len(old), got, lines[5:])
	}
	if got := tailLog(file, int64(len(old)+len(strings.Join(lines, "\n"))+1), 10); got != nil {
		t.Errorf("tailLog(file, end, 10) = %q, want nothing", got)
	}
}

func TestObserveWhileDeploying(t *testing.T) {
	tg := New(Options{Dir: t.TempDir()})
	env := config.Environment{Name: "dev", Target: config.Target{Local: &config.Local{Port: 1, Health: "tcp"}}}
	svc := config.Service{Name: "api", Repository: "api"}
	if o, err := tg.Observe(context.Background(), env, svc); err != nil || o.State != target.NotDeployed {
		t.Fatalf("Observe(dev) = %+v, %v, want not-deployed", o, err)
	}
	f, _ := tg.files("dev", "api")
	unlock, err := lock(context.Background(), f.lock)
	if err != nil {
		t.Fatal(err)
	}
	if o, err := tg.Observe(context.Background(), env, svc); err != nil || o.State != target.Deploying {
		t.Errorf("Observe(dev) while the deploy lock is held = %+v, %v, want deploying", o, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := tg.Stop(ctx, env, svc); err == nil {
		t.Errorf("Stop(dev) while the deploy lock is held = nil, want an error once ctx ends")
	}
	unlock()
	if o, err := tg.Observe(context.Background(), env, svc); err != nil || o.State != target.NotDeployed {
		t.Errorf("Observe(dev) after the lock is released = %+v, %v, want not-deployed", o, err)
	}
}

// One failed health probe is not a verdict: Observe of a running process
// whose first probe is refused (as while the app restarts) reports it
// running; one whose probes all fail reports it failing.
func TestObserveRetriesAFailedProbe(t *testing.T) {
	var probes, failFirst atomic.Int32
	failFirst.Store(1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if probes.Add(1) <= failFirst.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	tg := New(Options{Dir: t.TempDir(), HealthInterval: time.Millisecond})
	env := config.Environment{Name: "dev", Target: config.Target{Local: &config.Local{Port: port, Health: "/healthz"}}}
	svc := config.Service{Name: "api", Repository: "api"}
	f, _ := tg.files("dev", "api")
	if err := os.MkdirAll(filepath.Dir(f.state), 0o755); err != nil {
		t.Fatal(err)
	}
	// This test process stands for the app: it is alive.
	st, err := readStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	digest := "sha256:" + strings.Repeat("a", 64)
	if err := writeState(f.state, &state{PID: os.Getpid(), StartTime: st.start, Digest: digest, Port: port, Status: statusRunning}); err != nil {
		t.Fatal(err)
	}
	if o, err := tg.Observe(context.Background(), env, svc); err != nil || o.State != target.Running {
		t.Errorf("Observe(dev) with one failed probe = %+v, %v, want running", o, err)
	}
	probes.Store(0)
	failFirst.Store(observeProbes)
	if o, err := tg.Observe(context.Background(), env, svc); err != nil || o.State != target.Failed || !strings.Contains(o.Reason, "health check failing") {
		t.Errorf("Observe(dev) with every probe failing = %+v, %v, want failed", o, err)
	}
}
