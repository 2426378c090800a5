package cli

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"

	"github.com/tierdeploy/tier/catalog"
	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/deploy"
	"github.com/tierdeploy/tier/promote"
	"github.com/tierdeploy/tier/target"
	"github.com/tierdeploy/tier/target/docker"
	"github.com/tierdeploy/tier/target/ecs"
	"github.com/tierdeploy/tier/target/local"
	"github.com/tierdeploy/tier/target/swarm"
)

// deployFlags are the flags of commands that deploy.
type deployFlags struct {
	parallel int
	timeout  time.Duration
}

// check rejects values that make no sense.
func (f *deployFlags) check() error {
	if f.parallel < 1 {
		return fmt.Errorf("%w: --parallel %d: deploy at least 1 environment at a time", errUsage, f.parallel)
	}
	if f.timeout <= 0 {
		return fmt.Errorf("%w: --timeout %s: give a positive duration such as 15m", errUsage, f.timeout)
	}
	return nil
}

func (f *deployFlags) register(cmd *cobra.Command) {
	cmd.Flags().IntVar(&f.parallel, "parallel", deploy.DefaultParallel, "environments deployed at once")
	cmd.Flags().DurationVar(&f.timeout, "timeout", deploy.DefaultTimeout, "how long each environment's rollout may take")
}

// targets returns the deploy target of each environment: one instance per
// kind for the session, each caching its platform clients.
func (a *app) targets(s *session) func(env config.Environment) (target.Target, error) {
	var mu sync.Mutex
	made := map[string]target.Target{}
	return func(env config.Environment) (target.Target, error) {
		kind := env.Target.Kind()
		mu.Lock()
		defer mu.Unlock()
		if t, ok := made[kind]; ok {
			return t, nil
		}
		var t target.Target
		switch kind {
		case "local":
			t = local.New(local.Options{Dir: localDir(s.cfg), Registry: s.reg, Log: a.log, HealthTimeout: s.healthTimeout})
		case "docker":
			d := docker.New(docker.Options{Log: a.log, HealthTimeout: s.healthTimeout})
			s.closers = append(s.closers, d.Close)
			t = d
		case "swarm":
			sw := swarm.New(swarm.Options{Log: a.log})
			s.closers = append(s.closers, sw.Close)
			t = sw
		case "ecs":
			release := map[string]bool{}
			for _, t := range s.cfg.Tiers {
				release[t.Name] = t.Release
			}
			t = ecs.New(ecs.Options{Creds: a.awsCreds(), Log: a.log, ReleaseTiers: release, Registry: s.cfg.Registry})
		default:
			return nil, fmt.Errorf("the %s target is not available in this version of tier", kind)
		}
		made[kind] = t
		return t, nil
	}
}

func localDir(cfg *config.Config) string { return cfg.StatePath() + "/local" }

// items lists what a promotion deploys: every environment of the tier that
// runs a promoted service. Services whose tag another promotion moved while
// this one wrote it are left to that promotion.
func items(cfg *config.Config, res []promote.Result) ([]deploy.Item, error) {
	var out []deploy.Item
	for _, r := range res {
		if r.Status == promote.Superseded {
			continue
		}
		svc, _ := cfg.Service(r.Service)
		d, err := v1.NewHash(r.Digest)
		if err != nil {
			return nil, err
		}
		out = append(out, deploy.Plan(cfg, r.Tier, svc, r.Repository, r.Tag, d, r.Commit)...)
	}
	return out, nil
}

