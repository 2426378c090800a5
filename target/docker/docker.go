package docker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/docker/cli/cli/connhelper"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/moby/moby/client"

	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/target"
)

// Defaults for Options.
const (
	DefaultHealthTimeout  = 60 * time.Second
	DefaultHealthInterval = 250 * time.Millisecond
	DefaultStopTimeout    = 10 * time.Second
	DefaultLogLines       = 10
)

// Options configure a Target. The zero value is ready to use.
type Options struct {
	// Log receives progress; nil discards it.
	Log *slog.Logger
	// HealthTimeout bounds the wait for a new container to become healthy
	// (DefaultHealthTimeout when 0); the context's deadline applies too.
	HealthTimeout time.Duration
	// HealthInterval is the time between health checks
	// (DefaultHealthInterval when 0).
	HealthInterval time.Duration
	// StopTimeout is how long a container may take to exit after its stop
	// signal before the engine kills it (DefaultStopTimeout when 0; whole
	// seconds).
	StopTimeout time.Duration
	// LogLines is how many of a failed container's last log lines a
	// target.DeployError or a failed Observation carries (DefaultLogLines when 0).
	LogLines int
	// Keychain supplies registry credentials for pulls; nil means the
	// Docker config keychain. Loopback registries are pulled anonymously.
	Keychain authn.Keychain
}

// Target runs builds as containers on Docker engines. It keeps one API
// client per engine address and TLS files, created on first use. It is
// safe for concurrent use.
type Target struct {
	o   Options
	log *slog.Logger

	mu      sync.Mutex
	closed  bool
	engines map[engineKey]*engine
	locks   map[string]chan struct{}
}

var (
	_ target.Target  = (*Target)(nil)
	_ target.Stopper = (*Target)(nil)
)

// New returns a docker target.
func New(o Options) *Target {
	if o.HealthTimeout <= 0 {
		o.HealthTimeout = DefaultHealthTimeout
	}
	if o.HealthInterval <= 0 {
		o.HealthInterval = DefaultHealthInterval
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = DefaultStopTimeout
	}
	if o.LogLines <= 0 {
		o.LogLines = DefaultLogLines
	}
	if o.Keychain == nil {
		o.Keychain = authn.DefaultKeychain
	}
	return &Target{o: o, log: cmp.Or(o.Log, slog.New(slog.DiscardHandler)), engines: map[engineKey]*engine{}, locks: map[string]chan struct{}{}}
}

// Close closes the API clients. The Target cannot be used afterwards.
func (t *Target) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	var errs []error
	for k, e := range t.engines {
		errs = append(errs, e.cli.Close())
		delete(t.engines, k)
	}
	return errors.Join(errs...)
}

// engineKey names one API client: an engine address with its TLS files.
type engineKey struct {
	host, ca, cert, key string
}

// engine is one Docker engine and how to reach what runs on it.
type engine struct {
	cli *client.Client
	// addr is the engine's address, for messages.
	addr string
	// probeHost is where tier reaches containers' published ports.
	probeHost string
	// local reports whether the engine runs on this machine.
	local bool
}

// dockerOf returns env's docker settings, checked.
func dockerOf(env config.Environment) (*config.Docker, error) {
	d := env.Target.Docker
	if d == nil {
		return nil, fmt.Errorf("environment %s has no docker target", env.Name)
	}
	if d.Container == "" {
		return nil, fmt.Errorf("environment %s: no container name: set docker.container in the configuration", env.Name)
	}
	if d.Port < 0 || d.Port > 65535 {
		return nil, fmt.Errorf("environment %s: docker port %d is not a TCP port: set docker.port in the configuration", env.Name, d.Port)
	}
	return d, nil
}

// engine returns the client for d's engine, creating it on first use.
func (t *Target) engine(d *config.Docker) (*engine, error) {
	k := engineKey{host: d.Host, ca: d.TLSCACert, cert: d.TLSCert, key: d.TLSKey}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, errors.New("docker target is closed")
	}
	if e, ok := t.engines[k]; ok {
		return e, nil
	}
	e, err := newEngine(d)
	if err != nil {
		return nil, err
	}
	t.engines[k] = e
	return e, nil
}

// newEngine makes an API client for d.Host, or from the DOCKER_*
// variables when it is empty. API versions are negotiated on first use.
func newEngine(d *config.Docker) (*engine, error) {
	host := d.Host
	var opts []client.Opt
	if host == "" {
		host = os.Getenv(client.EnvOverrideHost)
		opts = append(opts, client.WithTLSClientConfigFromEnv(), client.WithAPIVersionFromEnv())
	}
	if strings.HasPrefix(host, "ssh://") {
		h, err := connhelper.GetConnectionHelper(host)
		if err != nil {
			return nil, fmt.Errorf("docker engine %s: %w", host, err)
		}
		opts = append(opts, client.WithHost(h.Host), client.WithDialContext(h.Dialer))
	} else if host != "" {
		opts = append(opts, client.WithHost(host))
	}
	if d.TLSCACert != "" || d.TLSCert != "" || d.TLSKey != "" {
		opts = append(opts, client.WithTLSClientConfig(d.TLSCACert, d.TLSCert, d.TLSKey))
	}
	cli, err := client.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker engine %s: %w", cmp.Or(host, client.DefaultDockerHost), err)
	}
	host = cmp.Or(host, cli.DaemonHost())
	ph, local := probeHost(host)
	return &engine{cli: cli, addr: host, probeHost: ph, local: local}, nil
}

// probeHost returns the address at which this machine reaches ports
// published by the engine at host, and whether that engine is local.
func probeHost(host string) (string, bool) {
	u, err := url.Parse(host)
	if err != nil {
		return "127.0.0.1", true
	}
	switch u.Scheme {
	case "tcp", "http", "https", "ssh":
		h := u.Hostname()
		if h == "" || h == "localhost" {
			return "127.0.0.1", true
		}
		if ip := net.ParseIP(h); ip != nil && ip.IsLoopback() {
			return "127.0.0.1", true
		}
		return h, false
	}
	// unix, npipe, fd: the engine runs here.
	return "127.0.0.1", true
}

// lock serialises deploys and stops of one container on one engine
// within this Target.
func (t *Target) lock(ctx context.Context, e *engine, name string) (func(), error) {
	key := e.addr + " " + name
	t.mu.Lock()
	ch, ok := t.locks[key]
	if !ok {
		ch = make(chan struct{}, 1)
		t.locks[key] = ch
	}
	t.mu.Unlock()
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for another deploy of container %s on %s: %w", name, e.addr, context.Cause(ctx))
	}
}
