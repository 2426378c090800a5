package ecs

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/target"
)

// describeTasksMax is how many tasks DescribeTasks takes at once.
const describeTasksMax = 100

// Observe reports what the environment's ECS service runs: the image
// digests its running tasks report for the service's containers, and the
// state of the deployment this target started (or of the service, when it
// started none); see the package documentation for the mapping.
func (t *Target) Observe(ctx context.Context, env config.Environment, svc config.Service) (target.Observation, error) {
	ctx, cancel := context.WithTimeout(ctx, observeTimeout)
	defer cancel()
	c, err := t.conn(ctx, env)
	if err != nil {
		return target.Observation{}, err
	}
	// Reads only, each with a bounded timeout and retries (bounded.go).
	bc := *c
	bc.api = bounded{c.api}
	c = &bc
	k := recordKey(env, svc)
	rec := t.recall(k)
	var m matcher
	switch {
	case rec != nil && len(rec.containers) > 0:
		m.names = rec.containers
	case c.ecs.Container != "":
		m.names = []string{c.ecs.Container}
	case t.o.Registry != "":
		m.repo = repository(t.o.Registry + "/" + svc.Repository)
	default:
		m.path = svc.Repository
	}
	// The running tasks (ListTasks, then DescribeTasks) do not depend on
	// the service (DescribeServices, then perhaps ListServiceDeployments):
	// read both at once.
	var (
		running []v1.Hash
		note    string
		runErr  error
		done    = make(chan struct{})
	)
	go func() {
		defer close(done)
		running, note, runErr = c.running(ctx, m)
	}()
	s, err := c.describe(ctx)
	if err != nil {
		cancel()
		<-done
		return target.Observation{}, err
	}
	var obs target.Observation
	if rec != nil {
		obs = t.follow(ctx, c, k, &s, rec)
	} else {
		obs = t.status(ctx, c, &s)
	}
	<-done
	if runErr != nil {
		return target.Observation{}, runErr
	}
	obs.Running = running
	if note != "" {
		obs.Reason = target.JoinReasons(obs.Reason, note)
	}
	return obs, nil
}

// scaledToZero is the reason of a service whose desired count is 0.
const scaledToZero = "scaled to 0: nothing to verify"

// follow judges the deployment this target started (rec) on service s.
// While the deployment is PRIMARY and has not failed, the deployments
// list says how far it is. Once it failed, is gone or was replaced, its
// service deployment says how the update ended (ROLLBACK_*, STOPPED,
// SUCCESSFUL): a circuit-breaker rollback may make an older deployment
// PRIMARY again, with its old ID and createdAt, so the order of
// deployments proves nothing.
func (t *Target) follow(ctx context.Context, c *conn, k string, s *types.Service, rec *record) target.Observation {
	ours, p := deployment(s, rec.deployment), primary(s)
	switch {
	case s.DesiredCount == 0:
		return target.Observation{State: target.Failed, Reason: "the service was " + scaledToZero + " during the rollout"}
	case ours != nil && ours == p && ours.RolloutState != types.DeploymentRolloutStateFailed:
		obs := progress(s, ours)
		if ours.RolloutState == types.DeploymentRolloutStateCompleted {
			t.update(k, rec.deployment, func(r *record) { r.sawCompleted = true })
		}
		if obs.State == target.Deploying {
			obs.Reason = target.JoinReasons(obs.Reason, t.troubles(ctx, c, k, s, rec, ours), bakeNote(ctx, s, ours))
		}
		return obs
	case ours != nil && ours.RolloutState == types.DeploymentRolloutStateFailed:
		why := cmp.Or(str(ours.RolloutStateReason), "ECS gives no reason")
		t.update(k, rec.deployment, func(r *record) { r.failReason = why })
		sd := t.lookup(ctx, c, rec.serviceDeployment, rec.started)
		return target.Observation{State: target.Failed, Reason: failedReason(s, ours, p, rec, sd)}
	case rec.sawCompleted:
		// Ours completed, and another update replaced it since: say what
		// the service does now.
		return t.status(ctx, c, s)
	}
	// Ours is gone before it completed, or another deployment replaced it
	// while in flight.
	sd := t.lookup(ctx, c, rec.serviceDeployment, rec.started)
	switch {
	case sd == nil:
		// The history cannot be read (or ECS named no service
		// deployment): judge from the deployments list alone.
		if ours == nil && p != nil && str(p.Id) != rec.deployment {
			return target.Observation{State: target.Failed, Reason: vanished(s, rec, p, nil)}
		}
	case sd.Status == types.ServiceDeploymentStatusSuccessful:
		t.update(k, rec.deployment, func(r *record) { r.sawCompleted = true })
	case rollingBack(sd.Status):
		return target.Observation{State: target.Failed, Reason: vanished(s, rec, p, sd)}
	case ended(sd.Status) && (str(s.CurrentServiceDeployment) == rec.serviceDeployment || str(s.CurrentServiceDeployment) == ""):
		// Stopped, and no later update stopped it: the circuit breaker
		// without rollback, or someone stopping the deployment.
		return target.Observation{State: target.Failed, Reason: vanished(s, rec, p, sd)}
	case !ended(sd.Status):
		return target.Observation{State: target.Deploying, Reason: fmt.Sprintf("deployment %s is no longer listed and its service deployment %s is %s",
			rec.deployment, shortSD(str(sd.ServiceDeploymentArn)), sd.Status)}
	}
	// A later update replaced ours: say what the service does now.
	return t.status(ctx, c, s)
}

