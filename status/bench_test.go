package status_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tierdeploy/tier/target"
)

// BenchmarkStatusECS reads the grid of n ECS environments, cold (a new
// credential cache, target and catalog per operation), against the AWS
// stand-in with 50 ms added to every call. The latency=0 cases measure
// what the in-process harness itself costs (the SDK, the proxy and the
// stand-in share this machine's CPUs): the floor under the 50 ms figures.
func BenchmarkStatusECS(b *testing.B) {
	for _, n := range []int{2, 200, 1000} {
		for _, latency := range []time.Duration{50 * time.Millisecond, 0} {
			b.Run(fmt.Sprintf("envs=%d/latency=%s", n, latency), func(b *testing.B) { benchmarkStatusECS(b, n, latency) })
		}
	}
}

func benchmarkStatusECS(b *testing.B, n int, latency time.Duration) {
	g := newECSGrid(b, n, latency)
	ctx := context.Background()
	for b.Loop() {
		grid, err := g.status(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range grid.Environments {
			if e.State != target.InSync {
				b.Fatalf("%s = %s (%s), want in sync", e.Name, e.State, e.Reason)
			}
		}
	}
}
