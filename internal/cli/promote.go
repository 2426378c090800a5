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
	cmd := &cobra.Command{
		Use:   "promote TIER",
		Short: "Move TIER's tag to a build (or cut a release tag) and deploy every environment of TIER",
		Long: `Promote a build to TIER in the registry.

A mutable tier (tag: dev) has its tag moved to the build's digest. A release
tier (release: true) gets a new immutable tag <tier>-<UTC time>, e.g.
prod-20201112T103000Z; an existing release tag is never overwritten (a
release in the same second as another takes the next free second).

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
	}
	cmd.Flags().StringVar(&req.Commit, "commit", "", "the build's commit: a full hash or a unique prefix")
	cmd.Flags().StringVar(&req.Digest, "digest", "", "the build's manifest digest (sha256:...)")
	return a.promotionCmd(cmd, "promote", func(ctx context.Context, p *promote.Promoter, o promotionArgs) (*promote.Report, error) {
		req.Tier, req.Services, req.DryRun = o.tier, o.services, o.dryRun
		return p.Promote(ctx, req)
	})
}

func (a *app) rollbackCmd() *cobra.Command {
	var req promote.RollbackRequest
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
	}
	cmd.Flags().StringVar(&req.To, "to", "", "time, date, release tag, commit or digest to go back to")
	return a.promotionCmd(cmd, "roll back", func(ctx context.Context, p *promote.Promoter, o promotionArgs) (*promote.Report, error) {
		req.Tier, req.Services, req.DryRun = o.tier, o.services, o.dryRun
		return p.Rollback(ctx, req)
	})
}

// promotionArgs are what promote and rollback share on the command line:
// the TIER argument and the --service, --dry-run, --parallel and --timeout
// flags.
type promotionArgs struct {
	tier     string
	services []string
	dryRun   bool
	parallel int
	timeout  time.Duration
}

// check rejects values that make no sense.
func (o promotionArgs) check() error {
	if o.parallel < 1 {
		return config.Usagef("--parallel %d: deploy at least 1 environment at a time", o.parallel)
	}
	if o.timeout <= 0 {
		return config.Usagef("--timeout %s: give a positive duration such as 15m", o.timeout)
	}
	return nil
}

// promotionCmd completes cmd, whose name, help and own flags are set, into
// a command that runs one promotion (verb says which, for flag help): it
// takes TIER and the shared flags, opens the project, calls call with a
// Promoter and prints the report; the error sets the exit status.
func (a *app) promotionCmd(cmd *cobra.Command, verb string, call func(context.Context, *promote.Promoter, promotionArgs) (*promote.Report, error)) *cobra.Command {
	var o promotionArgs
	var service string
	f := cmd.Flags()
	f.StringVar(&service, "service", "", verb+" only this service")
	f.BoolVar(&o.dryRun, "dry-run", false, "print the plan (each environment: from which build to which) and change nothing")
	f.IntVar(&o.parallel, "parallel", deploy.DefaultParallel, "environments deployed at once")
	f.DurationVar(&o.timeout, "timeout", deploy.DefaultTimeout, "how long each environment's rollout may take")
	cmd.Args = args(cobra.ExactArgs(1))
	cmd.RunE = func(cmd *cobra.Command, argv []string) error {
		o.tier = argv[0]
		if service != "" {
			o.services = []string{service}
		}
		return a.withSession(cmd.Context(), func(ctx context.Context, s *session) error {
			if err := o.check(); err != nil {
				return err
			}
			ts := a.targetSet(s, o.timeout)
			defer ts.Close()
			p := &promote.Promoter{Config: s.cfg, Registry: s.reg, Targets: ts.For, Parallel: o.parallel, Timeout: o.timeout,
				Progress: newProgress(a.stderr).event, Now: a.now, Log: a.log}
			return a.printPromotion(call(ctx, p, o))
		})
	}
	return cmd
}

// printPromotion prints what a promotion returned and turns it into the
// error that sets the exit status.
func (a *app) printPromotion(rep *promote.Report, err error) error {
	if err != nil {
		if rep == nil || len(rep.Tags) == 0 {
			return err
		}
		// Some tags moved before the registry failed.
		if perr := a.printReport(rep, false); perr != nil {
			return perr
		}
		return partlyDone("", err)
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
		a.printDeploy(rep)
	}
	return nil
}

func (a *app) printDeploy(rep *promote.Report) {
	tier, envs, dryRun := rep.Tier, rep.Environments, rep.DryRun
	if len(envs) == 0 {
		switch {
		case len(rep.Superseded()) > 0:
			fmt.Fprintf(a.stdout, "\nno environment of tier %s deployed: another promotion moved the tag of %s while this one wrote it, and deploys its environments\n", tier, strings.Join(rep.Superseded(), ", "))
		case dryRun:
			fmt.Fprintf(a.stdout, "\ntier %s has no environments\ndry run: nothing was changed\n", tier)
		default:
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
