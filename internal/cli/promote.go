package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

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
			ctx := cmd.Context()
			s, err := a.open(ctx)
			if err != nil {
				return err
			}
			defer s.Close()
			req.Tier = argv[0]
			if service != "" {
				req.Services = []string{service}
			}
			p := &promote.Promoter{Config: s.cfg, Catalog: s.cat, Now: a.now, Log: a.log}
			if err := df.check(); err != nil {
				return err
			}
			res, err := p.Promote(ctx, req)
			if err != nil {
				return a.partialRegistry(res, err)
			}
			return a.deployAll(ctx, s, req.Tier, res, req.DryRun, df)
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
			ctx := cmd.Context()
			s, err := a.open(ctx)
			if err != nil {
				return err
			}
			defer s.Close()
			req.Tier = argv[0]
			if service != "" {
				req.Services = []string{service}
			}
			p := &promote.Promoter{Config: s.cfg, Catalog: s.cat, Now: a.now, Log: a.log}
			if err := df.check(); err != nil {
				return err
			}
			res, err := p.Rollback(ctx, req)
			if err != nil {
				return a.partialRegistry(res, err)
			}
			return a.deployAll(ctx, s, req.Tier, res, req.DryRun, df)
		},
	}
	f := cmd.Flags()
	f.StringVar(&service, "service", "", "roll back only this service")
	f.StringVar(&req.To, "to", "", "time, date, release tag, commit or digest to go back to")
	f.BoolVar(&req.DryRun, "dry-run", false, "print the plan and change nothing")
	df.register(cmd)
	return cmd
}

func (a *app) printRegistryResults(res []promote.Result) error {
	t := newTable(a.stdout, "SERVICE", "TIER", "TAG", "FROM", "TO", "COMMIT", "REGISTRY")
	for _, r := range res {
		t.row(r.Service, r.Tier, r.Tag, target.Short(r.PreviousDigest), target.Short(r.Digest), shortCommit(r.Commit), string(r.Status))
	}
	return t.flush()
}

// partialRegistry reports a registry step that failed after moving some
// tags: what moved is printed, and the exit status says partly done.
func (a *app) partialRegistry(res []promote.Result, err error) error {
	if len(res) == 0 {
		return err
	}
	a.printRegistryResults(res)
	var moved []string
	for _, r := range res {
		moved = append(moved, r.Service)
	}
	return &deployError{verdict: deploy.Partial, msg: fmt.Sprintf("%v; the tags of %s had already moved and were not deployed: run the command again to converge", err, strings.Join(moved, ", "))}
}
