package embedded

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// TestCrash kills the process serving a directory in the middle of a push,
// then serves the directory again in this process and checks that nothing
// half-written is visible and nothing complete was lost.
func TestCrash(t *testing.T) {
	tests := []struct {
		name string
		// crash starts a push to child, kills child part way through, and
		// returns a check to run against the restarted registry.
		crash func(t *testing.T, dir string, child *helper) func(t *testing.T, addr string)
	}{
		{"manifest put", crashManifestPut},
		{"blob upload", crashBlobUpload},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			child := startHelper(t, dir, ModeServe, 0)
			done := pushRandom(t, child.addr, "tier/api:done")
			check := tt.crash(t, dir, child)

			checkIndexes(t, dir)
			srv := serve(t, dir)
			checkImage(t, srv.Addr(), "tier/api:done", done)
			check(t, srv.Addr())
			if info, err := readInfo(dir); err != nil || info.PID != os.Getpid() {
				t.Errorf("serve.json after restart = %+v, %v, want pid %d", info, err, os.Getpid())
			}
			// The new owner removed what the killed upload left behind.
			filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() && filepath.Base(filepath.Dir(p)) == "_uploads" {
					t.Errorf("abandoned upload %s still on disk after restart", strings.TrimPrefix(p, dir))
				}
				return nil
			})
		})
	}
}

// crashManifestPut pushes an image's blobs, then kills the child while the
// manifest PUT for tag "half" has sent half its body.
func crashManifestPut(t *testing.T, dir string, child *helper) func(*testing.T, string) {
	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	r := repo(t, child.addr, "tier/api")
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := partial.ConfigLayer(img)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range append(layers, cfg) {
		if err := remote.WriteLayer(r, l, remote.WithContext(t.Context())); err != nil {
			t.Fatalf("remote.WriteLayer(%s) = %v", r, err)
		}
	}
	raw, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	mt, err := img.MediaType()
	if err != nil {
		t.Fatal(err)
	}

	pr, pw := io.Pipe()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, "http://"+child.addr+"/v2/tier/api/manifests/half", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", string(mt))
	res := make(chan error, 1)
	go func() { res <- do(req, http.StatusCreated) }()
	if _, err := pw.Write(raw[:len(raw)/2]); err != nil {
		t.Fatalf("writing half the manifest: %v", err)
	}
	// An empty write returns once the transport has read again, that is
	// after it sent the half as a chunk and flushed it.
	if _, err := pw.Write(nil); err != nil {
		t.Fatalf("flushing half the manifest: %v", err)
	}
	child.kill()
	pw.Close()
	if err := <-res; err == nil {
		t.Fatalf("PUT half a manifest to a killed registry = nil, want an error")
	}

	dig, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return func(t *testing.T, addr string) {
		for _, s := range []string{"tier/api:half", "tier/api@" + dig.String()} {
			_, err := remote.Head(ref(t, addr, s), remote.WithContext(t.Context()))
			if code := statusCode(err); code != http.StatusNotFound {
				t.Errorf("remote.Head(%s) = %v (status %d), want status 404", s, err, code)
			}
		}
	}
}

// crashBlobUpload streams a 32 MiB blob slowly and kills the child once a
// quarter of it is on disk.
func crashBlobUpload(t *testing.T, dir string, child *helper) func(*testing.T, string) {
	const size, chunk = 32 << 20, 1 << 20
	blob := make([]byte, size)
	_, _ = rand.NewChaCha8([32]byte{'t', 'i', 'e', 'r'}).Read(blob)
	dig := v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", sha256.Sum256(blob))}

	base := "http://" + child.addr + "/v2/tier/api/blobs/uploads/"
	post, err := http.NewRequestWithContext(t.Context(), http.MethodPost, base, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(post)
	if err != nil {
		t.Fatalf("POST %s = %v", base, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST %s = %s, want 202", base, resp.Status)
	}
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("POST %s Location = %v", base, err)
	}

	pr, pw := io.Pipe()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPatch, loc.String(), pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	res := make(chan error, 1)
	go func() { res <- do(req, http.StatusAccepted) }()
	for off := 0; off < size/4; off += chunk {
		if _, err := pw.Write(blob[off : off+chunk]); err != nil {
			t.Fatalf("writing blob at %d: %v", off, err)
		}
	}
	// Wait until the registry has written a good part of it to disk.
	uploads := filepath.Join(dir, "tier", "api", "_uploads")
	for deadline := time.Now().Add(30 * time.Second); uploaded(uploads) < size/8; {
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %d bytes after 30s, want %d", uploads, uploaded(uploads), size/8)
		}
		time.Sleep(10 * time.Millisecond)
	}
	child.kill()
	pw.CloseWithError(errors.New("registry killed"))
	if err := <-res; err == nil {
		t.Fatalf("PATCH to a killed registry = nil, want an error")
	}

	return func(t *testing.T, addr string) {
		u := &url.URL{Scheme: "http", Host: addr, Path: "/v2/tier/api/blobs/" + dig.String()}
		req, err := http.NewRequestWithContext(t.Context(), http.MethodHead, u.String(), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("HEAD %s = %v", u, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("HEAD %s = %s, want 404", u, resp.Status)
		}
	}
}

// do sends req and returns an error unless the response has status want.
func do(req *http.Request, want int) error {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s = %s, want %d", req.Method, req.URL, resp.Status, want)
	}
	return nil
}

// uploaded returns the bytes in the upload files under dir.
func uploaded(dir string) int64 {
	var n int64
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if fi, err := e.Info(); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// statusCode returns the HTTP status in a go-containerregistry error, or 0.
func statusCode(err error) int {
	var terr *transport.Error
	if errors.As(err, &terr) {
		return terr.StatusCode
	}
	return 0
}

// checkIndexes asserts that every index.json under dir is complete JSON.
func checkIndexes(t *testing.T, dir string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "index.json" {
			return err
		}
		n++
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if !json.Valid(b) {
			t.Errorf("%s is not valid JSON: %q", path, b)
		}
		if bytes.Contains(b, []byte(`"half"`)) {
			t.Errorf("%s names the tag whose push was killed: %s", path, b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Errorf("no index.json under %s, want one per repository", dir)
	}
}
