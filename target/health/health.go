// Package health is the health check tier runs itself against a service
// that targets started (an HTTP GET of a path, or a TCP connect) and the
// wait of the local and docker targets for a build they started to become
// healthy.
package health

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// ProbeTimeout bounds one probe.
const ProbeTimeout = time.Second

// client never follows redirects (a 3xx is healthy) and never uses a proxy.
var client = &http.Client{
	Transport:     &http.Transport{DisableKeepAlives: true},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// Probe checks once whether the service on host:port is healthy. check is
// an HTTP path, healthy when GET answers 2xx or 3xx, or "tcp" (or empty),
// healthy when a TCP connection succeeds.
func Probe(ctx context.Context, host string, port int, check string) error {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	if check == "" || check == "tcp" {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return fmt.Errorf("connecting to %s: %w", addr, err)
		}
		c.Close()
		return nil
	}
	url := "http://" + addr + check
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("health check %q: %w", check, err)
	}
	resp, err := client.Do(req)
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
