package embedded

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/olareg/olareg"
	"github.com/olareg/olareg/config"
)

// DefaultAddr is where [Serve] listens when it is given no address.
const DefaultAddr = "127.0.0.1:5000"

// Modes recorded in serve.json.
const (
	// ModeServe is a long-running registry (`tier registry serve`) that
	// other commands use.
	ModeServe = "serve"
	// ModeSession is a registry one short-lived command started for
	// itself; other commands wait for it to finish.
	ModeSession = "session"
)

// ErrNotLoopback reports a listen address other processes on the network
// could reach, refused unless [Options.AllowRemote] is set.
var ErrNotLoopback = errors.New("address is not loopback")

// shutdownTimeout bounds the graceful shutdown that follows a cancelled
// context, when no caller supplied a deadline.
const shutdownTimeout = 10 * time.Second

// Options adjust [ServeWith].
type Options struct {
	// AllowRemote permits a listen address that is not loopback (the
	// CLI's --public).
	AllowRemote bool
	// Mode is recorded in serve.json: [ModeServe] (the default) or
	// [ModeSession].
	Mode string
}

// Server is a running embedded registry that owns its storage directory.
type Server struct {
	dir      string
	addr     string
	lock     *os.File
	http     *http.Server
	reg      *olareg.Server
	log      *slog.Logger
	served   chan struct{} // closed when http.Server.Serve returns
	serveErr error         // set before served is closed
	done     chan struct{} // closed when Close has finished

	mu    sync.Mutex
	fresh map[net.Conn]struct{} // connections that have not sent a request yet

	closeOnce sync.Once
	closeErr  error
}

// Serve runs the embedded registry on the storage directory dir, creating it
// if needed, listening on addr (DefaultAddr when empty; port 0 picks a free
// port). It is ServeWith with the default [Options]: mode "serve", loopback
// addresses only.
func Serve(ctx context.Context, dir, addr string, log *slog.Logger) (*Server, error) {
	return ServeWith(ctx, dir, addr, Options{}, log)
}

// ServeWith runs the embedded registry on dir, as [Serve] does, with opts.
//
// It takes the lock on dir, failing with a [*LockedError] (wrapping
// [ErrLocked]) when another process or Server owns it; listens; and writes
// dir/serve.json. The registry runs until [Server.Close] is called or ctx is
// cancelled, whichever comes first; both release the directory.
func ServeWith(ctx context.Context, dir, addr string, opts Options, log *slog.Logger) (*Server, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	switch opts.Mode {
	case "":
		opts.Mode = ModeServe
	case ModeServe, ModeSession:
	default:
		return nil, fmt.Errorf("embedded registry mode %q: want %q or %q", opts.Mode, ModeServe, ModeSession)
	}
	addr = cmp.Or(addr, DefaultAddr)
	if err := checkAddr(addr, opts.AllowRemote); err != nil {
		return nil, err
	}
	if dir == "" {
		return nil, errors.New("embedded registry: no storage directory")
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating registry storage: %w", err)
	}
	lf, err := lock(dir)
	if err != nil {
		return nil, err
	}
	// We own the directory now: uploads left by a killed owner can never
	// complete, and olareg's GC does not remove them.
	if err := clearUploads(dir); err != nil {
		log.Warn("removing abandoned uploads", "dir", dir, "err", err)
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("embedded registry: %w", err), unlock(lf))
	}

	regLog := slog.New(slog.DiscardHandler)
	if log.Enabled(ctx, slog.LevelDebug) {
		regLog = log.With("component", "olareg")
	}
	no := false
	reg := olareg.New(config.Config{
		Storage: config.ConfigStorage{
			StoreType: config.StoreDir,
			RootDir:   dir,
			GC: config.ConfigGC{
				Untagged:          &no,
				ReferrersDangling: &no,
			},
		},
		API: config.ConfigAPI{Manifest: config.ConfigAPIManifest{Limit: manifestLimit}},
		Log: regLog,
	})
	s := &Server{
		dir:  dir,
		addr: ln.Addr().String(),
		lock: lf,
		http: &http.Server{
			Handler:           &guard{next: reg},
			ReadHeaderTimeout: 10 * time.Second,
		},
		reg:    reg,
		log:    log,
		served: make(chan struct{}),
		done:   make(chan struct{}),
		fresh:  make(map[net.Conn]struct{}),
	}
	s.http.ConnState = s.connState
	s.http.RegisterOnShutdown(s.closeFresh)
	go func() {
		err := s.http.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.serveErr = err
		close(s.served)
	}()

	info := Info{
		Addr:    dialAddr(ln.Addr()),
		PID:     os.Getpid(),
		Mode:    opts.Mode,
		Started: time.Now().UTC().Truncate(time.Second),
	}
	if err := writeInfo(dir, info); err != nil {
		return nil, errors.Join(err, s.Close(context.WithoutCancel(ctx)))
	}

	// Close when ctx ends, or tidy up if the listener fails on its own.
	go func() {
		select {
		case <-ctx.Done():
		case <-s.served:
		case <-s.done:
			return
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer cancel()
		_ = s.Close(cctx)
	}()

	level := slog.LevelInfo
	if opts.Mode == ModeSession {
		level = slog.LevelDebug
	}
	log.Log(ctx, level, "embedded registry listening", "addr", s.addr, "dir", dir, "mode", opts.Mode)
	return s, nil
}

