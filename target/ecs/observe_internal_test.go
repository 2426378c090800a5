package ecs

import (
	"context"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/internal/awscred"
	"github.com/tierdeploy/tier/target"
)

// listFirst answers DescribeServices only once ListTasks was called, so an
// Observe that reads the service and its tasks one after the other waits
// until its read times out.
type listFirst struct {
	api
	once   sync.Once
	listed chan struct{}
}

func (a *listFirst) ListTasks(context.Context, *ecs.ListTasksInput, ...func(*ecs.Options)) (*ecs.ListTasksOutput, error) {
	a.once.Do(func() { close(a.listed) })
	return &ecs.ListTasksOutput{}, nil
}

func (a *listFirst) DescribeServices(ctx context.Context, _ *ecs.DescribeServicesInput, _ ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error) {
	select {
	case <-a.listed:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return &ecs.DescribeServicesOutput{Services: []types.Service{{Status: aws.String("ACTIVE")}}}, nil
}

// TestObserveReadsServiceAndTasksAtOnce: the service (DescribeServices)
// and its running tasks (ListTasks) do not depend on each other, and
// Observe reads them at the same time.
func TestObserveReadsServiceAndTasksAtOnce(t *testing.T) {
	env := config.Environment{Name: "dev", Tier: "dev", Target: config.Target{ECS: &config.ECS{Cluster: "api", Service: "api", Region: "us-east-1"}}}
	tg := New(Options{})
	tg.clients[awscred.FromECS(env.Name, env.Target.ECS)] = &listFirst{listed: make(chan struct{})}
	obs, err := tg.Observe(t.Context(), env, config.Service{Name: "api", Repository: "api"})
	if err != nil {
		t.Fatalf("Observe() error = %v, want the service read while its tasks are listed", err)
	}
	if obs.State != target.NotDeployed || len(obs.Running) != 0 {
		t.Errorf("Observe() = %s, %v; want not deployed (scaled to 0), nothing running", obs.State, obs.Running)
	}
}
