package doctor

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/target"
	"github.com/tierdeploy/tier/target/targettest"
)

// checker is a target with checks of its own; it records the services it
// was asked to check.
type checker struct {
	*targettest.Target
	checked map[string][]string
}

func (c *checker) Check(_ context.Context, env config.Environment, svcs []config.Service) []target.Finding {
	var names []string
	for _, s := range svcs {
		names = append(names, s.Name)
	}
	c.checked[env.Name] = names
	return []target.Finding{
		{Environment: env.Name, Check: "credentials", OK: true, Detail: "arn:aws:iam::111111111111:user/tier"},
		{Environment: env.Name, Check: "cluster", Detail: `cluster "api" not found`, Fix: "correct cluster:"},
	}
}

func TestRun(t *testing.T) {
	cfg := &config.Config{
		Services: []config.Service{{Name: "api", Repository: "api"}, {Name: "web", Repository: "web"}},
		Environments: []config.Environment{
			{Name: "dev", Target: config.Target{Local: &config.Local{Port: 8080}}},
			{Name: "staging", Services: []string{"web"}, Target: config.Target{Docker: &config.Docker{Container: "web"}}},
			{Name: "prod", Services: []string{"api"}, Target: config.Target{ECS: &config.ECS{Cluster: "api", Service: "api"}}},
			{Name: "edge", Target: config.Target{Kubernetes: &config.Kubernetes{Deployment: "api"}}},
			{Name: "qa", Services: []string{"none-of-these"}, Target: config.Target{Local: &config.Local{Port: 8081}}},
		},
	}
	scripted := targettest.New()
	scripted.Set("dev", targettest.Script{}, targettest.Hash("v1"))
	scripted.Set("staging", targettest.Script{ObserveErr: errors.New("cannot connect to the Docker daemon")})
	ecs := &checker{Target: targettest.New(), checked: map[string][]string{}}
	factory := func(env config.Environment) (target.Target, error) {
		switch env.Target.Kind() {
		case "ecs":
			return ecs, nil
		case "kubernetes":
			return nil, fmt.Errorf("the kubernetes target is not available in this version of tier")
		}
		return scripted, nil
	}

	got := Run(t.Context(), cfg, factory)
	want := []target.Finding{
		{Environment: "dev", Check: "local target", OK: true, Detail: "api: running"},
		{Environment: "dev", Check: "local target", OK: true, Detail: "web: running"},
		{Environment: "staging", Check: "docker target", Detail: "cannot connect to the Docker daemon", Fix: reachFix},
		{Environment: "prod", Check: "credentials", OK: true, Detail: "arn:aws:iam::111111111111:user/tier"},
		{Environment: "prod", Check: "cluster", Detail: `cluster "api" not found`, Fix: "correct cluster:"},
		{Environment: "edge", Check: "kubernetes target", Detail: "the kubernetes target is not available in this version of tier", Fix: reachFix},
		{Environment: "edge", Check: "kubernetes target", Detail: "the kubernetes target is not available in this version of tier", Fix: reachFix}, // one per service, as before
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Run() =\n%+v\nwant\n%+v", got, want)
	}
	if svcs := ecs.checked["prod"]; !reflect.DeepEqual(svcs, []string{"api"}) {
		t.Errorf("Run() checked prod's services %q, want [api] (the ones it runs)", svcs)
	}
}
