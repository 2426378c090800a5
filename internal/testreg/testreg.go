// Package testreg starts in-process OCI registries (olareg, in memory) for
// tests, and counts what crosses a client's transport.
package testreg

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/olareg/olareg"
	"github.com/olareg/olareg/config"
)

// New starts an in-memory registry on 127.0.0.1 and returns its host:port.
// It stops when the test ends.
func New(t testing.TB) string {
	t.Helper()
	return NewWithHandler(t, nil)
}

// NewWithHandler starts an in-memory registry behind wrap (which may
// rewrite or fail requests before they reach it); nil means none.
func NewWithHandler(t testing.TB, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	reg := olareg.New(config.Config{Storage: config.ConfigStorage{StoreType: config.StoreMem}})
	var h http.Handler = reg
	if wrap != nil {
		h = wrap(reg)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Close()
		reg.Close()
	})
	return strings.TrimPrefix(srv.URL, "http://")
}

// Counter is an http.RoundTripper that counts requests and the bytes of
// request and response bodies that cross it, per method and path kind.
type Counter struct {
	Next http.RoundTripper

	mu       sync.Mutex
	Requests map[string]int // "GET manifests", "PUT blobs", ...
	sent     atomic.Int64
	received atomic.Int64
}

// NewCounter wraps next (nil: http.DefaultTransport).
func NewCounter(next http.RoundTripper) *Counter {
	if next == nil {
		next = http.DefaultTransport
	}
	return &Counter{Next: next, Requests: map[string]int{}}
}

// RoundTrip implements http.RoundTripper.
func (c *Counter) RoundTrip(req *http.Request) (*http.Response, error) {
	kind := "other"
	for _, k := range []string{"/manifests/", "/blobs/uploads/", "/blobs/", "/tags/list", "/referrers/"} {
		if strings.Contains(req.URL.Path, k) {
			kind = strings.Trim(k, "/")
			break
		}
	}
	c.mu.Lock()
	c.Requests[req.Method+" "+kind]++
	c.mu.Unlock()
	if req.Body != nil {
		req.Body = &countingBody{rc: req.Body, n: &c.sent}
	}
	resp, err := c.Next.RoundTrip(req)
	if err == nil && resp.Body != nil {
		resp.Body = &countingBody{rc: resp.Body, n: &c.received}
	}
	return resp, err
}

// Sent and Received return the body bytes counted so far.
func (c *Counter) Sent() int64     { return c.sent.Load() }
func (c *Counter) Received() int64 { return c.received.Load() }

// Count returns how many requests of "METHOD kind" were made.
func (c *Counter) Count(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Requests[key]
}

// Total returns the number of requests made.
func (c *Counter) Total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.Requests {
		n += v
	}
	return n
}

// Reset zeroes the counts.
func (c *Counter) Reset() {
	c.mu.Lock()
	c.Requests = map[string]int{}
	c.mu.Unlock()
	c.sent.Store(0)
	c.received.Store(0)
}

type countingBody struct {
	rc interface {
		Read([]byte) (int, error)
		Close() error
	}
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.n.Add(int64(n))
	return n, err
}

func (b *countingBody) Close() error { return b.rc.Close() }
