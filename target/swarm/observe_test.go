package swarm

import (
	"encoding/json"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/moby/api/types/swarm"

	"github.com/tierdeploy/tier/target"
)

// testLogger logs through t.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(logWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// These cases are shaped on what a Docker 20.10 manager returns; the end to
// end tests in swarm_test.go drive the real thing.
func TestObserve(t *testing.T) {
	d1 := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("1", 64)}
	d2 := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("2", 64)}
	img := func(d v1.Hash) string { return "127.0.0.1:5000/api:dev@" + d.String() }
	t0 := time.Date(2020, 11, 12, 10, 30, 0, 0, time.UTC)
	task := func(id string, d v1.Hash, desired, state swarm.TaskState, err string, at time.Time) swarm.Task {
		return swarm.Task{ID: id, Spec: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: img(d)}},
			DesiredState: desired, Status: swarm.TaskStatus{State: state, Err: err, Timestamp: at}}
	}
	running := func(id string, d v1.Hash) swarm.Task {
		return task(id, d, swarm.TaskStateRunning, swarm.TaskStateRunning, "", t0)
	}
	failedAt := func(id string, d v1.Hash, at time.Time) swarm.Task {
		return task(id, d, swarm.TaskStateShutdown, swarm.TaskStateFailed, "task: non-zero exit (3)", at)
	}
	replicas := func(n uint64) swarm.Service {
		return swarm.Service{Spec: swarm.ServiceSpec{Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &n}}}}
	}
	with := func(s swarm.Service, state swarm.UpdateState, msg string) swarm.Service {
		started := t0
		s.UpdateStatus = &swarm.UpdateStatus{State: state, Message: msg, StartedAt: &started}
		return s
	}
	tests := []struct {
		name    string
		svc     swarm.Service
		tasks   []swarm.Task
		state   target.State
		running []v1.Hash
		reason  []string // substrings of Reason
	}{
		{name: "never updated, all running", svc: replicas(2), tasks: []swarm.Task{running("a", d1), running("b", d1)},
			state: target.Running, running: []v1.Hash{d1}},
		{name: "completed, all running", svc: with(replicas(1), swarm.UpdateStateCompleted, "update completed"),
			tasks: []swarm.Task{running("a", d2), task("old", d1, swarm.TaskStateShutdown, swarm.TaskStateShutdown, "", t0)},
			state: target.Running, running: []v1.Hash{d2}},
		{name: "update accepted, not started", svc: func() swarm.Service {
			s := with(replicas(1), swarm.UpdateStateCompleted, "update completed")
			s.Spec.TaskTemplate.ContainerSpec = &swarm.ContainerSpec{Image: img(d2)}
			return s
		}(), tasks: []swarm.Task{running("a", d1)},
			state: target.Deploying, running: []v1.Hash{d1}, reason: []string{"not started it yet"}},
		{name: "updating", svc: with(replicas(2), swarm.UpdateStateUpdating, "update in progress"),
			tasks: []swarm.Task{running("a", d1), running("b", d2)},
			state: target.Deploying, running: []v1.Hash{d1, d2}, reason: []string{"update in progress"}},
		{name: "updating ignores failures from before the update",
			svc:   with(replicas(1), swarm.UpdateStateUpdating, "update in progress"),
			tasks: []swarm.Task{running("a", d1), failedAt("old", d1, t0.Add(-time.Hour))},
			state: target.Deploying, running: []v1.Hash{d1}, reason: []string{"update in progress"}},
		{name: "rolling back", svc: with(replicas(1), swarm.UpdateStateRollbackStarted, "update rolled back due to failure or early termination of task x"),
			tasks: []swarm.Task{failedAt("new", d2, t0.Add(time.Second))},
			state: target.Deploying, reason: []string{"update rolled back due to failure", "task new failed: task: non-zero exit (3)"}},
		{name: "paused", svc: with(replicas(1), swarm.UpdateStatePaused, "update paused due to failure or early termination of task x"),
			tasks: []swarm.Task{failedAt("new", d2, t0.Add(time.Second))},
			state: target.Failed, reason: []string{"update paused due to failure", "non-zero exit (3)"}},
		{name: "rollback paused", svc: with(replicas(1), swarm.UpdateStateRollbackPaused, "rollback paused due to failure"),
			state: target.Failed, reason: []string{"the rollback is paused: rollback paused due to failure"}},
		{name: "rolled back is a failure", svc: with(replicas(1), swarm.UpdateStateRollbackCompleted, "rollback completed"),
			tasks: []swarm.Task{running("a", d1), failedAt("new1", d2, t0.Add(time.Second)), failedAt("new2", d2, t0.Add(2*time.Second))},
			state: target.Failed, running: []v1.Hash{d1}, reason: []string{"the update was rolled back: rollback completed", "task new2 failed"}},
		{name: "fewer running than desired", svc: replicas(2),
			tasks: []swarm.Task{running("a", d1), failedAt("b", d1, t0)},
			state: target.Deploying, running: []v1.Hash{d1}, reason: []string{"1 of 2 tasks running", "non-zero exit (3)"}},
		{name: "no tasks, never deployed", svc: replicas(1), state: target.NotDeployed, reason: []string{"no tasks yet"}},
		{name: "scaled to zero", svc: replicas(0), state: target.NotDeployed, reason: []string{"0 replicas"}},
		{name: "a task about to start is not running",
			svc:   replicas(1),
			tasks: []swarm.Task{task("a", d1, swarm.TaskStateRunning, swarm.TaskStatePreparing, "", t0)},
			state: target.Deploying, reason: []string{"0 of 1 tasks running"}},
		{name: "global service", svc: swarm.Service{Spec: swarm.ServiceSpec{Mode: swarm.ServiceMode{Global: &swarm.GlobalService{}}}},
			tasks: []swarm.Task{running("a", d1), running("b", d1)}, state: target.Running, running: []v1.Hash{d1}},
		{name: "an image pinned by no digest", svc: replicas(1),
			tasks: []swarm.Task{{ID: "a", Spec: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "api:dev"}},
				DesiredState: swarm.TaskStateRunning, Status: swarm.TaskStatus{State: swarm.TaskStateRunning}}},
			state: target.Running, reason: []string{`"api:dev", not pinned by digest`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := observe(tt.svc, tt.tasks)
			if got.State != tt.state || !reflect.DeepEqual(got.Running, tt.running) {
				t.Errorf("observe() = %s %v (%q), want %s %v", got.State, got.Running, got.Reason, tt.state, tt.running)
			}
			for _, s := range tt.reason {
				if !strings.Contains(got.Reason, s) {
					t.Errorf("observe().Reason = %q, want it to contain %q", got.Reason, s)
				}
			}
			if len(tt.reason) == 0 && got.Reason != "" {
				t.Errorf("observe().Reason = %q, want none", got.Reason)
			}
		})
	}
}

