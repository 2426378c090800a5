package status

import (
	"context"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/tierdeploy/tier/catalog"
	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/target"
)

// EnvironmentView is one service of one environment: what its tier's tag
// says should run, what the platform says runs, and so its state. Field
// names are the JSON API's.
type EnvironmentView struct {
	Name           string       `json:"name"`
	Tier           string       `json:"tier"`
	Tenant         string       `json:"tenant"`
	Service        string       `json:"service"`
	Target         string       `json:"target"`
	DesiredTag     string       `json:"desired_tag,omitempty"`
	DesiredDigest  string       `json:"desired_digest,omitempty"`
	DesiredCommit  string       `json:"desired_commit,omitempty"`
	RunningDigests []string     `json:"running_digests"`
	RunningCommit  string       `json:"running_commit,omitempty"`
	State          target.State `json:"state"`
	Reason         string       `json:"reason,omitempty"`
	URL            string       `json:"url,omitempty"`
}

// Grid is the registry view plus every environment's state.
type Grid struct {
	Environments []EnvironmentView `json:"environments"`
	Tiers        []TierView        `json:"tiers"`
}

// InSync reports whether every environment runs what its tier says.
func (g Grid) InSync() bool {
	for _, e := range g.Environments {
		if e.State != target.InSync {
			return false
		}
	}
	return true
}

// observeLimit bounds how many environments are observed at once. An
// observation mostly waits on a remote API (an ECS environment makes about
// four calls of tens of milliseconds each), so the bound is set by what the
// platforms and this process's sockets bear, not by the CPUs: a grid of
// 1,000 environments is read in a few rounds.
const observeLimit = 256

// Environments reads the registry (desired) and every target (running), in
// parallel, and compares them.
func Environments(ctx context.Context, cfg *config.Config, cat *catalog.Catalog, targets target.Factory, o Options) (Grid, error) {
	tiers, err := Registry(ctx, cfg, cat, o)
	if err != nil {
		return Grid{}, err
	}
	desired := map[string]TierView{}
	for _, t := range tiers {
		desired[t.Service+"/"+t.Tier] = t
	}
	var rows []EnvironmentView
	var envs []config.Environment
	var svcs []config.Service
	for _, env := range cfg.Environments {
		if o.Tier != "" && env.Tier != o.Tier {
			continue
		}
		for _, svc := range cfg.Services {
			if o.Service != "" && svc.Name != o.Service || !env.Runs(svc.Name) {
				continue
			}
			d := desired[svc.Name+"/"+env.Tier]
			rows = append(rows, EnvironmentView{Name: env.Name, Tier: env.Tier, Tenant: env.Tenant, Service: svc.Name, Target: env.Target.Kind(),
				DesiredTag: d.Tag, DesiredDigest: d.Digest, DesiredCommit: d.Commit, RunningDigests: []string{}})
			envs, svcs = append(envs, env), append(svcs, svc)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(observeLimit)
	for i := range rows {
		g.Go(func() error {
			observe(gctx, cat, targets, envs[i], svcs[i], &rows[i])
			return nil
		})
	}
	g.Wait()
	return Grid{Environments: rows, Tiers: tiers}, nil
}

func observe(ctx context.Context, cat *catalog.Catalog, targets target.Factory, env config.Environment, svc config.Service, row *EnvironmentView) {
	tg, err := targets(env)
	if err != nil {
		row.State, row.Reason = target.Unreachable, err.Error()
		return
	}
	obs, err := tg.Observe(ctx, env, svc)
	if err != nil {
		row.State, row.Reason = target.Unreachable, err.Error()
		return
	}
	row.URL, row.Reason = obs.URL, obs.Reason
	for _, d := range obs.Running {
		row.RunningDigests = append(row.RunningDigests, d.String())
	}
	if len(obs.Running) > 0 {
		if b, err := cat.Build(ctx, svc.Repository, obs.Running[0]); err == nil {
			row.RunningCommit = b.Commit
		}
	}
	var platforms []v1.Hash
	if h, err := v1.NewHash(row.DesiredDigest); err == nil && !obs.RunsOnly(h) {
		// Perhaps an index whose platform manifest the platform reports.
		platforms, _ = cat.Platforms(ctx, svc.Repository, h)
	}
	row.State = state(obs, row.DesiredDigest, platforms)
}

// state compares what runs with what should.
func state(obs target.Observation, desired string, platforms []v1.Hash) target.State {
	switch obs.State {
	case target.NotDeployed, target.Failed, target.Deploying:
		return obs.State
	}
	if desired != "" {
		if h, err := v1.NewHash(desired); err == nil && obs.RunsOnly(h, platforms...) {
			return target.InSync
		}
	}
	return target.Drifted
}

// Cell is what the grid shows for one (tenant, tier) of a service.
func (e EnvironmentView) Cell() string {
	c := "-"
	if e.RunningCommit != "" {
		c = e.RunningCommit[:min(7, len(e.RunningCommit))]
	} else if len(e.RunningDigests) > 0 {
		c = e.RunningDigests[0][:min(19, len(e.RunningDigests[0]))]
	}
	return fmt.Sprintf("%s %s", c, e.State)
}
