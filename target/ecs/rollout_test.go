package ecs_test

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tierdeploy/tier/deploy"
	"github.com/tierdeploy/tier/internal/awscred"
	"github.com/tierdeploy/tier/internal/awsfake"
	"github.com/tierdeploy/tier/target"
	"github.com/tierdeploy/tier/target/ecs"
)

// TestOtherDeploymentControllerFailsAtOnce: a CODE_DEPLOY or EXTERNAL
// service cannot take a new task definition through UpdateService (ECS API
// reference, UpdateService). tier reads the controller and fails the
// environment at once, with what to do, before changing anything; it
// never waits for the timeout.
func TestOtherDeploymentControllerFailsAtOnce(t *testing.T) {
	tests := []struct {
		controller string
		tier, tag  string
		image      string
		want       []string
	}{
		{awsfake.ControllerCodeDeploy, "prod", newRel, repo + ":" + oldRel + "@" + d1.String(), []string{"CODE_DEPLOY", "CodeDeploy", "AppSpec", "ECS deployment controller"}},
		{awsfake.ControllerCodeDeploy, "dev", "dev", repo + ":dev", []string{"CODE_DEPLOY", "AppSpec"}},
		{awsfake.ControllerExternal, "prod", newRel, repo + ":" + oldRel + "@" + d1.String(), []string{"EXTERNAL", "task set", "ECS deployment controller"}},
	}
	for _, tt := range tests {
		t.Run(tt.controller+" "+tt.tier, func(t *testing.T) {
			r := newRig(t)
			r.addService(acctA, tt.image, d1, 2, true)
			r.aws.SetDeploymentController(acctA, region, "api", "api", tt.controller)
			env := keysEnv(tt.tier, tt.tier)

			err := r.tg.Deploy(t.Context(), target.Deployment{Environment: env, Service: api, Repository: repo, Tag: tt.tag, Digest: d2})
			var ce *ecs.ControllerError
			if !errors.As(err, &ce) || ce.Controller != tt.controller || !target.Permanent(err) {
				t.Fatalf("Deploy = %v, want a permanent *ecs.ControllerError for %s", err, tt.controller)
			}
			for _, s := range tt.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			res := wantOutcome(t, r.promote(t, r.tg, tt.tag, d2, time.Minute, env), deploy.Failed)
			if !strings.Contains(res.Reason, tt.controller) {
				t.Errorf("reason %q does not name the controller", res.Reason)
			}
			if ops := ecsOps(r.aws); slices.Contains(ops, "RegisterTaskDefinition") || slices.Contains(ops, "UpdateService") {
				t.Errorf("ECS calls = %v, want no change to the service", ops)
			}
		})
	}
}

// TestTaskSetServiceObserved: tier status of a CODE_DEPLOY service reads
// its PRIMARY task set (such services list no deployments).
func TestTaskSetServiceObserved(t *testing.T) {
	r := newRig(t)
	r.addService(acctA, repo+":dev", d1, 2, true)
	r.aws.SetDeploymentController(acctA, region, "api", "api", awsfake.ControllerCodeDeploy)
	obs, err := ecs.New(ecs.Options{Creds: r.creds}).Observe(t.Context(), keysEnv("dev", "dev"), api)
	if err != nil {
		t.Fatal(err)
	}
	if obs.State != target.Running || !slices.Equal(obs.Running, []v1.Hash{d1}) {
		t.Errorf("Observe = %+v, want running %s", obs, d1)
	}
}

// TestBakeTimeKeepsDeploying: ECS's own BLUE_GREEN (and LINEAR, CANARY)
// deployments stay IN_PROGRESS through their bake time, the previous
// revision still running. tier keeps waiting, says it is the bake time,
// and when its timeout is shorter than the bake time says to raise it.
func TestBakeTimeKeepsDeploying(t *testing.T) {
	r := newRig(t)
	r.addService(acctA, repo+":"+oldRel+"@"+d1.String(), d1, 2, true)
	r.aws.SetDeploymentStrategy(acctA, region, "api", "api", awsfake.StrategyBlueGreen, 30)
	env := keysEnv("prod", "prod")

	res := wantOutcome(t, r.promote(t, r.tg, newRel, d2, 300*time.Millisecond, env), deploy.TimedOut)
	for _, s := range []string{"bake time", "BLUE_GREEN", "bakeTimeInMinutes 30", "--timeout"} {
		if !strings.Contains(res.Reason, s) {
			t.Errorf("timed-out reason %q does not say %q", res.Reason, s)
		}
	}
	r.aws.AdvanceClock(31 * time.Minute)
	wantOutcome(t, r.promote(t, r.tg, newRel, d2, 10*time.Second, env), deploy.Verified)
}

