package ecs

import (
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"

	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/internal/awscred"
)

// NotFoundError says an environment's ECS cluster or service does not
// exist, as its credentials see it, or that the service is no longer
// ACTIVE. tier never creates clusters or services.
type NotFoundError struct {
	Environment string
	Region      string
	Cluster     string
	// Service is empty when the cluster is missing.
	Service string
	// Reason is DescribeServices' failure reason ("MISSING"), when it gave
	// one; Status the service's status when it exists but is not ACTIVE.
	Reason string
	Status string
	// Err is ECS's answer, when it was an error.
	Err error
}

func (e *NotFoundError) Error() string {
	switch {
	case e.Service == "":
		return fmt.Sprintf("environment %s: ECS cluster %s not found in %s with this environment's credentials: fix ecs.cluster (or the account its credentials belong to)",
			e.Environment, e.Cluster, e.Region)
	case e.Status != "":
		return fmt.Sprintf("environment %s: ECS service %s in cluster %s (%s) is %s: it was deleted; create it again, or fix ecs.service",
			e.Environment, e.Service, e.Cluster, e.Region, e.Status)
	}
	return fmt.Sprintf("environment %s: ECS service %s not found in cluster %s (%s): create the service first, or fix ecs.cluster and ecs.service",
		e.Environment, e.Service, e.Cluster, e.Region)
}

// Unwrap returns ECS's error.
func (e *NotFoundError) Unwrap() error { return e.Err }

// ContainerError says the service's task definition has no container tier
// can deploy the service's repository to.
type ContainerError struct {
	Environment    string
	TaskDefinition string
	// Container is ecs.container, when the environment names one.
	Container  string
	Repository string
	// Containers lists the task definition's containers as
	// "name (repository)".
	Containers []string
}

func (e *ContainerError) Error() string {
	td := shortTD(e.TaskDefinition)
	all := strings.Join(e.Containers, ", ")
	switch {
	case e.Container != "" && !e.has(e.Container):
		return fmt.Sprintf("environment %s: task definition %s has no container %q (it has %s): fix ecs.container",
			e.Environment, td, e.Container, all)
	case e.Container != "":
		return fmt.Sprintf("environment %s: container %s of task definition %s does not use %s (containers: %s): fix ecs.container, or the service's repository in tier.yaml",
			e.Environment, e.Container, td, e.Repository, all)
	}
	return fmt.Sprintf("environment %s: no container of task definition %s uses %s (containers: %s): point the ECS service at a task definition that runs %s, or fix the service's repository in tier.yaml",
		e.Environment, td, e.Repository, all, e.Repository)
}

func (e *ContainerError) has(name string) bool {
	for _, c := range e.Containers {
		if c == name || strings.HasPrefix(c, name+" (") {
			return true
		}
	}
	return false
}

// TrackTagError says an environment in track-tag mode runs a task
// definition whose container does not name the tier's tag, so forcing a
// new deployment would not deploy the promoted build.
type TrackTagError struct {
	Environment    string
	TaskDefinition string
	Container      string
	// Image is what the container names; Want is repository:tag.
	Image, Want string
}

func (e *TrackTagError) Error() string {
	return fmt.Sprintf("environment %s: mode track-tag needs container %s of task definition %s to name %s, but it names %s: register a revision that names %s and point the service at it, or set ecs.mode: pin",
		e.Environment, e.Container, shortTD(e.TaskDefinition), e.Want, e.Image, e.Want)
}

// ControllerError says the service's deployment controller is not ECS's
// own, so UpdateService cannot give it a new task definition: a
// CODE_DEPLOY service takes one only from an AWS CodeDeploy deployment,
// an EXTERNAL one only from a task set another tool creates (ECS API
// reference, UpdateService; ECS Developer Guide, "Amazon ECS deployment
// controllers"). tier reads the controller before changing anything.
type ControllerError struct {
	Environment string
	Cluster     string
	Service     string
	// Controller is the service's deploymentController.type.
	Controller string
}

func (e *ControllerError) Error() string {
	head := fmt.Sprintf("environment %s: ECS service %s in cluster %s uses the %s deployment controller", e.Environment, e.Service, e.Cluster, e.Controller)
	if e.Controller == string(types.DeploymentControllerTypeCodeDeploy) {
		return head + ", which takes a new task definition only from an AWS CodeDeploy deployment, so tier cannot deploy to it: " +
			"deploy through CodeDeploy (a deployment whose AppSpec names the new task definition), " +
			"or move the service to the ECS deployment controller, whose own blue/green, linear and canary strategies tier deploys to"
	}
	return head + ", which runs the task sets another tool creates (CreateTaskSet), so tier cannot deploy to it: " +
		"deploy through that tool, or move the service to the ECS deployment controller"
}

// ScaledToZeroError says the service's desired count is 0: no task would
// run the build, so there is nothing to verify. Deploy refuses it before
// changing anything: scale the service up and promote again.
type ScaledToZeroError struct {
	Environment string
	Cluster     string
	Service     string
}

