package ecs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/internal/awscred"
	"github.com/tierdeploy/tier/tags"
	"github.com/tierdeploy/tier/target"
)

// Options configure a Target.
type Options struct {
	// Creds hands out each environment's AWS configuration; nil means a
	// new awscred.Cache (shared config, environment, default chain).
	Creds *awscred.Cache
	// Log receives progress; nil discards it.
	Log *slog.Logger
	// ReleaseTiers names the tiers that cut release tags
	// (config.Tier.Release): an environment of one deploys in pin mode
	// unless its ecs.mode says otherwise. When nil, a tier is taken as a
	// release tier when the deployed tag is one of its release tags
	// (<tier>-<UTC time>).
	ReleaseTiers map[string]bool
	// Registry is the shared registry's host (config.Config.Registry). It
	// lets Observe recognize the service's container by its full
	// repository when neither ecs.container nor a deploy of this process
	// names it; without it the repository's path is compared.
	Registry string
}

// api is what the target uses of the ECS client.
type api interface {
	DescribeServices(ctx context.Context, in *ecs.DescribeServicesInput, o ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error)
	DescribeTaskDefinition(ctx context.Context, in *ecs.DescribeTaskDefinitionInput, o ...func(*ecs.Options)) (*ecs.DescribeTaskDefinitionOutput, error)
	RegisterTaskDefinition(ctx context.Context, in *ecs.RegisterTaskDefinitionInput, o ...func(*ecs.Options)) (*ecs.RegisterTaskDefinitionOutput, error)
	UpdateService(ctx context.Context, in *ecs.UpdateServiceInput, o ...func(*ecs.Options)) (*ecs.UpdateServiceOutput, error)
	ListTasks(ctx context.Context, in *ecs.ListTasksInput, o ...func(*ecs.Options)) (*ecs.ListTasksOutput, error)
	DescribeTasks(ctx context.Context, in *ecs.DescribeTasksInput, o ...func(*ecs.Options)) (*ecs.DescribeTasksOutput, error)
	ListServiceDeployments(ctx context.Context, in *ecs.ListServiceDeploymentsInput, o ...func(*ecs.Options)) (*ecs.ListServiceDeploymentsOutput, error)
}

// Target deploys to Amazon ECS services. It keeps one ECS client per
// environment, built from that environment's credentials on first use, and
// remembers the deployment each Deploy started so Observe can follow it;
// it is safe for concurrent use.
type Target struct {
	o     Options
	log   *slog.Logger
	creds *awscred.Cache

	// now is the clock (time.Now).
	now func() time.Time

	mu      sync.Mutex
	closed  bool
	clients map[awscred.Settings]api
	// locks serializes Deploy per ECS service, so two services of tier
	// deployed to containers of one task definition do not register
	// revisions that drop each other's change.
	locks map[string]*sync.Mutex
	// records holds what the last Deploy of each environment and service
	// started.
	records map[string]*record
}

var _ target.Target = (*Target)(nil)

// New returns an ECS target.
func New(o Options) *Target {
	return &Target{
		o: o, log: cmp.Or(o.Log, slog.New(slog.DiscardHandler)), creds: cmp.Or(o.Creds, &awscred.Cache{}), now: time.Now,
		clients: map[awscred.Settings]api{}, locks: map[string]*sync.Mutex{}, records: map[string]*record{},
	}
}

// Close forgets the ECS clients and what Deploy started. The SDK's clients
// hold nothing that needs releasing and the credential cache is the
// caller's, so it returns nil; the Target cannot be used afterwards.
func (t *Target) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	clear(t.clients)
	clear(t.records)
	return nil
}

// record is what a Deploy started, for Observe.
type record struct {
	// before is the PRIMARY deployment before the update, beforeTD its
	// task definition.
	before, beforeTD string
	// deployment is the deployment the update created, taskDef its task
	// definition.
	deployment, taskDef string
	// containers are the containers deployed to (read only once
	// recorded).
	containers []string
	// serviceDeployment is the ARN of the service deployment the update
	// started (UpdateService's currentServiceDeployment; "" when ECS
	// named none), started the time just before the update, a lower
	// bound for ListServiceDeployments' createdAt filter.
	serviceDeployment string
	started           time.Time
	// sawCompleted and failReason are what Observe last saw of it.
	sawCompleted bool
	failReason   string
	// stopped says why the deployment's tasks stopped and sdStatus what
	// its service deployment was, as read when the deployment's
	// failedTasks was failedSeen.
	failedSeen        int32
	stopped, sdStatus string
}

