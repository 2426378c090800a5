// Package ecs is the deploy target that runs builds as Amazon ECS
// services, with aws-sdk-go-v2.
//
// An environment is an existing ECS service (ecs.service) in a cluster
// (ecs.cluster) of one account and region, reached with the environment's
// own credentials: a profile, a role assumed with STS (session name
// awscred.SessionName, "tier-<environment>" when it fits STS's 64
// characters; optional external ID) or keys read from named environment
// variables (see package awscred). The target builds one ECS client per
// environment and never shares one between environments. The SDK's
// adaptive retryer answers ThrottlingException with backoff.
//
// The containers to deploy to are ecs.container, or else every container
// of the service's task definition whose image is from the service's
// repository (host/path compared, tag and digest ignored): an app and a
// worker built from one image are both updated. A task definition whose
// containers all use other repositories is a *ContainerError that lists
// them.
//
// Deploy works in one of two modes (ecs.mode; by default pin for release
// tiers and track-tag for the others):
//
//   - track-tag: the task definition names "<repository>:<tier tag>" and
//     Deploy calls UpdateService with forceNewDeployment, leaving the task
//     definition as it is. ECS resolves the tag to a digest when the
//     deployment starts; Observe reads that digest from the tasks, so a tag
//     that moved meanwhile shows as another digest and the engine reports
//     the environment not verified. A container that names anything else
//     is a *TrackTagError.
//   - pin: Deploy registers a revision copied from the service's current
//     task definition, every registrable field and its tags kept (but those
//     with the aws: prefix AWS reserves, which RegisterTaskDefinition
//     refuses), with only the containers' image changed to
//     "<repository>:<tag>@<digest>", and points the service at it with
//     UpdateService. When the service already rolls out or runs that
//     image, Deploy changes nothing.
//
// Deploy refuses, before changing anything, a service whose deployment
// controller is CODE_DEPLOY or EXTERNAL (*ControllerError: UpdateService
// cannot give those a new task definition; deploy through CodeDeploy or
// the tool that creates the task sets) and a service scaled to 0
// (*ScaledToZeroError: no task would run the build, nothing to verify).
// Both fail the environment at once.
//
// Deploy serializes updates of one ECS service within the process, notes
// the PRIMARY deployment before the update, the deployment the update
// created and its service deployment (UpdateService's
// currentServiceDeployment), and returns; the engine then waits with
// Observe. Observe follows that deployment:
//
//	PRIMARY, rolloutState IN_PROGRESS           Deploying ("n of m tasks running"); with failed
//	                                            tasks, the latest stopped task's stop code and
//	                                            stoppedReason, the circuit breaker's threshold and
//	                                            the service deployment's status; during the bake
//	                                            time of a BLUE_GREEN, LINEAR or CANARY deployment,
//	                                            that it is the bake time (and when tier's --timeout
//	                                            is shorter, to raise it)
//	rolloutState FAILED                         Failed with ECS's rolloutStateReason, and "rolled
//	                                            back by the deployment circuit breaker" when its
//	                                            service deployment is ROLLBACK_* (or, without the
//	                                            history, when the deployment before the update is
//	                                            PRIMARY again)
//	gone, or replaced, before it completed      its service deployment says: ROLLBACK_* or STOPPED
//	                                            is Failed, SUCCESSFUL is judged as the service is now
//	COMPLETED, running = desired                Running
//	desired count 0                             Failed: scaled to 0 during the rollout
//
// A circuit-breaker rollback may make the last completed deployment
// PRIMARY again with its own ID and creation time (ECS Developer Guide:
// "the deployment changes from a COMPLETED to IN_PROGRESS"), so Observe
// never judges from the order of deployments: the service deployment
// status is the verdict. A rollback is a failure even though the service is
// steady again.
//
// When this process started no deployment (tier status), Observe judges
// the PRIMARY deployment the same way; a service scaled to 0 is NotDeployed
// ("scaled to 0: nothing to verify"). When the service looks steady, or a
// FAILED deployment is still listed, the service deployment of its latest
// update (currentServiceDeployment, found in ListServiceDeployments on
// whatever page it is: the API pages by 20 in no documented order) says
// whether that update was rolled back or stopped, and Observe reports
// Failed with that status. An identity not allowed to list it sees a
// drained rollback as the old build running (drifted). A CODE_DEPLOY or
// EXTERNAL service, which lists task sets instead of deployments, is
// Running when its PRIMARY task set is in STEADY_STATE and no other runs
// tasks.
//
// Running is the set of imageDigest values the deployed containers report
// in the service's RUNNING tasks (ListTasks, then DescribeTasks 100 at a
// time). A missing cluster or service is a *NotFoundError, an
// AccessDeniedException an *AccessError naming the IAM action and where the
// credentials come from (never a secret), and a failure to get credentials
// (AssumeRole denied) a *CredentialsError.
//
// Check is `tier doctor` for an ECS environment: with its credentials, the
// caller identity, the cluster, the service, the container of each service
// and its repository; and, when the shared registry is an ECR registry of
// another account, whether the repository's policy lets the environment's
// account pull, read with the registry account's credentials.
package ecs
