package promote_test

import (
	"fmt"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/tierdeploy/tier/internal/testreg"
	"github.com/tierdeploy/tier/promote"
)

// BenchmarkPromote64MiB compares moving a tier to a build with a 64 MiB
// layer the way tier does (retag: copy the manifest to a new tag) with the
// naive way (copy: pull the image and push it, layers and all, to a
// repository that does not have it yet).
func BenchmarkPromote64MiB(b *testing.B) {
	b.Run("retag", benchRetag)
	b.Run("copy", benchCopy)
}

// benchRetag promotes dev alternately to two pushed builds, so the tag
// really moves on every iteration, each with a fresh catalog as one tier
// command has.
func benchRetag(b *testing.B) {
	ctx := b.Context()
	host := testreg.New(b)
	pusher := newClient(b, host, nil)
	commits := [2]string{commitA, commitB}
	var digests [2]v1.Hash
	for i, c := range commits {
		d, err := pusher.Write(ctx, "api", c, bigBuild(b, c))
		if err != nil {
			b.Fatalf("Write(api:%s) = %v", c, err)
		}
		digests[i] = d
	}
	counter := testreg.NewCounter(nil)
	client := newClient(b, host, counter)
	p := &promote.Promoter{Config: ladder(), Registry: client, Now: func() time.Time { return released }}
	// Start dev on the second build so the first iteration moves it.
	if _, err := p.Promote(ctx, promote.Request{Tier: "dev", Commit: commits[1]}); err != nil {
		b.Fatalf("Promote(dev, %s) = %v", commits[1], err)
	}
	counter.Reset()

	i := 0
	for b.Loop() { // Loop leaves the setup above out of the timing.
		k := i % 2
		rep, err := p.Promote(ctx, promote.Request{Tier: "dev", Commit: commits[k]})
		if err != nil {
			b.Fatalf("Promote(dev, %s) = %v", commits[k], err)
		}
		res := rep.Tags
		if len(res) != 1 || res[0].Status != promote.Moved || res[0].Digest != digests[k].String() {
			b.Fatalf("Promote(dev, %s) = %+v, want dev moved to %s", commits[k], res, digests[k])
		}
		i++
	}
	report(b, counter)
}

// benchCopy pulls the build by digest from one registry and pushes it into
// a fresh repository of a second registry on every iteration: a different
// host, so no cross-repository mount can spare the layer upload.
func benchCopy(b *testing.B) {
	ctx := b.Context()
	src, dst := testreg.New(b), testreg.New(b)
	digest, err := newClient(b, src, nil).Write(ctx, "api", commitA, bigBuild(b, commitA))
	if err != nil {
		b.Fatalf("Write(api:%s) = %v", commitA, err)
	}
	counter := testreg.NewCounter(nil)
	from, to := newClient(b, src, counter), newClient(b, dst, counter)
	repo, err := from.Repository("api")
	if err != nil {
		b.Fatal(err)
	}
	ref := repo.Digest(digest.String())

	i := 0
	for b.Loop() { // Loop leaves the setup above out of the timing.
		img, err := remote.Image(ref, from.Options(ctx)...)
		if err != nil {
			b.Fatalf("Image(%s) = %v", ref, err)
		}
		name := fmt.Sprintf("api-copy-%d", i)
		got, err := to.Write(ctx, name, "dev", img)
		if err != nil || got != digest {
			b.Fatalf("Write(%s:dev) = %s, %v; want %s", name, got, err, digest)
		}
		i++
	}
	// Every copy must have pulled and pushed the layer, or this measures
	// nothing.
	if least := int64(b.N) * bigLayerSize; counter.Sent() < least || counter.Received() < least {
		b.Fatalf("%d copies sent %d bytes and received %d, want >= %d each", b.N, counter.Sent(), counter.Received(), least)
	}
	report(b, counter)
}

// report adds the wire bytes (request and response bodies) and requests per
// operation counted since the last reset.
func report(b *testing.B, c *testreg.Counter) {
	n := float64(b.N)
	b.ReportMetric(float64(c.Sent()+c.Received())/n, "B/op-wire")
	b.ReportMetric(float64(c.Total())/n, "req/op")
	b.ReportMetric(float64(blobRequests(c))/n, "blobreq/op")
}
