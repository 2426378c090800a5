package deploy_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tierdeploy/tier/deploy"
	"github.com/tierdeploy/tier/target/targettest"
)

// BenchmarkPromoteTier deploys one tier of 50 environments whose target
// answers every call after 100ms and converges 500ms after a deploy, with
// tier's parallel engine and the seed's serial way (one environment after
// another), and a single environment for reference; then a tier of 500
// with the default bound and with the former default of 64.
func BenchmarkPromoteTier(b *testing.B) {
	script := targettest.Script{Latency: 100 * time.Millisecond, ConvergeAfter: 500 * time.Millisecond}
	for _, bc := range []struct {
		name     string
		envs     int
		parallel int
	}{
		{"single", 1, 0},
		{"parallel-50", 50, 0},
		{"serial-50", 50, 1},
		{"default-500", 500, 0},
		{"parallel64-500", 500, 64},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var names []string
			for i := range bc.envs {
				names = append(names, fmt.Sprintf("env%03d", i))
			}
			for b.Loop() {
				tg := targettest.New()
				for _, n := range names {
					tg.Set(n, script, old)
				}
				e := &deploy.Engine{Target: engine(tg).Target, Parallel: bc.parallel, Poll: 100 * time.Millisecond, MaxPoll: time.Second}
				rep := e.Run(context.Background(), items(newD, names...), false)
				if deploy.VerdictOf(rep) != deploy.Done {
					b.Fatalf("Run() = %+v", rep)
				}
			}
		})
	}
}
