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
// stand-in with 50 ms added to every call.
func BenchmarkStatusECS(b *testing.B) {
	for _, n := range []int{2, 200, 1000} {
		b.Run(fmt.Sprintf("envs=%d", n), func(b *testing.B) {
			g := newECSGrid(b, n, 50*time.Millisecond)
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
		})
	}
}
