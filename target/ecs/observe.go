package ecs

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/target"
)

// describeTasksMax is how many tasks DescribeTasks takes at once.
const describeTasksMax = 100

// Observe reports what the environment's ECS service runs: the image
// digests its running tasks report for the service's container, and the
// state of the deployment this target started (or of the PRIMARY one);
// see the package documentation for the mapping.
func (t *Target) Observe(ctx context.Context, env config.Environment, svc config.Service) (target.Observation, error) {
	c, err := t.conn(ctx, env)
	if err != nil {
		return target.Observation{}, err
	}
	s, err := c.describe(ctx)
	if err != nil {
		return target.Observation{}, err
	}
	k := recordKey(env, svc)
	rec := t.recall(k)
	obs, seen := judge(&s, rec)
	if rec != nil && seen != nil {
		t.note(k, rec.deployment, seen.RolloutState == types.DeploymentRolloutStateCompleted, failReason(seen))
	}
	if rec == nil && obs.State == target.Running {
		// A process that did not deploy (tier status) cannot see a drained
		// rollback in the deployments list; the service deployment history
		// still says how the last update ended.
		if reason := c.lastUpdateFailed(ctx); reason != "" {
			obs.State, obs.Reason = target.Failed, reason
		}
	}
	m := matcher{name: c.ecs.Container}
	if rec != nil && rec.container != "" {
		m.name = rec.container
	}
	if m.name == "" {
		if t.o.Registry != "" {
			m.repo = repository(t.o.Registry + "/" + svc.Repository)
		} else {
			m.path = svc.Repository
		}
	}
	running, note, err := c.running(ctx, m)
	if err != nil {
		return target.Observation{}, err
	}
	obs.Running = running
	if note != "" {
		obs.Reason = target.JoinReasons(obs.Reason, note)
	}
	return obs, nil
}

// judge maps the service's deployments to a state. rec is what Deploy
// started, if this target deployed; seen is rec's deployment when the
// service still lists it.
func judge(s *types.Service, rec *record) (obs target.Observation, seen *types.Deployment) {
	p := primary(s)
	if rec != nil {
		ours := deployment(s, rec.deployment)
		switch {
		case ours != nil && ours.RolloutState == types.DeploymentRolloutStateFailed:
			return target.Observation{State: target.Failed, Reason: failed(s, ours, p)}, ours
		case ours != nil && ours == p:
			return progress(s, ours), ours
		case ours == nil && !rec.sawCompleted && p != nil && str(p.Id) != rec.deployment:
			return target.Observation{State: target.Failed, Reason: vanished(s, rec, p)}, nil
		}
		// Another deployment replaced ours after it completed, or while it
		// was in flight but still listed: say what the service does now.
	}
	if p == nil {
		if s.DesiredCount == 0 {
			return target.Observation{State: target.NotDeployed, Reason: "the service is scaled to 0 tasks"}, nil
		}
		return target.Observation{State: target.Deploying, Reason: "ECS reports no PRIMARY deployment"}, nil
	}
	if p.RolloutState == types.DeploymentRolloutStateFailed {
		return target.Observation{State: target.Failed, Reason: failed(s, p, p)}, nil
	}
	// A failed deployment still listed next to a newer PRIMARY one is the
	// circuit breaker rolling the service back.
	for i := range s.Deployments {
		d := &s.Deployments[i]
		if d != p && d.RolloutState == types.DeploymentRolloutStateFailed && rollback(s) && after(p, d) {
			return target.Observation{State: target.Failed, Reason: failed(s, d, p)}, nil
		}
	}
	return progress(s, p), nil
}

// progress maps a PRIMARY deployment that has not failed to a state.
func progress(s *types.Service, d *types.Deployment) target.Observation {
	counts := fmt.Sprintf("deployment %s: %d of %d tasks running", str(d.Id), d.RunningCount, d.DesiredCount)
	if d.FailedTasks > 0 {
		counts += fmt.Sprintf(", %d failed to start", d.FailedTasks)
	}
	switch d.RolloutState {
	case types.DeploymentRolloutStateInProgress:
		return target.Observation{State: target.Deploying, Reason: counts}
	case types.DeploymentRolloutStateCompleted:
	default:
		// No rollout state: the service is not on the ECS deployment
		// controller; steady is one deployment with every task running.
		if len(s.Deployments) > 1 {
			return target.Observation{State: target.Deploying, Reason: counts}
		}
	}
	switch {
	case d.DesiredCount == 0:
		return target.Observation{State: target.NotDeployed, Reason: "the service is scaled to 0 tasks"}
	case d.RunningCount < d.DesiredCount:
		return target.Observation{State: target.Deploying, Reason: counts}
	}
	return target.Observation{State: target.Running}
}

// failed is the reason of a FAILED deployment d; p is the PRIMARY one.
func failed(s *types.Service, d, p *types.Deployment) string {
	reason := fmt.Sprintf("deployment %s failed: %s", str(d.Id), cmp.Or(str(d.RolloutStateReason), "ECS gives no reason"))
	if p != nil && p != d && after(p, d) {
		reason += "; " + rolledBack(s, p)
	}
	return reason
}

