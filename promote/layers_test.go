package promote_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/internal/testreg"
	"github.com/tierdeploy/tier/promote"
	"github.com/tierdeploy/tier/registry"
	"github.com/tierdeploy/tier/tags"
)

// bigLayerSize is the size of the one random file in the test image's one
// layer; random bytes do not compress, so the layer blob is at least as big.
const bigLayerSize = 64 << 20

// Two builds of the same 64 MiB image, told apart by their revision
// annotation.
const (
	commitA = "0123456789abcdef0123456789abcdef01234567"
	commitB = "89abcdef0123456789abcdef0123456789abcdef"
)

// released is the clock release tags are cut with.
var released = time.Date(2020, 11, 12, 10, 30, 0, 0, time.UTC)

// bigBase is an OCI image with one layer: a tar holding bigLayerSize
// pseudo-random bytes, gzipped once and kept in memory so every push
// streams the same blob without compressing it again.
var bigBase = sync.OnceValues(func() (v1.Image, error) {
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Name: "random.bin", Mode: 0o644, Size: bigLayerSize, Typeflag: tar.TypeReg, ModTime: released}); err != nil {
		return nil, err
	}
	rng := rand.NewChaCha8([32]byte{'t', 'i', 'e', 'r'})
	if _, err := io.CopyN(tw, rng, bigLayerSize); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	blob := gz.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(blob)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	return mutate.AppendLayers(img, layer)
})

// bigBuild returns the 64 MiB image annotated as `tier push` annotates the
// build of commit.
func bigBuild(tb testing.TB, commit string) v1.Image {
	tb.Helper()
	base, err := bigBase()
	if err != nil {
		tb.Fatalf("building the 64 MiB image: %v", err)
	}
	return mutate.Annotations(base, map[string]string{
		registry.AnnotationRevision: commit,
		registry.AnnotationCreated:  released.Format(time.RFC3339),
	}).(v1.Image)
}

// newClient returns a client for host over rt (nil: an uncounted
// transport).
func newClient(tb testing.TB, host string, rt http.RoundTripper) *registry.Client {
	tb.Helper()
	c, err := registry.New(host, registry.Options{Transport: rt})
	if err != nil {
		tb.Fatalf("registry.New(%q) = %v", host, err)
	}
	return c
}

// ladder is one service with a mutable dev tier and a release prod tier
// fed from dev.
func ladder() *config.Config {
	return &config.Config{
		Services: []config.Service{{Name: "api", Repository: "api"}},
		Tiers:    []config.Tier{{Name: "dev", Tag: "dev"}, {Name: "prod", Release: true, From: "dev"}},
	}
}

// blobRequests returns how many requests touched blobs or blob uploads.
func blobRequests(c *testreg.Counter) int {
	n := 0
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPost, http.MethodPatch, http.MethodDelete} {
		n += c.Count(m+" blobs") + c.Count(m+" blobs/uploads")
	}
	return n
}

// TestPromoteMovesNoLayer promotes a build with a 64 MiB layer to a mutable
// tier and then to a release tier, and checks that only manifests crossed
// the wire.
func TestPromoteMovesNoLayer(t *testing.T) {
	ctx := t.Context()
	host := testreg.New(t)
	img := bigBuild(t, commitA)
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("img.Layers() = %d layers, %v; want 1 layer", len(layers), err)
	}
	size, err := layers[0].Size()
	if err != nil || size < bigLayerSize {
		t.Fatalf("layer Size() = %d, %v; want >= %d", size, err, bigLayerSize)
	}
	t.Logf("layer: %d bytes compressed", size)
	want, err := img.RawManifest()
	if err != nil {
		t.Fatalf("img.RawManifest() = %v", err)
	}

	// Push through a transport that is not counted.
	pusher := newClient(t, host, nil)
	digest, err := pusher.Write(ctx, "api", commitA, img)
	if err != nil {
		t.Fatalf("Write(api:%s) = %v", commitA, err)
	}

	counter := testreg.NewCounter(nil)
	client := newClient(t, host, counter)
	p := &promote.Promoter{Config: ladder(), Registry: client, Now: func() time.Time { return released }}

	const maxBytes = 64 << 10
	var total int64
	var tagged []string
	for _, step := range []struct {
		req    promote.Request
		status promote.TagStatus
	}{
		{promote.Request{Tier: "dev", Commit: commitA}, promote.Moved},
		{promote.Request{Tier: "prod"}, promote.Released},
	} {
		ok := t.Run(step.req.Tier, func(t *testing.T) {
			counter.Reset()
			// One catalog per promotion, as one tier command has.
			rep, err := p.Promote(ctx, step.req)
			if err != nil {
				t.Fatalf("Promote(%s) = %v", step.req.Tier, err)
			}
			res := rep.Tags
			if len(res) != 1 || res[0].Status != step.status || res[0].Digest != digest.String() {
				t.Fatalf("Promote(%s) = %+v, want one %s result on %s", step.req.Tier, res, step.status, digest)
			}
			tagged = append(tagged, res[0].Tag)

			sent, received := counter.Sent(), counter.Received()
			total += sent + received
			t.Logf("Promote(%s) to %s: %d requests %v, %d bytes sent, %d bytes received", step.req.Tier, res[0].Tag, counter.Total(), counter.Requests, sent, received)
			if n := blobRequests(counter); n != 0 {
				t.Errorf("Promote(%s) made %d blob requests (%v), want 0", step.req.Tier, n, counter.Requests)
			}
			// The tag must have moved through the counted transport, or
			// the zero above proves nothing.
			if n := counter.Count("PUT manifests"); n != 1 {
				t.Errorf("Promote(%s) made %d manifest PUTs, want 1", step.req.Tier, n)
			}
			if sent+received >= maxBytes {
				t.Errorf("Promote(%s) sent %d bytes, received %d; want < %d in all", step.req.Tier, sent, received, maxBytes)
			}
		})
		if !ok {
			t.FailNow()
		}
	}
	t.Logf("both promotions: %d bytes on the wire", total)
	if total >= maxBytes {
		t.Errorf("Promote(dev), Promote(prod) sent and received %d bytes, want < %d", total, maxBytes)
	}

	if wantTags := []string{"dev", tags.Release("prod", released)}; !slices.Equal(tagged, wantTags) {
		t.Fatalf("promotions tagged %v, want %v", tagged, wantTags)
	}
	repo, err := pusher.Repository("api")
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range tagged {
		d, err := pusher.Head(ctx, "api", tag)
		if err != nil || d.Digest != digest {
			t.Errorf("Head(api:%s) = %s, %v; want %s", tag, d.Digest, err, digest)
		}
		got, err := remote.Get(repo.Tag(tag), pusher.Options(ctx)...)
		if err != nil {
			t.Errorf("Get(api:%s) = %v", tag, err)
			continue
		}
		if !bytes.Equal(got.Manifest, want) {
			t.Errorf("manifest of api:%s =\n%s\nwant the pushed bytes\n%s", tag, got.Manifest, want)
		}
	}
}