// Addr returns the host:port the registry is bound to.
func (s *Server) Addr() string { return s.addr }

// Dir returns the absolute path of the storage directory.
func (s *Server) Dir() string { return s.dir }

// Done is closed once the server has stopped and released its directory.
func (s *Server) Done() <-chan struct{} { return s.done }

// Wait blocks until the server has stopped and returns why: nil after a
// Close or a cancelled context that shut down cleanly.
func (s *Server) Wait() error {
	<-s.done
	return errors.Join(s.serveErr, s.closeErr)
}

// Close stops accepting requests, waits for those in flight until ctx is
// done (then drops them), closes the store, removes serve.json and releases
// the lock. It is safe to call more than once and from several goroutines;
// every call returns the first call's result.
func (s *Server) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		var errs []error
		if err := s.http.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shutting down embedded registry: %w", err))
			_ = s.http.Close()
		}
		<-s.served
		if err := s.reg.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing registry storage: %w", err))
		}
		if err := os.Remove(filepath.Join(s.dir, infoFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
		if err := unlock(s.lock); err != nil {
			errs = append(errs, err)
		}
		s.closeErr = errors.Join(errs...)
		s.log.Debug("embedded registry stopped", "addr", s.addr, "dir", s.dir)
		close(s.done)
	})
	<-s.done
	return s.closeErr
}

// connState tracks the connections that have not sent a request yet.
func (s *Server) connState(c net.Conn, st http.ConnState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st == http.StateNew {
		s.fresh[c] = struct{}{}
	} else {
		delete(s.fresh, c)
	}
}

// closeFresh closes the connections that have not sent a request yet.
// http.Server.Shutdown waits five seconds for those before it treats them
// as idle, and HTTP clients often leave one behind: a connection dialled
// for a request that another connection served first.
func (s *Server) closeFresh() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.fresh {
		_ = c.Close()
		delete(s.fresh, c)
	}
}

// checkAddr refuses listen addresses that are not loopback unless allowed.
func checkAddr(addr string, allowRemote bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("embedded registry address %q: %w", addr, err)
	}
	if allowRemote || host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("embedded registry address %s: %w: bind to 127.0.0.1, or pass --public to expose the registry", addr, ErrNotLoopback)
}

// dialAddr turns a bound address into one this machine can dial: a wildcard
// bind (0.0.0.0 or ::, which Go listens on dual-stack) becomes 127.0.0.1.
func dialAddr(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok || !ta.IP.IsUnspecified() {
		return a.String()
	}
	return net.JoinHostPort("127.0.0.1", fmt.Sprint(ta.Port))
}

// clearUploads removes the files of unfinished blob uploads, which olareg
// keeps in a _uploads directory per repository.
func clearUploads(dir string) error {
	var errs []error
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() || d.Name() != "_uploads" {
			return err
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return err
		}
		for _, e := range entries {
			errs = append(errs, os.RemoveAll(filepath.Join(p, e.Name())))
		}
		return fs.SkipDir
	})
	return errors.Join(append(errs, err)...)
}
