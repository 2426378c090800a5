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
	"github.com/tierdeploy/tier/target/local"
)

// deployFlags are the flags of commands that deploy.
type deployFlags struct {
	parallel int
	timeout  time.Duration
}

func (f *deployFlags) register(cmd *cobra.Command) {
	cmd.Flags().IntVar(&f.parallel, "parallel", deploy.DefaultParallel, "environments deployed at once")
	cmd.Flags().DurationVar(&f.timeout, "timeout", deploy.DefaultTimeout, "how long each environment's rollout may take")
}

// targets returns the deploy target of each environment, one instance per
// kind for the session.
func (a *app) targets(s *session) func(env config.Environment) (target.Target, error) {
	var once sync.Once
	var loc *local.Target
	return func(env config.Environment) (target.Target, error) {
		switch kind := env.Target.Kind(); kind {
		case "local":
			once.Do(func() {
				loc = local.New(local.Options{Dir: localDir(s.cfg), Registry: s.reg, Log: a.log})
			})
			return loc, nil
		default:
			return nil, fmt.Errorf("the %s target is not available in this version of tier", kind)
		}
	}
}

func localDir(cfg *config.Config) string { return cfg.StatePath() + "/local" }

// items lists what a promotion deploys: every environment of the tier that
// runs a promoted service.
func items(cfg *config.Config, res []promote.Result) ([]deploy.Item, error) {
	var out []deploy.Item
	for _, r := range res {
		svc, _ := cfg.Service(r.Service)
		d, err := v1.NewHash(r.Digest)
		if err != nil {
			return nil, err
		}
		for _, env := range cfg.EnvironmentsOf(r.Tier) {
			if env.Runs(svc.Name) {
				out = append(out, deploy.Item{Environment: env, Service: svc, Repository: r.Repository, Tag: r.Tag, Digest: d, Commit: r.Commit})
			}
		}
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
	tier, _ := s.cfg.Tier(tierName)
	progress := newProgress(a.stderr, its, a.json())
	e := &deploy.Engine{
		Target:   a.targets(s),
		Parallel: f.parallel,
		Timeout:  f.timeout,
		Log:      a.log,
		Progress: progress.event,
		Current: func(ctx context.Context, svc config.Service) (v1.Hash, string, error) {
			cat := catalog.New(s.reg)
			cur, ok, err := cat.Current(ctx, svc.Repository, tier)
			if err != nil || !ok {
				return v1.Hash{}, "", fmt.Errorf("re-reading tier %s of %s: %w (found: %v)", tier.Name, svc.Name, err, ok)
			}
			b, err := cat.Build(ctx, svc.Repository, cur.Digest)
			return cur.Digest, b.Commit, err
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
	progress.finish()
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
	return verdictError(rep)
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
			from = shortDigest(r.FromDigests[0])
		}
		to := shortCommit(r.ToCommit)
		if to == "" {
			to = shortDigest(r.ToDigest)
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
			bad = append(bad, fmt.Sprintf("%s (%s)", r.Environment, r.Outcome))
		}
	}
	return &deployError{verdict: v, msg: fmt.Sprintf("%d of %d environments not verified: %s", len(bad), len(rep.Results), strings.Join(bad, ", "))}
}

type deployError struct {
	verdict deploy.Verdict
	msg     string
}

func (e *deployError) Error() string { return e.msg }
