package local

import (
	"context"
	"fmt"

	"github.com/tierdeploy/tier/target/health"
)

// waitHealthy probes p's health check every HealthInterval until it passes,
// p exits, HealthTimeout passes or ctx ends, and says which. An exit is an
// *exitError.
func (t *Target) waitHealthy(ctx context.Context, p *proc, port int, check string) error {
	w := health.Wait{What: fmt.Sprintf("process %d", p.pid), Timeout: t.o.HealthTimeout, Interval: t.o.HealthInterval, Wake: p.exited}
	return w.Until(ctx, func(ctx context.Context) (bool, error) {
		if err := p.exit(); err != nil {
			return true, err
		}
		pctx, cancel := context.WithTimeout(ctx, health.ProbeTimeout)
		err := health.Probe(pctx, "127.0.0.1", port, check)
		cancel()
		// An exit wins over a probe: whatever answered was not p.
		if xerr := p.exit(); xerr != nil {
			return true, xerr
		}
		return err == nil, err
	})
}