func (e *ScaledToZeroError) Error() string {
	return fmt.Sprintf("environment %s: ECS service %s in cluster %s is scaled to 0 (desiredCount 0): nothing to verify, so tier left it unchanged: "+
		"scale it up (aws ecs update-service --cluster %s --service %s --desired-count N) and promote again",
		e.Environment, e.Service, e.Cluster, e.Cluster, e.Service)
}

// AccessError says AWS denied an ECS call to the environment's identity.
type AccessError struct {
	Environment string
	// Action is the IAM action, e.g. "ecs:UpdateService".
	Action string
	// Identity says where the credentials came from (profile, role, the
	// names of the variables holding keys); never a secret.
	Identity string
	Err      error
}

func (e *AccessError) Error() string {
	msg := ""
	var ae smithy.APIError
	if errors.As(e.Err, &ae) && ae.ErrorMessage() != "" {
		msg = ": AWS says: " + ae.ErrorMessage()
	}
	return fmt.Sprintf("environment %s: AWS denied %s to %s: allow %s on the cluster and service in that identity's IAM policy%s",
		e.Environment, e.Action, e.Identity, e.Action, msg)
}

// Unwrap returns the SDK's error.
func (e *AccessError) Unwrap() error { return e.Err }

// CredentialsError says the environment's credentials could not be had:
// typically AssumeRole was denied (trust policy, external ID).
type CredentialsError struct {
	Environment string
	Identity    string
	Err         error
}

func (e *CredentialsError) Error() string {
	fix := "check the profile or keys the environment names"
	if strings.HasPrefix(e.Identity, "role ") {
		fix = "check the role's trust policy: it must let the source identity assume it (with the external ID in ecs.external_id when it requires one)"
	}
	return fmt.Sprintf("environment %s: getting AWS credentials from %s: %v: %s", e.Environment, e.Identity, e.Err, fix)
}

// Unwrap returns the SDK's error.
func (e *CredentialsError) Unwrap() error { return e.Err }

// wrap turns an error of an ECS call into one that says which environment,
// service and operation, as a typed error where one applies.
func (c *conn) wrap(op string, err error) error {
	var (
		svcNF     *types.ServiceNotFoundException
		clusterNF *types.ClusterNotFoundException
		inactive  *types.ServiceNotActiveException
		denied    *types.AccessDeniedException
	)
	switch {
	case errors.As(err, &clusterNF):
		return &NotFoundError{Environment: c.env, Region: c.settings.Region, Cluster: c.cluster, Err: err}
	case errors.As(err, &svcNF):
		return &NotFoundError{Environment: c.env, Region: c.settings.Region, Cluster: c.cluster, Service: c.service, Reason: "MISSING", Err: err}
	case errors.As(err, &inactive):
		return &NotFoundError{Environment: c.env, Region: c.settings.Region, Cluster: c.cluster, Service: c.service, Status: "INACTIVE", Err: err}
	case errors.As(err, &denied):
		return &AccessError{Environment: c.env, Action: "ecs:" + op, Identity: identity(c.env, c.ecs), Err: err}
	}
	if sts := stsError(err); sts != nil {
		return &CredentialsError{Environment: c.env, Identity: identity(c.env, c.ecs), Err: sts}
	}
	return fmt.Errorf("environment %s: ECS %s of service %s in cluster %s (%s): %w", c.env, op, c.service, c.cluster, c.settings.Region, err)
}

// stsError returns the STS operation error inside err (AssumeRole failing
// under an ECS call), or nil.
func stsError(err error) error {
	for err != nil {
		var oe *smithy.OperationError
		if !errors.As(err, &oe) {
			return nil
		}
		if oe.ServiceID == "STS" {
			return oe
		}
		err = oe.Err
	}
	return nil
}

// identity describes where an environment's credentials come from, by
// name only.
func identity(env string, e *config.ECS) string {
	src := "the default AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID, the instance or task role)"
	switch {
	case e.AccessKeyIDEnv != "":
		src = fmt.Sprintf("the keys in $%s and $%s", e.AccessKeyIDEnv, e.SecretAccessKeyEnv)
	case e.Profile != "":
		src = fmt.Sprintf("profile %q", e.Profile)
	}
	if e.RoleARN == "" {
		return src
	}
	ext := ""
	if e.ExternalID != "" {
		ext = ", with the external ID of ecs.external_id"
	}
	return fmt.Sprintf("role %s (session %s%s, assumed with %s)", e.RoleARN, awscred.SessionName(env), ext, src)
}

// shortTD abbreviates a task definition ARN to family:revision.
func shortTD(arn string) string {
	if i := strings.LastIndex(arn, ":task-definition/"); i >= 0 {
		return arn[i+len(":task-definition/"):]
	}
	return arn
}

// Permanent marks errors that waiting will not cure, so the engine fails
// the environment at once instead of polling until its timeout.
func (e *NotFoundError) Permanent() bool { return true }

// Permanent implements the engine's permanent-error check.
func (e *AccessError) Permanent() bool { return true }

// Permanent implements the engine's permanent-error check.
func (e *CredentialsError) Permanent() bool { return true }

// Permanent implements the engine's permanent-error check.
func (e *ControllerError) Permanent() bool { return true }

// Permanent implements the engine's permanent-error check.
func (e *ScaledToZeroError) Permanent() bool { return true }
