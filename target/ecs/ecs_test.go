package ecs_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/deploy"
	"github.com/tierdeploy/tier/internal/awscred"
	"github.com/tierdeploy/tier/internal/awsfake"
	"github.com/tierdeploy/tier/target"
	"github.com/tierdeploy/tier/target/ecs"
)

// The seed's layout: one shared registry, services in two accounts.
const (
	region   = "us-east-1"
	registry = "012345678922.dkr.ecr.us-east-1.amazonaws.com"
	repo     = registry + "/api"
	acctA    = "111111111111" // dev, staging, prod
	acctB    = "222222222222" // the mb tenant's account
	roleB    = "arn:aws:iam::222222222222:role/deployer"

	devKey    = "AKIAFAKEDEVKEY000001"
	devSecret = "dev-secret-never-printed"
	ciKey     = "AKIAFAKECIKEY0000001"

	fluentBit = "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable"
	oldRel    = "prod-20240101T000000Z"
	newRel    = "prod-20240301T000000Z"
)

var (
	d1 = digest("1")
	d2 = digest("2")
	d3 = digest("3")

	api = config.Service{Name: "api", Repository: "api"}
)

func digest(c string) v1.Hash { return v1.Hash{Algorithm: "sha256", Hex: strings.Repeat(c, 64)} }

// rig is the AWS stand-in, credentials that reach it, and a target.
type rig struct {
	aws   *awsfake.Server
	creds *awscred.Cache
	tg    *ecs.Target
}

