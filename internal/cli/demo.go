package cli

import (
	"github.com/spf13/cobra"
	"github.com/tierdeploy/tier/demo"
)

func (a *app) demoCmd() *cobra.Command {
	var o demo.Options
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the seed's scenario end to end on the embedded registry",
		Long: `Play the seed article's method with nothing installed but Go: start the
embedded registry, build three versions of a tiny app as images (no Docker),
push each once tagged with its commit, promote dev -> staging -> prod (a
timestamped release), promote a newer build, cut a second release, send the
newest build to dev, then roll prod back to the release that was live two days
ago, and print what every tier points to.

The release history is laid out over the two days before now so that the
rollback by date has something to find. Without --dir the project lives in a
temporary directory removed at the end.`,
		Example: `  tier demo
  tier demo --dir /tmp/tier-demo    # keep the project and its registry`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Out, o.Now = a.stdout, a.now
			_, err := demo.Run(cmd.Context(), o)
			return err
		},
	}
	cmd.Flags().StringVar(&o.Dir, "dir", "", "project directory to keep (default: a temporary one)")
	return cmd
}