// status judges a service this target did not deploy (tier status), or
// whose deployment another update replaced: from its PRIMARY deployment,
// and, when that looks steady or a FAILED deployment is still listed, from
// the service deployment of its latest update (ROLLBACK_SUCCESSFUL once
// ECS drained a rolled-back deployment). CODE_DEPLOY and EXTERNAL services
// are judged from their task sets.
func (t *Target) status(ctx context.Context, c *conn, s *types.Service) target.Observation {
	if ctl := controller(s); ctl != types.DeploymentControllerTypeEcs {
		return taskSets(s, ctl)
	}
	if s.DesiredCount == 0 {
		return target.Observation{State: target.NotDeployed, Reason: scaledToZero}
	}
	p := primary(s)
	if p == nil {
		return target.Observation{State: target.Deploying, Reason: "ECS reports no PRIMARY deployment"}
	}
	if p.RolloutState == types.DeploymentRolloutStateFailed {
		return target.Observation{State: target.Failed, Reason: failedReason(s, p, p, nil, nil)}
	}
	obs := progress(s, p)
	var lost *types.Deployment
	for i := range s.Deployments {
		if d := &s.Deployments[i]; d != p && d.RolloutState == types.DeploymentRolloutStateFailed {
			lost = d
		}
	}
	if obs.State == target.Running || lost != nil {
		sd := t.lookup(ctx, c, str(s.CurrentServiceDeployment), earliest(s))
		switch {
		case sd != nil && ended(sd.Status) && lost != nil:
			return target.Observation{State: target.Failed, Reason: failedReason(s, lost, p, nil, sd)}
		case sd != nil && ended(sd.Status):
			why := fmt.Sprintf("the last update of the service ended %s", sd.Status)
			if sd.StatusReason != nil {
				why += ": " + *sd.StatusReason
			}
			return target.Observation{State: target.Failed, Reason: why}
		case sd == nil && lost != nil && rollback(s):
			// No history to read: a FAILED deployment next to the PRIMARY
			// one of a service whose circuit breaker rolls back is that
			// rollback.
			return target.Observation{State: target.Failed, Reason: failedReason(s, lost, p, nil, nil)}
		}
	}
	if obs.State == target.Deploying {
		obs.Reason = target.JoinReasons(obs.Reason, bakeNote(ctx, s, p))
	}
	return obs
}

