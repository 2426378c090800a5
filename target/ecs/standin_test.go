package ecs_test

import (
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/tierdeploy/tier/internal/awscred"
)

// TestStandInAnswersTheSDK checks that the real SDK reads the stand-in's
// answers of the operations only Check calls (GetCallerIdentity,
// DescribeClusters), its paging, and its documented errors as the typed
// errors ECS's own produce.
func TestStandInAnswersTheSDK(t *testing.T) {
	r := newRig(t)
	r.addService(acctB, repo+":dev", d1, 3, true)
	r.aws.RequireExternalID(roleB, "mb-external-id")
	cfg, err := r.creds.Config(t.Context(), awscred.FromECS("mb-dev", roleEnv("mb-dev", "dev", "mb-external-id").Target.ECS))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	t.Run("GetCallerIdentity", func(t *testing.T) {
		out, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.Account) != acctB || aws.ToString(out.Arn) != "arn:aws:sts::222222222222:assumed-role/deployer/tier-mb-dev" {
			t.Errorf("GetCallerIdentity = %s, %s; want account %s as the assumed role", aws.ToString(out.Account), aws.ToString(out.Arn), acctB)
		}
	})

	c := sdkecs.NewFromConfig(cfg)
	t.Run("DescribeClusters", func(t *testing.T) {
		out, err := c.DescribeClusters(ctx, &sdkecs.DescribeClustersInput{Clusters: []string{"api", "web"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Clusters) != 1 || aws.ToString(out.Clusters[0].ClusterName) != "api" || out.Clusters[0].RunningTasksCount != 3 ||
			len(out.Failures) != 1 || aws.ToString(out.Failures[0].Reason) != "MISSING" {
			t.Errorf("DescribeClusters(api, web) = %+v, failures %+v; want api with 3 running tasks and web MISSING", out.Clusters, out.Failures)
		}
	})
	t.Run("ListTasks pages", func(t *testing.T) {
		p := sdkecs.NewListTasksPaginator(c, &sdkecs.ListTasksInput{Cluster: aws.String("api"), ServiceName: aws.String("api"), MaxResults: aws.Int32(2)})
		var arns []string
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			arns = append(arns, out.TaskArns...)
		}
		if len(arns) != 3 {
			t.Errorf("ListTasks pages gave %d tasks, want 3", len(arns))
		}
		out, err := c.DescribeTasks(ctx, &sdkecs.DescribeTasksInput{Cluster: aws.String("api"), Tasks: append(arns[:1], "0123456789abcdef")})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Tasks) != 1 || aws.ToString(out.Tasks[0].StartedBy) == "" || len(out.Failures) != 1 || aws.ToString(out.Failures[0].Reason) != "MISSING" {
			t.Errorf("DescribeTasks = %+v, failures %+v; want one task started by its deployment and one MISSING", out.Tasks, out.Failures)
		}
	})

	errs := []struct {
		name string
		call func() error
		want any
	}{
		{"DescribeServices of a missing cluster", func() error {
			_, err := c.DescribeServices(ctx, &sdkecs.DescribeServicesInput{Cluster: aws.String("web"), Services: []string{"api"}})
			return err
		}, new(*types.ClusterNotFoundException)},
		{"DescribeTaskDefinition of a missing one", func() error {
			_, err := c.DescribeTaskDefinition(ctx, &sdkecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("web:1")})
			return err
		}, new(*types.ClientException)},
		{"UpdateService to a missing task definition", func() error {
			_, err := c.UpdateService(ctx, &sdkecs.UpdateServiceInput{Cluster: aws.String("api"), Service: aws.String("api"), TaskDefinition: aws.String("web:1")})
			return err
		}, new(*types.InvalidParameterException)},
		{"UpdateService of a missing service", func() error {
			_, err := c.UpdateService(ctx, &sdkecs.UpdateServiceInput{Cluster: aws.String("api"), Service: aws.String("web"), ForceNewDeployment: true})
			return err
		}, new(*types.ServiceNotFoundException)},
		{"ListTasks of a missing service", func() error {
			_, err := c.ListTasks(ctx, &sdkecs.ListTasksInput{Cluster: aws.String("api"), ServiceName: aws.String("web")})
			return err
		}, new(*types.ServiceNotFoundException)},
		{"RegisterTaskDefinition without an image", func() error {
			_, err := c.RegisterTaskDefinition(ctx, &sdkecs.RegisterTaskDefinitionInput{Family: aws.String("api"),
				ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("app")}}})
			return err
		}, new(*types.ClientException)},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if !errors.As(err, tt.want) {
				t.Errorf("error = %v, want a %T", err, tt.want)
			}
			var ae smithy.APIError
			if errors.As(err, &ae) && ae.ErrorMessage() == "" {
				t.Errorf("error %v has no message", err)
			}
		})
	}
}
