package embedded

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// serve starts an in-process registry on dir and closes it when the test ends.
func serve(t *testing.T, dir string) *Server {
	t.Helper()
	srv, err := Serve(t.Context(), dir, "127.0.0.1:0", nil)
	if err != nil {
		t.Fatalf("Serve(%s) = %v, want nil", dir, err)
	}
	t.Cleanup(func() {
		if err := srv.Close(context.Background()); err != nil {
			t.Errorf("Close() = %v, want nil", err)
		}
	})
	return srv
}

func TestServeRestart(t *testing.T) {
	dir := t.TempDir()
	srv := serve(t, dir)
	abc := pushRandom(t, srv.Addr(), "tier/api:abc")
	def := pushRandom(t, srv.Addr(), "tier/api:def")
	first := srv.Addr()
	if err := srv.Close(t.Context()); err != nil {
		t.Fatalf("Close() = %v, want nil", err)
	}
	if _, err := os.Stat(filepath.Join(dir, infoFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after Close, stat serve.json = %v, want not exist", err)
	}

	srv = serve(t, dir)
	if srv.Addr() == first {
		t.Logf("second server reused port %s", first)
	}
	checkImage(t, srv.Addr(), "tier/api:abc", abc)
	checkImage(t, srv.Addr(), "tier/api:def", def)
	r := repo(t, srv.Addr(), "tier/api")
	tags, err := remote.List(r, remote.WithContext(t.Context()))
	if err != nil {
		t.Fatalf("remote.List(%s) = %v", r, err)
	}
	slices.Sort(tags)
	if want := []string{"abc", "def"}; !slices.Equal(tags, want) {
		t.Errorf("remote.List(%s) = %q, want %q", r, tags, want)
	}
}

func TestServeLocked(t *testing.T) {
	t.Run("same process", func(t *testing.T) {
		dir := t.TempDir()
		first, err := Serve(t.Context(), dir, "127.0.0.1:0", nil)
		if err != nil {
			t.Fatalf("Serve(%s) = %v, want nil", dir, err)
		}
		_, err = Serve(t.Context(), dir, "127.0.0.1:0", nil)
		checkLocked(t, err, os.Getpid(), first.Addr())
		if err := first.Close(t.Context()); err != nil {
			t.Fatalf("Close() = %v, want nil", err)
		}
		serve(t, dir)
	})

	t.Run("other process", func(t *testing.T) {
		dir := t.TempDir()
		child := startHelper(t, dir, ModeServe, 0)
		_, err := Serve(t.Context(), dir, "127.0.0.1:0", nil)
		checkLocked(t, err, child.pid, child.addr)

		addr, release, err := Open(t.Context(), dir, nil)
		if err != nil {
			t.Fatalf("Open(%s) = %v, want nil", dir, err)
		}
		if addr != child.addr {
			t.Errorf("Open(%s) = %s, want the serving process's %s", dir, addr, child.addr)
		}
		img := pushRandom(t, addr, "tier/api:abc")
		checkImage(t, addr, "tier/api:abc", img)
		if err := release(); err != nil {
			t.Errorf("release() = %v, want nil", err)
		}
		if _, ok := Addr(t.Context(), dir); !ok {
			t.Errorf("after release, Addr(%s) = _, false, want the serving process still up", dir)
		}

		child.kill()
		srv := serve(t, dir)
		checkImage(t, srv.Addr(), "tier/api:abc", img)
	})
}

// checkLocked asserts err is a *LockedError naming pid and addr.
func checkLocked(t *testing.T, err error, pid int, addr string) {
	t.Helper()
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("Serve(locked dir) = %v, want %v", err, ErrLocked)
	}
	for _, want := range []string{fmt.Sprintf("pid %d", pid), addr, "stop that process or use its address"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Serve(locked dir) = %q, want it to contain %q", err, want)
		}
	}
	var le *LockedError
	if !errors.As(err, &le) || le.Holder == nil {
		t.Fatalf("Serve(locked dir) = %#v, want a *LockedError with a holder", err)
	}
	if le.Holder.PID != pid || le.Holder.Addr != addr || le.Holder.Mode != ModeServe {
		t.Errorf("Serve(locked dir).Holder = %+v, want pid %d, addr %s, mode %s", *le.Holder, pid, addr, ModeServe)
	}
}

