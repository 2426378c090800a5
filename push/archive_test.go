package push_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/tierdeploy/tier/internal/testreg"
	"github.com/tierdeploy/tier/push"
)

// writePlainArchive writes img as docker save did before Docker 25: a
// manifest.json, the config, and each layer as an uncompressed tar.
func writePlainArchive(t *testing.T, path string, img v1.Image) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name string, data []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	add("config.json", cfg)
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for i, l := range ls {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("l%d/layer.tar", i)
		names = append(names, name)
		add(name, data)
	}
	m, err := json.Marshal([]tarball.Descriptor{{Config: "config.json", RepoTags: []string{"app:latest"}, Layers: names}})
	if err != nil {
		t.Fatal(err)
	}
	add("manifest.json", m)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// An archive with uncompressed layers loads as the image go-containerregistry
// reads from it, byte for byte: the same manifest, the same layer blobs.
func TestLoadPlainArchiveIsUnchanged(t *testing.T) {
	ctx := context.Background()
	img, err := random.Image(300_000, 3)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "plain.tar")
	writePlainArchive(t, path, img)
	want, err := tarball.ImageFromPath(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, kind, err := loader(t).Load(ctx, path)
	if err != nil || kind != push.KindTarball {
		t.Fatalf("Load(%s) = %s, %v, want a docker-archive", path, kind, err)
	}
	gotImg := got.(v1.Image)
	gm, err := gotImg.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	wm, err := want.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gm, wm) {
		t.Errorf("Load(plain archive) manifest =\n%s\nwant\n%s", gm, wm)
	}
	gd, _ := gotImg.Digest()
	wd, _ := want.Digest()
	if gd != wd {
		t.Errorf("Load(plain archive) digest = %s, want %s", gd, wd)
	}
	wls, _ := want.Layers()
	for i, wl := range wls {
		wdg, _ := wl.Digest()
		gl, err := gotImg.LayerByDigest(wdg)
		if err != nil {
			t.Fatalf("LayerByDigest(%s) error = %v", wdg, err)
		}
		gb := readAll(t, gl.Compressed)
		wb := readAll(t, wl.Compressed)
		if !bytes.Equal(gb, wb) {
			t.Errorf("layer %d compressed bytes differ (%d and %d bytes)", i, len(gb), len(wb))
		}
		if u, w := readAll(t, gl.Uncompressed), readAll(t, wl.Uncompressed); !bytes.Equal(u, w) {
			t.Errorf("layer %d uncompressed bytes differ", i)
		}
		if h, n, _ := v1.SHA256(bytes.NewReader(gb)); h != wdg || n != mustSize(t, gl) {
			t.Errorf("layer %d compressed bytes = %s, %d bytes, want digest %s, Size() %d", i, h, n, wdg, mustSize(t, gl))
		}
		diffID, _ := wl.DiffID()
		if g, _ := gl.DiffID(); g != diffID {
			t.Errorf("layer %d DiffID() = %s, want %s", i, g, diffID)
		}
		if l, err := gotImg.LayerByDiffID(diffID); err != nil || l != gl {
			t.Errorf("LayerByDiffID(%s) = %v, %v, want the layer of digest %s", diffID, l, err, wdg)
		}
	}
	cfg, _ := want.ConfigName()
	if _, err := gotImg.LayerByDigest(cfg); err != nil {
		t.Errorf("LayerByDigest(config %s) error = %v", cfg, err)
	}

	// Pushed, it is the image go-containerregistry would have pushed.
	host := testreg.New(t)
	c := client(t, host)
	a, err := push.Push(ctx, c, gotImg, push.Request{Repository: "spooled", Commit: commit, Created: created})
	if err != nil {
		t.Fatal(err)
	}
	b, err := push.Push(ctx, c, want, push.Request{Repository: "plain", Commit: commit, Created: created})
	if err != nil {
		t.Fatal(err)
	}
	if a.Digest != b.Digest {
		t.Errorf("pushed digest = %s, want %s as pushed from the archive directly", a.Digest, b.Digest)
	}
	pulled, err := remote.Image(mustRef(t, host+"/spooled:"+commit))
	if err != nil {
		t.Fatal(err)
	}
	pls, err := pulled.Layers()
	if err != nil || len(pls) != len(wls) {
		t.Fatalf("pushed layers = %d, %v, want %d", len(pls), err, len(wls))
	}
	for i, pl := range pls {
		if g, w := readAll(t, pl.Compressed), readAll(t, wls[i].Compressed); !bytes.Equal(g, w) {
			t.Errorf("pushed layer %d differs from the archive's", i)
		}
	}
}

func mustSize(t *testing.T, l v1.Layer) int64 {
	t.Helper()
	n, err := l.Size()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func readAll(t *testing.T, open func() (io.ReadCloser, error)) []byte {
	t.Helper()
	rc, err := open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
