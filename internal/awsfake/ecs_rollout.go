package awsfake

import (
	"fmt"
	"slices"
	"time"
)

// The ECS stand-in's rollouts: how a deployment starts, moves one step per
// DescribeServices of its service, completes (after a bake time, for the
// BLUE_GREEN, LINEAR and CANARY strategies) or trips the circuit breaker
// and rolls back, and how each update shows in the service deployment
// history. Shaped on the ECS API reference (Deployment, DeploymentCircuitBreaker,
// ServiceDeploymentCircuitBreaker, ListServiceDeployments) and the ECS
// Developer Guide ("How the Amazon ECS deployment circuit breaker detects
// failures", "Amazon ECS blue/green deployments").

// Outcome is how the stand-in plays a service's deployments.
type Outcome int

// Outcomes of a rollout.
const (
	// Complete: the first step starts half of the new tasks (rolloutState
	// IN_PROGRESS), the second starts the rest. With the ROLLING strategy
	// the deployment is then COMPLETED; with BLUE_GREEN, LINEAR or CANARY
	// it stays IN_PROGRESS, the previous revision's tasks still running,
	// until its bake time has passed on the stand-in's clock
	// (AdvanceClock), and completes at the next step after that. Older
	// deployments are then drained and leave the list, as ECS does.
	Complete Outcome = iota
	// StuckInProgress: the new tasks flap. One reaches RUNNING, which
	// resets the deployment's failedTasks to 0; at the next step its
	// essential container exits and another task fails to start (two
	// consecutive failures), and so on. The consecutive count never
	// reaches the circuit breaker's threshold (at least 3), so the
	// deployment stays IN_PROGRESS for ever.
	StuckInProgress
	// FailCircuitBreaker: every new task fails (its essential container
	// exits). Each step fails a batch of desiredCount tasks (at least
	// one); once failedTasks reaches the circuit breaker's threshold the
	// deployment is FAILED with "ECS deployment circuit breaker: tasks
	// failed to start.". When the service's circuit breaker has rollback
	// on, the last completed deployment becomes PRIMARY again, with its
	// own ID and task definition and rolloutState IN_PROGRESS ("When the
	// rollback initiates, the deployment changes from a COMPLETED to
	// IN_PROGRESS"), and then completes; the failed deployment is drained
	// and leaves the list. The update's service deployment goes
	// ROLLBACK_IN_PROGRESS, then ROLLBACK_SUCCESSFUL; without rollback it
	// is STOPPED.
	FailCircuitBreaker
)

// circuitBreakerReason is the rolloutStateReason of a deployment the
// circuit breaker failed.
const circuitBreakerReason = "ECS deployment circuit breaker: tasks failed to start."

// breakerThreshold is the number of consecutive failed tasks that trips
// the circuit breaker of a service with desired tasks, with the default
// threshold configuration (BOUNDED_PERCENT, 50): half the desired count,
// at least 3 and at most 200 (API reference, ServiceDeploymentCircuitBreaker
// and ThresholdConfiguration). Rounding up is the stand-in's reading.
func breakerThreshold(desired int) int {
	return min(max((desired+1)/2, 3), 200)
}

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

// newDeployment starts a PRIMARY deployment of td, and the service
// deployment that carries it out. A service deployment still
// IN_PROGRESS is STOPPED by the new one.
func (e *ecsState) newDeployment(r *ecsRegion, c *ecsCluster, svc *ecsService, td *ecsTaskDef) *ecsDeployment {
	e.n++
	now := e.now()
	d := &ecsDeployment{id: fmt.Sprintf("ecs-svc/%d", 4_300_000_000_000_000_000+e.n), status: primary, taskDef: td.arn,
		desired: svc.desired, rollout: inProgress, createdAt: now, updated: now, digests: map[string]string{}}
	d.reason = fmt.Sprintf("ECS deployment %s in progress.", d.id)
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
	for _, o := range svc.deployments {
		if o.status == primary {
			o.status = active
		}
		if o.sd != nil && o.sd.status == sdInProgress {
			// The stand-in's wording: the API reference gives none.
			o.sd.status, o.sd.reason, o.sd.finishedAt = sdStopped, "A newer service deployment replaced this one.", now
		}
	}
	d.sd = e.newServiceDeployment(r, c.name, svc, td.arn, now)
	svc.history = append(svc.history, d.sd)
	svc.current = d.sd
	svc.deployments = append([]*ecsDeployment{d}, svc.deployments...)
	svc.taskDef = td.arn
	return d
}

