package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tierdeploy/tier/config"
)

func (a *app) initCmd() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Write a commented tier.yaml for the seed's six environments",
		Long: `Write a commented tier.yaml describing one service, the tiers dev, staging and
prod (prod cuts timestamped release tags), and six environments: dev, mb-dev,
staging, mb-staging, prod and mb-prod, on the local target. The file names no
registry, so tier uses its embedded registry. An existing file is kept unless
--force is given.`,
		Example: `  tier init
  tier init --config deploy/tier.yaml --force`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := config.WriteSample(a.configPath, force); err != nil {
				if errors.Is(err, config.ErrExists) {
					return fmt.Errorf("%w: %s: keep it, or pass --force to overwrite it", err, a.configPath)
				}
				return err
			}
			fmt.Fprintf(a.stdout, "wrote %s: check it with `tier validate`\n", a.configPath)
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "overwrite an existing file")
	return cmd
}

func (a *app) validateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate",
		Short: "Check the configuration; every error names file:line and the fix",
		Long: `Check tier.yaml: unknown keys, duplicate names, tiers whose 'from' is not a
lower tier, invalid tags, environments of unknown tiers, environments with zero
or several target blocks, and literal secrets. Each problem is printed as
file:line: what is wrong: how to fix it. Exit status 2 when any is found.`,
		Example: `  tier validate
  tier validate --config deploy/tier.yaml`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			if a.json() {
				return a.writeJSON(map[string]any{"file": cfg.Path, "valid": true, "services": len(cfg.Services), "tiers": len(cfg.Tiers), "environments": len(cfg.Environments)})
			}
			fmt.Fprintf(a.stdout, "%s is valid: %d services, %d tiers, %d environments\n", cfg.Path, len(cfg.Services), len(cfg.Tiers), len(cfg.Environments))
			return nil
		},
	}
}
