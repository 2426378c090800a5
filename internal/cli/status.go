package cli

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tierdeploy/tier/catalog"
	"github.com/tierdeploy/tier/status"
	"github.com/tierdeploy/tier/target"
)

func (a *app) statusCmd() *cobra.Command {
	var o status.Options
	var check bool
	cmd := &cobra.Command{
		Use:   "status [TIER]",
		Short: "Show what is deployed where: tenants x tiers, desired vs running",
		Long: `Show, per service, a grid of tenants (rows) by tiers (columns). Each cell is
the commit the environment runs and its state:

  in-sync       runs exactly what its tier's tag points to
  drifted       runs something else
  deploying     a rollout is in flight
  failed        the last rollout failed or the platform rolled it back
  unreachable   its target could not be asked
  not-deployed  nothing runs there

Desired comes from the registry (the tier's tag, or its newest release tag);
running comes from each environment's platform, queried in parallel. Below the
grid, each environment in detail, then what each tier's tag points to.

With --check the exit status is 3 when any environment is not in-sync.`,
		Example: `  tier status
  tier status prod --service api
  tier status --check               # for a cron job or CI gate
  tier status --output json`,
		Args: args(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			return a.withSession(cmd.Context(), func(ctx context.Context, s *session) error {
				if len(argv) == 1 {
					o.Tier = argv[0]
				}
				if o.Tier != "" {
					if _, err := s.cfg.LookupTier(o.Tier); err != nil {
						return err
					}
				}
				if o.Service != "" {
					if _, err := s.cfg.LookupService(o.Service); err != nil {
						return err
					}
				}
				ts := a.targetSet(s, 0)
				defer ts.Close()
				o.Now = a.now()
				g, err := status.Environments(ctx, s.cfg, catalog.New(s.reg), ts.For, o)
				if err != nil {
					return err
				}
				if a.json() {
					err = a.writeJSON(g)
				} else {
					err = a.printGrid(g, o)
				}
				if err == nil && check && !g.InSync() {
					return partlyDone("not every environment is in sync", nil)
				}
				return err
			})
		},
	}
	cmd.Flags().StringVar(&o.Service, "service", "", "show only this service")
	cmd.Flags().BoolVar(&check, "check", false, "exit 3 when any environment is not in-sync")
	return cmd
}

func (a *app) printGrid(g status.Grid, o status.Options) error {
	var services, tiers, tenants []string
	add := func(list *[]string, v string) {
		if !slices.Contains(*list, v) {
			*list = append(*list, v)
		}
	}
	for _, t := range g.Tiers {
		add(&services, t.Service)
		add(&tiers, t.Tier)
	}
	for _, e := range g.Environments {
		add(&tenants, e.Tenant)
	}
	if len(g.Environments) > 0 {
		for _, svc := range services {
			header := []string{svc}
			for _, t := range tiers {
				header = append(header, strings.ToUpper(t))
			}
			t := newTable(a.stdout, header...)
			for _, tenant := range tenants {
				row := []string{tenant}
				for _, tier := range tiers {
					var cells []string
					var names []string
					for _, e := range g.Environments {
						if e.Service == svc && e.Tenant == tenant && e.Tier == tier {
							cells, names = append(cells, e.Cell()), append(names, e.Name)
						}
					}
					if len(cells) > 1 {
						for i := range cells {
							cells[i] = names[i] + ": " + cells[i]
						}
					}
					row = append(row, strings.Join(cells, "; "))
				}
				t.row(row...)
			}
			if err := t.flush(); err != nil {
				return err
			}
			fmt.Fprintln(a.stdout)
		}
		t := newTable(a.stdout, "ENVIRONMENT", "TIER", "TENANT", "SERVICE", "TARGET", "DESIRED", "RUNNING", "STATE", "URL / REASON")
		for _, e := range g.Environments {
			running := shortCommit(e.RunningCommit)
			if running == "" && len(e.RunningDigests) > 0 {
				running = target.Short(e.RunningDigests[0])
			}
			note := e.URL
			if e.Reason != "" {
				note, _, _ = strings.Cut(e.Reason, "\n")
			}
			t.row(e.Name, e.Tier, e.Tenant, e.Service, e.Target, shortCommit(e.DesiredCommit), running, string(e.State), note)
		}
		if err := t.flush(); err != nil {
			return err
		}
		fmt.Fprintln(a.stdout)
	}
	t := newTable(a.stdout, "SERVICE", "TIER", "TAG", "DIGEST", "COMMIT", "AGE", "RELEASES")
	for _, r := range g.Tiers {
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
		t.row(r.Service, r.Tier, tag, target.Short(r.Digest), shortCommit(r.Commit), ago, rel)
	}
	return t.flush()
}