// newServiceDeployment returns an IN_PROGRESS service deployment of the
// service to taskDef created at at, with its service revision.
func (e *ecsState) newServiceDeployment(r *ecsRegion, cluster string, svc *ecsService, taskDef string, at time.Time) *ecsServiceDeployment {
	e.n++
	return &ecsServiceDeployment{
		arn:         r.arn("service-deployment", fmt.Sprintf("%s/%s/fake%016x", cluster, svc.name, e.n)),
		revisionARN: r.arn("service-revision", fmt.Sprintf("%s/%s/%019d", cluster, svc.name, 5_000_000_000_000_000_000+e.n)),
		status:      sdInProgress, taskDef: taskDef, createdAt: at,
	}
}

// advance moves the service's in-flight deployment one step. Services of
// the CODE_DEPLOY and EXTERNAL controllers do not move: their task sets
// are not played.
func (e *ecsState) advance(r *ecsRegion, c *ecsCluster, svc *ecsService) {
	if svc.controller != ControllerECS {
		return
	}
	d := svc.primary()
	if d == nil || d.rollout != inProgress {
		return
	}
	d.step++
	d.updated = e.now()
	switch {
	case d.rollback:
		e.progress(r, c, svc, d)
	case d.pullErr != "":
		e.failBatch(r, c, svc, d)
	case svc.outcome == Complete:
		e.progress(r, c, svc, d)
	case svc.outcome == StuckInProgress:
		e.flap(r, c, svc, d)
	default:
		e.failBatch(r, c, svc, d)
	}
}

// progress starts d's tasks (half, then all), waits out the bake time of
// a BLUE_GREEN, LINEAR or CANARY service, and completes d.
func (e *ecsState) progress(r *ecsRegion, c *ecsCluster, svc *ecsService, d *ecsDeployment) {
	if d.bakeUntil.IsZero() {
		n := d.desired
		if d.step == 1 && d.desired > 1 {
			n = (d.desired + 1) / 2
		}
		e.scaleUp(r, c, svc, d, n)
		if n < d.desired {
			return
		}
		if svc.bakes() && !d.rollback {
			// Production traffic is on the new revision; both run through
			// the bake time before ECS ends the deployment.
			d.bakeUntil = e.now().Add(time.Duration(svc.bake) * time.Minute)
			e.event(svc, "(service %s) (deployment %s) shifted production traffic; bake time of %d minutes before the previous revision is stopped.",
				svc.name, d.id, svc.bake)
			return
		}
	} else if e.now().Before(d.bakeUntil) {
		return
	}
	e.complete(r, c, svc, d)
}

// failBatch fails a batch of d's new tasks and trips the circuit breaker
// when the consecutive failures reach its threshold.
func (e *ecsState) failBatch(r *ecsRegion, c *ecsCluster, svc *ecsService, d *ecsDeployment) {
	for range max(1, d.desired) {
		e.failTask(r, c, svc, d)
	}
	e.checkBreaker(r, c, svc, d)
}

// flap alternates a new task that reaches RUNNING (resetting failedTasks)
// with that task's essential container exiting and another task failing
// to start.
func (e *ecsState) flap(r *ecsRegion, c *ecsCluster, svc *ecsService, d *ecsDeployment) {
	if len(d.tasks) == 0 {
		e.scaleUp(r, c, svc, d, 1)
		return
	}
	t := d.tasks[len(d.tasks)-1]
	d.tasks = d.tasks[:len(d.tasks)-1]
	one := 1
	for i := range t.containers {
		t.containers[i].exitCode = &one
	}
	t.stop(e.now(), "EssentialContainerExited", "Essential container in task exited")
	d.failed++
	e.failTask(r, c, svc, d)
	e.checkBreaker(r, c, svc, d)
}