// earliest returns the oldest createdAt of the service's deployments (its
// latest service deployment was created no earlier), or zero.
func earliest(s *types.Service) time.Time {
	var first time.Time
	for _, d := range s.Deployments {
		if d.CreatedAt != nil && (first.IsZero() || d.CreatedAt.Before(first)) {
			first = *d.CreatedAt
		}
	}
	return first
}

// progress maps a PRIMARY deployment that has not failed to a state.
func progress(s *types.Service, d *types.Deployment) target.Observation {
	counts := fmt.Sprintf("deployment %s: %d of %d tasks running", str(d.Id), d.RunningCount, d.DesiredCount)
	if d.FailedTasks > 0 {
		counts += fmt.Sprintf(", %d failed in a row", d.FailedTasks)
	}
	switch d.RolloutState {
	case types.DeploymentRolloutStateInProgress:
		return target.Observation{State: target.Deploying, Reason: counts}
	case types.DeploymentRolloutStateCompleted:
	default:
		// No rollout state: the service is behind a Classic Load Balancer
		// (rolloutState is not returned then); steady is one deployment
		// with every task running.
		if len(s.Deployments) > 1 {
			return target.Observation{State: target.Deploying, Reason: counts}
		}
	}
	switch {
	case d.DesiredCount == 0:
		return target.Observation{State: target.NotDeployed, Reason: scaledToZero}
	case d.RunningCount < d.DesiredCount:
		return target.Observation{State: target.Deploying, Reason: counts}
	}
	return target.Observation{State: target.Running}
}

// troubles says, for a deployment in progress whose tasks fail, why the
// latest stopped (stoppedReason), how close the circuit breaker is, and
// what its service deployment's status is. It reads them again only when
// the deployment's failedTasks changed, and keeps what it read: failedTasks
// goes back to 0 when a task reaches RUNNING.
func (t *Target) troubles(ctx context.Context, c *conn, k string, s *types.Service, rec *record, d *types.Deployment) string {
	stopped, sdStatus := rec.stopped, rec.sdStatus
	if d.FailedTasks > 0 && d.FailedTasks != rec.failedSeen {
		var err error
		if stopped, err = c.stopped(ctx, rec.deployment); err != nil {
			t.log.Debug("reading stopped tasks", "environment", c.env, "cluster", c.cluster, "service", c.service, "err", err)
		}
		if sd := t.lookup(ctx, c, rec.serviceDeployment, rec.started); sd != nil {
			sdStatus = fmt.Sprintf("service deployment %s is %s", shortSD(str(sd.ServiceDeploymentArn)), sd.Status)
			if sd.StatusReason != nil {
				sdStatus += ": " + *sd.StatusReason
			}
		}
		t.update(k, rec.deployment, func(r *record) { r.failedSeen, r.stopped, r.sdStatus = d.FailedTasks, stopped, sdStatus })
	}
	if stopped == "" && d.FailedTasks == 0 {
		return ""
	}
	return target.JoinReasons(breakerNote(s, d), sdStatus, stopped)
}

// breakerNote says how far a deployment is from tripping the service's
// circuit breaker.
func breakerNote(s *types.Service, d *types.Deployment) string {
	dc := s.DeploymentConfiguration
	if dc == nil || dc.DeploymentCircuitBreaker == nil || !dc.DeploymentCircuitBreaker.Enable {
		return "the deployment circuit breaker is off: ECS keeps replacing failed tasks until tier's --timeout"
	}
	note := fmt.Sprintf("the circuit breaker fails the deployment at %d failed tasks in a row (now %d)",
		breakerThreshold(dc.DeploymentCircuitBreaker, s.DesiredCount), d.FailedTasks)
	if r := dc.DeploymentCircuitBreaker.ResetOnHealthyTask; r == nil || *r {
		note += "; a task reaching RUNNING starts the count again"
	}
	return note
}

