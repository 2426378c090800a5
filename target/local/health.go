package local

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// probeTimeout bounds one health probe.
const probeTimeout = time.Second

// healthClient never follows redirects (a 3xx is healthy) and never uses a
// proxy.
var healthClient = &http.Client{
	Transport:     &http.Transport{DisableKeepAlives: true},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// probe checks once whether the service on port is healthy: health is an
// HTTP path, healthy when GET answers 2xx or 3xx, or "tcp" (or empty),
// healthy when a TCP connection succeeds.
func probe(ctx context.Context, port int, health string) error {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if health == "" || health == "tcp" {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return fmt.Errorf("connecting to %s: %w", addr, err)
		}
		c.Close()
		return nil
	}
	url := "http://" + addr + health
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("health check %q: %w", health, err)
	}
	resp, err := healthClient.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("GET %s answered %s", url, resp.Status)
	}
	return nil
}

// waitHealthy polls p's health check every HealthInterval until it passes,
// p exits, HealthTimeout passes or ctx ends, and says which.
func (t *Target) waitHealthy(ctx context.Context, p *proc, port int, health string) error {
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, t.o.HealthTimeout)
	defer cancel()
	tick := time.NewTicker(t.o.HealthInterval)
	defer tick.Stop()
	var last error
	for {
		pctx, pcancel := context.WithTimeout(wctx, probeTimeout)
		err := probe(pctx, port, health)
		pcancel()
		// An exit wins over a probe: whatever answered was not p.
		select {
		case <-p.exited:
			return fmt.Errorf("%s", exitReason(p.state))
		default:
		}
		if err == nil {
			return nil
		}
		// A probe cut short by the deadline says less than the one before.
		if wctx.Err() == nil || last == nil {
			last = err
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%s", exitReason(p.state))
		case <-wctx.Done():
			if cerr := ctx.Err(); cerr != nil {
				return fmt.Errorf("stopped waiting for the health check after %s: %w (last probe: %v)", time.Since(start).Round(time.Millisecond), cerr, last)
			}
			return fmt.Errorf("health check timed out after %s: %v", t.o.HealthTimeout, last)
		case <-tick.C:
		}
	}
}
