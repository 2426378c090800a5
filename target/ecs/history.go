package ecs

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// maxHistoryPages bounds the ListServiceDeployments pages one look reads
// (20 service deployments a page by default).
const maxHistoryPages = 50

// historySlack widens ListServiceDeployments' createdAt filter for clocks
// that disagree: this machine's with AWS's, a deployment's createdAt with
// its service deployment's.
const historySlack = time.Hour

// serviceDeployment returns the service's service deployment arn, as
// ListServiceDeployments reports it, or, when arn is "", the one created
// last. It reads every page (the API reference: 20 a page by default,
// nextToken while more remain, in no documented order; this SDK has no
// paginator for it), created after after when after is not zero. It
// returns nil when there is none.
func (c *conn) serviceDeployment(ctx context.Context, arn string, after time.Time) (*types.ServiceDeploymentBrief, error) {
	in := &ecs.ListServiceDeploymentsInput{Cluster: &c.cluster, Service: &c.service}
	if !after.IsZero() {
		since := after.Add(-historySlack)
		in.CreatedAt = &types.CreatedAt{After: &since}
	}
	var newest *types.ServiceDeploymentBrief
	seen := map[string]bool{}
	for range maxHistoryPages {
		out, err := c.api.ListServiceDeployments(ctx, in)
		if err != nil {
			return nil, c.wrap("ListServiceDeployments", err)
		}
		for i := range out.ServiceDeployments {
			sd := &out.ServiceDeployments[i]
			switch {
			case arn != "" && str(sd.ServiceDeploymentArn) == arn:
				return sd, nil
			case arn == "" && (newest == nil || later(sd.CreatedAt, newest.CreatedAt)):
				newest = sd
			}
		}
		if out.NextToken == nil || seen[*out.NextToken] {
			break
		}
		seen[*out.NextToken] = true
		in.NextToken = out.NextToken
	}
	return newest, nil
}

// later reports whether a is after b; a time is after none.
func later(a, b *time.Time) bool {
	return a != nil && (b == nil || a.After(*b))
}

// lookup is serviceDeployment for judging a rollout: an identity not
// allowed ecs:ListServiceDeployments, or any other failure to read the
// history, leaves the judgement to the deployments list (nil).
func (t *Target) lookup(ctx context.Context, c *conn, arn string, after time.Time) *types.ServiceDeploymentBrief {
	sd, err := c.serviceDeployment(ctx, arn, after)
	if err != nil {
		t.log.Debug("reading the service deployment history", "environment", c.env, "cluster", c.cluster, "service", c.service, "err", err)
		return nil
	}
	return sd
}

// ended reports whether a service deployment status says the update did
// not succeed: rolled back (or rolling back), or stopped.
func ended(st types.ServiceDeploymentStatus) bool {
	switch st {
	case types.ServiceDeploymentStatusRollbackRequested, types.ServiceDeploymentStatusRollbackInProgress,
		types.ServiceDeploymentStatusRollbackSuccessful, types.ServiceDeploymentStatusRollbackFailed,
		types.ServiceDeploymentStatusStopped, types.ServiceDeploymentStatusStopRequested:
		return true
	}
	return false
}

// rollingBack reports whether a service deployment status is one of
// ROLLBACK_*.
func rollingBack(st types.ServiceDeploymentStatus) bool {
	switch st {
	case types.ServiceDeploymentStatusRollbackRequested, types.ServiceDeploymentStatusRollbackInProgress,
		types.ServiceDeploymentStatusRollbackSuccessful, types.ServiceDeploymentStatusRollbackFailed:
		return true
	}
	return false
}

// shortSD abbreviates a service deployment ARN to its ID.
func shortSD(arn string) string {
	for i := len(arn) - 1; i >= 0; i-- {
		if arn[i] == '/' {
			return arn[i+1:]
		}
	}
	return arn
}