// breakerThreshold is the number of failed tasks in a row that trips a
// circuit breaker, for a service of desired tasks (API reference,
// ThresholdConfiguration and ServiceDeploymentCircuitBreaker: by default
// BOUNDED_PERCENT 50, half the desired count, at least 3 and at most 200;
// UNBOUNDED_PERCENT without the bounds; COUNT the value itself). Rounding
// up is tier's reading.
func breakerThreshold(b *types.DeploymentCircuitBreaker, desired int32) int32 {
	typ, value := types.ThresholdTypeBoundedPercent, int32(50)
	if tc := b.ThresholdConfiguration; tc != nil {
		typ, value = cmp.Or(tc.Type, typ), tc.Value
	}
	pct := (value*desired + 99) / 100
	switch typ {
	case types.ThresholdTypeCount:
		return value
	case types.ThresholdTypeUnboundedPercent:
		return max(pct, 1)
	}
	return min(max(pct, 3), 200)
}

// bakeNote explains a deployment of the BLUE_GREEN, LINEAR or CANARY
// strategy whose new tasks all run while ECS keeps it IN_PROGRESS: it
// waits out its bake time, the previous revision still running, before it
// completes (ECS Developer Guide, "Amazon ECS blue/green deployments").
// When ctx's deadline (tier's --timeout) comes before the bake time could
// end, it says so.
func bakeNote(ctx context.Context, s *types.Service, d *types.Deployment) string {
	dc := s.DeploymentConfiguration
	if dc == nil || d.RolloutState != types.DeploymentRolloutStateInProgress || d.DesiredCount == 0 || d.RunningCount < d.DesiredCount {
		return ""
	}
	switch dc.Strategy {
	case types.DeploymentStrategyBlueGreen, types.DeploymentStrategyLinear, types.DeploymentStrategyCanary:
	default:
		return ""
	}
	if dc.BakeTimeInMinutes == nil {
		return fmt.Sprintf("bake time: every new task runs, and the %s strategy keeps the previous revision through its bake time before ECS completes the deployment", dc.Strategy)
	}
	bake := time.Duration(*dc.BakeTimeInMinutes) * time.Minute
	note := fmt.Sprintf("bake time: every new task runs, and the %s strategy keeps the previous revision for its bake time (bakeTimeInMinutes %d) before ECS completes the deployment",
		dc.Strategy, *dc.BakeTimeInMinutes)
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < bake {
		note += fmt.Sprintf("; that may outlast the %s left of tier's --timeout: give --timeout more than %s", time.Until(dl).Round(time.Second), bake)
	}
	return note
}

// taskSets judges a CODE_DEPLOY or EXTERNAL service, which lists task sets
// instead of deployments: steady when its PRIMARY task set is in
// STEADY_STATE with every task running and no other task set runs tasks.
func taskSets(s *types.Service, ctl types.DeploymentControllerType) target.Observation {
	if s.DesiredCount == 0 {
		return target.Observation{State: target.NotDeployed, Reason: scaledToZero}
	}
	var p *types.TaskSet
	others := 0
	for i := range s.TaskSets {
		ts := &s.TaskSets[i]
		switch {
		case str(ts.Status) == "PRIMARY":
			p = ts
		case ts.RunningCount > 0 || ts.PendingCount > 0:
			others++
		}
	}
	switch {
	case p == nil:
		return target.Observation{State: target.Deploying, Reason: fmt.Sprintf("the %s deployment controller reports no PRIMARY task set", ctl)}
	case p.StabilityStatus == types.StabilityStatusSteadyState && others == 0 && p.RunningCount >= p.ComputedDesiredCount:
		return target.Observation{State: target.Running}
	}
	return target.Observation{State: target.Deploying, Reason: fmt.Sprintf("task set %s of the %s deployment controller is %s: %d of %d tasks running",
		str(p.Id), ctl, p.StabilityStatus, p.RunningCount, p.ComputedDesiredCount)}
}