// checkBreaker trips the circuit breaker of d when it is on and d's
// consecutive failed tasks reached the threshold: d is FAILED, and with
// rollback the last completed deployment becomes PRIMARY again.
func (e *ecsState) checkBreaker(r *ecsRegion, c *ecsCluster, svc *ecsService, d *ecsDeployment) {
	if !svc.breaker || d.failed < breakerThreshold(svc.desired) {
		return
	}
	now := e.now()
	d.rollout, d.reason = failed, circuitBreakerReason
	e.event(svc, "(service %s) (deployment %s) deployment failed: tasks failed to start.", svc.name, d.id)
	lc := svc.lastCompleted
	if !svc.rollback || lc == nil || lc == d || !slices.Contains(svc.deployments, lc) {
		if d.sd != nil {
			d.sd.status, d.sd.reason, d.sd.finishedAt = sdStopped, circuitBreakerReason, now
		}
		return
	}
	e.event(svc, "(service %s) rolling back to deployment %s.", svc.name, lc.id)
	d.status = active
	lc.status, lc.rollout, lc.rollback = primary, inProgress, true
	lc.desired, lc.step, lc.updated, lc.bakeUntil = svc.desired, 0, now, time.Time{}
	lc.reason = fmt.Sprintf("ECS deployment %s in progress.", lc.id)
	svc.deployments = append([]*ecsDeployment{lc}, slices.DeleteFunc(svc.deployments, func(o *ecsDeployment) bool { return o == lc })...)
	svc.taskDef = lc.taskDef
	if d.sd != nil {
		d.sd.status, d.sd.reason = sdRollbackInProgress, circuitBreakerReason
	}
	lc.sd = d.sd
}

// complete marks d COMPLETED and drains every other deployment.
func (e *ecsState) complete(r *ecsRegion, c *ecsCluster, svc *ecsService, d *ecsDeployment) {
	d.rollout, d.reason = completed, fmt.Sprintf("ECS deployment %s completed.", d.id)
	for _, o := range svc.deployments {
		if o != d {
			e.setRunning(r, c, svc, o, 0)
		}
	}
	d.status = primary
	svc.deployments = []*ecsDeployment{d}
	svc.lastCompleted = d
	if d.sd != nil {
		d.sd.status, d.sd.finishedAt = sdSuccessful, e.now()
		if d.rollback {
			d.sd.status = sdRollbackSuccessful
		}
	}
	e.event(svc, "(service %s) has reached a steady state.", svc.name)
}

// scaleUp starts tasks of d until n run; a task reaching RUNNING resets
// the deployment's consecutive failed tasks.
func (e *ecsState) scaleUp(r *ecsRegion, c *ecsCluster, svc *ecsService, d *ecsDeployment, n int) {
	if len(d.tasks) < n {
		e.setRunning(r, c, svc, d, n)
		d.failed = 0
	}
}

// setRunning starts or stops tasks of d until n run.
func (e *ecsState) setRunning(r *ecsRegion, c *ecsCluster, svc *ecsService, d *ecsDeployment, n int) {
	for len(d.tasks) < n {
		t := e.newTask(r, c, svc, d)
		t.lastStatus, t.desiredStatus = "RUNNING", "RUNNING"
		t.startedAt = e.now()
		d.tasks = append(d.tasks, t)
	}
	for len(d.tasks) > n {
		t := d.tasks[len(d.tasks)-1]
		d.tasks = d.tasks[:len(d.tasks)-1]
		t.stop(e.now(), "ServiceSchedulerInitiated", fmt.Sprintf("Scaling activity initiated by (deployment %s)", d.id))
	}
}

// failTask records a task of d that failed: it could not pull its image,
// or its essential container exited.
func (e *ecsState) failTask(r *ecsRegion, c *ecsCluster, svc *ecsService, d *ecsDeployment) {
	d.failed++
	t := e.newTask(r, c, svc, d)
	if d.pullErr != "" {
		for i := range t.containers {
			if t.containers[i].digest == "" {
				t.containers[i].reason = d.pullErr
			}
		}
		t.stop(e.now(), "TaskFailedToStart", d.pullErr)
		return
	}
	one := 1
	for i := range t.containers {
		t.containers[i].exitCode = &one
	}
	t.startedAt = e.now()
	t.stop(e.now(), "EssentialContainerExited", "Essential container in task exited")
}
