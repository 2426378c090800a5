package registry

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// TestPingCache checks that pings are answered once per scheme and host
// with the registry's own answer, that other requests pass through, and
// that a ping cancelled by its caller is not kept.
func TestPingCache(t *testing.T) {
	var pings, others atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			pings.Add(1)
			w.Header().Set("WWW-Authenticate", `Bearer realm="x"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		others.Add(1)
	}))
	defer srv.Close()
	pc := &pingCache{next: http.DefaultTransport}
	get := func(ctx context.Context, path string) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		return pc.RoundTrip(req)
	}

	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := get(cancelled, "/v2/"); !errors.Is(err, context.Canceled) {
		t.Fatalf("RoundTrip(cancelled ping) = %v, want context.Canceled", err)
	}
	for i := range 3 {
		resp, err := get(t.Context(), "/v2/")
		if err != nil {
			t.Fatalf("ping %d: RoundTrip = %v", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != `Bearer realm="x"` {
			t.Errorf("ping %d = %d %v, want 401 with the registry's challenge", i, resp.StatusCode, resp.Header)
		}
		resp, err = get(t.Context(), "/v2/api/tags/list")
		if err != nil {
			t.Fatalf("RoundTrip(tags/list) = %v", err)
		}
		resp.Body.Close()
	}
	if pings.Load() != 1 || others.Load() != 3 {
		t.Errorf("registry saw %d pings and %d other requests, want 1 and 3", pings.Load(), others.Load())
	}
}