func TestServeAddr(t *testing.T) {
	const refusal = "bind to 127.0.0.1, or pass --public to expose the registry"
	tests := []struct {
		name   string
		addr   string
		remote bool
		refuse bool
	}{
		{name: "loopback", addr: "127.0.0.1:0"},
		{name: "localhost", addr: "localhost:0"},
		{name: "all IPv4 interfaces", addr: "0.0.0.0:0", refuse: true},
		{name: "all interfaces", addr: ":0", refuse: true},
		{name: "all IPv6 interfaces", addr: "[::]:0", refuse: true},
		{name: "other host", addr: "192.0.2.1:0", refuse: true},
		{name: "all interfaces with AllowRemote", addr: "0.0.0.0:0", remote: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			srv, err := ServeWith(t.Context(), dir, tt.addr, Options{AllowRemote: tt.remote}, nil)
			if tt.refuse {
				if !errors.Is(err, ErrNotLoopback) || !strings.Contains(err.Error(), refusal) {
					t.Fatalf("ServeWith(%q, AllowRemote: %v) = %v, want %v saying %q", tt.addr, tt.remote, err, ErrNotLoopback, refusal)
				}
				return
			}
			if err != nil {
				t.Fatalf("ServeWith(%q, AllowRemote: %v) = %v, want nil", tt.addr, tt.remote, err)
			}
			defer srv.Close(context.Background())
			info, err := readInfo(dir)
			if err != nil {
				t.Fatalf("readInfo(%s) = %v", dir, err)
			}
			if !strings.HasPrefix(info.Addr, "127.0.0.1:") {
				t.Errorf("serve.json addr = %q, want 127.0.0.1:port", info.Addr)
			}
			if got, ok := Addr(t.Context(), dir); !ok || got != info.Addr {
				t.Errorf("Addr(%s) = %q, %v, want %q, true", dir, got, ok, info.Addr)
			}
		})
	}
}

func TestServeInfo(t *testing.T) {
	dir := t.TempDir()
	// A serve.json left by a process that was killed: pid 2^22+1 is above
	// Linux's largest pid_max, so no such process exists.
	stale := Info{Addr: "127.0.0.1:1", PID: 1<<22 + 1, Mode: ModeServe}
	if err := writeInfo(dir, stale); err != nil {
		t.Fatal(err)
	}
	if addr, ok := Addr(t.Context(), dir); ok {
		t.Errorf("Addr(dir with stale serve.json) = %q, true, want false", addr)
	}

	srv := serve(t, dir)
	info, err := readInfo(dir)
	if err != nil {
		t.Fatalf("readInfo(%s) = %v", dir, err)
	}
	if info.PID != os.Getpid() || info.Addr != srv.Addr() || info.Mode != ModeServe || info.Started.IsZero() {
		t.Errorf("serve.json = %+v, want pid %d, addr %s, mode %s, a start time", info, os.Getpid(), srv.Addr(), ModeServe)
	}
	if got, ok := Addr(t.Context(), dir); !ok || got != srv.Addr() {
		t.Errorf("Addr(%s) = %q, %v, want %q, true", dir, got, ok, srv.Addr())
	}
}

func TestServeClose(t *testing.T) {
	tests := []struct {
		name string
		stop func(context.CancelFunc, *Server) error
	}{
		{"Close", func(_ context.CancelFunc, s *Server) error { return s.Close(context.Background()) }},
		{"Close twice", func(_ context.CancelFunc, s *Server) error {
			return errors.Join(s.Close(context.Background()), s.Close(context.Background()))
		}},
		{"context cancelled", func(cancel context.CancelFunc, s *Server) error { cancel(); return s.Wait() }},
		{"Close with an unused connection", func(_ context.CancelFunc, s *Server) error {
			// http.Server.Shutdown alone waits 5s for a connection that
			// never sends a request, past this deadline.
			c, err := net.Dial("tcp", s.Addr())
			if err != nil {
				return err
			}
			defer c.Close()
			for accepted := false; !accepted; time.Sleep(time.Millisecond) {
				s.mu.Lock()
				accepted = len(s.fresh) > 0
				s.mu.Unlock()
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			return s.Close(ctx)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			srv, err := Serve(ctx, dir, "127.0.0.1:0", nil)
			if err != nil {
				t.Fatalf("Serve(%s) = %v, want nil", dir, err)
			}
			if err := tt.stop(cancel, srv); err != nil {
				t.Errorf("stopping = %v, want nil", err)
			}
			<-srv.Done()
			if err := srv.Wait(); err != nil {
				t.Errorf("Wait() = %v, want nil", err)
			}
			if _, err := os.Stat(filepath.Join(dir, infoFile)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("stat serve.json = %v, want not exist", err)
			}
			if answers(t.Context(), srv.Addr()) {
				t.Errorf("answers(%s) = true after stop, want false", srv.Addr())
			}
			serve(t, dir) // the lock was released
		})
	}
}
