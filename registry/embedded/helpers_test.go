package embedded

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Environment of the helper process (see TestHelperProcess).
const (
	envHelper = "TIER_EMBEDDED_HELPER" // mode to serve in: "serve" or "session"
	envDir    = "TIER_EMBEDDED_DIR"    // storage directory
	envHold   = "TIER_EMBEDDED_HOLD"   // if set, close after this long and exit 0
)

// TestHelperProcess is not a test: it is the body of the child processes the
// cross-process tests start (the os/exec helper-process pattern). It serves
// the directory, prints the bound address on a line of its own, and runs
// until killed, until its stdin closes (the parent is gone), or for
// TIER_EMBEDDED_HOLD.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(envHelper)
	if mode == "" {
		t.Skip("helper process for the cross-process tests")
	}
	srv, err := ServeWith(context.Background(), os.Getenv(envDir), "127.0.0.1:0", Options{Mode: mode}, nil)
	if err != nil {
		fmt.Printf("ERR %v\n", err)
		os.Exit(1)
	}
	fmt.Println(srv.Addr())
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(3)
	}()
	if hold := os.Getenv(envHold); hold != "" {
		d, err := time.ParseDuration(hold)
		if err != nil {
			os.Exit(4)
		}
		time.Sleep(d)
		if err := srv.Close(context.Background()); err != nil {
			os.Exit(5)
		}
		os.Exit(0)
	}
	select {}
}

// helper is a child process serving a storage directory.
type helper struct {
	cmd    *exec.Cmd
	addr   string
	pid    int
	stderr *bytes.Buffer

	waitOnce sync.Once
	waitErr  error
}

// startHelper starts a child process that serves dir in mode, and kills it
// when the test ends. hold > 0 makes the child close and exit by itself.
func startHelper(t *testing.T, dir, mode string, hold time.Duration) *helper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), envHelper+"="+mode, envDir+"="+dir)
	if hold > 0 {
		cmd.Env = append(cmd.Env, envHold+"="+hold.String())
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	h := &helper{cmd: cmd, stderr: new(bytes.Buffer)}
	cmd.Stdout = w
	cmd.Stderr = h.stderr
	if _, err := cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		w.Close()
		t.Fatalf("starting helper process: %v", err)
	}
	w.Close()
	h.pid = cmd.Process.Pid
	t.Cleanup(func() { h.kill() })

	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(r).ReadString('\n')
		line <- strings.TrimSpace(s)
	}()
	select {
	case s := <-line:
		if s == "" || strings.HasPrefix(s, "ERR ") {
			h.kill()
			t.Fatalf("helper process: %q, stderr: %s", s, h.stderr)
		}
		h.addr = s
	case <-time.After(30 * time.Second):
		h.kill()
		t.Fatalf("helper process printed no address in 30s, stderr: %s", h.stderr)
	}
	return h
}

// wait waits for the child to exit and returns its exit error.
func (h *helper) wait() error {
	h.waitOnce.Do(func() { h.waitErr = h.cmd.Wait() })
	return h.waitErr
}

// kill sends SIGKILL and reaps the child; the kernel has released its lock
// when kill returns.
func (h *helper) kill() {
	if err := h.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		panic(err)
	}
	_ = h.wait()
}

// ref parses a reference to the registry at addr.
func ref(t *testing.T, addr, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(addr+"/"+s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// repo parses a repository on the registry at addr.
func repo(t *testing.T, addr, s string) name.Repository {
	t.Helper()
	r, err := name.NewRepository(addr+"/"+s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// pushRandom pushes a new random image to addr/tagged and returns it.
func pushRandom(t *testing.T, addr, tagged string) v1.Image {
	t.Helper()
	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	r := ref(t, addr, tagged)
	if err := remote.Write(r, img, remote.WithContext(t.Context())); err != nil {
		t.Fatalf("remote.Write(%s) = %v, want nil", r, err)
	}
	return img
}

// checkImage asserts that addr/tagged resolves to exactly img's manifest.
func checkImage(t *testing.T, addr, tagged string, img v1.Image) {
	t.Helper()
	want, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	r := ref(t, addr, tagged)
	desc, err := remote.Get(r, remote.WithContext(t.Context()))
	if err != nil {
		t.Fatalf("remote.Get(%s) = %v, want digest %s", r, err, want)
	}
	if desc.Digest != want {
		t.Errorf("remote.Get(%s).Digest = %s, want %s", r, desc.Digest, want)
	}
	if !bytes.Equal(desc.Manifest, raw) {
		t.Errorf("remote.Get(%s).Manifest = %s, want %s", r, desc.Manifest, raw)
	}
}

// recorder is a slog.Handler that keeps the records at Info and above.
type recorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *recorder) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler           { return r }
func (r *recorder) WithGroup(string) slog.Handler                { return r }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec.Clone())
	return nil
}

// pids returns the "pid" attributes of the records whose message contains msg.
func (r *recorder) pids(msg string) []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var pids []int64
	for _, rec := range r.recs {
		if !strings.Contains(rec.Message, msg) {
			continue
		}
		rec.Attrs(func(a slog.Attr) bool {
			if a.Key == "pid" {
				pids = append(pids, a.Value.Int64())
			}
			return true
		})
	}
	return pids
}