func newRig(t *testing.T) *rig {
	t.Helper()
	// The SDK must read nothing of this machine's AWS setup.
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
		"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ENDPOINT_URL",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	s := awsfake.New(t)
	s.AddKey(devKey, acctA)
	s.AddKey(ciKey, acctA)
	dir := t.TempDir()
	cfgFile, credFile := filepath.Join(dir, "config"), filepath.Join(dir, "credentials")
	write(t, cfgFile, "[profile ci]\nregion = us-east-1\n")
	write(t, credFile, "[ci]\naws_access_key_id = "+ciKey+"\naws_secret_access_key = ci-secret-never-printed\n")
	vars := map[string]string{"DEV_AWS_ACCESS_KEY_ID": devKey, "DEV_AWS_SECRET_ACCESS_KEY": devSecret}
	creds := &awscred.Cache{Getenv: func(k string) string { return vars[k] }, Endpoint: s.URL,
		SharedConfigFiles: []string{cfgFile}, SharedCredentialsFiles: []string{credFile}}
	s.SetImageDigest("", "", fluentBit, digest("f").String())
	return &rig{aws: s, creds: creds, tg: ecs.New(ecs.Options{Creds: creds, ReleaseTiers: map[string]bool{"prod": true}})}
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// keysEnv is an environment of account A whose keys are in
// $DEV_AWS_ACCESS_KEY_ID and $DEV_AWS_SECRET_ACCESS_KEY.
func keysEnv(name, tier string) config.Environment {
	return config.Environment{Name: name, Tier: tier, Tenant: "default", Target: config.Target{ECS: &config.ECS{
		Cluster: "api", Service: "api", Region: region,
		AccessKeyIDEnv: "DEV_AWS_ACCESS_KEY_ID", SecretAccessKeyEnv: "DEV_AWS_SECRET_ACCESS_KEY"}}}
}

// roleEnv is an environment of account B reached by assuming roleB from
// profile ci (account A) with an external ID.
func roleEnv(name, tier, externalID string) config.Environment {
	return config.Environment{Name: name, Tier: tier, Tenant: "mb", Target: config.Target{ECS: &config.ECS{
		Cluster: "api", Service: "api", Region: region, Profile: "ci", RoleARN: roleB, ExternalID: externalID}}}
}

// taskDef is the service's task definition: the app and a log router,
// with fields of every kind that a copy must keep.
func taskDef(image string) awsfake.TaskDef {
	return awsfake.TaskDef{
		Family:     "api",
		Containers: map[string]string{"app": image, "log-router": fluentBit},
		Extra: map[string]any{
			"cpu": "256", "memory": "512", "networkMode": "awsvpc", "requiresCompatibilities": []string{"FARGATE"},
			"executionRoleArn": "arn:aws:iam::111111111111:role/ecsTaskExecutionRole",
			"taskRoleArn":      "arn:aws:iam::111111111111:role/api",
			"volumes":          []any{map[string]any{"name": "scratch"}},
			"runtimePlatform":  map[string]any{"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
			"ephemeralStorage": map[string]any{"sizeInGiB": 30},
			"pidMode":          "task",
		},
		ContainerExtra: map[string]map[string]any{
			"app": {
				"essential":    true,
				"portMappings": []any{map[string]any{"containerPort": 8080, "protocol": "tcp", "name": "http"}},
				"environment":  []any{map[string]any{"name": "LOG_LEVEL", "value": "info"}},
				"secrets":      []any{map[string]any{"name": "DB_PASSWORD", "valueFrom": "arn:aws:ssm:us-east-1:111111111111:parameter/db"}},
				"healthCheck":  map[string]any{"command": []string{"CMD-SHELL", "curl -f localhost:8080/healthz"}, "interval": 10, "retries": 3},
				"dependsOn":    []any{map[string]any{"containerName": "log-router", "condition": "START"}},
				"logConfiguration": map[string]any{"logDriver": "awsfirelens",
					"options": map[string]any{"Name": "cloudwatch", "region": "us-east-1"}},
				"mountPoints": []any{map[string]any{"sourceVolume": "scratch", "containerPath": "/tmp"}},
			},
			"log-router": {
				"essential":             false,
				"firelensConfiguration": map[string]any{"type": "fluentbit"},
				"memoryReservation":     50,
			},
		},
		Tags: map[string]string{"team": "payments"},
	}
}

// addService creates the api service in account's cluster api, running
// image, which resolves to running.
func (r *rig) addService(account, image string, running v1.Hash, desired int, rollback bool) string {
	r.aws.SetImageDigest(account, region, image, running.String())
	return r.aws.AddService(account, region, "api", "api", taskDef(image), desired, rollback)
}

// promote runs the real engine over envs, as `tier promote` does.
func (r *rig) promote(t *testing.T, tg target.Target, tag string, d v1.Hash, timeout time.Duration, envs ...config.Environment) []deploy.Result {
	t.Helper()
	e := &deploy.Engine{
		Target:  func(config.Environment) (target.Target, error) { return tg, nil },
		Timeout: timeout, Poll: time.Millisecond, MaxPoll: 5 * time.Millisecond,
	}
	var items []target.Deployment
	for _, env := range envs {
		items = append(items, target.Deployment{Environment: env, Service: api, Repository: repo, Tag: tag, Digest: d})
	}
	return e.Run(t.Context(), items, false)
}

func (r *rig) state(t *testing.T, account string) awsfake.ServiceView {
	t.Helper()
	v, ok := r.aws.ServiceState(account, region, "api", "api")
	if !ok {
		t.Fatalf("no service api in account %s", account)
	}
	return v
}

// ecsOps lists the ECS operations the stand-in received, in order.
func ecsOps(s *awsfake.Server) []string {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	var out []string
	for _, c := range s.Calls {
		if c.Service == "ecs" {
			out = append(out, c.Operation)
		}
	}
	return out
}

func wantOutcome(t *testing.T, rep []deploy.Result, want deploy.Outcome) deploy.Result {
	t.Helper()
	if len(rep) != 1 {
		t.Fatalf("report has %d results, want 1", len(rep))
	}
	r := rep[0]
	if r.Outcome != want {
		t.Fatalf("outcome = %s (%s), want %s", r.Outcome, r.Reason, want)
	}
	return r
}

func TestDeployPinRegistersACopyWithOnlyTheImageChanged(t *testing.T) {
	r := newRig(t)
	oldImage := repo + ":" + oldRel + "@" + d1.String()
	oldARN := r.addService(acctA, oldImage, d1, 2, true)
	r.aws.SetImageDigest(acctA, region, fluentBit, digest("f").String())

	res := wantOutcome(t, r.promote(t, r.tg, newRel, d2, 10*time.Second, keysEnv("prod", "prod")), deploy.Verified)
	if !slices.Equal(res.FromDigests, []string{d1.String()}) {
		t.Errorf("from digests = %v, want [%s]", res.FromDigests, d1)
	}

	// The deploy's own calls, in order, then the engine's observations.
	ops := ecsOps(r.aws)
	deployOps := []string{"DescribeServices", "DescribeTaskDefinition", "RegisterTaskDefinition", "UpdateService"}
	i := slices.Index(ops, "DescribeTaskDefinition")
	if i < 1 || !slices.Equal(ops[i-1:i+3], deployOps) {
		t.Errorf("ECS calls = %v, want the deploy to call %v", ops, deployOps)
	}

	regs := r.aws.CallsOf("ecs:RegisterTaskDefinition")
	if len(regs) != 1 {
		t.Fatalf("RegisterTaskDefinition called %d times, want 1", len(regs))
	}
	newImage := repo + ":" + newRel + "@" + d2.String()
	old, _ := r.aws.TaskDefinition(acctA, region, oldARN)
	want := registrable(old)
	setImage(t, want, "app", newImage)
	got := jsonValue(t, regs[0].Params).(map[string]any)
	if tags := got["tags"]; !reflect.DeepEqual(tags, jsonValue(t, []any{map[string]any{"key": "team", "value": "payments"}})) {
		t.Errorf("RegisterTaskDefinition tags = %v, want team=payments", tags)
	}
	delete(got, "tags")
	if g, w := zeroless(got), zeroless(jsonValue(t, want)); !reflect.DeepEqual(g, w) {
		t.Errorf("RegisterTaskDefinition params =\n%s\nwant the current definition with only app's image changed:\n%s", js(g), js(w))
	}

	v := r.state(t, acctA)
	if v.TaskDefinition == oldARN || !strings.HasSuffix(v.TaskDefinition, ":task-definition/api:2") {
		t.Errorf("service runs task definition %s, want api:2", v.TaskDefinition)
	}
	if v.Images["app"] != newImage || v.Images["log-router"] != fluentBit {
		t.Errorf("task definition images = %v, want app %s and log-router unchanged", v.Images, newImage)
	}
	newTD, _ := r.aws.TaskDefinition(acctA, region, v.TaskDefinition)
	if g, w := zeroless(jsonValue(t, registrable(newTD))), zeroless(jsonValue(t, want)); !reflect.DeepEqual(g, w) {
		t.Errorf("registered revision =\n%s\nwant\n%s", js(g), js(w))
	}

	ups := r.aws.CallsOf("ecs:UpdateService")
	wantUp := map[string]any{"cluster": "api", "service": "api", "taskDefinition": v.TaskDefinition}
	if len(ups) != 1 || !reflect.DeepEqual(ups[0].Params, wantUp) {
		t.Errorf("UpdateService calls = %v, want one with %v", ups, wantUp)
	}
	if !slices.Equal(v.RunningDigests["app"], []string{d2.String()}) {
		t.Errorf("running app digests = %v, want [%s]", v.RunningDigests["app"], d2)
	}
	for _, c := range r.aws.CallsOf("ecs:DescribeServices") {
		if c.AccessKeyID != devKey || c.Account != acctA || c.Region != region {
			t.Errorf("DescribeServices signed by %s (account %s, %s), want %s of %s in %s", c.AccessKeyID, c.Account, c.Region, devKey, acctA, region)
		}
	}
}

func TestDeployTrackTagForcesANewDeployment(t *testing.T) {
	r := newRig(t)
	r.addService(acctA, repo+":dev", d1, 2, true)
	// The registry step moved api:dev to d2.
	r.aws.SetImageDigest(acctA, region, repo+":dev", d2.String())

	wantOutcome(t, r.promote(t, r.tg, "dev", d2, 10*time.Second, keysEnv("dev", "dev")), deploy.Verified)

	if n := len(r.aws.CallsOf("ecs:RegisterTaskDefinition")); n != 0 {
		t.Errorf("RegisterTaskDefinition called %d times in track-tag mode, want 0", n)
	}
	ups := r.aws.CallsOf("ecs:UpdateService")
	wantUp := map[string]any{"cluster": "api", "service": "api", "forceNewDeployment": true}
	if len(ups) != 1 || !reflect.DeepEqual(ups[0].Params, wantUp) {
		t.Errorf("UpdateService calls = %v, want one with %v", ups, wantUp)
	}
	v := r.state(t, acctA)
	if !slices.Equal(v.RunningDigests["app"], []string{d2.String()}) || len(v.Deployments) != 1 {
		t.Errorf("service = %+v, want one deployment running %s", v, d2)
	}
}

func TestTrackTagResolvedToAnotherDigestIsNotVerified(t *testing.T) {
	r := newRig(t)
	r.addService(acctA, repo+":dev", d1, 1, true)
	// Another promotion moved api:dev on to d3 before ECS resolved it.
	r.aws.SetImageDigest(acctA, region, repo+":dev", d3.String())

	res := wantOutcome(t, r.promote(t, r.tg, "dev", d2, 10*time.Second, keysEnv("dev", "dev")), deploy.NotVerified)
	if !strings.Contains(res.Reason, d3.Hex[:12]) {
		t.Errorf("reason %q does not name the digest ECS runs (%s)", res.Reason, d3)
	}
}

func TestDefaultModeByTier(t *testing.T) {
	tests := []struct {
		name         string
		releaseTiers map[string]bool
		tier, tag    string
		image        string
		wantRegister bool
	}{
		{"release tier pins", map[string]bool{"prod": true}, "prod", newRel, repo + ":" + oldRel + "@" + d1.String(), true},
		{"mutable tier tracks its tag", map[string]bool{"prod": true}, "dev", "dev", repo + ":dev", false},
		{"release tag without ReleaseTiers pins", nil, "prod", newRel, repo + ":" + oldRel + "@" + d1.String(), true},
		{"mutable tag without ReleaseTiers tracks", nil, "staging", "staging", repo + ":staging", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			r.addService(acctA, tt.image, d1, 1, true)
			r.aws.SetImageDigest(acctA, region, tt.image, d2.String())
			tg := ecs.New(ecs.Options{Creds: r.creds, ReleaseTiers: tt.releaseTiers})
			if err := tg.Deploy(t.Context(), target.Deployment{Environment: keysEnv(tt.tier, tt.tier), Service: api,
				Repository: repo, Tag: tt.tag, Digest: d2}); err != nil {
				t.Fatal(err)
			}
			if got := len(r.aws.CallsOf("ecs:RegisterTaskDefinition")) == 1; got != tt.wantRegister {
				t.Errorf("registered a revision: %v, want %v", got, tt.wantRegister)
			}
		})
	}
}

func TestCircuitBreakerFailureIsAFailure(t *testing.T) {
	tests := []struct {
		name     string
		image    string // what the task definition names
		tier     string
		tag      string
		rollback bool
	}{
		{"pin, rolled back", repo + ":" + oldRel + "@" + d1.String(), "prod", newRel, true},
		{"pin, no rollback", repo + ":" + oldRel + "@" + d1.String(), "prod", newRel, false},
		{"track-tag, rolled back", repo + ":dev", "dev", "dev", true},
		{"track-tag, no rollback", repo + ":dev", "dev", "dev", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			oldARN := r.addService(acctA, tt.image, d1, 2, tt.rollback)
			r.aws.SetImageDigest(acctA, region, repo+":dev", d2.String())
			r.aws.Rollout(acctA, region, "api", "api", awsfake.FailCircuitBreaker)
			env := keysEnv(tt.tier, tt.tier)

			res := wantOutcome(t, r.promote(t, r.tg, tt.tag, d2, 10*time.Second, env), deploy.Failed)
			const ecsReason = "ECS deployment circuit breaker: tasks failed to start."
			if !strings.Contains(res.Reason, ecsReason) {
				t.Errorf("reason %q does not carry ECS's %q", res.Reason, ecsReason)
			}
			if got := strings.Contains(res.Reason, "rolled back by the deployment circuit breaker"); got != tt.rollback {
				t.Errorf("reason %q says rolled back: %v, want %v", res.Reason, got, tt.rollback)
			}

			// Let ECS finish: the rollback completes and drains the failed
			// deployment. It is still a failure, with ECS's reason.
			for range 3 {
				obs, err := r.tg.Observe(t.Context(), env, api)
				if err != nil {
					t.Fatal(err)
				}
				if obs.State != target.Failed || !strings.Contains(obs.Reason, ecsReason) {
					t.Fatalf("Observe after the rollout = %s (%s), want failed with ECS's reason", obs.State, obs.Reason)
				}
				if !slices.Equal(obs.Running, []v1.Hash{d1}) {
					t.Errorf("Observe running = %v, want the old build %s", obs.Running, d1)
				}
			}
			v := r.state(t, acctA)
			if tt.rollback {
				if v.TaskDefinition != oldARN || len(v.Deployments) != 1 || v.Deployments[0].RolloutState != "COMPLETED" || !v.Deployments[0].Rollback {
					t.Errorf("service after rollback = %+v, want one completed rollback deployment on %s", v, oldARN)
				}
				return
			}
			if v.Deployments[0].RolloutState != "FAILED" || v.Deployments[0].Status != "PRIMARY" {
				t.Errorf("service = %+v, want its PRIMARY deployment FAILED", v)
			}
			// A target that did not deploy (tier status) sees the failure too.
			obs, err := ecs.New(ecs.Options{Creds: r.creds}).Observe(t.Context(), env, api)
			if err != nil {
				t.Fatal(err)
			}
			if obs.State != target.Failed || !strings.Contains(obs.Reason, ecsReason) {
				t.Errorf("fresh Observe = %s (%s), want failed with ECS's reason", obs.State, obs.Reason)
			}
		})
	}
}

