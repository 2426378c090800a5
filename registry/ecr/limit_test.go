package ecr_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tierdeploy/tier/internal/awsfake"
	"github.com/tierdeploy/tier/registry/ecr"
)

var throttled = awsfake.APIError{Code: "ThrottlingException", Message: "Rate exceeded"}

// TestRetagRetriesThrottling: a throttled PutImage is retried, and every
// attempt, retries included, waits for the limiter. (The SDK's adaptive
// mode then slows the client itself down for about a second: its minimum
// fill rate is 0.5 calls per second.)
func TestRetagRetriesThrottling(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := fakeAWS(t)
	s.AddRepository(account, region, "api", awsfake.ECRMutable)
	b := pushBuild(t, s, "api", "aaaa", false)
	s.FailNext("ecr:PutImage", throttled)
	lim := &countingLimiter{}
	rt := newRetagger(t, s, ecr.Options{Limiter: lim})
	if err := rt.Retag(ctx, "api", b.digest, "dev"); err != nil {
		t.Fatalf("Retag() = %v, want nil after retries", err)
	}
	if n := len(s.CallsOf("ecr:PutImage")); n != 2 {
		t.Errorf("PutImage calls = %d, want 2 (1 throttled, 1 answered)", n)
	}
	if n := lim.n.Load(); n != 2 {
		t.Errorf("limiter waits = %d, want 2 (one per PutImage attempt)", n)
	}
	if got := s.Tags(account, region, "api")["dev"]; got != b.digest.String() {
		t.Errorf("dev = %s, want %s", got, b.digest)
	}
}

// TestRetagThrottledToTheEnd: when every attempt is throttled the error
// says so, and the tag has not moved.
func TestRetagThrottledToTheEnd(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := fakeAWS(t)
	s.AddRepository(account, region, "api", awsfake.ECRMutable)
	b := pushBuild(t, s, "api", "aaaa", false)
	s.FailNext("ecr:PutImage", throttled, throttled)
	rt := newRetagger(t, s, ecr.Options{MaxAttempts: 2})
	err := rt.Retag(ctx, "api", b.digest, "dev")
	if err == nil || !strings.Contains(err.Error(), "ECR kept throttling ecr:PutImage") {
		t.Fatalf("Retag() = %v, want an error saying ECR kept throttling PutImage", err)
	}
	if n := len(s.CallsOf("ecr:PutImage")); n != 2 {
		t.Errorf("PutImage calls = %d, want 2 (MaxAttempts)", n)
	}
	if _, ok := s.Tags(account, region, "api")["dev"]; ok {
		t.Errorf("dev exists, want it never written")
	}
}

// TestPutImageRateIsShared: many services promoted at once through
// several Retaggers of one registry and region never send PutImage faster
// than the shared limiter allows, measured where the calls arrive.
func TestPutImageRateIsShared(t *testing.T) {
	t.Parallel()
	const (
		perSecond = 20.0
		burst     = 2
		services  = 12
	)
	// A region of its own, so the process-wide limiter is this test's.
	const region = "ap-southeast-7"
	ctx := context.Background()
	s := fakeAWS(t)
	cfg := awsConfig(t, s, "AKIAREGISTRY", "")
	cfg.Region = region
	var builds []string
	for i := range services {
		repo := fmt.Sprintf("svc%02d", i)
		s.AddRepository(account, region, repo, awsfake.ECRMutable)
		raw, mt := randomManifest(t, false)
		builds = append(builds, s.PutManifest(account, region, repo, "c0ffee", raw, mt))
	}
	// Three Retaggers, as three promotions in one process would have.
	var rts []*ecr.Retagger
	for range 3 {
		rts = append(rts, ecr.New(cfg, account, ecr.Options{PutImageRate: perSecond, PutImageBurst: burst, Backoff: fast}))
	}
	var wg sync.WaitGroup
	errs := make([]error, services)
	for i := range services {
		wg.Go(func() {
			errs[i] = rts[i%len(rts)].Retag(ctx, fmt.Sprintf("svc%02d", i), mustHash(t, builds[i]), "dev")
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	times := s.PutImageTimes(account, region)
	if len(times) != services {
		t.Fatalf("PutImage calls = %d, want %d", len(times), services)
	}
	// In any window [times[i], times[j]] a token bucket lets through at
	// most burst + rate × window calls; one interval of slack absorbs
	// the jitter between a call leaving the limiter and arriving.
	slack := time.Duration(float64(time.Second) / perSecond)
	for i := range times {
		for j := i + 1; j < len(times); j++ {
			window := times[j].Sub(times[i]) + slack
			if allowed := burst + perSecond*window.Seconds(); float64(j-i+1) > allowed {
				t.Fatalf("%d PutImage calls arrived within %v, want at most %.1f at %v/s with burst %d",
					j-i+1, times[j].Sub(times[i]), allowed, perSecond, burst)
			}
		}
	}
}
