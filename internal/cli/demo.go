package cli

import (
	"github.com/spf13/cobra"

	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/internal/demo"
	"github.com/tierdeploy/tier/registry"
)

func (a *app) demoCmd() *cobra.Command {
	var o demo.Options
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the seed's scenario end to end on the embedded defaults",
		Long: `Play the seed article's method with nothing installed but Go: start the
embedded registry, build three versions of a tiny web app as images (no Docker,
no network), configure dev, mb-dev, staging, mb-staging, prod and mb-prod as
local processes, push each build once tagged with its commit, promote
dev -> staging -> prod (a timestamped release), then newer builds to staging and
dev, deploying every environment of each tier at once. It prints the grid and
each environment's URL, then serves until interrupted and stops what it started.

With --once it verifies every environment over HTTP instead, cleans up and
exits 0. Without --dir the project lives in a temporary directory removed at
the end.`,
		Example: `  tier demo
  tier demo --once                  # verify and exit (CI)
  tier demo --dir /tmp/tier-demo    # keep the project and its registry
  tier demo --target docker --once  # the same on a Docker engine`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Target != "local" && o.Target != "docker" {
				return config.Usagef("--target %q: use local or docker", registry.Clip(o.Target))
			}
			o.Out, o.Now, o.Log = a.stdout, a.now, a.log
			_, err := demo.Run(cmd.Context(), o)
			return err
		},
	}
	cmd.Flags().StringVar(&o.Dir, "dir", "", "project directory to keep (default: a temporary one)")
	cmd.Flags().BoolVar(&o.Once, "once", false, "verify every environment over HTTP, clean up and exit")
	cmd.Flags().StringVar(&o.Target, "target", "local", "where the environments run: local (processes) or docker (containers on DOCKER_HOST, host network)")
	cmd.Flags().StringVar(&o.DockerHost, "docker-host", "", "Docker engine for --target docker (default DOCKER_HOST)")
	return cmd
}

func (a *app) demoAppCmd() *cobra.Command {
	var check bool
	cmd := &cobra.Command{
		Use:    "demo-app",
		Short:  "The demo's web app (what the demo images run)",
		Hidden: true,
		Args:   args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if check {
				return demo.Check(cmd.Context())
			}
			return demo.App(cmd.Context())
		},
	}
	cmd.Flags().BoolVar(&check, "check", false, "check the running app's health (a Docker HEALTHCHECK command)")
	return cmd
}