func TestLossless(t *testing.T) {
	one := uint64(1)
	spec := swarm.ServiceSpec{
		Annotations:  swarm.Annotations{Name: "api"},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "api:dev", Env: []string{"A=1"}}},
		Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &one}},
	}
	tests := []struct {
		name string
		raw  string
		want string // "" for lossless, else a substring of the error
	}{
		{name: "same fields", raw: `{"Spec":{"Name":"api","Labels":{},"TaskTemplate":{"ContainerSpec":{"Image":"api:dev","Env":["A=1"]},"ForceUpdate":0},"Mode":{"Replicated":{"Replicas":1}}}}`},
		{name: "a field the types do not know", raw: `{"Spec":{"Name":"api","TaskTemplate":{"ContainerSpec":{"Image":"api:dev","Env":["A=1"],"Shiny":true}},"Mode":{"Replicated":{"Replicas":1}}}}`,
			want: "Spec.TaskTemplate.ContainerSpec.Shiny"},
		{name: "a value that differs", raw: `{"Spec":{"Name":"api","TaskTemplate":{"ContainerSpec":{"Image":"api:dev","Env":["A=2"]}},"Mode":{"Replicated":{"Replicas":1}}}}`,
			want: "Spec.TaskTemplate.ContainerSpec.Env[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := lossless(json.RawMessage(tt.raw), spec)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("lossless() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("lossless() = %v, want an error naming %s", err, tt.want)
			}
		})
	}
}
