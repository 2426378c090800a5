// Package doctor checks that each environment can be deployed to. A
// target with checks of its own (target.Checker; the ECS target checks
// credentials, cluster, service, container, image and pull access) runs
// them; any other target is asked what it runs for each service the
// environment runs, which shows its platform answers. Every failed finding
// comes with the fix.
package doctor

import (
	"context"
	"fmt"

	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/target"
)

// reachFix is the fix when a target cannot be made or cannot observe.
const reachFix = "make the platform reachable from here, or correct the environment's target block"

// Run checks every environment of cfg, in config order, through its target
// from targets, and returns the findings in that order. It does not close
// the targets: they are the factory's.
func Run(ctx context.Context, cfg *config.Config, targets target.Factory) []target.Finding {
	var out []target.Finding
	for _, env := range cfg.Environments {
		var svcs []config.Service
		for _, svc := range cfg.Services {
			if env.Runs(svc.Name) {
				svcs = append(svcs, svc)
			}
		}
		tg, err := targets(env)
		if err != nil {
			// One finding per service, as when the platform does not answer.
			for range svcs {
				out = append(out, target.Finding{Environment: env.Name, Check: env.Target.Kind() + " target", Detail: err.Error(), Fix: reachFix})
			}
			continue
		}
		if c, ok := tg.(target.Checker); ok {
			out = append(out, c.Check(ctx, env, svcs)...)
			continue
		}
		out = append(out, reachable(ctx, tg, env, svcs)...)
	}
	return out
}

// reachable observes each of svcs in env: one finding per service.
func reachable(ctx context.Context, tg target.Target, env config.Environment, svcs []config.Service) []target.Finding {
	var out []target.Finding
	for _, svc := range svcs {
		f := target.Finding{Environment: env.Name, Check: env.Target.Kind() + " target"}
		obs, err := tg.Observe(ctx, env, svc)
		if err != nil {
			f.Detail, f.Fix = err.Error(), reachFix
		} else {
			f.OK, f.Detail = true, fmt.Sprintf("%s: %s", svc.Name, obs.State)
		}
		out = append(out, f)
	}
	return out
}
