package config

import (
	"bytes"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// loadGuarded runs Load(path) and fails the test if it has not returned
// within 10 seconds, long after a correct Load has. unblock, when given,
// then lets a blocked Load return, so the test itself cannot hang.
func loadGuarded(t *testing.T, path string, unblock func()) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := Load(path)
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		if unblock != nil {
			unblock()
		}
		t.Fatalf("Load(%s) has not returned after 10s", path)
		return nil
	}
}

func TestLoadRefusesWhatIsNotARegularFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "s.yaml")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tests := []struct {
		name, path string
		msg        string
		unblock    func()
	}{
		{"directory", dir, dir + ": is a directory, not a configuration file: name the file in it, for example --config " + filepath.Join(dir, "tier.yaml"), nil},
		{"fifo", fifo, fifo + ": is a named pipe (FIFO), not a regular file: tier reads its configuration only from a regular file of at most 1 MiB (1048576 bytes)", func() {
			// A writer that closes at once ends a blocked read.
			if f, err := os.OpenFile(fifo, os.O_RDWR, 0); err == nil {
				f.Close()
			}
		}},
		{"socket", sock, sock + ": is a socket, not a regular file: tier reads its configuration only from a regular file of at most 1 MiB", nil},
		{"endless device", "/dev/zero", "/dev/zero: is a character device, not a regular file: tier reads its configuration only from a regular file of at most 1 MiB", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := os.Stat(tt.path); err != nil {
				t.Skip(err)
			}
			err := loadGuarded(t, tt.path, tt.unblock)
			if !errors.Is(err, ErrInvalid) || errors.Is(err, ErrNotFound) {
				t.Errorf("Load(%s) = %v, want an error matching ErrInvalid only", tt.path, err)
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.msg) {
				t.Errorf("Load(%s) = %v, want %q...", tt.path, err, tt.msg)
			}
		})
	}
}

func TestLoadSizeBound(t *testing.T) {
	dir := t.TempDir()
	// A valid file of exactly MaxFileSize bytes is read.
	exact := append(Sample(), '#')
	exact = append(exact, bytes.Repeat([]byte{' '}, MaxFileSize-len(exact)-1)...)
	exact = append(exact, '\n')
	path := filepath.Join(dir, "exact.yaml")
	if err := os.WriteFile(path, exact, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err != nil {
		t.Errorf("Load(a file of MaxFileSize bytes) = %v, want no error", err)
	}
	// One byte more is refused, without the content being parsed.
	path = filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(path, append(exact, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	want := path + ": is 1048577 bytes, larger than 1 MiB (1048576 bytes), the most a configuration file may hold: a tier.yaml is a few kilobytes"
	if !errors.Is(err, ErrInvalid) || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Load(a file of MaxFileSize+1 bytes) = %v, want ErrInvalid and %q...", err, want)
	}
	// Parse has the same bound.
	_, err = Parse("tier.yaml", make([]byte, MaxFileSize+1))
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "larger than 1 MiB") {
		t.Errorf("Parse(MaxFileSize+1 bytes) = %v, want ErrInvalid naming the 1 MiB bound", err)
	}
}

func TestLoadFollowsSymlinks(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "real.yaml")
	if err := os.WriteFile(path, Sample(), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "tier.yaml")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(link); err != nil {
		t.Errorf("Load(a symlink to a valid file) = %v, want no error", err)
	}
}
