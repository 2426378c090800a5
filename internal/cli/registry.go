package cli

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/registry/embedded"
)

func (a *app) registryCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "registry",
		Short: "Run tier's embedded OCI registry",
	}
	cmd.AddCommand(a.registryServeCmd())
	return cmd
}

func (a *app) registryServeCmd() *cobra.Command {
	var addr, dir string
	var public bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the embedded registry (persistent, 127.0.0.1 by default)",
		Long: `Run the embedded OCI registry (olareg) on a storage directory until
interrupted. Tags and digests are kept on disk and survive restarts.

When tier.yaml names no registry, every command uses the embedded one on
<state_dir>/registry (default .tier/registry next to tier.yaml): if a
'tier registry serve' owns that directory, commands talk to it; otherwise each
command starts the registry in-process for its own length and stops it after.
A lock on the directory keeps two processes from ever writing it at once;
a command that finds another short-lived command holding it waits its turn.

Serve it when something outside tier must pull from it (a Docker engine, a
cluster): they then reach it at --addr.`,
		Example: `  tier registry serve
  tier registry serve --addr 127.0.0.1:5000 --dir .tier/registry`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				cfg, err := a.loadConfig()
				switch {
				case err == nil:
					dir = registryDir(cfg)
				case errors.Is(err, config.ErrNotFound):
					dir = filepath.Join(".tier", "registry")
				default:
					return err
				}
			}
			srv, err := embedded.ServeWith(cmd.Context(), dir, addr, embedded.Options{AllowRemote: public}, a.log)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "serving the embedded registry on %s (storage %s); stop with Ctrl-C\n", srv.Addr(), dir)
			<-cmd.Context().Done()
			ctx, cancel := context.WithTimeout(context.WithoutCancel(cmd.Context()), 10*time.Second)
			defer cancel()
			return srv.Close(ctx)
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:5000", "address to listen on")
	cmd.Flags().StringVar(&dir, "dir", "", "storage directory (default <state_dir>/registry of tier.yaml, else .tier/registry)")
	cmd.Flags().BoolVar(&public, "public", false, "allow listening on a non-loopback address")
	return cmd
}