// TestDrainedRollbackFoundOnALaterPage: ListServiceDeployments pages (20
// by default) in no documented order. tier status of a service whose last
// update was rolled back and drained finds that update's service
// deployment by its ARN (currentServiceDeployment) on whatever page it is,
// not by taking the first page's newest.
func TestDrainedRollbackFoundOnALaterPage(t *testing.T) {
	r := newRig(t)
	r.addService(acctA, repo+":"+oldRel+"@"+d1.String(), d1, 2, true)
	r.aws.SeedServiceDeployments(acctA, region, "api", "api", 30)
	r.aws.Rollout(acctA, region, "api", "api", awsfake.FailCircuitBreaker)
	env := keysEnv("prod", "prod")
	wantOutcome(t, r.promote(t, r.tg, newRel, d2, 10*time.Second, env), deploy.Failed)
	// Let the rollback complete and drain the failed deployment.
	for range 3 {
		if _, err := r.tg.Observe(t.Context(), env, api); err != nil {
			t.Fatal(err)
		}
	}
	if v := r.state(t, acctA); len(v.Deployments) != 1 || v.Deployments[0].RolloutState != "COMPLETED" {
		t.Fatalf("deployments = %+v, want the rollback completed alone", v.Deployments)
	}

	obs, err := ecs.New(ecs.Options{Creds: r.creds}).Observe(t.Context(), env, api)
	if err != nil {
		t.Fatal(err)
	}
	if obs.State != target.Failed || !strings.Contains(obs.Reason, "ROLLBACK_SUCCESSFUL") || !slices.Equal(obs.Running, []v1.Hash{d1}) {
		t.Errorf("fresh Observe = %s (%s) running %v, want failed: ROLLBACK_SUCCESSFUL, %s running", obs.State, obs.Reason, obs.Running, d1)
	}
	if n := len(r.aws.CallsOf("ecs:ListServiceDeployments")); n < 2 {
		t.Errorf("ListServiceDeployments called %d times, want every page read", n)
	}
}

// TestScaledToZeroReportedAtOnce: a service scaled to 0 runs no task, so
// nothing can be verified. A promotion fails it at once without changing
// it; tier status shows it not deployed.
func TestScaledToZeroReportedAtOnce(t *testing.T) {
	r := newRig(t)
	r.addService(acctA, repo+":"+oldRel+"@"+d1.String(), d1, 0, true)
	env := keysEnv("prod", "prod")

	res := wantOutcome(t, r.promote(t, r.tg, newRel, d2, time.Minute, env), deploy.Failed)
	if !strings.Contains(res.Reason, "scaled to 0") || !strings.Contains(res.Reason, "nothing to verify") || !strings.Contains(res.Reason, "--desired-count") {
		t.Errorf("reason %q, want scaled to 0: nothing to verify, and how to scale up", res.Reason)
	}
	if ops := ecsOps(r.aws); slices.Contains(ops, "RegisterTaskDefinition") || slices.Contains(ops, "UpdateService") {
		t.Errorf("ECS calls = %v, want no change to the service", ops)
	}
	obs, err := ecs.New(ecs.Options{Creds: r.creds}).Observe(t.Context(), env, api)
	if err != nil {
		t.Fatal(err)
	}
	if obs.State != target.NotDeployed || obs.Reason != "scaled to 0: nothing to verify" {
		t.Errorf("fresh Observe = %s (%s), want not-deployed: scaled to 0: nothing to verify", obs.State, obs.Reason)
	}
}

