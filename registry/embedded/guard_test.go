package embedded

import (
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		method, path string
		want         access
	}{
		{"GET", "/v2/", accessNone},
		{"GET", "/v2/tier/api/manifests/dev", accessExclusive},
		{"HEAD", "/v2/tier/api/manifests/sha256:abc", accessExclusive},
		{"PUT", "/v2/tier/api/manifests/dev", accessExclusive},
		{"GET", "/v2/api/tags/list", accessExclusive},
		{"GET", "/v2/api/referrers/sha256:abc", accessExclusive},
		{"GET", "/v2/tier/api/blobs/sha256:abc", accessShared},
		{"HEAD", "/v2/api/blobs/sha256:abc", accessShared},
		{"POST", "/v2/tier/api/blobs/uploads/", accessExclusive},
		{"DELETE", "/v2/api/blobs/sha256:abc", accessExclusive},
		{"PATCH", "/v2/tier/api/blobs/uploads/0123abc", accessNone},
		{"PUT", "/v2/api/blobs/uploads/0123abc?digest=sha256:abc", accessNone},
		{"GET", "/v2/api/blobs/uploads/0123abc", accessNone},
		{"GET", "/healthz", accessNone},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			if got := classify(httptest.NewRequest(tt.method, tt.path, nil)); got != tt.want {
				t.Errorf("classify(%s %s) = %d, want %d", tt.method, tt.path, got, tt.want)
			}
		})
	}
}

// TestServeConcurrent pushes to new repositories and pulls from them in
// parallel, before and after a restart. Run with -race, it checks the
// guard around olareg's repository state.
func TestServeConcurrent(t *testing.T) {
	const n = 4
	dir := t.TempDir()
	srv := serve(t, dir)
	tagged := func(i int) string { return fmt.Sprintf("tier/svc%d:build%d", i%2, i) }
	imgs := make([]v1.Image, n)
	for i := range imgs {
		img, err := random.Image(64<<10, 3)
		if err != nil {
			t.Fatal(err)
		}
		imgs[i] = img
	}
	var wg sync.WaitGroup
	for i, img := range imgs {
		wg.Go(func() {
			r := ref(t, srv.Addr(), tagged(i))
			if err := remote.Write(r, img, remote.WithContext(t.Context())); err != nil {
				t.Errorf("remote.Write(%s) = %v, want nil", r, err)
			}
		})
	}
	wg.Wait()
	pull := func(addr string) {
		for i, want := range imgs {
			wg.Go(func() {
				r := ref(t, addr, tagged(i))
				img, err := remote.Image(r, remote.WithContext(t.Context()))
				if err != nil {
					t.Errorf("remote.Image(%s) = %v", r, err)
					return
				}
				if err := readLayers(img); err != nil {
					t.Errorf("reading the layers of %s = %v, want nil", r, err)
				}
				got, _ := img.Digest()
				if d, _ := want.Digest(); got != d {
					t.Errorf("remote.Image(%s).Digest() = %s, want %s", r, got, d)
				}
			})
		}
		wg.Wait()
	}
	pull(srv.Addr())
	if err := srv.Close(t.Context()); err != nil {
		t.Fatalf("Close() = %v, want nil", err)
	}
	srv = serve(t, dir)
	pull(srv.Addr())
}

// readLayers reads every layer of img to the end, which checks its digest.
func readLayers(img v1.Image) error {
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, rc)
		if err := errors.Join(err, rc.Close()); err != nil {
			return err
		}
	}
	return nil
}
