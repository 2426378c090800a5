package registry

import (
	"context"
	"fmt"
	"io"
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
// sent once.
type retryTransport struct {
	next   http.RoundTripper
	policy Retry
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
		resp, err := t.next.RoundTrip(req)
		if err != nil || !retryable(resp.StatusCode) || attempt >= p.Attempts {
			return resp, err
		}
		if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
			return resp, nil
		}
		wait, ok := t.retryAfter(resp)
		if !ok {
			wait = time.Duration(p.Jitter() * float64(backoff))
			backoff = min(backoff*2, p.Cap)
		} else if wait > p.MaxRetryAfter {
			return resp, nil
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if err := p.Sleep(req.Context(), wait); err != nil {
			return nil, fmt.Errorf("waiting to retry %s %s: %w", req.Method, req.URL.Redacted(), err)
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
