package registry

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
)

// pingCache answers a registry's ping (GET /v2/, sent before a
// repository's first request to learn its authentication challenge) once
// per scheme and host for the client's life. go-containerregistry keeps
// the outcome per repository and separately for reading and for writing,
// so one command that reads a manifest and then writes a tag would ping
// twice, and against a loopback registry (tried over https and http at
// once) send four requests where two do. The challenge does not change
// within one command.
type pingCache struct {
	next http.RoundTripper

	mu   sync.Mutex
	seen map[string]*ping
}

// ping is the outcome of one ping, or the one in flight.
type ping struct {
	done   chan struct{}
	status int
	header http.Header
	body   []byte
	err    error
	keep   bool
}

// maxPingBody bounds the ping body kept; a registry's is empty or a few
// bytes of JSON.
const maxPingBody = 64 << 10

func (p *pingCache) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet || req.URL.Path != "/v2/" || req.Header.Get("Authorization") != "" {
		return p.next.RoundTrip(req)
	}
	key := req.URL.Scheme + "://" + req.URL.Host
	p.mu.Lock()
	if p.seen == nil {
		p.seen = map[string]*ping{}
	}
	pg, ok := p.seen[key]
	if !ok {
		pg = &ping{done: make(chan struct{})}
		p.seen[key] = pg
	}
	p.mu.Unlock()
	if ok {
		select {
		case <-pg.done:
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
		if pg.keep {
			return pg.response(req), pg.err
		}
		return p.next.RoundTrip(req)
	}
	resp, err := p.next.RoundTrip(req)
	pg.err = err
	if err == nil {
		pg.status, pg.header = resp.StatusCode, resp.Header.Clone()
		pg.body, err = io.ReadAll(io.LimitReader(resp.Body, maxPingBody))
		resp.Body.Close()
		pg.keep = err == nil && resp.StatusCode < http.StatusInternalServerError
		resp.Body = io.NopCloser(bytes.NewReader(pg.body))
	} else {
		// A refused or failed handshake (https against a plain-HTTP
		// registry) says the same thing every time; a timeout or a
		// cancellation does not.
		var ne net.Error
		pg.keep = !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) && !(errors.As(err, &ne) && ne.Timeout())
	}
	if !pg.keep {
		// Let the next ping try again.
		p.mu.Lock()
		delete(p.seen, key)
		p.mu.Unlock()
	}
	close(pg.done)
	return resp, err
}

// response is a fresh copy of the kept answer, for req.
func (pg *ping) response(req *http.Request) *http.Response {
	if pg.err != nil {
		return nil
	}
	return &http.Response{
		Status:        http.StatusText(pg.status),
		StatusCode:    pg.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        pg.header.Clone(),
		Body:          io.NopCloser(bytes.NewReader(pg.body)),
		ContentLength: int64(len(pg.body)),
		Request:       req,
	}
}