// failedReason is the reason of a FAILED deployment d; p is the PRIMARY
// one, rec what this target deployed (nil when it did not) and sd the
// service deployment of the update (nil when unknown). The service was
// rolled back when its service deployment says ROLLBACK_*, or, without
// history, when the PRIMARY deployment is the one the update replaced (or
// a newer one, as a new rollback deployment would be).
func failedReason(s *types.Service, d, p *types.Deployment, rec *record, sd *types.ServiceDeploymentBrief) string {
	reason := fmt.Sprintf("deployment %s failed: %s", str(d.Id), cmp.Or(str(d.RolloutStateReason), "ECS gives no reason"))
	switch {
	case sd != nil && rollingBack(sd.Status):
		return reason + "; " + rolledBack(s, p, sd)
	case sd != nil:
		reason += fmt.Sprintf("; service deployment %s is %s", shortSD(str(sd.ServiceDeploymentArn)), sd.Status)
	}
	if p != nil && p != d && (rec != nil && (str(p.Id) == rec.before || str(p.TaskDefinition) == rec.beforeTD) || rec == nil && rollback(s)) {
		reason += "; " + rolledBack(s, p, nil)
	}
	return reason
}

// vanished is the reason when the deployment tier started is gone from
// the service, or was replaced, before it completed; p is the PRIMARY
// deployment and sd the update's service deployment (nil when unknown).
func vanished(s *types.Service, rec *record, p *types.Deployment, sd *types.ServiceDeploymentBrief) string {
	reason := fmt.Sprintf("deployment %s", rec.deployment)
	if rec.failReason != "" {
		reason += " failed: " + rec.failReason
	} else {
		reason += " ended without completing"
		if ev := event(s, rec.deployment); ev != "" {
			reason += ": ECS: " + ev
		}
	}
	switch {
	case sd != nil && rollingBack(sd.Status):
		return reason + "; " + rolledBack(s, p, sd)
	case sd != nil:
		reason += fmt.Sprintf("; service deployment %s ended %s", shortSD(str(sd.ServiceDeploymentArn)), sd.Status)
		if sd.StatusReason != nil && !strings.Contains(reason, *sd.StatusReason) {
			reason += ": " + *sd.StatusReason
		}
	}
	switch {
	case p == nil:
		return reason
	case str(p.Id) == rec.before || str(p.TaskDefinition) == rec.beforeTD:
		return reason + "; " + rolledBack(s, p, nil)
	}
	return reason + fmt.Sprintf("; deployment %s on task definition %s replaced it", str(p.Id), shortTD(str(p.TaskDefinition)))
}

// rolledBack says who rolled the service back and where it is: p is the
// PRIMARY deployment (nil when none is listed), sd the rolled-back
// update's service deployment, when known.
func rolledBack(s *types.Service, p *types.Deployment, sd *types.ServiceDeploymentBrief) string {
	who := "the service went back"
	switch {
	case rollback(s):
		who = "rolled back by the deployment circuit breaker"
	case sd != nil:
		who = "rolled back"
	}
	if sd != nil {
		who += fmt.Sprintf(" (service deployment %s is %s)", shortSD(str(sd.ServiceDeploymentArn)), sd.Status)
	}
	if p == nil {
		return who
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

// event returns ECS's latest service event about a deployment, or "".
func event(s *types.Service, id string) string {
	for _, e := range s.Events {
		if m := str(e.Message); strings.Contains(m, "(deployment "+id+")") {
			return m
		}
	}
	return ""
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
			matched := false
			for _, ct := range task.Containers {
				if !m.match(str(ct.Name), str(ct.Image)) {
					continue
				}
				matched = true
				h, err := v1.NewHash(str(ct.ImageDigest))
				if err != nil {
					noDigest++
					continue
				}
				if !slices.Contains(digests, h) {
					digests = append(digests, h)
				}
			}
			if !matched {
				absent++
			}
		}
	}
	slices.SortFunc(digests, func(a, b v1.Hash) int { return strings.Compare(a.String(), b.String()) })
	var note string
	if noDigest > 0 {
		note = fmt.Sprintf("%d container(s) of running tasks report no image digest for %s", noDigest, m)
	}
	if absent > 0 {
		note = target.JoinReasons(note, fmt.Sprintf("%d running task(s) have no %s", absent, m))
	}
	return digests, note, nil
}