// deployAll deploys what the registry step promoted to every environment of
// the tier and prints the outcome.
func (a *app) deployAll(ctx context.Context, s *session, tierName string, res []promote.Result, dryRun bool, f deployFlags) error {
	its, err := items(s.cfg, res)
	if err != nil {
		return err
	}
	s.healthTimeout = f.timeout
	tier, _ := s.cfg.Tier(tierName)
	progress := newProgress(a.stderr, its)
	e := &deploy.Engine{
		Target:   a.targets(s),
		Parallel: f.parallel,
		Timeout:  f.timeout,
		Log:      a.log,
		Progress: progress.event,
		Current: func(ctx context.Context, svc config.Service) (v1.Hash, string, error) {
			cat := catalog.New(s.reg)
			cur, ok, err := cat.Current(ctx, svc.Repository, tier)
			if err != nil {
				return v1.Hash{}, "", fmt.Errorf("re-reading tier %s of %s: %w", tier.Name, svc.Name, err)
			}
			if !ok {
				return v1.Hash{}, "", fmt.Errorf("re-reading tier %s of %s: its tag is gone", tier.Name, svc.Name)
			}
			commit := ""
			if b, err := cat.Build(ctx, svc.Repository, cur.Digest); err == nil {
				commit = b.Commit
			}
			return cur.Digest, commit, nil
		},
		Commit: func(ctx context.Context, svc config.Service, d v1.Hash) string {
			b, err := s.cat.Build(ctx, svc.Repository, d)
			if err != nil {
				return ""
			}
			return b.Commit
		},
	}
	rep := e.Run(ctx, its, dryRun)
	var lost []string
	for _, r := range res {
		if r.Status == promote.Superseded {
			lost = append(lost, r.Service)
		}
	}
	if a.json() {
		if err := a.writeJSON(struct {
			Results      []promote.Result `json:"results"`
			Environments []deploy.Result  `json:"environments"`
		}{res, rep.Results}); err != nil {
			return err
		}
	} else {
		if err := a.printRegistryResults(res); err != nil {
			return err
		}
		a.printDeploy(tierName, rep, dryRun)
	}
	if err := verdictError(rep); err != nil || len(lost) == 0 {
		return err
	}
	return &deployError{verdict: deploy.Partial, msg: fmt.Sprintf("superseded: another promotion moved the %s tag of %s while this one wrote it; its environments are left to that promotion", tier.Name, strings.Join(lost, ", "))}
}

func (a *app) printDeploy(tier string, rep deploy.Report, dryRun bool) {
	if len(rep.Results) == 0 {
		if dryRun {
			fmt.Fprintf(a.stdout, "\ntier %s has no environments\ndry run: nothing was changed\n", tier)
		} else {
			fmt.Fprintf(a.stdout, "\ntier %s has no environments: only the tag moved\n", tier)
		}
		return
	}
	fmt.Fprintln(a.stdout)
	t := newTable(a.stdout, "ENVIRONMENT", "TENANT", "SERVICE", "FROM", "TO", "OUTCOME", "TIME", "REASON")
	for _, r := range rep.Results {
		from := shortCommit(r.FromCommit)
		if from == "" && len(r.FromDigests) > 0 {
			from = target.Short(r.FromDigests[0])
		}
		to := shortCommit(r.ToCommit)
		if to == "" {
			to = target.Short(r.ToDigest)
		}
		reason, _, _ := strings.Cut(r.Reason, "\n")
		t.row(r.Environment, r.Tenant, r.Service, from, to, string(r.Outcome), fmt.Sprintf("%.1fs", r.Seconds), reason)
	}
	t.flush()
	for _, r := range rep.Results {
		if strings.Contains(r.Reason, "\n") {
			fmt.Fprintf(a.stdout, "\n%s: %s\n", r.Environment, r.Reason)
		}
	}
	if dryRun {
		fmt.Fprintln(a.stdout, "dry run: nothing was changed")
	}
}

// verdictError turns a report that is not all verified into the error that
// sets the exit status: 1 when none converged, 3 when some did.
func verdictError(rep deploy.Report) error {
	v := rep.Verdict()
	if v == deploy.Done {
		return nil
	}
	var bad []string
	for _, r := range rep.Results {
		if r.Outcome != deploy.Verified {
			bad = append(bad, fmt.Sprintf("%s/%s (%s)", r.Environment, r.Service, r.Outcome))
		}
	}
	return &deployError{verdict: v, msg: fmt.Sprintf("%d of %d environments not verified: %s", len(bad), len(rep.Results), strings.Join(bad, ", "))}
}

type deployError struct {
	verdict deploy.Verdict
	msg     string
}

func (e *deployError) Error() string { return e.msg }
