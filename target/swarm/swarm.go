package swarm

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/cli/cli/connhelper"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/target"
)

// DefaultLogLines is how many log lines of a failed task a failed
// observation carries when Options.LogLines is 0.
const DefaultLogLines = 10

// Options configure a Target.
type Options struct {
	// Log receives progress; nil discards it.
	Log *slog.Logger
	// LogLines is how many of the latest failed task's last log lines a
	// Failed observation's Reason carries (DefaultLogLines when 0, none
	// when negative).
	LogLines int
}

// engine is what the target uses of a Docker API client.
type engine interface {
	ServiceInspect(ctx context.Context, id string, o client.ServiceInspectOptions) (client.ServiceInspectResult, error)
	ServiceUpdate(ctx context.Context, id string, o client.ServiceUpdateOptions) (client.ServiceUpdateResult, error)
	TaskList(ctx context.Context, o client.TaskListOptions) (client.TaskListResult, error)
	TaskLogs(ctx context.Context, id string, o client.TaskLogsOptions) (client.TaskLogsResult, error)
	DaemonHost() string
	Close() error
}

// Target deploys to Swarm services. It keeps one API client per manager
// host, created on first use; it is safe for concurrent use.
type Target struct {
	o   Options
	log *slog.Logger

	mu      sync.Mutex
	clients map[string]engine
}

var _ target.Target = (*Target)(nil)

// New returns a Swarm target.
func New(o Options) *Target {
	if o.LogLines == 0 {
		o.LogLines = DefaultLogLines
	}
	return &Target{o: o, log: cmp.Or(o.Log, slog.New(slog.DiscardHandler)), clients: map[string]engine{}}
}

// Close closes the target's API clients. The target may be used again
// afterwards; it then opens new ones.
func (t *Target) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	var errs []error
	for h, c := range t.clients {
		errs = append(errs, c.Close())
		delete(t.clients, h)
	}
	return errors.Join(errs...)
}

// client returns the API client for a manager host; "" means DOCKER_HOST
// (and DOCKER_TLS_VERIFY, DOCKER_CERT_PATH, DOCKER_API_VERSION).
func (t *Target) client(host string) (engine, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c, ok := t.clients[host]; ok {
		return c, nil
	}
	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	switch {
	case strings.HasPrefix(host, "ssh://"):
		h, err := connhelper.GetConnectionHelper(host)
		if err != nil {
			return nil, fmt.Errorf("swarm manager %s: %w", host, err)
		}
		opts = []client.Opt{client.WithHost(h.Host), client.WithDialContext(h.Dialer), client.WithAPIVersionNegotiation()}
	case host != "":
		// TLS settings of a tcp:// manager come from DOCKER_TLS_VERIFY and
		// DOCKER_CERT_PATH, as the docker CLI reads them.
		opts = []client.Opt{client.WithHost(host), client.WithTLSClientConfigFromEnv(), client.WithAPIVersionNegotiation()}
	}
	c, err := client.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker client for %s: %w", cmp.Or(host, "DOCKER_HOST"), err)
	}
	t.clients[host] = c
	return c, nil
}

// service is one environment's service and the client of its manager.
type service struct {
	c    engine
	name string
	host string
}

func (t *Target) service(env config.Environment) (service, error) {
	sw := env.Target.Swarm
	if sw == nil {
		return service{}, fmt.Errorf("environment %s has no swarm target", env.Name)
	}
	if sw.Service == "" {
		return service{}, fmt.Errorf("environment %s: swarm.service is empty: name the Swarm service to deploy to", env.Name)
	}
	c, err := t.client(sw.Host)
	if err != nil {
		return service{}, fmt.Errorf("environment %s: %w", env.Name, err)
	}
	return service{c: c, name: sw.Service, host: c.DaemonHost()}, nil
}

// inspect returns the service and its raw JSON.
func (s service) inspect(ctx context.Context) (client.ServiceInspectResult, error) {
	r, err := s.c.ServiceInspect(ctx, s.name, client.ServiceInspectOptions{})
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return r, &NotFoundError{Service: s.name, Host: s.host, Err: err}
		}
		return r, fmt.Errorf("inspecting swarm service %s on %s: %w", s.name, s.host, err)
	}
	if r.Service.Spec.TaskTemplate.ContainerSpec == nil {
		return r, &SpecError{Service: s.name, Host: s.host, Reason: "it runs no container (a plugin?): tier deploys container images only"}
	}
	if m := r.Service.Spec.Mode; m.ReplicatedJob != nil || m.GlobalJob != nil {
		return r, &SpecError{Service: s.name, Host: s.host, Reason: "it is a job: tier deploys long-running services only"}
	}
	return r, nil
}

// tasks lists every task Swarm still records for the service, whatever its
// desired state: the failed ones explain a failure.
func (s service) tasks(ctx context.Context, id string) ([]swarm.Task, error) {
	r, err := s.c.TaskList(ctx, client.TaskListOptions{Filters: make(client.Filters).Add("service", id)})
	if err != nil {
		return nil, fmt.Errorf("listing the tasks of swarm service %s on %s: %w", s.name, s.host, err)
	}
	return r.Items, nil
}
