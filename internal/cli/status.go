package cli

import (
	"strconv"

	"github.com/spf13/cobra"
	"github.com/tierdeploy/tier/status"
)

func (a *app) statusCmd() *cobra.Command {
	var o status.Options
	cmd := &cobra.Command{
		Use:   "status [TIER]",
		Short: "Show what each tier points to in the registry",
		Long: `Show, per service and tier, the tag, the digest it points to, that build's
commit (its revision annotation, else the commit tag on the same digest) and
age; for release tiers the current release and how many exist.`,
		Example: `  tier status
  tier status prod --service api
  tier status --output json`,
		Args: args(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ctx := cmd.Context()
			s, err := a.open(ctx)
			if err != nil {
				return err
			}
			defer s.Close()
			if len(argv) == 1 {
				o.Tier = argv[0]
			}
			if err := a.checkNames(s, o.Tier, o.Service); err != nil {
				return err
			}
			o.Now = a.now()
			rep, err := status.Registry(ctx, s.cfg, s.cat, o)
			if err != nil {
				return err
			}
			if a.json() {
				return a.writeJSON(rep)
			}
			t := newTable(a.stdout, "SERVICE", "TIER", "TAG", "DIGEST", "COMMIT", "AGE", "RELEASES")
			for _, r := range rep.Tiers {
				ago, rel := "", ""
				if r.Created != nil {
					ago = age(o.Now.Sub(*r.Created))
				}
				if r.Kind == "release" {
					rel = strconv.Itoa(r.Releases)
				}
				tag := r.Tag
				if !r.Promoted {
					tag += " (never promoted)"
				}
				t.row(r.Service, r.Tier, tag, shortDigest(r.Digest), shortCommit(r.Commit), ago, rel)
			}
			return t.flush()
		},
	}
	cmd.Flags().StringVar(&o.Service, "service", "", "show only this service")
	return cmd
}
