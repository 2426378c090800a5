package ecr_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tierdeploy/tier/internal/awsfake"
	"github.com/tierdeploy/tier/registry"
	"github.com/tierdeploy/tier/registry/ecr"
)

// The release setup of docs/targets/ecr.md: release tags immutable, the
// mutable tier tags excluded.
var tierTags = []string{"dev", "staging"}

const release = "prod-20201112T103000Z"

// TestRetagReleaseTagTaken: with IMMUTABLE_WITH_EXCLUSION and the tier
// tags excluded, a release tag another build holds is refused by ECR, and
// Retag says so with a *ecr.TagExistsError that names that build.
func TestRetagReleaseTagTaken(t *testing.T) {
	ctx := context.Background()
	s := fakeAWS(t)
	s.AddRepository(account, region, "api", awsfake.ECRImmutableWithExclusion, tierTags...)
	theirs := pushBuild(t, s, "api", release, false)
	ours := pushBuild(t, s, "api", "aaaa", false)
	rt := newRetagger(t, s, ecr.Options{})

	err := rt.Retag(ctx, "api", ours.digest, release)
	var te *ecr.TagExistsError
	if !errors.As(err, &te) {
		t.Fatalf("Retag(%s) = %v, want a *ecr.TagExistsError", release, err)
	}
	if te.Tag != release || te.Holder != theirs.digest || te.Digest != ours.digest || !te.Release() || te.Repository != "api" || te.Registry != host {
		t.Errorf("TagExistsError = %+v, want release tag %s holding %s", te, release, theirs.digest)
	}
	if !strings.Contains(err.Error(), "another build took it first") || strings.Contains(err.Error(), "put-image-tag-mutability") {
		t.Errorf("Retag() = %q, want it to say another build took the tag, without telling to make it mutable", err)
	}
	if got := s.Tags(account, region, "api")[release]; got != theirs.digest.String() {
		t.Errorf("%s = %s, want it left on %s", release, got, theirs.digest)
	}
	// The tier tags still move.
	for _, tag := range tierTags {
		if err := rt.Retag(ctx, "api", ours.digest, tag); err != nil {
			t.Errorf("Retag(%s) = %v, want nil", tag, err)
		}
	}
}

// TestRetagReleaseRace: two promotions cut the same release tag at once
// with different builds. One wins; the other gets a *ecr.TagExistsError
// naming the winner's build.
func TestRetagReleaseRace(t *testing.T) {
	for _, m := range []string{awsfake.ECRImmutable, awsfake.ECRImmutableWithExclusion} {
		t.Run(m, func(t *testing.T) {
			ctx := context.Background()
			s := fakeAWS(t)
			var exclusions []string
			if m == awsfake.ECRImmutableWithExclusion {
				exclusions = tierTags
			}
			s.AddRepository(account, region, "api", m, exclusions...)
			builds := []build{pushBuild(t, s, "api", "aaaa", false), pushBuild(t, s, "api", "bbbb", false)}
			errs := make([]error, len(builds))
			var wg sync.WaitGroup
			for i, b := range builds {
				rt := newRetagger(t, s, ecr.Options{})
				wg.Go(func() { errs[i] = rt.Retag(ctx, "api", b.digest, release) })
			}
			wg.Wait()
			winner := s.Tags(account, region, "api")[release]
			var wins, taken int
			for i, err := range errs {
				var te *ecr.TagExistsError
				switch {
				case err == nil && builds[i].digest.String() == winner:
					wins++
				case errors.As(err, &te) && te.Holder.String() == winner && te.Digest == builds[i].digest && errors.Is(err, registry.ErrTagExists):
					taken++
				default:
					t.Errorf("Retag(%s, build %d) = %v; %s holds %s", release, i, err, release, winner)
				}
			}
			if wins != 1 || taken != 1 {
				t.Errorf("%d won and %d found the tag taken, want 1 and 1", wins, taken)
			}
		})
	}
}

// TestRetagKeptTagSameDigest: in a repository that keeps the tag, ECR
// refuses even the digest the tag already has with
// ImageTagAlreadyExistsException (aws/containers-roadmap#2179); the tag is
// read back, holds the digest, and the retag is done: a rerun of a
// promotion that cut this release tag converges. No DescribeRepositories:
// nothing needs explaining.
func TestRetagKeptTagSameDigest(t *testing.T) {
	for _, tc := range []struct {
		mutability string
		exclusions []string
	}{
		{awsfake.ECRImmutable, nil},
		{awsfake.ECRImmutableWithExclusion, tierTags},
		{awsfake.ECRMutableWithExclusion, []string{"prod-*"}},
	} {
		t.Run(tc.mutability, func(t *testing.T) {
			ctx := context.Background()
			s := fakeAWS(t)
			s.AddRepository(account, region, "api", tc.mutability, tc.exclusions...)
			b := pushBuild(t, s, "api", release, false)
			if err := newRetagger(t, s, ecr.Options{}).Retag(ctx, "api", b.digest, release); err != nil {
				t.Fatalf("Retag() to the digest %s has = %v, want nil", release, err)
			}
			if got, want := ops(ecrCalls(s)), []string{"DescribeImages", "BatchGetImage", "PutImage", "DescribeImages"}; !slices.Equal(got, want) {
				t.Errorf("ECR calls = %v, want %v", got, want)
			}
		})
	}
}

