package registry

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// Retry says how the client retries requests the registry answered with
// 429 Too Many Requests or a 5xx status.
type Retry struct {
	// Attempts is the total number of tries, the first included.
	Attempts int
	// Base is the first backoff; each retry doubles it up to Cap. The wait is
	// drawn uniformly from [0, backoff] (full jitter).
	Base, Cap time.Duration
	// MaxRetryAfter bounds how long a Retry-After header may make us wait;
	// a longer demand fails the request at once.
	MaxRetryAfter time.Duration
	// Sleep waits for d or until ctx ends; nil means a real timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Jitter returns a number in [0, 1); nil means math/rand.
	Jitter func() float64
	// Now is the clock used to read HTTP-date Retry-After values.
	Now func() time.Time
}

// DefaultRetry is the policy used when Options.Retry is zero.
var DefaultRetry = Retry{Attempts: 6, Base: 200 * time.Millisecond, Cap: 10 * time.Second, MaxRetryAfter: 2 * time.Minute}

func (r Retry) withDefaults() Retry {
	if r.Attempts <= 0 {
		r.Attempts = DefaultRetry.Attempts
	}
	if r.Base <= 0 {
		r.Base = DefaultRetry.Base
	}
	if r.Cap <= 0 {
		r.Cap = DefaultRetry.Cap
	}
	if r.MaxRetryAfter <= 0 {
		r.MaxRetryAfter = DefaultRetry.MaxRetryAfter
	}
	if r.Sleep == nil {
		r.Sleep = sleep
	}
	if r.Jitter == nil {
		r.Jitter = rand.Float64
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	return r
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// retryTransport retries 429 and 5xx answers with exponential backoff and
// jitter, honouring Retry-After. Requests whose body cannot be replayed are
// sent once. With log set, it logs every request it sends (debug) and
// every retry with its reason (info).
type retryTransport struct {
	next   http.RoundTripper
	policy Retry
	log    *slog.Logger
}

func retryable(code int) bool {
	switch code {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	p := t.policy
	backoff := p.Base
	for attempt := 1; ; attempt++ {
		start := time.Now()
		resp, err := t.next.RoundTrip(req)
		t.logRequest(req, attempt-1, resp, err, time.Since(start))
		if err != nil || !retryable(resp.StatusCode) || attempt >= p.Attempts {
			return resp, err
		}
		if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
			return resp, nil
		}
		wait, ok := t.retryAfter(resp)
		reason := resp.Status
		if !ok {
			wait = time.Duration(p.Jitter() * float64(backoff))
			backoff = min(backoff*2, p.Cap)
		} else if wait > p.MaxRetryAfter {
			return resp, nil
		} else {
			reason += ", Retry-After " + wait.String()
		}
		t.logRetry(req, attempt, reason, wait)
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if err := p.Sleep(req.Context(), wait); err != nil {
			// Not the URL's query: a redirect may have put a token there.
			return nil, fmt.Errorf("waiting to retry %s %s%s: %w", req.Method, req.URL.Host, Clip(req.URL.EscapedPath()), err)
		}
		if req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			req = req.Clone(req.Context())
			req.Body = body
		}
	}
}

// logRequest logs one request at debug level: what a user of -v needs to
// follow the client, and nothing that can carry a credential (headers,
// the query string, the body, user info of the URL).
func (t *retryTransport) logRequest(req *http.Request, retry int, resp *http.Response, err error, took time.Duration) {
	if t.log == nil || !t.log.Enabled(req.Context(), slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{
		slog.String("method", req.Method),
		slog.String("host", req.URL.Host),
		slog.String("path", req.URL.EscapedPath()),
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", Clip(err.Error())))
	} else {
		attrs = append(attrs, slog.Int("status", resp.StatusCode))
	}
	attrs = append(attrs, slog.Duration("duration", took), slog.Int("retry", retry))
	t.log.LogAttrs(req.Context(), slog.LevelDebug, "registry request", attrs...)
}

// logRetry logs that a request is sent again, as retry number retry, after
// wait, and why.
func (t *retryTransport) logRetry(req *http.Request, retry int, reason string, wait time.Duration) {
	if t.log == nil {
		return
	}
	t.log.LogAttrs(req.Context(), slog.LevelInfo, "registry retry",
		slog.String("method", req.Method),
		slog.String("host", req.URL.Host),
		slog.String("path", req.URL.EscapedPath()),
		slog.Int("retry", retry),
		slog.String("reason", Clip(reason)),
		slog.Duration("wait", wait))
}

// retryAfter reads a Retry-After header given as seconds or as an HTTP date.
func (t *retryTransport) retryAfter(resp *http.Response) (time.Duration, bool) {
	v := resp.Header.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(at.Sub(t.policy.Now()), 0), true
	}
	return 0, false
}
