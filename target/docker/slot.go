package docker

import (
	"cmp"
	"os"

	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/target"
)

// SlotsPerEngine is how many environments tier deploys at once on one
// Docker engine: each pulls, creates and starts a container there.
const SlotsPerEngine = 16

var _ target.Throttled = (*Target)(nil)

// Slot implements target.Throttled: environments on the same engine share
// SlotsPerEngine slots.
func (t *Target) Slot(env config.Environment) (string, int) {
	d := env.Target.Docker
	if d == nil {
		return "", 0
	}
	return "docker " + cmp.Or(d.Host, os.Getenv("DOCKER_HOST"), "default"), SlotsPerEngine
}
