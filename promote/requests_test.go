package promote_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/tierdeploy/tier/internal/testreg"
	"github.com/tierdeploy/tier/promote"
	"github.com/tierdeploy/tier/registry"
)

// paths records every request's method and path, then passes it on.
type paths struct {
	next http.RoundTripper
	mu   sync.Mutex
	seen []string
}

func (p *paths) RoundTrip(req *http.Request) (*http.Response, error) {
	p.mu.Lock()
	p.seen = append(p.seen, req.Method+" "+req.URL.Path)
	p.mu.Unlock()
	return p.next.RoundTrip(req)
}

// twice returns the requests in seen made more than once.
func twice(seen []string) []string {
	n := map[string]int{}
	var out []string
	for _, s := range seen {
		if n[s]++; n[s] == 2 {
			out = append(out, s)
		}
	}
	return out
}

// TestPromoteRequests counts the registry requests of one promotion as one
// tier command makes it: a fresh client (so its ping counts) and a fresh
// Promoter, on builds pushed beforehand, to tiers with no environments. A
// mutable promotion of a whole commit makes at most six requests (the ping,
// over https and http for a loopback registry; the build's manifest; the
// tier tag's; the write; the read-back), and no promotion fetches a
// manifest twice.
func TestPromoteRequests(t *testing.T) {
	ctx := t.Context()
	host := testreg.New(t)
	pusher := newClient(t, host, nil)
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	for _, c := range []string{commitA, commitB} {
		img := mutate.Annotations(base, map[string]string{
			registry.AnnotationRevision: c,
			registry.AnnotationCreated:  released.Format(time.RFC3339),
		})
		if _, err := pusher.Write(ctx, "api", c, img.(v1.Image)); err != nil {
			t.Fatalf("Write(api:%s) = %v", c, err)
		}
	}

	for _, tc := range []struct {
		name   string
		req    promote.Request
		status promote.TagStatus
		max    int // 0: not bounded here
	}{
		{"dev first", promote.Request{Tier: "dev", Commit: commitA}, promote.Moved, 6},
		{"dev moves", promote.Request{Tier: "dev", Commit: commitB}, promote.Moved, 6},
		// A prefix lists the tags to find its commit: one request more.
		{"dev by prefix", promote.Request{Tier: "dev", Commit: commitA[:12]}, promote.Moved, 7},
		{"dev unchanged", promote.Request{Tier: "dev", Commit: commitA}, promote.Unchanged, 6},
		{"prod from dev", promote.Request{Tier: "prod"}, promote.Released, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			counter := testreg.NewCounter(nil)
			rec := &paths{next: counter}
			p := &promote.Promoter{Config: ladder(), Registry: newClient(t, host, rec),
				Now: func() time.Time { return released }, ReleaseSettle: time.Millisecond}
			rep, err := p.Promote(ctx, tc.req)
			if err != nil {
				t.Fatalf("Promote(%+v) = %v", tc.req, err)
			}
			if len(rep.Tags) != 1 || rep.Tags[0].Status != tc.status {
				t.Fatalf("Promote(%+v) = %+v, want one %s tag change", tc.req, rep.Tags, tc.status)
			}
			t.Logf("Promote(%+v): %d requests %v", tc.req, counter.Total(), rec.seen)
			if counter.Total() != len(rec.seen) {
				t.Fatalf("counter saw %d requests, the recorder %d", counter.Total(), len(rec.seen))
			}
			if tc.max > 0 && counter.Total() > tc.max {
				t.Errorf("Promote(%+v) made %d requests %v, want at most %d", tc.req, counter.Total(), rec.seen, tc.max)
			}
			for _, s := range twice(rec.seen) {
				if strings.HasPrefix(s, "GET ") && strings.Contains(s, "/manifests/") {
					t.Errorf("Promote(%+v) sent %s more than once: %v", tc.req, s, rec.seen)
				}
			}
			if n := blobRequests(counter); n != 0 {
				t.Errorf("Promote(%+v) made %d blob requests, want 0: %v", tc.req, n, rec.seen)
			}
		})
	}
}
