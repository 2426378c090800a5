package registry

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// scripted answers each request with the next status (and header) in turn.
type scripted struct {
	statuses []int
	headers  []http.Header
	calls    atomic.Int32
	bodies   []string
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	i := int(s.calls.Add(1)) - 1
	b, _ := io.ReadAll(r.Body)
	s.bodies = append(s.bodies, string(b))
	if i < len(s.headers) {
		for k, v := range s.headers[i] {
			w.Header()[k] = v
		}
	}
	code := http.StatusOK
	if i < len(s.statuses) {
		code = s.statuses[i]
	}
	w.WriteHeader(code)
}

func TestRetryTransport(t *testing.T) {
	now := time.Date(2020, 11, 12, 10, 30, 0, 0, time.UTC)
	tests := []struct {
		name     string
		statuses []int
		headers  []http.Header
		attempts int
		body     bool
		want     int             // final status
		calls    int             // requests made
		waits    []time.Duration // sleeps asked for, with jitter fixed at 0.5
	}{
		{name: "ok at once", statuses: []int{200}, want: 200, calls: 1},
		{name: "429 then ok, backoff with jitter", statuses: []int{429, 429, 200}, want: 200, calls: 3,
			waits: []time.Duration{50 * time.Millisecond, 100 * time.Millisecond}},
		{name: "retry-after seconds", statuses: []int{429, 200}, headers: []http.Header{{"Retry-After": {"3"}}}, want: 200, calls: 2,
			waits: []time.Duration{3 * time.Second}},
		{name: "retry-after http date", statuses: []int{503, 200}, headers: []http.Header{{"Retry-After": {now.Add(7 * time.Second).Format(http.TimeFormat)}}}, want: 200, calls: 2,
			waits: []time.Duration{7 * time.Second}},
		{name: "retry-after too long gives up", statuses: []int{429, 200}, headers: []http.Header{{"Retry-After": {"3600"}}}, want: 429, calls: 1},
		{name: "5xx codes retried", statuses: []int{500, 502, 504, 200}, want: 200, calls: 4,
			waits: []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond}},
		{name: "backoff capped", statuses: []int{503, 503, 503, 503, 200}, want: 200, calls: 5,
			waits: []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond, 200 * time.Millisecond}},
		{name: "gives up after attempts", statuses: []int{503, 503, 503, 503}, attempts: 3, want: 503, calls: 3,
			waits: []time.Duration{50 * time.Millisecond, 100 * time.Millisecond}},
		{name: "4xx not retried", statuses: []int{404, 200}, want: 404, calls: 1},
		{name: "501 not retried", statuses: []int{501, 200}, want: 501, calls: 1},
		{name: "replayable body resent", statuses: []int{503, 200}, body: true, want: 200, calls: 2,
			waits: []time.Duration{50 * time.Millisecond}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &scripted{statuses: tc.statuses, headers: tc.headers}
			srv := httptest.NewServer(s)
			defer srv.Close()
			var waits []time.Duration
			rt := &retryTransport{next: http.DefaultTransport, policy: Retry{
				Attempts: tc.attempts, Base: 100 * time.Millisecond, Cap: 400 * time.Millisecond, MaxRetryAfter: time.Minute,
				Sleep:  func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil },
				Jitter: func() float64 { return 0.5 },
				Now:    func() time.Time { return now },
			}.withDefaults()}
			var body io.Reader
			if tc.body {
				body = strings.NewReader("manifest")
			}
			req, _ := http.NewRequest(http.MethodPut, srv.URL+"/v2/api/manifests/dev", body)
			resp, err := rt.RoundTrip(req)
			if err != nil {
				t.Fatalf("RoundTrip() error = %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("RoundTrip() status = %d, want %d", resp.StatusCode, tc.want)
			}
			if got := int(s.calls.Load()); got != tc.calls {
				t.Errorf("requests = %d, want %d", got, tc.calls)
			}
			if len(waits) != len(tc.waits) {
				t.Fatalf("waits = %v, want %v", waits, tc.waits)
			}
			for i := range waits {
				if waits[i] != tc.waits[i] {
					t.Errorf("wait %d = %v, want %v", i, waits[i], tc.waits[i])
				}
			}
			if tc.body {
				for i, b := range s.bodies {
					if b != "manifest" {
						t.Errorf("body of request %d = %q, want %q", i, b, "manifest")
					}
				}
			}
		})
	}
}

func TestRetryTransportNonReplayableBodySentOnce(t *testing.T) {
	s := &scripted{statuses: []int{503, 200}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	rt := &retryTransport{next: http.DefaultTransport, policy: Retry{Sleep: func(context.Context, time.Duration) error { return nil }}.withDefaults()}
	req, _ := http.NewRequest(http.MethodPatch, srv.URL+"/v2/api/blobs/uploads/x", io.NopCloser(strings.NewReader("layer")))
	req.GetBody = nil
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || s.calls.Load() != 1 {
		t.Errorf("streamed body: status %d after %d requests, want 503 after 1", resp.StatusCode, s.calls.Load())
	}
}

func TestRetryTransportHonoursContext(t *testing.T) {
	s := &scripted{statuses: []int{429, 429, 429}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	rt := &retryTransport{next: http.DefaultTransport, policy: Retry{Base: time.Hour, Cap: time.Hour}.withDefaults()}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v2/", nil)
	_, err := rt.RoundTrip(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("RoundTrip() error = %v, want context.DeadlineExceeded", err)
	}
}

func TestRetryJitterStaysWithinBackoff(t *testing.T) {
	s := &scripted{statuses: []int{503, 503, 503, 503, 503}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	var waits []time.Duration
	rt := &retryTransport{next: http.DefaultTransport, policy: Retry{Attempts: 5, Base: 100 * time.Millisecond, Cap: time.Second,
		Sleep: func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }}.withDefaults()}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v2/", nil)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	limit := 100 * time.Millisecond
	for i, w := range waits {
		if w < 0 || w > limit {
			t.Errorf("wait %d = %v, want within [0, %v]", i, w, limit)
		}
		limit = min(limit*2, time.Second)
	}
	if len(waits) != 4 {
		t.Errorf("waits = %d, want 4", len(waits))
	}
}

// TestRetryWaitErrorHidesQuery: a request cut short while waiting to retry
// says which request, without its query, where a redirect may have put a
// token.
func TestRetryWaitErrorHidesQuery(t *testing.T) {
	s := &scripted{statuses: []int{503, 200}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	rt := &retryTransport{next: http.DefaultTransport, policy: Retry{
		Sleep: func(context.Context, time.Duration) error { return context.Canceled },
	}.withDefaults()}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v2/api/blobs/sha256:abc?X-Amz-Signature=SIGNATURE-TOKEN", nil)
	_, err := rt.RoundTrip(req)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "/v2/api/blobs/sha256:abc") || strings.Contains(err.Error(), "SIGNATURE-TOKEN") {
		t.Errorf("RoundTrip() error = %v, want it canceled, naming the path and not the query", err)
	}
}