// vanished is the reason when the deployment tier started is gone from the
// service before it completed and another one is PRIMARY.
func vanished(s *types.Service, rec *record, p *types.Deployment) string {
	reason := fmt.Sprintf("deployment %s", rec.deployment)
	if rec.failReason != "" {
		reason += " failed: " + rec.failReason
	} else {
		reason += " ended without completing"
		if ev := event(s, rec.deployment); ev != "" {
			reason += ": ECS: " + ev
		}
	}
	if str(p.TaskDefinition) == rec.beforeTD {
		return reason + "; " + rolledBack(s, p)
	}
	return reason + fmt.Sprintf("; deployment %s on task definition %s replaced it", str(p.Id), shortTD(str(p.TaskDefinition)))
}

func rolledBack(s *types.Service, p *types.Deployment) string {
	who := "the service went back"
	if rollback(s) {
		who = "rolled back by the deployment circuit breaker"
	}
	state := "rolling back"
	if p.RolloutState == types.DeploymentRolloutStateCompleted {
		state = "back"
	}
	return fmt.Sprintf("%s: deployment %s is %s on task definition %s", who, str(p.Id), state, shortTD(str(p.TaskDefinition)))
}

// rollback reports whether the service's circuit breaker rolls back.
func rollback(s *types.Service) bool {
	dc := s.DeploymentConfiguration
	return dc != nil && dc.DeploymentCircuitBreaker != nil && dc.DeploymentCircuitBreaker.Enable && dc.DeploymentCircuitBreaker.Rollback
}

// after reports whether deployment a was created after b.
func after(a, b *types.Deployment) bool {
	return a.CreatedAt != nil && b.CreatedAt != nil && !a.CreatedAt.Before(*b.CreatedAt)
}

// event returns ECS's latest service event about a deployment, or "".
func event(s *types.Service, id string) string {
	for _, e := range s.Events {
		if m := str(e.Message); strings.Contains(m, "(deployment "+id+")") {
			return m
		}
	}
	return ""
}

func failReason(d *types.Deployment) string {
	if d == nil || d.RolloutState != types.DeploymentRolloutStateFailed {
		return ""
	}
	return cmp.Or(str(d.RolloutStateReason), "ECS gives no reason")
}

// running returns the distinct digests (sorted) the matched container
// reports in the service's running tasks, and a note on running tasks
// that report none.
func (c *conn) running(ctx context.Context, m matcher) ([]v1.Hash, string, error) {
	var arns []string
	pages := ecs.NewListTasksPaginator(c.api, &ecs.ListTasksInput{Cluster: &c.cluster, ServiceName: &c.service, DesiredStatus: types.DesiredStatusRunning})
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return nil, "", c.wrap("ListTasks", err)
		}
		arns = append(arns, out.TaskArns...)
	}
	var (
		digests          []v1.Hash
		noDigest, absent int
	)
	for batch := range slices.Chunk(arns, describeTasksMax) {
		out, err := c.api.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: &c.cluster, Tasks: batch})
		if err != nil {
			return nil, "", c.wrap("DescribeTasks", err)
		}
		for _, task := range out.Tasks {
			if str(task.LastStatus) != "RUNNING" {
				continue
			}
			i := slices.IndexFunc(task.Containers, func(ct types.Container) bool { return m.match(str(ct.Name), str(ct.Image)) })
			if i < 0 {
				absent++
				continue
			}
			h, err := v1.NewHash(str(task.Containers[i].ImageDigest))
			if err != nil {
				noDigest++
				continue
			}
			if !slices.Contains(digests, h) {
				digests = append(digests, h)
			}
		}
	}
	slices.SortFunc(digests, func(a, b v1.Hash) int { return strings.Compare(a.String(), b.String()) })
	var note string
	if noDigest > 0 {
		note = fmt.Sprintf("%d running task(s) report no image digest for %s", noDigest, m)
	}
	if absent > 0 {
		note = target.JoinReasons(note, fmt.Sprintf("%d running task(s) have no %s", absent, m))
	}
	return digests, note, nil
}

// lastUpdateFailed returns why the service's newest service deployment did
// not succeed (rolled back or stopped), or "" when it did, is still going,
// or the history cannot be read (an identity without
// ecs:ListServiceDeployments: the observation then stands as it is).
func (c *conn) lastUpdateFailed(ctx context.Context) string {
	out, err := c.api.ListServiceDeployments(ctx, &ecs.ListServiceDeploymentsInput{Cluster: &c.cluster, Service: &c.service})
	if err != nil || len(out.ServiceDeployments) == 0 {
		return ""
	}
	newest := out.ServiceDeployments[0]
	for _, d := range out.ServiceDeployments[1:] {
		if d.CreatedAt != nil && newest.CreatedAt != nil && d.CreatedAt.After(*newest.CreatedAt) {
			newest = d
		}
	}
	switch newest.Status {
	case types.ServiceDeploymentStatusRollbackSuccessful, types.ServiceDeploymentStatusRollbackFailed, types.ServiceDeploymentStatusStopped:
		why := fmt.Sprintf("the last update of the service ended %s", newest.Status)
		if newest.StatusReason != nil {
			why += ": " + *newest.StatusReason
		}
		return why
	}
	return ""
}