func TestRollbackInFlightSeenByAFreshTarget(t *testing.T) {
	r := newRig(t)
	r.addService(acctA, repo+":"+oldRel+"@"+d1.String(), d1, 2, true)
	r.aws.Rollout(acctA, region, "api", "api", awsfake.FailCircuitBreaker)
	env := keysEnv("prod", "prod")
	if err := r.tg.Deploy(t.Context(), target.Deployment{Environment: env, Service: api, Repository: repo, Tag: newRel, Digest: d2}); err != nil {
		t.Fatal(err)
	}
	fresh := ecs.New(ecs.Options{Creds: r.creds})
	var (
		states []target.State
		last   target.Observation
	)
	for range 4 {
		obs, err := fresh.Observe(t.Context(), env, api)
		if err != nil {
			t.Fatal(err)
		}
		states, last = append(states, obs.State), obs
	}
	// In progress; failed while the rollback deployment runs next to the
	// failed one; and still failed once ECS drained the failed deployment:
	// the service deployment history says the last update was rolled back,
	// while the old build runs again.
	want := []target.State{target.Deploying, target.Failed, target.Failed, target.Failed}
	if !slices.Equal(states, want) || !slices.Equal(last.Running, []v1.Hash{d1}) || !strings.Contains(last.Reason, "ROLLBACK_SUCCESSFUL") {
		t.Errorf("fresh Observe states = %v, last running %v (%s); want %v, then %s rolled back", states, last.Running, last.Reason, want, d1)
	}
}

