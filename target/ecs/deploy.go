package ecs

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/target"
)

// Deploy starts a deployment of the environment's ECS service that runs
// d's build in the service's containers, and returns once ECS accepted it
// (see the package documentation for the two modes). It notes the
// deployment and the service deployment it created for Observe. A service
// of another deployment controller than ECS's own (a *ControllerError)
// or scaled to 0 (a *ScaledToZeroError) is refused before anything
// changes.
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
	if ctl := controller(&svc); ctl != types.DeploymentControllerTypeEcs {
		return &ControllerError{Environment: c.env, Cluster: c.cluster, Service: c.service, Controller: string(ctl)}
	}
	if svc.DesiredCount == 0 {
		return &ScaledToZeroError{Environment: c.env, Cluster: c.cluster, Service: c.service}
	}
	td, tags, err := c.taskDefinition(ctx, str(svc.TaskDefinition))
	if err != nil {
		return err
	}
	idx, err := pick(c.env, str(td.TaskDefinitionArn), td.ContainerDefinitions, c.ecs.Container, d.Repository)
	if err != nil {
		return err
	}
	rec := &record{beforeTD: str(svc.TaskDefinition)}
	for _, i := range idx {
		rec.containers = append(rec.containers, str(td.ContainerDefinitions[i].Name))
	}
	if p := primary(&svc); p != nil {
		rec.before = str(p.Id)
	}
	// image returns what container i names now.
	image := func(i int) string { return str(td.ContainerDefinitions[i].Image) }
	in := &ecs.UpdateServiceInput{Cluster: &c.cluster, Service: &c.service}
	mode := t.mode(d)
	switch mode {
	case config.ModeTrackTag:
		if d.Tag == "" {
			return fmt.Errorf("environment %s: mode track-tag needs the tier's tag, and this deployment has none: set ecs.mode: pin", c.env)
		}
		want := d.Repository + ":" + d.Tag
		for _, i := range idx {
			if !target.SameImage(image(i), want) {
				return &TrackTagError{Environment: c.env, TaskDefinition: str(td.TaskDefinitionArn), Container: str(td.ContainerDefinitions[i].Name), Image: image(i), Want: want}
			}
		}
		// ECS resolves the tag to a digest when the deployment starts;
		// Observe reads which one from the tasks.
		in.ForceNewDeployment = true
	default:
		want := pinned(d)
		same := !slices.ContainsFunc(idx, func(i int) bool { return !target.SameImage(image(i), want) })
		p := primary(&svc)
		if same && p != nil && str(p.TaskDefinition) == str(svc.TaskDefinition) && p.RolloutState != types.DeploymentRolloutStateFailed {
			// Deployed already (a repeated promotion): follow that deployment.
			rec.deployment, rec.taskDef = str(p.Id), str(p.TaskDefinition)
			rec.serviceDeployment = str(svc.CurrentServiceDeployment)
			t.remember(recordKey(d.Environment, d.Service), rec)
			t.log.Info("ecs service already runs or rolls out the image", "environment", c.env, "cluster", c.cluster, "service", c.service,
				"image", want, "deployment", rec.deployment)
			return nil
		}
		if same {
			// The same revision failed before: try it again.
			in.ForceNewDeployment = true
		} else {
			arn, err := c.register(ctx, td, tags, idx, want)
			if err != nil {
				return err
			}
			in.TaskDefinition = &arn
		}
	}
	rec.started = t.now()
	out, err := c.api.UpdateService(ctx, in)
	if err != nil {
		return c.wrap("UpdateService", err)
	}
	p := primary(out.Service)
	if p == nil {
		return fmt.Errorf("environment %s: ECS accepted the update of service %s in cluster %s but reports no PRIMARY deployment", c.env, c.service, c.cluster)
	}
	rec.deployment, rec.taskDef = str(p.Id), str(p.TaskDefinition)
	rec.serviceDeployment = str(out.Service.CurrentServiceDeployment)
	if rec.deployment == rec.before {
		t.log.Warn("ecs update started no new deployment", "environment", c.env, "cluster", c.cluster, "service", c.service, "deployment", rec.deployment)
	}
	t.remember(recordKey(d.Environment, d.Service), rec)
	t.log.Info("ecs deployment started", "environment", c.env, "cluster", c.cluster, "service", c.service, "mode", mode,
		"containers", rec.containers, "task_definition", shortTD(rec.taskDef), "deployment", rec.deployment,
		"service_deployment", rec.serviceDeployment, "previous", rec.before)
	return nil
}

// controller returns the service's deployment controller type (ECS when
// the service names none: the API reference's default).
func controller(s *types.Service) types.DeploymentControllerType {
	if s.DeploymentController == nil || s.DeploymentController.Type == "" {
		return types.DeploymentControllerTypeEcs
	}
	return s.DeploymentController.Type
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

// register registers a revision of td whose containers idx run image, and
// returns its ARN.
func (c *conn) register(ctx context.Context, td *types.TaskDefinition, tags []types.Tag, idx []int, image string) (string, error) {
	in := registerInput(td, tags)
	for _, i := range idx {
		in.ContainerDefinitions[i].Image = &image
	}
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
// grows), and its tags but those AWS reserves. The container definitions
// are copied so that changing one leaves td alone.
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
	for _, tag := range tags {
		if !reserved(str(tag.Key)) && !reserved(str(tag.Value)) {
			in.Tags = append(in.Tags, tag)
		}
	}
	return in
}

// reserved reports whether a tag key or value starts with "aws:" in any
// case: AWS reserves the prefix, and RegisterTaskDefinition refuses tags
// that use it (API reference, RegisterTaskDefinition, tags), while the
// task definitions AWS services create may carry them (CloudFormation's
// aws:cloudformation:stack-name).
func reserved(s string) bool { return len(s) >= 4 && strings.EqualFold(s[:4], "aws:") }
