package embedded

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

const waitingMsg = "waiting for another tier process"

func TestOpen(t *testing.T) {
	t.Run("free directory starts a session", func(t *testing.T) {
		dir := t.TempDir()
		addr, release, err := Open(t.Context(), dir, nil)
		if err != nil {
			t.Fatalf("Open(%s) = %v, want nil", dir, err)
		}
		info, err := readInfo(dir)
		if err != nil {
			t.Fatalf("readInfo(%s) = %v", dir, err)
		}
		if want := (Info{Addr: addr, PID: os.Getpid(), Mode: ModeSession, Started: info.Started}); info != want {
			t.Errorf("serve.json = %+v, want %+v", info, want)
		}
		img := pushRandom(t, addr, "tier/api:abc")
		checkImage(t, addr, "tier/api:abc", img)
		if err := release(); err != nil {
			t.Errorf("release() = %v, want nil", err)
		}
		if _, err := os.Stat(filepath.Join(dir, infoFile)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("after release, stat serve.json = %v, want not exist", err)
		}
		if answers(t.Context(), addr) {
			t.Errorf("after release, answers(%s) = true, want false", addr)
		}
		if err := release(); err != nil {
			t.Errorf("second release() = %v, want nil", err)
		}
		srv := serve(t, dir)
		checkImage(t, srv.Addr(), "tier/api:abc", img)
	})

	t.Run("serve process running", func(t *testing.T) {
		dir := t.TempDir()
		srv := serve(t, dir)
		addr, release, err := Open(t.Context(), dir, nil)
		if err != nil || addr != srv.Addr() {
			t.Fatalf("Open(%s) = %q, %v, want %q, nil", dir, addr, err, srv.Addr())
		}
		if err := release(); err != nil {
			t.Errorf("release() = %v, want nil", err)
		}
		if !answers(t.Context(), srv.Addr()) {
			t.Errorf("after release, answers(%s) = false, want the server still up", srv.Addr())
		}
	})

	t.Run("session in another process", func(t *testing.T) {
		dir := t.TempDir()
		child := startHelper(t, dir, ModeSession, time.Second)
		rec := &recorder{}
		addr, release, err := Open(t.Context(), dir, slog.New(rec))
		if err != nil {
			t.Fatalf("Open(%s) = %v, want nil", dir, err)
		}
		defer release()
		if got, want := rec.pids(waitingMsg), []int64{int64(child.pid)}; !slices.Equal(got, want) {
			t.Errorf("Open(%s) logged %q with pids %v, want %v", dir, waitingMsg, got, want)
		}
		if err := child.wait(); err != nil {
			t.Errorf("session process exit = %v, want nil (%s)", err, child.stderr)
		}
		if addr == child.addr {
			t.Errorf("Open(%s) = %s, the finished session's address, want a new one", dir, addr)
		}
		if info, err := readInfo(dir); err != nil || info.PID != os.Getpid() || info.Mode != ModeSession {
			t.Errorf("serve.json = %+v, %v, want pid %d, mode %s", info, err, os.Getpid(), ModeSession)
		}
		if !answers(t.Context(), addr) {
			t.Errorf("answers(%s) = false, want true", addr)
		}
	})

	t.Run("context ends while waiting", func(t *testing.T) {
		dir := t.TempDir()
		holder, err := ServeWith(t.Context(), dir, "127.0.0.1:0", Options{Mode: ModeSession}, nil)
		if err != nil {
			t.Fatalf("ServeWith(%s, session) = %v, want nil", dir, err)
		}
		defer holder.Close(context.Background())
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		rec := &recorder{}
		addr, _, err := Open(ctx, dir, slog.New(rec))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Open(%s) = %q, %v, want %v", dir, addr, err, context.DeadlineExceeded)
		}
		if got, want := rec.pids(waitingMsg), []int64{int64(os.Getpid())}; !slices.Equal(got, want) {
			t.Errorf("Open(%s) logged %q with pids %v, want %v", dir, waitingMsg, got, want)
		}
	})
}