// TestStuckDeploymentTimesOut: tasks that fail, with one reaching RUNNING
// now and then, restart the circuit breaker's count, so ECS keeps the
// deployment IN_PROGRESS. When tier's timeout ends the wait, the report
// says why the tasks stopped, how far the circuit breaker is and what the
// service deployment's status is.
func TestStuckDeploymentTimesOut(t *testing.T) {
	r := newRig(t)
	r.addService(acctA, repo+":"+oldRel+"@"+d1.String(), d1, 2, true)
	r.aws.Rollout(acctA, region, "api", "api", awsfake.StuckInProgress)

	res := wantOutcome(t, r.promote(t, r.tg, newRel, d2, 300*time.Millisecond, keysEnv("prod", "prod")), deploy.TimedOut)
	for _, s := range []string{"EssentialContainerExited: Essential container in task exited", "IN_PROGRESS", "failed tasks in a row", "circuit breaker"} {
		if !strings.Contains(res.Reason, s) {
			t.Errorf("timed-out reason %q does not say %q", res.Reason, s)
		}
	}
	obs, err := r.tg.Observe(t.Context(), keysEnv("prod", "prod"), api)
	if err != nil {
		t.Fatal(err)
	}
	if obs.State != target.Deploying || !strings.Contains(obs.Reason, "Essential container in task exited") || !slices.Contains(obs.Running, d1) {
		t.Errorf("Observe after the timeout = %+v, want deploying with the stopped tasks' reason, %s running", obs, d1)
	}
	v := r.state(t, acctA)
	if v.Deployments[0].RolloutState != "IN_PROGRESS" || !slices.Contains(v.RunningDigests["app"], d1.String()) {
		t.Errorf("service = %+v, want the new deployment in progress and the old build running", v)
	}
}