// TestRetagKeptTagNotVisibleYet: ECR refused the tag as existing, but the
// first read does not show it yet (a racing writer's tag, read before it
// shows); it is read again until it does.
func TestRetagKeptTagNotVisibleYet(t *testing.T) {
	ctx := context.Background()
	s := fakeAWS(t)
	s.AddRepository(account, region, "api", awsfake.ECRImmutable)
	ours := pushBuild(t, s, "api", "aaaa", false)
	theirs := pushBuild(t, s, "api", "bbbb", false)
	// Their PutImage created the tag; reads lag it once.
	if err := newRetagger(t, s, ecr.Options{}).Retag(ctx, "api", theirs.digest, release); err != nil {
		t.Fatal(err)
	}
	s.LagTagReads(account, region, "api", 1)
	err := newRetagger(t, s, ecr.Options{}).Retag(ctx, "api", ours.digest, release)
	var te *ecr.TagExistsError
	if !errors.As(err, &te) || te.Holder != theirs.digest {
		t.Fatalf("Retag() = %v, want a *ecr.TagExistsError naming %s", err, theirs.digest)
	}
}

// TestRetagReadBackLags: a read-back that does not show the write yet is
// read again, with growing waits, a bounded number of times; only then is
// it a mismatch.
func TestRetagReadBackLags(t *testing.T) {
	for _, tc := range []struct {
		name     string
		tag      string // dev moves; a release tag is new
		lag      int
		attempts int
		wantErr  bool
		waits    []time.Duration
	}{
		{"moved tag, caught up", "dev", 2, 0, false, []time.Duration{200 * time.Millisecond, 400 * time.Millisecond}},
		{"new tag, caught up", release, 1, 0, false, []time.Duration{200 * time.Millisecond}},
		{"moved tag, never caught up", "dev", 3, 3, true, []time.Duration{200 * time.Millisecond, 400 * time.Millisecond}},
		{"new tag, never caught up", release, 3, 3, true, []time.Duration{200 * time.Millisecond, 400 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := fakeAWS(t)
			s.AddRepository(account, region, "api", awsfake.ECRMutable)
			old := pushBuild(t, s, "api", "dev", false)
			b := pushBuild(t, s, "api", "aaaa", false)
			var waits []time.Duration
			sleep := func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }
			rt := newRetagger(t, s, ecr.Options{ReadBackAttempts: tc.attempts, Sleep: sleep})
			// Every PutImage lets the next reads lag.
			s.LagTagReads(account, region, "api", tc.lag)
			err := rt.Retag(ctx, "api", b.digest, tc.tag)
			if !slices.Equal(waits, tc.waits) {
				t.Errorf("waits = %v, want %v", waits, tc.waits)
			}
			if !tc.wantErr {
				if err != nil {
					t.Fatalf("Retag() = %v, want nil once reads catch up", err)
				}
				return
			}
			var mm *registry.MismatchError
			var nf *registry.NotFoundError
			switch tc.tag {
			case "dev":
				if !errors.As(err, &mm) || mm.Got != old.digest {
					t.Errorf("Retag() = %v, want a *registry.MismatchError naming %s", err, old.digest)
				}
			default:
				if !errors.As(err, &nf) {
					t.Errorf("Retag() = %v, want a *registry.NotFoundError", err)
				}
			}
		})
	}
}

// TestRetagReadBackWaitEndsWithContext: a cancelled context ends the wait
// between reads.
func TestRetagReadBackWaitEndsWithContext(t *testing.T) {
	s := fakeAWS(t)
	s.AddRepository(account, region, "api", awsfake.ECRMutable)
	pushBuild(t, s, "api", "dev", false)
	b := pushBuild(t, s, "api", "aaaa", false)
	s.LagTagReads(account, region, "api", 100)
	ctx, cancel := context.WithCancel(context.Background())
	rt := ecr.New(awsConfig(t, s, "AKIAREGISTRY", ""), account, ecr.Options{Backoff: fast, Limiter: &countingLimiter{}, ReadBackDelay: time.Hour})
	done := make(chan error, 1)
	go func() { done <- rt.Retag(ctx, "api", b.digest, "dev") }()
	for len(s.CallsOf("ecr:PutImage")) == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Retag() = %v, want context.Canceled", err)
	}
}
