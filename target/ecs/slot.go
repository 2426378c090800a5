package ecs

import (
	"cmp"

	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/target"
)

// SlotsPerEndpoint is how many environments tier deploys at once through
// one set of AWS credentials in one region: ECS throttles its API per
// account and region, and an environment's rollout polls it all along.
// It is tier's choice, not an AWS quota.
const SlotsPerEndpoint = 32

var _ target.Throttled = (*Target)(nil)

// Slot implements target.Throttled: environments that reach ECS with the
// same region and credentials share SlotsPerEndpoint slots.
func (t *Target) Slot(env config.Environment) (string, int) {
	e := env.Target.ECS
	if e == nil {
		return "", 0
	}
	who := cmp.Or(e.RoleARN, e.Profile, e.AccessKeyIDEnv, "default")
	return "ecs " + e.Region + " " + who, SlotsPerEndpoint
}
