package ecs

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/target"
)

// Deploy starts a deployment of the environment's ECS service that runs
// d's build in the service's container, and returns once ECS accepted it
// (see the package documentation for the two modes). It notes the
// deployment it created for Observe.
func (t *Target) Deploy(ctx context.Context, d target.Deployment) error {
	c, err := t.conn(ctx, d.Environment)
	if err != nil {
		return err
	}
	defer t.lock(c)()
	svc, err := c.describe(ctx)
	if err != nil {
		return err
	}
	td, tags, err := c.taskDefinition(ctx, str(svc.TaskDefinition))
	if err != nil {
		return err
	}
	i, err := pick(c.env, str(td.TaskDefinitionArn), td.ContainerDefinitions, c.ecs.Container, d.Repository)
	if err != nil {
		return err
	}
	container := str(td.ContainerDefinitions[i].Name)
	current := str(td.ContainerDefinitions[i].Image)
	rec := &record{container: container, beforeTD: str(svc.TaskDefinition)}
	if p := primary(&svc); p != nil {
		rec.before = str(p.Id)
	}
	in := &ecs.UpdateServiceInput{Cluster: &c.cluster, Service: &c.service}
	mode := t.mode(d)
	switch mode {
	case config.ModeTrackTag:
		if d.Tag == "" {
			return fmt.Errorf("environment %s: mode track-tag needs the tier's tag, and this deployment has none: set ecs.mode: pin", c.env)
		}
		want := d.Repository + ":" + d.Tag
		if !target.SameImage(current, want) {
			return &TrackTagError{Environment: c.env, TaskDefinition: str(td.TaskDefinitionArn), Container: container, Image: current, Want: want}
		}
		// ECS resolves the tag to a digest when the deployment starts;
		// Observe reads which one from the tasks.
		in.ForceNewDeployment = true
	default:
		want := pinned(d)
		p := primary(&svc)
		if target.SameImage(current, want) && p != nil && str(p.TaskDefinition) == str(svc.TaskDefinition) && p.RolloutState != types.DeploymentRolloutStateFailed {
			// Deployed already (a repeated promotion): follow that deployment.
			rec.deployment, rec.taskDef = str(p.Id), str(p.TaskDefinition)
			t.remember(recordKey(d.Environment, d.Service), rec)
			t.log.Info("ecs service already runs or rolls out the image", "environment", c.env, "cluster", c.cluster, "service", c.service,
				"image", want, "deployment", rec.deployment)
			return nil
		}
		if target.SameImage(current, want) {
			// The same revision failed before: try it again.
			in.ForceNewDeployment = true
		} else {
			arn, err := c.register(ctx, td, tags, i, want)
			if err != nil {
				return err
			}
			in.TaskDefinition = &arn
		}
	}
	out, err := c.api.UpdateService(ctx, in)
	if err != nil {
		return c.wrap("UpdateService", err)
	}
	p := primary(out.Service)
	if p == nil {
		return fmt.Errorf("environment %s: ECS accepted the update of service %s in cluster %s but reports no PRIMARY deployment", c.env, c.service, c.cluster)
	}
	rec.deployment, rec.taskDef = str(p.Id), str(p.TaskDefinition)
	if rec.deployment == rec.before {
		t.log.Warn("ecs update started no new deployment", "environment", c.env, "cluster", c.cluster, "service", c.service, "deployment", rec.deployment)
	}
	t.remember(recordKey(d.Environment, d.Service), rec)
	t.log.Info("ecs deployment started", "environment", c.env, "cluster", c.cluster, "service", c.service, "mode", mode,
		"container", container, "task_definition", shortTD(rec.taskDef), "deployment", rec.deployment, "previous", rec.before)
	return nil
}

// taskDefinition returns a task definition and its tags.
func (c *conn) taskDefinition(ctx context.Context, arn string) (*types.TaskDefinition, []types.Tag, error) {
	out, err := c.api.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: &arn,
		Include: []types.TaskDefinitionField{types.TaskDefinitionFieldTags}})
	if err != nil {
		return nil, nil, c.wrap("DescribeTaskDefinition", err)
	}
	if out.TaskDefinition == nil {
		return nil, nil, fmt.Errorf("environment %s: ECS described no task definition %s", c.env, arn)
	}
	return out.TaskDefinition, out.Tags, nil
}

// register registers a revision of td whose container i runs image, and
// returns its ARN.
func (c *conn) register(ctx context.Context, td *types.TaskDefinition, tags []types.Tag, i int, image string) (string, error) {
	in := registerInput(td, tags)
	in.ContainerDefinitions[i].Image = &image
	out, err := c.api.RegisterTaskDefinition(ctx, in)
	if err != nil {
		return "", c.wrap("RegisterTaskDefinition", err)
	}
	if out.TaskDefinition == nil || out.TaskDefinition.TaskDefinitionArn == nil {
		return "", fmt.Errorf("environment %s: ECS registered a revision of %s but returned no ARN", c.env, str(td.Family))
	}
	return *out.TaskDefinition.TaskDefinitionArn, nil
}

// registerInput copies every field of td that RegisterTaskDefinition takes
// (TestRegisterInputCopiesEveryField keeps this list complete as the SDK
// grows). The container definitions are copied so that changing one
// leaves td alone.
func registerInput(td *types.TaskDefinition, tags []types.Tag) *ecs.RegisterTaskDefinitionInput {
	in := &ecs.RegisterTaskDefinitionInput{
		ContainerDefinitions:          append([]types.ContainerDefinition(nil), td.ContainerDefinitions...),
		Family:                        td.Family,
		Cpu:                           td.Cpu,
		EnableFaultInjection:          td.EnableFaultInjection,
		EphemeralStorage:              td.EphemeralStorage,
		ExecutionRoleArn:              td.ExecutionRoleArn,
		InferenceAccelerators:         td.InferenceAccelerators,
		IpcMode:                       td.IpcMode,
		Memory:                        td.Memory,
		NetworkMode:                   td.NetworkMode,
		PidMode:                       td.PidMode,
		PlacementConstraints:          td.PlacementConstraints,
		ProxyConfiguration:            td.ProxyConfiguration,
		RequiresCompatibilities:       td.RequiresCompatibilities,
		RuntimePlatform:               td.RuntimePlatform,
		TaskRoleArn:                   td.TaskRoleArn,
		TrustedExecutionConfiguration: td.TrustedExecutionConfiguration,
		Volumes:                       td.Volumes,
	}
	if len(tags) > 0 {
		in.Tags = tags
	}
	return in
}