func TestThrottlingIsRetried(t *testing.T) {
	r := newRig(t)
	r.addService(acctA, repo+":dev", d1, 1, true)
	r.aws.SetImageDigest(acctA, region, repo+":dev", d2.String())
	r.aws.FailNext("ecs:UpdateService", awsfake.APIError{Status: 400, Code: "ThrottlingException", Message: "Rate exceeded"})

	wantOutcome(t, r.promote(t, r.tg, "dev", d2, 20*time.Second, keysEnv("dev", "dev")), deploy.Verified)
	ups := r.aws.CallsOf("ecs:UpdateService")
	if len(ups) != 2 || !reflect.DeepEqual(ups[0].Params, ups[1].Params) {
		t.Errorf("UpdateService calls = %v, want the throttled call and one identical retry", ups)
	}
	if v := r.state(t, acctA); len(v.Deployments) != 1 || v.Deployments[0].RolloutState != "COMPLETED" {
		t.Errorf("deployments = %+v, want exactly one, completed (the throttled call started none)", v.Deployments)
	}
}

func TestAccessDeniedNamesTheActionAndIdentity(t *testing.T) {
	tests := []struct {
		name   string
		op     string
		env    config.Environment
		action string
		names  []string
	}{
		{"keys, UpdateService", "ecs:UpdateService", keysEnv("dev", "dev"), "ecs:UpdateService", []string{"$DEV_AWS_ACCESS_KEY_ID", "$DEV_AWS_SECRET_ACCESS_KEY"}},
		{"keys, DescribeServices", "ecs:DescribeServices", keysEnv("dev", "dev"), "ecs:DescribeServices", []string{"$DEV_AWS_ACCESS_KEY_ID"}},
		{"role, RegisterTaskDefinition", "ecs:RegisterTaskDefinition", roleEnv("mb-prod", "prod", "ext-1"), "ecs:RegisterTaskDefinition", []string{roleB, "tier-mb-prod", `profile "ci"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			account := acctA
			image := repo + ":dev"
			if tt.env.Target.ECS.RoleARN != "" {
				account = acctB
				image = repo + ":" + oldRel + "@" + d1.String()
			}
			r.addService(account, image, d1, 1, true)
			r.aws.SetImageDigest(account, region, repo+":dev", d2.String())
			r.aws.FailNext(tt.op, awsfake.APIError{Status: 400, Code: "AccessDeniedException",
				Message: "User: arn:aws:iam::" + account + ":user/ci is not authorized to perform: " + tt.action})
			tag := "dev"
			if tt.env.Tier == "prod" {
				tag = newRel
			}
			err := r.tg.Deploy(t.Context(), target.Deployment{Environment: tt.env, Service: api, Repository: repo, Tag: tag, Digest: d2})
			var ae *ecs.AccessError
			if !errors.As(err, &ae) || ae.Action != tt.action {
				t.Fatalf("Deploy = %v, want an *ecs.AccessError for %s", err, tt.action)
			}
			msg := err.Error()
			for _, s := range append(tt.names, tt.env.Name, "not authorized") {
				if !strings.Contains(msg, s) {
					t.Errorf("error %q does not name %q", msg, s)
				}
			}
			for _, secret := range []string{devSecret, devKey, ciKey, "ci-secret-never-printed", "ext-1", "fake-secret", "fake-session-token"} {
				if strings.Contains(msg, secret) {
					t.Errorf("error %q reveals %q", msg, secret)
				}
			}
		})
	}
}

func TestMissingClusterOrService(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(r *rig)
		cluster string
		service string
		want    []string
	}{
		{"service missing", nil, "api", "web", []string{"service web", "cluster api", "not found"}},
		{"cluster missing", nil, "web", "api", []string{"cluster web", "not found"}},
		{"service deleted", func(r *rig) { r.aws.DeleteService(acctA, region, "api", "api") }, "api", "api", []string{"service api", "INACTIVE"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			r.addService(acctA, repo+":dev", d1, 1, true)
			if tt.setup != nil {
				tt.setup(r)
			}
			env := keysEnv("dev", "dev")
			env.Target.ECS.Cluster, env.Target.ECS.Service = tt.cluster, tt.service
			deployErr := r.tg.Deploy(t.Context(), target.Deployment{Environment: env, Service: api, Repository: repo, Tag: "dev", Digest: d2})
			_, observeErr := r.tg.Observe(t.Context(), env, api)
			for _, err := range []error{deployErr, observeErr} {
				var nf *ecs.NotFoundError
				if !errors.As(err, &nf) {
					t.Fatalf("error = %v, want an *ecs.NotFoundError", err)
				}
				for _, s := range tt.want {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not say %q", err, s)
					}
				}
			}
			if n := len(r.aws.CallsOf("ecs:UpdateService")); n != 0 {
				t.Errorf("UpdateService called %d times, want 0", n)
			}
		})
	}
}

func TestServiceNotFoundOnUpdate(t *testing.T) {
	r := newRig(t)
	r.addService(acctA, repo+":dev", d1, 1, true)
	r.aws.FailNext("ecs:UpdateService", awsfake.APIError{Status: 400, Code: "ServiceNotFoundException", Message: "Service not found."})
	err := r.tg.Deploy(t.Context(), target.Deployment{Environment: keysEnv("dev", "dev"), Service: api, Repository: repo, Tag: "dev", Digest: d2})
	var nf *ecs.NotFoundError
	if !errors.As(err, &nf) || nf.Service != "api" || nf.Cluster != "api" {
		t.Errorf("Deploy = %v, want an *ecs.NotFoundError for service api in cluster api", err)
	}
}

func TestContainerOfAnotherRepository(t *testing.T) {
	tests := []struct {
		name      string
		images    map[string]string
		container string
		want      []string
	}{
		{"no container uses the repository", map[string]string{"app": registry + "/web:dev", "log-router": fluentBit},
			"", []string{"no container", repo, "app (" + registry + "/web)", "log-router (public.ecr.aws/aws-observability/aws-for-fluent-bit)"}},
		{"named container uses another repository", map[string]string{"app": registry + "/web:dev", "api": repo + ":dev"},
			"app", []string{"container app", "does not use " + repo}},
		{"named container missing", map[string]string{"app": repo + ":dev"}, "web", []string{`no container "web"`, "ecs.container"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			for _, img := range tt.images {
				r.aws.SetImageDigest("", "", img, d1.String())
			}
			r.aws.AddService(acctA, region, "api", "api", awsfake.TaskDef{Family: "api", Containers: tt.images}, 1, true)
			env := keysEnv("dev", "dev")
			env.Target.ECS.Container = tt.container
			err := r.tg.Deploy(t.Context(), target.Deployment{Environment: env, Service: api, Repository: repo, Tag: "dev", Digest: d2})
			var ce *ecs.ContainerError
			if !errors.As(err, &ce) {
				t.Fatalf("Deploy = %v, want an *ecs.ContainerError", err)
			}
			for _, s := range tt.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			if ops := ecsOps(r.aws); slices.Contains(ops, "RegisterTaskDefinition") || slices.Contains(ops, "UpdateService") {
				t.Errorf("ECS calls = %v, want no change to the service", ops)
			}
		})
	}
}

func TestTrackTagNeedsTheTierTag(t *testing.T) {
	r := newRig(t)
	r.addService(acctA, repo+":latest", d1, 1, true)
	env := keysEnv("dev", "dev")
	env.Target.ECS.Mode = config.ModeTrackTag
	err := r.tg.Deploy(t.Context(), target.Deployment{Environment: env, Service: api, Repository: repo, Tag: "dev", Digest: d2})
	var te *ecs.TrackTagError
	if !errors.As(err, &te) || te.Image != repo+":latest" || te.Want != repo+":dev" {
		t.Fatalf("Deploy = %v, want an *ecs.TrackTagError (names %s, wants %s)", err, repo+":latest", repo+":dev")
	}
	if !strings.Contains(err.Error(), "ecs.mode: pin") {
		t.Errorf("error %q does not offer pin mode", err)
	}
	if n := len(r.aws.CallsOf("ecs:UpdateService")); n != 0 {
		t.Errorf("UpdateService called %d times, want 0", n)
	}
}

func TestRepeatedPinDeployChangesNothing(t *testing.T) {
	r := newRig(t)
	r.addService(acctA, repo+":"+oldRel+"@"+d1.String(), d1, 2, true)
	d := target.Deployment{Environment: keysEnv("prod", "prod"), Service: api, Repository: repo, Tag: newRel, Digest: d2}
	for range 2 {
		if err := r.tg.Deploy(t.Context(), d); err != nil {
			t.Fatal(err)
		}
	}
	if reg, up := len(r.aws.CallsOf("ecs:RegisterTaskDefinition")), len(r.aws.CallsOf("ecs:UpdateService")); reg != 1 || up != 1 {
		t.Errorf("two deploys of one build: %d registrations and %d updates, want 1 and 1", reg, up)
	}
	wantOutcome(t, r.promote(t, r.tg, newRel, d2, 10*time.Second, d.Environment), deploy.Verified)
}

func TestObserveReadsEveryRunningTask(t *testing.T) {
	r := newRig(t)
	r.addService(acctA, repo+":dev", d1, 150, true)
	obs, err := ecs.New(ecs.Options{Creds: r.creds, Registry: registry}).Observe(t.Context(), keysEnv("dev", "dev"), api)
	if err != nil {
		t.Fatal(err)
	}
	if obs.State != target.Running || !slices.Equal(obs.Running, []v1.Hash{d1}) {
		t.Errorf("Observe = %+v, want running %s", obs, d1)
	}
	lists, descs := r.aws.CallsOf("ecs:ListTasks"), r.aws.CallsOf("ecs:DescribeTasks")
	// Distinct tasks: the SDK may resend a call under load, and the
	// stand-in records every attempt.
	described := map[any]bool{}
	for _, c := range descs {
		ts := c.Params["tasks"].([]any)
		if len(ts) > 100 {
			t.Errorf("DescribeTasks asked for %d tasks, more than its limit of 100", len(ts))
		}
		for _, x := range ts {
			described[x] = true
		}
	}
	if n := len(described); len(lists) != 2 || n != 150 {
		t.Errorf("%d ListTasks pages and %d tasks described, want 2 pages and 150 tasks", len(lists), len(described))
	}
	want := map[string]any{"cluster": "api", "serviceName": "api", "desiredStatus": "RUNNING"}
	if !reflect.DeepEqual(lists[0].Params, want) {
		t.Errorf("ListTasks params = %v, want %v", lists[0].Params, want)
	}
}

// TestTwoAccounts deploys one tier to two environments in two accounts:
// dev with keys from named variables, mb-dev through a role assumed with
// an external ID. Every call must be signed by its environment's account.
func TestTwoAccounts(t *testing.T) {
	r := newRig(t)
	r.aws.RequireExternalID(roleB, "mb-external-id")
	for _, acct := range []string{acctA, acctB} {
		r.addService(acct, repo+":dev", d1, 2, true)
		r.aws.SetImageDigest(acct, region, repo+":dev", d2.String())
	}
	dev, mbDev := keysEnv("dev", "dev"), roleEnv("mb-dev", "dev", "mb-external-id")

	rep := r.promote(t, r.tg, "dev", d2, 10*time.Second, dev, mbDev)
	for _, res := range rep {
		if res.Outcome != deploy.Verified {
			t.Errorf("%s: %s (%s), want verified", res.Environment, res.Outcome, res.Reason)
		}
	}

	roles := r.aws.AssumedRoles()
	if len(roles) != 1 {
		t.Fatalf("AssumeRole succeeded %d times, want once (cached)", len(roles))
	}
	ar := roles[0]
	if ar.RoleARN != roleB || ar.SessionName != "tier-mb-dev" || ar.ExternalID != "mb-external-id" || ar.CallerKey != ciKey || ar.Account != acctB {
		t.Errorf("AssumeRole = %+v, want %s as session tier-mb-dev with the external ID, signed by profile ci's key", ar, roleB)
	}
	calls := r.aws.CallsOf("sts:AssumeRole")
	wantParams := map[string]string{"RoleArn": roleB, "RoleSessionName": "tier-mb-dev", "ExternalId": "mb-external-id"}
	for k, v := range wantParams {
		if calls[0].Params[k] != v {
			t.Errorf("AssumeRole %s = %v, want %s", k, calls[0].Params[k], v)
		}
	}
	keyOf := map[string]string{acctA: devKey, acctB: ar.AccessKeyID}
	updates := map[string]int{}
	r.aws.Mu.Lock()
	for _, c := range r.aws.Calls {
		if c.Service != "ecs" {
			continue
		}
		if c.AccessKeyID != keyOf[c.Account] {
			t.Errorf("ecs:%s in account %s signed by %s, want %s", c.Operation, c.Account, c.AccessKeyID, keyOf[c.Account])
		}
		if c.Operation == "UpdateService" {
			updates[c.Account]++
		}
	}
	r.aws.Mu.Unlock()
	if updates[acctA] != 1 || updates[acctB] != 1 {
		t.Errorf("UpdateService calls per account = %v, want one in each", updates)
	}
	for _, acct := range []string{acctA, acctB} {
		if v := r.state(t, acct); !slices.Equal(v.RunningDigests["app"], []string{d2.String()}) {
			t.Errorf("account %s runs %v, want %s", acct, v.RunningDigests["app"], d2)
		}
	}
}

func TestWrongExternalIDIsACredentialsError(t *testing.T) {
	r := newRig(t)
	r.aws.RequireExternalID(roleB, "right-id")
	r.addService(acctB, repo+":dev", d1, 1, true)
	_, err := r.tg.Observe(t.Context(), roleEnv("mb-dev", "dev", "wrong-id"), api)
	var ce *ecs.CredentialsError
	if !errors.As(err, &ce) {
		t.Fatalf("Observe = %v, want an *ecs.CredentialsError", err)
	}
	for _, s := range []string{roleB, "trust policy", "AccessDenied"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
	if strings.Contains(err.Error(), "wrong-id") || strings.Contains(err.Error(), "right-id") {
		t.Errorf("error %q reveals an external ID", err)
	}
	if n := len(r.aws.CallsOf("ecs:DescribeServices")); n != 0 {
		t.Errorf("DescribeServices reached ECS %d times without credentials", n)
	}
}

// registrable returns the fields of a described task definition that
// RegisterTaskDefinition takes.
func registrable(td map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range td {
		switch k {
		case "taskDefinitionArn", "revision", "status", "registeredAt", "registeredBy", "requiresAttributes",
			"compatibilities", "deregisteredAt", "deleteRequestedAt":
		default:
			out[k] = v
		}
	}
	return out
}

func setImage(t *testing.T, td map[string]any, container, image string) {
	t.Helper()
	for _, c := range td["containerDefinitions"].([]any) {
		if m := c.(map[string]any); m["name"] == container {
			m["image"] = image
			return
		}
	}
	t.Fatalf("no container %s", container)
}

// jsonValue returns v as encoding/json decodes it into an any.
func jsonValue(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// zeroless drops the members ECS reads as absent: 0, "", [] and {}.
// false is kept: an explicit essential: false matters.
func zeroless(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			if e = zeroless(e); !zero(e) {
				out[k] = e
			}
		}
		return out
	case []any:
		out := []any{}
		for _, e := range x {
			out = append(out, zeroless(e))
		}
		return out
	}
	return v
}

func zero(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case float64:
		return x == 0
	case string:
		return x == ""
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

func js(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}
