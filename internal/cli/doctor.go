package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tierdeploy/tier/internal/doctor"
	"github.com/tierdeploy/tier/target"
)

func (a *app) doctorCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "doctor",
		Short: "Check that every environment can be deployed to",
		Long: `Check each environment, one line per finding with the fix:

  ecs environments: that its credentials work (the caller identity), that the
  cluster, the service and the container exist, that the task definition's
  image is in the service's repository, and that the shared ECR repository's
  policy lets the environment's account pull; warnings when the repository's
  lifecycle policy can expire release or commit tags (and so break rollback),
  and when a pinned task definition was registered by another identity (an
  infrastructure-as-code tool that will revert it);
  other environments: that their platform answers.

Exit status 0 when every check passes (warnings included), 1 when any fails.`,
		Example: `  tier doctor
  AWS_PROFILE=registry tier doctor --output json`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withSession(cmd.Context(), func(ctx context.Context, s *session) error {
				ts := a.targetSet(s, 0)
				defer ts.Close()
				findings := doctor.Run(ctx, s.cfg, ts.For)
				bad, warned := 0, 0
				for _, f := range findings {
					switch {
					case !f.OK:
						bad++
					case f.Warn:
						warned++
					}
				}
				if a.json() {
					if err := a.writeJSON(struct {
						Findings []target.Finding `json:"findings"`
					}{findings}); err != nil {
						return err
					}
				} else {
					t := newTable(a.stdout, "", "ENVIRONMENT", "CHECK", "DETAIL", "FIX")
					for _, f := range findings {
						mark := "ok"
						switch {
						case !f.OK:
							mark = "FAIL"
						case f.Warn:
							mark = "WARN"
						}
						t.row(mark, f.Environment, f.Check, f.Detail, f.Fix)
					}
					t.flush()
				}
				if bad > 0 {
					return failed(fmt.Sprintf("%d of %d checks failed, %d warned", bad, len(findings), warned))
				}
				if warned > 0 {
					fmt.Fprintf(a.stderr, "tier: every check passed; %d warned: see WARN above\n", warned)
				}
				return nil
			})
		},
	}
}
