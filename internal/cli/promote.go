package cli

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/deploy"
	"github.com/tierdeploy/tier/promote"
	"github.com/tierdeploy/tier/target"
)

func (a *app) promoteCmd() *cobra.Command {
	var req promote.Request
	var service string
	var df deployFlags
	cmd := &cobra.Command{
		Use:   "promote TIER",
		Short: "Move TIER's tag to a build (or cut a release tag) and deploy every environment of TIER",
		Long: `Promote a build to TIER in the registry.

A mutable tier (tag: dev) has its tag moved to the build's digest. A release
tier (release: true) gets a new immutable tag <tier>-<UTC time>, e.g.
prod-20201112T103000Z; an existing release tag is never overwritten.

The build is named by --commit (a full hash or a unique prefix) or --digest;
without either, tier takes the digest the tier's 'from' tier points to now.
Retagging copies the manifest fetched by digest, then reads the tag back and
checks its digest: no layer is read or written. If the tier already points at
the build, no tag moves. Every service is promoted unless --service is given;
all are resolved before any tag moves.

Then every environment of TIER is deployed at once (at most --parallel), pinned to
that digest; each rollout is waited for (at most --timeout) and verified from the
platform. Live progress goes to stderr, the summary to stdout. Exit status 0 when
every environment runs the digest, 1 when none does, 3 when some do.`,
		Example: `  tier promote dev --commit 4f2a9c1
  tier promote staging              # take what dev points to
  tier promote prod --dry-run       # show the release tag that would be cut
  tier promote dev --service api --digest sha256:...`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			req.Tier, req.Services = argv[0], services(service)
			return a.promotion(cmd, df, func(ctx context.Context, p *promote.Promoter) (*promote.Report, error) {
				return p.Promote(ctx, req)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&service, "service", "", "promote only this service")
	f.StringVar(&req.Commit, "commit", "", "the build's commit: a full hash or a unique prefix")
	f.StringVar(&req.Digest, "digest", "", "the build's manifest digest (sha256:...)")
	f.BoolVar(&req.DryRun, "dry-run", false, "print the plan (each environment: from which build to which) and change nothing")
	df.register(cmd)
	return cmd
}

func (a *app) rollbackCmd() *cobra.Command {
	var req promote.RollbackRequest
	var service string
	var df deployFlags
	cmd := &cobra.Command{
		Use:   "rollback TIER",
		Short: "Put TIER back on an earlier build and deploy it",
		Long: `Put TIER back on an earlier build.

For a release tier the release tags are the timeline of what it was set to.
--to TIME finds the release that was current then (a date means the end of that
day, UTC) and cuts a NEW release tag now pointing at that build, so the tags stay
an append-only log. --to may also name a release tag, a commit or a digest.
Without --to, the release before the current one is used.

For a mutable tier, --to COMMIT, --to sha256:DIGEST or --to TAG moves the tag back.

Every environment of TIER is then deployed and verified, as with promote.`,
		Example: `  tier rollback prod --to 2020-11-12
  tier rollback prod --to 2020-11-12T10:30Z
  tier rollback prod --to prod-20201112T103000Z
  tier rollback prod                    # the release before the current one
  tier rollback dev --to 4f2a9c1`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			req.Tier, req.Services = argv[0], services(service)
			return a.promotion(cmd, df, func(ctx context.Context, p *promote.Promoter) (*promote.Report, error) {
				return p.Rollback(ctx, req)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&service, "service", "", "roll back only this service")
	f.StringVar(&req.To, "to", "", "time, date, release tag, commit or digest to go back to")
	f.BoolVar(&req.DryRun, "dry-run", false, "print the plan and change nothing")
	df.register(cmd)
	return cmd
}

// services is the --service flag as a request's list.
func services(flag string) []string {
	if flag == "" {
		return nil
	}
	return []string{flag}
}

// deployFlags are the flags of commands that deploy.
type deployFlags struct {
	parallel int
	timeout  time.Duration
}

// check rejects values that make no sense.
func (f *deployFlags) check() error {
	if f.parallel < 1 {
		return config.Usagef("--parallel %d: deploy at least 1 environment at a time", f.parallel)
	}
	if f.timeout <= 0 {
		return config.Usagef("--timeout %s: give a positive duration such as 15m", f.timeout)
	}
	return nil
}

func (f *deployFlags) register(cmd *cobra.Command) {
	cmd.Flags().IntVar(&f.parallel, "parallel", deploy.DefaultParallel, "environments deployed at once")
	cmd.Flags().DurationVar(&f.timeout, "timeout", deploy.DefaultTimeout, "how long each environment's rollout may take")
}

// promotion opens the project, runs one promotion or rollback through a
// Promoter and prints its report; the error sets the exit status.
func (a *app) promotion(cmd *cobra.Command, df deployFlags, call func(context.Context, *promote.Promoter) (*promote.Report, error)) error {
	ctx := cmd.Context()
	s, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := df.check(); err != nil {
		return err
	}
	ts := a.targetSet(s, df.timeout)
	defer ts.Close()
	p := &promote.Promoter{Config: s.cfg, Registry: s.reg, Targets: ts.For, Parallel: df.parallel, Timeout: df.timeout,
		Progress: newProgress(a.stderr).event, Now: a.now, Log: a.log}
	rep, err := call(ctx, p)
	if err != nil {
		if rep == nil || len(rep.Tags) == 0 {
			return err
		}
		// Some tags moved before the registry failed.
		if perr := a.printReport(rep, false); perr != nil {
			return perr
		}
		return &exitError{code: ExitPartial, err: err}
	}
	if err := a.printReport(rep, true); err != nil {
		return err
	}
	return verdictError(rep)
}

// printReport prints a promotion's report: the tag changes, then (when
// deployed) each environment's outcome.
func (a *app) printReport(rep *promote.Report, deployed bool) error {
	if a.json() {
		return a.writeJSON(rep)
	}
	if err := a.printRegistryResults(rep.Tags); err != nil {
		return err
	}
	if deployed {
		a.printDeploy(rep.Tier, rep.Environments, rep.DryRun)
	}
	return nil
}

func (a *app) printDeploy(tier string, envs []deploy.Result, dryRun bool) {
	if len(envs) == 0 {
		if dryRun {
			fmt.Fprintf(a.stdout, "\ntier %s has no environments\ndry run: nothing was changed\n", tier)
		} else {
			fmt.Fprintf(a.stdout, "\ntier %s has no environments: only the tag moved\n", tier)
		}
		return
	}
	fmt.Fprintln(a.stdout)
	t := newTable(a.stdout, "ENVIRONMENT", "TENANT", "SERVICE", "FROM", "TO", "OUTCOME", "TIME", "REASON")
	for _, r := range envs {
		from := shortCommit(r.FromCommit)
		if from == "" && len(r.FromDigests) > 0 {
			from = target.Short(r.FromDigests[0])
		}
		to := cmp.Or(shortCommit(r.ToCommit), target.Short(r.ToDigest))
		reason, _, _ := strings.Cut(r.Reason, "\n")
		t.row(r.Environment, r.Tenant, r.Service, from, to, string(r.Outcome), fmt.Sprintf("%.1fs", r.Seconds), reason)
	}
	t.flush()
	for _, r := range envs {
		if strings.Contains(r.Reason, "\n") {
			fmt.Fprintf(a.stdout, "\n%s: %s\n", r.Environment, r.Reason)
		}
	}
	if dryRun {
		fmt.Fprintln(a.stdout, "dry run: nothing was changed")
	}
}

func (a *app) printRegistryResults(changes []promote.TagChange) error {
	t := newTable(a.stdout, "SERVICE", "TIER", "TAG", "FROM", "TO", "COMMIT", "REGISTRY")
	for _, c := range changes {
		t.row(c.Service, c.Tier, c.Tag, target.Short(c.PreviousDigest), target.Short(c.Digest), shortCommit(c.Commit), string(c.Status))
	}
	return t.flush()
}