// TestScaledToZeroDuringTheRollout: a service scaled to 0 while tier waits
// fails the rollout at once: no task will ever run the build.
func TestScaledToZeroDuringTheRollout(t *testing.T) {
	r := newRig(t)
	r.addService(acctA, repo+":"+oldRel+"@"+d1.String(), d1, 2, true)
	r.aws.Rollout(acctA, region, "api", "api", awsfake.StuckInProgress)
	env := keysEnv("prod", "prod")
	if err := r.tg.Deploy(t.Context(), target.Deployment{Environment: env, Service: api, Repository: repo, Tag: newRel, Digest: d2}); err != nil {
		t.Fatal(err)
	}
	cfg, err := r.creds.Config(t.Context(), awscred.FromECS(env.Name, env.Target.ECS))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sdkecs.NewFromConfig(cfg).UpdateService(t.Context(), &sdkecs.UpdateServiceInput{Cluster: aws.String("api"), Service: aws.String("api"),
		DesiredCount: aws.Int32(0)}); err != nil {
		t.Fatal(err)
	}
	obs, err := r.tg.Observe(t.Context(), env, api)
	if err != nil {
		t.Fatal(err)
	}
	if obs.State != target.Failed || !strings.Contains(obs.Reason, "scaled to 0") {
		t.Errorf("Observe = %s (%s), want failed: scaled to 0 during the rollout", obs.State, obs.Reason)
	}
}

// TestPinDropsReservedTags: AWS reserves the aws: prefix of tag keys and
// values and RegisterTaskDefinition refuses it from callers, while a task
// definition may carry such tags from AWS itself (CloudFormation). pin mode
// keeps the other tags.
func TestPinDropsReservedTags(t *testing.T) {
	r := newRig(t)
	td := taskDef(repo + ":" + oldRel + "@" + d1.String())
	td.Tags = map[string]string{"team": "payments", "aws:cloudformation:stack-name": "api", "owner": "AWS:ops"}
	r.aws.SetImageDigest(acctA, region, repo+":"+oldRel+"@"+d1.String(), d1.String())
	r.aws.AddService(acctA, region, "api", "api", td, 1, true)

	wantOutcome(t, r.promote(t, r.tg, newRel, d2, 10*time.Second, keysEnv("prod", "prod")), deploy.Verified)
	regs := r.aws.CallsOf("ecs:RegisterTaskDefinition")
	if len(regs) != 1 {
		t.Fatalf("RegisterTaskDefinition called %d times, want 1", len(regs))
	}
	want := jsonValue(t, []any{map[string]any{"key": "team", "value": "payments"}})
	if got := jsonValue(t, regs[0].Params["tags"]); !reflect.DeepEqual(got, want) {
		t.Errorf("registered tags = %v, want only team=payments", got)
	}
}

// TestDeploySeveralContainersOfTheRepository: an app and a worker built
// from the service's repository are both deployed, unless ecs.container
// names one.
func TestDeploySeveralContainersOfTheRepository(t *testing.T) {
	tests := []struct {
		name      string
		container string
		want      map[string]bool // containers that get the new image
	}{
		{"all of the repository", "", map[string]bool{"app": true, "worker": true}},
		{"the named one", "worker", map[string]bool{"worker": true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			old := repo + ":" + oldRel + "@" + d1.String()
			r.aws.SetImageDigest("", "", old, d1.String())
			r.aws.AddService(acctA, region, "api", "api", awsfake.TaskDef{Family: "api",
				Containers: map[string]string{"app": old, "worker": old, "log-router": fluentBit}}, 2, true)
			env := keysEnv("prod", "prod")
			env.Target.ECS.Container = tt.container

			// Verified from the deployed containers: the named one, or all.
			wantOutcome(t, r.promote(t, r.tg, newRel, d2, 10*time.Second, env), deploy.Verified)
			v := r.state(t, acctA)
			for _, c := range []string{"app", "worker"} {
				image, digests := old, []string{d1.String()}
				if tt.want[c] {
					image, digests = repo+":"+newRel+"@"+d2.String(), []string{d2.String()}
				}
				if v.Images[c] != image || !slices.Equal(v.RunningDigests[c], digests) {
					t.Errorf("container %s: image %s running %v, want %s running %v", c, v.Images[c], v.RunningDigests[c], image, digests)
				}
			}
			if v.Images["log-router"] != fluentBit {
				t.Errorf("log-router image = %s, want it unchanged", v.Images["log-router"])
			}
		})
	}
}