// errClosed is what a closed Target answers.
var errClosed = errors.New("ecs target is closed")

// conn is one environment's ECS service and the client to reach it.
type conn struct {
	api      api
	env      string
	settings awscred.Settings
	ecs      *config.ECS
	cluster  string
	service  string
}

func (t *Target) conn(ctx context.Context, env config.Environment) (*conn, error) {
	e := env.Target.ECS
	if e == nil {
		return nil, fmt.Errorf("environment %s has no ecs target", env.Name)
	}
	if e.Cluster == "" || e.Service == "" {
		return nil, fmt.Errorf("environment %s: ecs.cluster and ecs.service must both be set", env.Name)
	}
	s := awscred.FromECS(env.Name, e)
	t.mu.Lock()
	c, ok := t.clients[s]
	closed := t.closed
	t.mu.Unlock()
	if closed {
		return nil, errClosed
	}
	if !ok {
		cfg, err := t.creds.Config(ctx, s)
		if err != nil {
			return nil, err
		}
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.closed {
			return nil, errClosed
		}
		if c, ok = t.clients[s]; !ok {
			c = ecs.NewFromConfig(cfg)
			t.clients[s] = c
		}
	}
	return &conn{api: c, env: env.Name, settings: s, ecs: e, cluster: e.Cluster, service: e.Service}, nil
}

// lock serializes Deploy on one ECS service.
func (t *Target) lock(c *conn) func() {
	k := fmt.Sprintf("%s\x00%s\x00%s\x00%s", c.settings.Region, c.settings.Environment, c.cluster, c.service)
	t.mu.Lock()
	m, ok := t.locks[k]
	if !ok {
		m = &sync.Mutex{}
		t.locks[k] = m
	}
	t.mu.Unlock()
	m.Lock()
	return m.Unlock
}

func recordKey(env config.Environment, svc config.Service) string {
	return env.Name + "\x00" + svc.Name
}

func (t *Target) remember(k string, r *record) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.records[k] = r
}

// recall returns a copy of the record of k, or nil.
func (t *Target) recall(k string) *record {
	t.mu.Lock()
	defer t.mu.Unlock()
	if r, ok := t.records[k]; ok {
		c := *r
		return &c
	}
	return nil
}

// update changes the record of k with f, if it is still about
// deployment.
func (t *Target) update(k, deployment string, f func(r *record)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if r, ok := t.records[k]; ok && r.deployment == deployment {
		f(r)
	}
}

// mode returns the deploy mode of d's environment.
func (t *Target) mode(d target.Deployment) string {
	if m := d.Environment.Target.ECS.Mode; m != "" {
		return m
	}
	release := false
	if t.o.ReleaseTiers != nil {
		release = t.o.ReleaseTiers[d.Environment.Tier]
	} else {
		_, release = tags.ParseRelease(d.Environment.Tier, d.Tag)
	}
	if release {
		return config.ModePin
	}
	return config.ModeTrackTag
}

// describe returns the environment's service; a missing or inactive one is
// a *NotFoundError.
func (c *conn) describe(ctx context.Context) (types.Service, error) {
	out, err := c.api.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: &c.cluster, Services: []string{c.service}})
	if err != nil {
		return types.Service{}, c.wrap("DescribeServices", err)
	}
	for _, s := range out.Services {
		if s.Status != nil && *s.Status != "ACTIVE" {
			return s, &NotFoundError{Environment: c.env, Region: c.settings.Region, Cluster: c.cluster, Service: c.service, Status: *s.Status}
		}
		return s, nil
	}
	reason := "MISSING"
	for _, f := range out.Failures {
		if f.Reason != nil {
			reason = *f.Reason
		}
	}
	return types.Service{}, &NotFoundError{Environment: c.env, Region: c.settings.Region, Cluster: c.cluster, Service: c.service, Reason: reason}
}

// primary returns the service's PRIMARY deployment, or nil.
func primary(s *types.Service) *types.Deployment {
	for i := range s.Deployments {
		if d := &s.Deployments[i]; d.Status != nil && *d.Status == "PRIMARY" {
			return d
		}
	}
	return nil
}

// deployment returns the service's deployment with id, or nil.
func deployment(s *types.Service, id string) *types.Deployment {
	for i := range s.Deployments {
		if d := &s.Deployments[i]; d.Id != nil && *d.Id == id {
			return d
		}
	}
	return nil
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
