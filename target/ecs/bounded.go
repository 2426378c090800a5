package ecs

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
)

// Observation reads are bounded so that one endpoint that refuses
// connections or never answers costs its own environment a few seconds,
// never the whole grid minutes: the SDK's default for tier (adaptive mode,
// 10 attempts, backoff up to 20 s) suits deploys, which must get through
// throttling, not reads a person is waiting for.
const (
	// observeTimeout bounds one Observe, every call included.
	observeTimeout = 30 * time.Second
	// observeCallTimeout bounds one read, its retries included: far
	// above what an ECS read takes, so that only an endpoint that does
	// not answer reaches it, not a busy machine reading 1,000 services.
	observeCallTimeout = 10 * time.Second
	// observeAttempts is how many times a read is tried, the first
	// included.
	observeAttempts = 3
	// observeMaxBackoff caps the wait between two attempts of a read.
	observeMaxBackoff = 500 * time.Millisecond
)

// bounded is an api whose calls each have observeCallTimeout and at most
// observeAttempts attempts, with backoffs of at most observeMaxBackoff.
type bounded struct{ api }

// boundedOptions changes one call's retryer, after the client's options.
func boundedOptions(o []func(*ecs.Options)) []func(*ecs.Options) {
	return append(o, func(o *ecs.Options) {
		o.RetryMaxAttempts = 0
		o.Retryer = retry.AddWithMaxBackoffDelay(retry.AddWithMaxAttempts(o.Retryer, observeAttempts), observeMaxBackoff)
	})
}

func (b bounded) DescribeServices(ctx context.Context, in *ecs.DescribeServicesInput, o ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error) {
	ctx, cancel := context.WithTimeout(ctx, observeCallTimeout)
	defer cancel()
	return b.api.DescribeServices(ctx, in, boundedOptions(o)...)
}

func (b bounded) ListTasks(ctx context.Context, in *ecs.ListTasksInput, o ...func(*ecs.Options)) (*ecs.ListTasksOutput, error) {
	ctx, cancel := context.WithTimeout(ctx, observeCallTimeout)
	defer cancel()
	return b.api.ListTasks(ctx, in, boundedOptions(o)...)
}

func (b bounded) DescribeTasks(ctx context.Context, in *ecs.DescribeTasksInput, o ...func(*ecs.Options)) (*ecs.DescribeTasksOutput, error) {
	ctx, cancel := context.WithTimeout(ctx, observeCallTimeout)
	defer cancel()
	return b.api.DescribeTasks(ctx, in, boundedOptions(o)...)
}

func (b bounded) ListServiceDeployments(ctx context.Context, in *ecs.ListServiceDeploymentsInput, o ...func(*ecs.Options)) (*ecs.ListServiceDeploymentsOutput, error) {
	ctx, cancel := context.WithTimeout(ctx, observeCallTimeout)
	defer cancel()
	return b.api.ListServiceDeployments(ctx, in, boundedOptions(o)...)
}
