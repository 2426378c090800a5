package embedded

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"
)

const (
	// pollInterval is how often Open looks again at a busy directory.
	pollInterval = 75 * time.Millisecond
	// anonymousWait is how long Open waits for an owner to write
	// serve.json before it logs that it is waiting without knowing the pid.
	anonymousWait = time.Second
	// pingTimeout bounds one GET /v2/ to an owner.
	pingTimeout = 2 * time.Second
)

// Open returns the address of the embedded registry on dir for one command,
// and a release to call when the command is done with it.
//
// If a "serve" process owns dir and answers, Open returns its address and a
// release that does nothing. If dir is free, Open starts a "session" registry
// in this process on 127.0.0.1 with a free port; release shuts it down and
// frees dir. If another command owns dir as a "session" (or its owner is
// still starting), Open polls until that changes, logging once at Info level
// that it is waiting; it returns ctx's error if ctx ends first.
//
// ctx bounds only the wait: a session registry lives until release is
// called. A process must not call Open again on dir while it holds a session
// from an earlier Open: the second call waits for the first to be released.
func Open(ctx context.Context, dir string, log *slog.Logger) (addr string, release func() error, err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	var (
		logged bool
		start  = time.Now()
		tick   *time.Ticker
	)
	for {
		srv, err := ServeWith(context.WithoutCancel(ctx), dir, "127.0.0.1:0", Options{Mode: ModeSession}, log)
		if err == nil {
			release := func() error {
				cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
				defer cancel()
				return srv.Close(cctx)
			}
			return srv.Addr(), release, nil
		}
		var le *LockedError
		if !errors.As(err, &le) {
			return "", nil, err
		}
		h := le.Holder
		if h != nil && h.Mode == ModeServe && answers(ctx, h.Addr) {
			return h.Addr, func() error { return nil }, nil
		}
		if !logged {
			switch {
			case h != nil:
				log.Warn(fmt.Sprintf("waiting for another tier process using the embedded registry %s (pid %d) to finish; run `tier registry serve` to let commands share it", dir, h.PID), "dir", dir, "pid", h.PID)
				logged = true
			case time.Since(start) >= anonymousWait:
				log.Warn(fmt.Sprintf("waiting for another tier process using the embedded registry %s to finish; run `tier registry serve` to let commands share it", dir), "dir", dir)
				logged = true
			}
		}
		if tick == nil {
			tick = time.NewTicker(pollInterval)
			defer tick.Stop()
		}
		select {
		case <-ctx.Done():
			return "", nil, fmt.Errorf("waiting for the embedded registry in %s: %w", dir, context.Cause(ctx))
		case <-tick.C:
		}
	}
}

// Addr returns the address of the process that owns dir, from its
// serve.json, if that process is alive and answers GET /v2/ (in either
// mode). ok is false when no live registry serves dir.
func Addr(ctx context.Context, dir string) (addr string, ok bool) {
	info, err := readInfo(dir)
	if err != nil || !pidAlive(info.PID) || !answers(ctx, info.Addr) {
		return "", false
	}
	return info.Addr, true
}

// answers reports whether a registry at addr responds 200 to GET /v2/.
func answers(ctx context.Context, addr string) bool {
	if addr == "" {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/v2/", nil)
	if err != nil {
		return false
	}
	resp, err := pingClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// pingClient talks only to 127.0.0.1: no proxy, no idle connections kept.
var pingClient = &http.Client{
	Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
}
