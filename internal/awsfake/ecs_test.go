package awsfake_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"

	"github.com/tierdeploy/tier/internal/awsfake"
)

const (
	ecsAccount = "111111111111"
	ecsRegion  = "us-east-1"
	ecsImage   = "012345678922.dkr.ecr.us-east-1.amazonaws.com/api:dev"
)

// ecsServer is the stand-in with service api in cluster api of ecsAccount,
// running desired tasks of ecsImage, and the real SDK client signed for
// that account.
func ecsServer(t *testing.T, desired int, rollback bool) (*awsfake.Server, *awsecs.Client) {
	t.Helper()
	s := awsfake.New(t)
	s.AddKey("AKIAECSTEST", ecsAccount)
	s.SetImageDigest("", "", ecsImage, "sha256:"+strings.Repeat("1", 64))
	s.AddService(ecsAccount, ecsRegion, "api", "api", awsfake.TaskDef{Family: "api", Containers: map[string]string{"app": ecsImage}}, desired, rollback)
	c := awsecs.New(awsecs.Options{Region: ecsRegion, BaseEndpoint: aws.String(s.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKIAECSTEST", "secret", "")})
	return s, c
}

func ecsCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// describe returns the service once, which moves its rollout one step.
func describe(t *testing.T, c *awsecs.Client) types.Service {
	t.Helper()
	out, err := c.DescribeServices(t.Context(), &awsecs.DescribeServicesInput{Cluster: aws.String("api"), Services: []string{"api"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Services) != 1 {
		t.Fatalf("DescribeServices answered %d services, want 1", len(out.Services))
	}
	return out.Services[0]
}

func forceDeployment(t *testing.T, c *awsecs.Client) *types.Service {
	t.Helper()
	out, err := c.UpdateService(t.Context(), &awsecs.UpdateServiceInput{Cluster: aws.String("api"), Service: aws.String("api"), ForceNewDeployment: true})
	if err != nil {
		t.Fatal(err)
	}
	return out.Service
}

// TestECSCircuitBreakerThreshold: the circuit breaker fails a deployment
// once its consecutive failed tasks reach half the desired count, at least
// 3 and at most 200 (API reference, ServiceDeploymentCircuitBreaker and
// ThresholdConfiguration: BOUNDED_PERCENT 50 by default). The stand-in
// fails a batch of desiredCount tasks a step.
func TestECSCircuitBreakerThreshold(t *testing.T) {
	tests := []struct {
		desired   int
		failAfter int // DescribeServices steps until FAILED
		failed    int32
	}{
		{1, 3, 3},   // threshold 3: one failed task a step
		{2, 2, 4},   // threshold 3: 2, then 4
		{10, 1, 10}, // threshold 5
		{30, 1, 30}, // threshold 15
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("desired %d", tt.desired), func(t *testing.T) {
			s, c := ecsServer(t, tt.desired, false)
			s.Rollout(ecsAccount, ecsRegion, "api", "api", awsfake.FailCircuitBreaker)
			id := *forceDeployment(t, c).Deployments[0].Id
			for step := 1; step <= tt.failAfter; step++ {
				svc := describe(t, c)
				d := svc.Deployments[slices.IndexFunc(svc.Deployments, func(d types.Deployment) bool { return *d.Id == id })]
				want := types.DeploymentRolloutStateInProgress
				if step == tt.failAfter {
					want = types.DeploymentRolloutStateFailed
				}
				if d.RolloutState != want {
					t.Fatalf("step %d: rolloutState %s (failedTasks %d), want %s", step, d.RolloutState, d.FailedTasks, want)
				}
				if step == tt.failAfter && d.FailedTasks != tt.failed {
					t.Errorf("failedTasks when FAILED = %d, want %d", d.FailedTasks, tt.failed)
				}
			}
		})
	}
}

// TestECSFailureCountResetsOnRunningTask: "Once a service deployment has
// one or more successfully running tasks, the failed task count resets to
// zero" (API reference, Deployment.failedTasks; resetOnHealthyTask
// defaults to true). Flapping tasks never trip the circuit breaker.
func TestECSFailureCountResetsOnRunningTask(t *testing.T) {
	s, c := ecsServer(t, 2, true)
	s.Rollout(ecsAccount, ecsRegion, "api", "api", awsfake.StuckInProgress)
	forceDeployment(t, c)
	var counts []int32
	for range 20 {
		d := describe(t, c).Deployments[0]
		if d.RolloutState != types.DeploymentRolloutStateInProgress {
			t.Fatalf("rolloutState = %s after failed tasks %v, want IN_PROGRESS", d.RolloutState, counts)
		}
		counts = append(counts, d.FailedTasks)
	}
	if !slices.Contains(counts, 0) || !slices.Contains(counts, 2) || slices.Max(counts) >= 3 {
		t.Errorf("failedTasks over 20 steps = %v, want it back to 0 after each running task and never at the threshold 3", counts)
	}
}

// TestECSRollbackKeepsTheDeploymentID: "When the rollback initiates, the
// deployment changes from a COMPLETED to IN_PROGRESS" (ECS Developer
// Guide, deployment circuit breaker): the rollback is the last completed
// deployment, PRIMARY again with its own ID and createdAt, and the
// update's service deployment goes ROLLBACK_IN_PROGRESS, then
// ROLLBACK_SUCCESSFUL.
func TestECSRollbackKeepsTheDeploymentID(t *testing.T) {
	s, c := ecsServer(t, 2, true)
	old := describe(t, c).Deployments[0]
	s.Rollout(ecsAccount, ecsRegion, "api", "api", awsfake.FailCircuitBreaker)
	updated := forceDeployment(t, c)
	sdARN := aws.ToString(updated.CurrentServiceDeployment)
	if sdARN == "" || !strings.Contains(sdARN, ":service-deployment/api/api/") {
		t.Fatalf("UpdateService currentServiceDeployment = %q, want a service deployment ARN", sdARN)
	}
	describe(t, c)
	svc := describe(t, c)
	p := svc.Deployments[0]
	if aws.ToString(p.Status) != "PRIMARY" || *p.Id != *old.Id || !p.CreatedAt.Equal(*old.CreatedAt) || p.RolloutState != types.DeploymentRolloutStateInProgress {
		t.Errorf("PRIMARY after the circuit breaker = %s %s created %v %s, want %s again, created %v, IN_PROGRESS",
			*p.Id, aws.ToString(p.Status), p.CreatedAt, p.RolloutState, *old.Id, old.CreatedAt)
	}
	if aws.ToString(svc.CurrentServiceDeployment) != sdARN {
		t.Errorf("currentServiceDeployment = %s, want still %s", aws.ToString(svc.CurrentServiceDeployment), sdARN)
	}
	status := func() types.ServiceDeploymentStatus {
		out, err := c.ListServiceDeployments(t.Context(), &awsecs.ListServiceDeploymentsInput{Cluster: aws.String("api"), Service: aws.String("api")})
		if err != nil {
			t.Fatal(err)
		}
		for _, sd := range out.ServiceDeployments {
			if aws.ToString(sd.ServiceDeploymentArn) == sdARN {
				return sd.Status
			}
		}
		t.Fatalf("ListServiceDeployments lacks %s", sdARN)
		return ""
	}
	if st := status(); st != types.ServiceDeploymentStatusRollbackInProgress {
		t.Errorf("service deployment status during the rollback = %s, want ROLLBACK_IN_PROGRESS", st)
	}
	describe(t, c)
	describe(t, c)
	if st := status(); st != types.ServiceDeploymentStatusRollbackSuccessful {
		t.Errorf("service deployment status after the rollback = %s, want ROLLBACK_SUCCESSFUL", st)
	}
}

// TestECSListServiceDeploymentsPages: up to 20 a page by default,
// maxResults 1 to 100, nextToken while more remain, filters on status and
// createdAt (API reference, ListServiceDeployments). The order is not
// documented: the stand-in answers oldest first, so the first entry is not
// the newest.
func TestECSListServiceDeploymentsPages(t *testing.T) {
	s, c := ecsServer(t, 1, true)
	s.SeedServiceDeployments(ecsAccount, ecsRegion, "api", "api", 44)
	newest := aws.ToString(forceDeployment(t, c).CurrentServiceDeployment)
	ctx := t.Context()
	in := &awsecs.ListServiceDeploymentsInput{Cluster: aws.String("api"), Service: aws.String("api")}
	var (
		sizes []int
		all   []types.ServiceDeploymentBrief
	)
	for {
		out, err := c.ListServiceDeployments(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(out.ServiceDeployments))
		all = append(all, out.ServiceDeployments...)
		if out.NextToken == nil {
			break
		}
		in.NextToken = out.NextToken
	}
	// 44 seeded, the service's first deployment, and the new one.
	if !slices.Equal(sizes, []int{20, 20, 6}) {
		t.Errorf("page sizes = %v, want [20 20 6]", sizes)
	}
	if aws.ToString(all[len(all)-1].ServiceDeploymentArn) != newest || aws.ToString(all[0].ServiceDeploymentArn) == newest {
		t.Errorf("the newest service deployment is not last: the stand-in must not answer newest first")
	}
	for i := 1; i < len(all); i++ {
		if all[i].CreatedAt.Before(*all[i-1].CreatedAt) {
			t.Errorf("entry %d created %v before entry %d (%v): want oldest first", i, all[i].CreatedAt, i-1, all[i-1].CreatedAt)
		}
		if all[i].StartedAt == nil || !strings.Contains(aws.ToString(all[i].TargetServiceRevisionArn), ":service-revision/api/api/") {
			t.Errorf("entry %d = %+v, want startedAt and a service revision ARN", i, all[i])
		}
	}

	after := all[len(all)-2].CreatedAt.Add(time.Millisecond)
	out, err := c.ListServiceDeployments(ctx, &awsecs.ListServiceDeploymentsInput{Cluster: aws.String("api"), Service: aws.String("api"),
		CreatedAt: &types.CreatedAt{After: &after}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.ServiceDeployments) != 1 || aws.ToString(out.ServiceDeployments[0].ServiceDeploymentArn) != newest {
		t.Errorf("createdAt.after filter gave %d entries, want only the newest", len(out.ServiceDeployments))
	}
	out, err = c.ListServiceDeployments(ctx, &awsecs.ListServiceDeploymentsInput{Cluster: aws.String("api"), Service: aws.String("api"),
		Status: []types.ServiceDeploymentStatus{types.ServiceDeploymentStatusInProgress}, MaxResults: aws.Int32(100)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.ServiceDeployments) != 1 || out.NextToken != nil {
		t.Errorf("status IN_PROGRESS filter gave %d entries (next token %v), want the one in flight", len(out.ServiceDeployments), out.NextToken)
	}
	for _, n := range []int32{0, 101} {
		_, err := c.ListServiceDeployments(ctx, &awsecs.ListServiceDeploymentsInput{Cluster: aws.String("api"), Service: aws.String("api"), MaxResults: aws.Int32(n)})
		if ecsCode(err) != "InvalidParameterException" {
			t.Errorf("maxResults %d: error %v, want InvalidParameterException", n, err)
		}
	}
}

// TestECSOtherDeploymentControllers: a CODE_DEPLOY or EXTERNAL service
// lists task sets, not deployments, and refuses a new task definition
// through UpdateService with InvalidParameterException (API reference,
// UpdateService); its desired count still changes.
func TestECSOtherDeploymentControllers(t *testing.T) {
	for _, ctl := range []string{awsfake.ControllerCodeDeploy, awsfake.ControllerExternal} {
		t.Run(ctl, func(t *testing.T) {
			s, c := ecsServer(t, 2, true)
			s.SetDeploymentController(ecsAccount, ecsRegion, "api", "api", ctl)
			svc := describe(t, c)
			if svc.DeploymentController == nil || string(svc.DeploymentController.Type) != ctl || len(svc.Deployments) != 0 ||
				len(svc.TaskSets) != 1 || aws.ToString(svc.TaskSets[0].Status) != "PRIMARY" || svc.TaskSets[0].StabilityStatus != types.StabilityStatusSteadyState {
				t.Errorf("DescribeServices = controller %+v, %d deployments, task sets %+v; want %s, none, one PRIMARY in STEADY_STATE",
					svc.DeploymentController, len(svc.Deployments), svc.TaskSets, ctl)
			}
			_, err := c.UpdateService(t.Context(), &awsecs.UpdateServiceInput{Cluster: aws.String("api"), Service: aws.String("api"),
				TaskDefinition: aws.String("api:1")})
			var ipe *types.InvalidParameterException
			if !errors.As(err, &ipe) || !strings.Contains(ipe.ErrorMessage(), ctl) {
				t.Errorf("UpdateService(taskDefinition) = %v, want an InvalidParameterException naming %s", err, ctl)
			}
			if ctl == awsfake.ControllerCodeDeploy && !strings.Contains(ipe.ErrorMessage(), "Use AWS CodeDeploy") {
				t.Errorf("message %q does not point at CodeDeploy", ipe.ErrorMessage())
			}
			if _, err := c.UpdateService(t.Context(), &awsecs.UpdateServiceInput{Cluster: aws.String("api"), Service: aws.String("api"),
				DesiredCount: aws.Int32(3)}); err != nil {
				t.Errorf("UpdateService(desiredCount) = %v, want it accepted", err)
			}
		})
	}
}

// TestECSBakeTime: a BLUE_GREEN deployment whose new tasks all run stays
// IN_PROGRESS, both revisions running, through its bake time; it
// completes once the stand-in's clock passed it.
func TestECSBakeTime(t *testing.T) {
	s, c := ecsServer(t, 2, true)
	s.SetDeploymentStrategy(ecsAccount, ecsRegion, "api", "api", awsfake.StrategyBlueGreen, 10)
	forceDeployment(t, c)
	for range 5 {
		svc := describe(t, c)
		if d := svc.Deployments[0]; d.RolloutState != types.DeploymentRolloutStateInProgress || len(svc.Deployments) != 2 {
			t.Fatalf("during the bake time: %d deployments, the new one %s; want both listed, IN_PROGRESS", len(svc.Deployments), d.RolloutState)
		}
	}
	svc := describe(t, c)
	if dc := svc.DeploymentConfiguration; dc.Strategy != types.DeploymentStrategyBlueGreen || aws.ToInt32(dc.BakeTimeInMinutes) != 10 ||
		svc.Deployments[0].RunningCount != 2 || svc.Deployments[1].RunningCount != 2 {
		t.Errorf("service = strategy %s bake %v, running %d and %d; want BLUE_GREEN, 10, both revisions running",
			dc.Strategy, dc.BakeTimeInMinutes, svc.Deployments[0].RunningCount, svc.Deployments[1].RunningCount)
	}
	s.AdvanceClock(11 * time.Minute)
	if svc := describe(t, c); len(svc.Deployments) != 1 || svc.Deployments[0].RolloutState != types.DeploymentRolloutStateCompleted {
		t.Errorf("after the bake time: %d deployments, %s; want one COMPLETED", len(svc.Deployments), svc.Deployments[0].RolloutState)
	}
}

// TestECSReservedTagsRefused: RegisterTaskDefinition refuses tags whose key
// or value starts with aws: (API reference, RegisterTaskDefinition).
func TestECSReservedTagsRefused(t *testing.T) {
	_, c := ecsServer(t, 1, true)
	for _, tag := range []types.Tag{{Key: aws.String("aws:cloudformation:stack-name"), Value: aws.String("api")},
		{Key: aws.String("owner"), Value: aws.String("AWS:team")}} {
		_, err := c.RegisterTaskDefinition(t.Context(), &awsecs.RegisterTaskDefinitionInput{Family: aws.String("api"),
			ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("app"), Image: aws.String(ecsImage)}},
			Tags:                 []types.Tag{{Key: aws.String("team"), Value: aws.String("payments")}, tag}})
		if ecsCode(err) != "InvalidParameterException" {
			t.Errorf("RegisterTaskDefinition with tag %s=%s: error %v, want InvalidParameterException", *tag.Key, *tag.Value, err)
		}
	}
}
