package awsfake

import (
	"fmt"
	"maps"
	"time"
)

// The ECS stand-in's rollouts: how a deployment starts, moves one step per
// DescribeServices or ListServiceDeployments of its service, completes or
// trips the circuit breaker and rolls back, and how each update shows in
// the service deployment history.

// Outcome is how the stand-in plays a service's deployments.
type Outcome int

// Outcomes of a rollout.
const (
	// Complete: the first step starts half of the new tasks (rolloutState
	// IN_PROGRESS), the second starts the rest, stops the old tasks and
	// marks the deployment COMPLETED; older deployments are drained and
	// leave the list, as ECS does.
	Complete Outcome = iota
	// StuckInProgress: the new tasks keep failing and the deployment stays
	// IN_PROGRESS for ever (a circuit breaker that never trips).
	StuckInProgress
	// FailCircuitBreaker: the first step records failed tasks, the second
	// marks the deployment FAILED with "ECS deployment circuit breaker:
	// tasks failed to start."; when the service's circuit breaker has
	// rollback on, ECS starts a new PRIMARY deployment on the last
	// completed deployment's task definition (and digests), which then
	// completes; the failed deployment is drained and leaves the list.
	FailCircuitBreaker
)

// Rollout sets how the service's deployments play from now on: the one
// in flight, if any, and every later one until Rollout is called again.
// Rollback deployments always complete.
func (s *Server) Rollout(account, region, cluster, service string, o Outcome) {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	if svc := s.ecs.service(account, region, cluster, service); svc != nil {
		svc.outcome = o
	}
}

// newDeployment starts a PRIMARY deployment of td; from, when set, is the
// completed deployment a rollback returns to (its digests are reused).
func (e *ecsState) newDeployment(r *ecsRegion, c *ecsCluster, svc *ecsService, td *ecsTaskDef, from *ecsDeployment) *ecsDeployment {
	e.n++
	now := time.Now()
	d := &ecsDeployment{id: fmt.Sprintf("ecs-svc/%d", 4_300_000_000_000_000_000+e.n), status: primary, taskDef: td.arn,
		desired: svc.desired, rollout: inProgress, createdAt: now, updated: now, digests: map[string]string{}}
	d.reason = fmt.Sprintf("ECS deployment %s in progress.", d.id)
	if from != nil {
		d.rollback = true
		maps.Copy(d.digests, from.digests)
	} else {
		for _, img := range td.containers {
			dg, ok := e.resolve(r.account, r.region, img.image)
			if !ok {
				if d.pullErr == "" {
					d.pullErr = fmt.Sprintf("CannotPullContainerError: pull image manifest has been retried 1 time(s): failed to resolve ref %s: not found", img.image)
				}
				continue
			}
			d.digests[img.name] = dg
		}
	}
	if from == nil {
		d.sd = &ecsServiceDeployment{arn: r.arn("service-deployment", fmt.Sprintf("%s/%d", svc.name, e.n)), status: "IN_PROGRESS", taskDef: td.arn, createdAt: now}
		svc.history = append([]*ecsServiceDeployment{d.sd}, svc.history...)
	}
	for _, o := range svc.deployments {
		if o.status == primary {
			o.status = active
		}
	}
	svc.deployments = append([]*ecsDeployment{d}, svc.deployments...)
	svc.taskDef = td.arn
	return d
}

// advance moves the service's in-flight deployment one step.
func (e *ecsState) advance(r *ecsRegion, c *ecsCluster, svc *ecsService) {
	d := svc.primary()
	if d == nil || d.rollout != inProgress {
		return
	}
	outcome := svc.outcome
	if d.rollback {
		outcome = Complete
	}
	if d.pullErr != "" && outcome == Complete {
		outcome = StuckInProgress
		if svc.breaker {
			outcome = FailCircuitBreaker
		}
	}
	d.step++
	d.updated = time.Now()
	switch outcome {
	case Complete:
		if d.step == 1 && d.desired > 1 {
			e.setRunning(r, c, svc, d, (d.desired+1)/2)
			return
		}
		e.setRunning(r, c, svc, d, d.desired)
		e.complete(r, c, svc, d)
	case StuckInProgress:
		e.failTask(r, c, svc, d)
	case FailCircuitBreaker:
		e.failTask(r, c, svc, d)
		if d.step < 2 {
			return
		}
		d.rollout, d.reason = failed, "ECS deployment circuit breaker: tasks failed to start."
		svc.event("(service %s) (deployment %s) deployment failed: tasks failed to start.", svc.name, d.id)
		if d.sd != nil {
			d.sd.status, d.sd.reason, d.sd.finishedAt = "STOPPED", "ECS deployment circuit breaker: tasks failed to start.", time.Now()
		}
		if svc.rollback && svc.lastCompleted != nil && svc.lastCompleted != d {
			svc.event("(service %s) rolling back to deployment %s.", svc.name, svc.lastCompleted.id)
			if td := r.taskDef(svc.lastCompleted.taskDef); td != nil {
				rd := e.newDeployment(r, c, svc, td, svc.lastCompleted)
				if rd.sd = d.sd; rd.sd != nil {
					rd.sd.status, rd.sd.finishedAt = "ROLLBACK_IN_PROGRESS", time.Time{}
				}
			}
		}
	}
}

// complete marks d COMPLETED and drains every other deployment.
func (e *ecsState) complete(r *ecsRegion, c *ecsCluster, svc *ecsService, d *ecsDeployment) {
	d.rollout, d.reason = completed, fmt.Sprintf("ECS deployment %s completed.", d.id)
	for _, o := range svc.deployments {
		if o != d {
			e.setRunning(r, c, svc, o, 0)
		}
	}
	svc.deployments = []*ecsDeployment{d}
	svc.lastCompleted = d
	if d.sd != nil {
		d.sd.status, d.sd.finishedAt = "SUCCESSFUL", time.Now()
		if d.rollback {
			d.sd.status = "ROLLBACK_SUCCESSFUL"
		}
	}
	svc.event("(service %s) has reached a steady state.", svc.name)
}

// setRunning starts or stops tasks of d until n run.
func (e *ecsState) setRunning(r *ecsRegion, c *ecsCluster, svc *ecsService, d *ecsDeployment, n int) {
	for len(d.tasks) < n {
		t := e.newTask(r, c, svc, d)
		t.lastStatus, t.desiredStatus = "RUNNING", "RUNNING"
		t.startedAt = time.Now()
		d.tasks = append(d.tasks, t)
	}
	for len(d.tasks) > n {
		t := d.tasks[len(d.tasks)-1]
		d.tasks = d.tasks[:len(d.tasks)-1]
		t.stop("ServiceSchedulerInitiated", fmt.Sprintf("Scaling activity initiated by (deployment %s)", d.id))
	}
}

// failTask records a task of d that failed to start.
func (e *ecsState) failTask(r *ecsRegion, c *ecsCluster, svc *ecsService, d *ecsDeployment) {
	d.failed++
	t := e.newTask(r, c, svc, d)
	code, reason := "TaskFailedToStart", d.pullErr
	if d.pullErr == "" {
		code, reason = "EssentialContainerExited", "Essential container in task exited"
		one := 1
		for i := range t.containers {
			t.containers[i].exitCode = &one
		}
	}
	t.stop(code, reason)
}
