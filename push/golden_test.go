package push_test

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tierdeploy/tier/push"
)

// goldenDir writes a fixed tree: nested directories, an empty directory, a
// symlink, a small file and a 3 MiB file of seeded noise (several deflate
// blocks), each with explicit modes so the umask does not matter.
func goldenDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"bin", "srv/static", "empty"} {
		must(os.MkdirAll(filepath.Join(dir, d), 0o755))
		must(os.Chmod(filepath.Join(dir, d), 0o755))
	}
	must(os.Chmod(filepath.Join(dir, "srv"), 0o755))
	noise := make([]byte, 3<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range noise {
		// Half noise, half runs, so the layer compresses partly.
		if i%2048 < 1024 {
			noise[i] = byte(r.Uint32())
		} else {
			noise[i] = byte(i / 2048)
		}
	}
	files := []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{"bin/app", []byte("#!/bin/sh\necho hi\n"), 0o755},
		{"srv/static/index.html", []byte("<h1>v1</h1>"), 0o644},
		{"srv/blob.bin", noise, 0o600},
	}
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		must(os.WriteFile(p, f.data, f.mode))
		must(os.Chmod(p, f.mode))
	}
	must(os.Symlink("static/index.html", filepath.Join(dir, "srv", "current")))
	return dir
}

// The digests below were computed by the in-memory DirLayer this package
// had before layers were streamed through a file (commit faa0bad). Builds
// must be reproducible across tier versions, so they must never change.
const (
	goldenLayerDigest = "sha256:51e953a51d3c7de622e737b622edb2b8a84b916196b68502f19132d9d3dbc6d3"
	goldenDiffID      = "sha256:492f250839c1494fcbe947ee24ba13469278910c54c6f167f0f0ffc619898ced"
	// goldenImageDigest is for amd64: the config names this machine's
	// architecture.
	goldenImageDigest = "sha256:da322c936a9bd95e031a1a16e07737e5f60f86043897585339d46502594dfcf9"
)

func TestDirLayerDigestsAreStable(t *testing.T) {
	dir := goldenDir(t)
	l, err := push.DirLayer(dir, created)
	if err != nil {
		t.Fatal(err)
	}
	d, err := l.Digest()
	if err != nil {
		t.Fatal(err)
	}
	diffID, err := l.DiffID()
	if err != nil {
		t.Fatal(err)
	}
	if d.String() != goldenLayerDigest || diffID.String() != goldenDiffID {
		t.Errorf("DirLayer(golden) = digest %s, diffID %s, want %s, %s", d, diffID, goldenLayerDigest, goldenDiffID)
	}
	if runtime.GOARCH != "amd64" {
		return
	}
	img, _, err := loader(t).Load(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	id, err := img.(v1.Image).Digest()
	if err != nil {
		t.Fatal(err)
	}
	if id.String() != goldenImageDigest {
		t.Errorf("Load(golden) digest = %s, want %s", id, goldenImageDigest)
	}
}

// A directory layer is spooled through a temporary file that is unlinked
// at once: nothing is left in the temporary directory, and the layer still
// reads back.
func TestDirLayerLeavesNoTemporaryFile(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	l, err := push.DirLayer(goldenDir(t), created)
	if err != nil {
		t.Fatal(err)
	}
	if es, err := os.ReadDir(tmp); err != nil || len(es) != 0 {
		t.Errorf("temporary directory after DirLayer = %v, %v, want empty", es, err)
	}
	rc, err := l.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	h, n, err := v1.SHA256(rc)
	if err != nil {
		t.Fatal(err)
	}
	if size, _ := l.Size(); h.String() != goldenLayerDigest || n != size {
		t.Errorf("Compressed() = %s, %d bytes, want %s, %d bytes", h, n, goldenLayerDigest, size)
	}
}
