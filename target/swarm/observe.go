package swarm

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/target"
)

// logsTimeout bounds reading a failed task's log for a reason.
const logsTimeout = 5 * time.Second

// Observe reports what the environment's Swarm service runs: the digests
// pinned in the specs of its running tasks, and its update state (see the
// package documentation for the mapping). The observation has no URL.
func (t *Target) Observe(ctx context.Context, env config.Environment, _ config.Service) (target.Observation, error) {
	s, err := t.service(env)
	if err != nil {
		return target.Observation{}, err
	}
	r, err := s.inspect(ctx)
	if err != nil {
		return target.Observation{}, err
	}
	tasks, err := s.tasks(ctx, r.Service.ID)
	if err != nil {
		return target.Observation{}, err
	}
	obs, failed := observe(r.Service, tasks)
	if obs.State == target.Failed && failed != nil && t.o.LogLines > 0 {
		lines, err := s.logs(ctx, failed.ID, r.Service.Spec.TaskTemplate.ContainerSpec.TTY, t.o.LogLines)
		if err != nil {
			t.log.Debug("reading a failed task's log", "environment", env.Name, "service", s.name, "task", failed.ID, "err", err)
		}
		if len(lines) > 0 {
			obs.Reason += fmt.Sprintf("\nlast lines of task %s's log:\n  %s", target.Short(failed.ID), strings.Join(lines, "\n  "))
		}
	}
	return obs, nil
}

// observe maps a service and its tasks to an observation. It also returns
// the latest failed task that explains the state, or nil.
func observe(svc swarm.Service, tasks []swarm.Task) (target.Observation, *swarm.Task) {
	running, unpinned, n := runningDigests(tasks)
	obs := target.Observation{Running: running}
	var (
		state swarm.UpdateState
		msg   string
		since time.Time
	)
	if us := svc.UpdateStatus; us != nil {
		state, msg = us.State, us.Message
		if us.StartedAt != nil && state == swarm.UpdateStateUpdating {
			since = *us.StartedAt
		}
	}
	failed := latestFailure(tasks, since)
	why := func(s string) string {
		if failed != nil {
			s = target.JoinReasons(s, fmt.Sprintf("task %s failed: %s", target.Short(failed.ID), taskError(failed)))
		}
		return s
	}
	switch state {
	case swarm.UpdateStateUpdating:
		obs.State, obs.Reason = target.Deploying, why(cmp.Or(msg, "update in progress"))
		return obs, failed
	case swarm.UpdateStateRollbackStarted:
		obs.State, obs.Reason = target.Deploying, why(cmp.Or(msg, "rolling back"))
		return obs, failed
	case swarm.UpdateStatePaused:
		obs.State, obs.Reason = target.Failed, why(cmp.Or(msg, "update paused"))
		return obs, failed
	case swarm.UpdateStateRollbackPaused:
		obs.State, obs.Reason = target.Failed, why("the rollback is paused: "+cmp.Or(msg, "no message from Swarm"))
		return obs, failed
	case swarm.UpdateStateRollbackCompleted:
		obs.State, obs.Reason = target.Failed, why("the update was rolled back: "+cmp.Or(msg, "no message from Swarm"))
		return obs, failed
	}
	// No update, or a completed one: compare the running tasks with the
	// desired ones.
	desired := 0
	if r := svc.Spec.Mode.Replicated; r != nil {
		desired = 1
		if r.Replicas != nil {
			desired = int(*r.Replicas)
		}
	} else {
		for _, t := range tasks {
			if t.DesiredState == swarm.TaskStateRunning {
				desired++
			}
		}
	}
	switch {
	case desired == 0 && svc.Spec.Mode.Replicated != nil:
		obs.State, obs.Reason = target.NotDeployed, "the service is scaled to 0 replicas"
		return obs, nil
	case n > 0 && n >= desired && specAhead(svc, running):
		// An update was accepted but Swarm has not started it yet: the
		// spec names a digest no running task has.
		obs.State, obs.Reason = target.Deploying, "the update is accepted; Swarm has not started it yet"
		return obs, nil
	case n > 0 && n >= desired:
		obs.State = target.Running
		if len(unpinned) > 0 {
			obs.Reason = fmt.Sprintf("tasks run %s, not pinned by digest: deploy through tier, or create the service with a resolvable image", strings.Join(unpinned, ", "))
		}
		return obs, nil
	case len(tasks) == 0 && svc.PreviousSpec == nil:
		obs.State, obs.Reason = target.NotDeployed, "the service has no tasks yet"
		return obs, nil
	}
	what := fmt.Sprintf("%d of %d tasks running", n, desired)
	if desired == 0 {
		what = "no task is meant to run (does any node match the service's placement?)"
	}
	obs.State, obs.Reason = target.Deploying, why(what)
	return obs, failed
}

// runningDigests returns the distinct digests pinned in the specs of the
// running tasks (sorted), the images of running tasks that pin none, and
// how many tasks run.
func runningDigests(tasks []swarm.Task) (digests []v1.Hash, unpinned []string, n int) {
	for _, t := range tasks {
		if t.DesiredState != swarm.TaskStateRunning || t.Status.State != swarm.TaskStateRunning {
			continue
		}
		n++
		img := ""
		if cs := t.Spec.ContainerSpec; cs != nil {
			img = cs.Image
		}
		d, ok := target.PinnedDigest(img)
		switch {
		case !ok && !slices.Contains(unpinned, strconv.Quote(img)):
			unpinned = append(unpinned, strconv.Quote(img))
		case ok && !slices.Contains(digests, d):
			digests = append(digests, d)
		}
	}
	slices.SortFunc(digests, func(a, b v1.Hash) int { return strings.Compare(a.String(), b.String()) })
	return digests, unpinned, n
}

// latestFailure returns the task that failed last (at or after since).
func latestFailure(tasks []swarm.Task, since time.Time) *swarm.Task {
	var last *swarm.Task
	for i := range tasks {
		t := &tasks[i]
		st := t.Status.State
		if st != swarm.TaskStateFailed && st != swarm.TaskStateRejected && t.Status.Err == "" {
			continue
		}
		if t.Status.Timestamp.Before(since) {
			continue
		}
		if last == nil || t.Status.Timestamp.After(last.Status.Timestamp) {
			last = t
		}
	}
	return last
}

func taskError(t *swarm.Task) string {
	if t.Status.Err != "" {
		return t.Status.Err
	}
	return fmt.Sprintf("%s (%s)", cmp.Or(t.Status.Message, "no message"), t.Status.State)
}

// logs returns the last n lines a task wrote to stdout and stderr.
func (s service) logs(ctx context.Context, taskID string, tty bool, n int) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, logsTimeout)
	defer cancel()
	rc, err := s.c.TaskLogs(ctx, taskID, client.TaskLogsOptions{ShowStdout: true, ShowStderr: true, Tail: strconv.Itoa(n)})
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var buf bytes.Buffer
	if tty {
		_, err = io.Copy(&buf, rc)
	} else {
		_, err = stdcopy.StdCopy(&buf, &buf, rc)
	}
	var lines []string
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		if l := strings.TrimRight(sc.Text(), "\r"); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines, err
}

// specAhead reports whether the service's spec pins a digest that none of
// the running tasks run.
func specAhead(svc swarm.Service, running []v1.Hash) bool {
	cs := svc.Spec.TaskTemplate.ContainerSpec
	if cs == nil {
		return false
	}
	d, ok := target.PinnedDigest(cs.Image)
	return ok && len(running) > 0 && !slices.Contains(running, d)
}
