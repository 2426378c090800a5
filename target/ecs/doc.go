// Package ecs is the deploy target that runs builds as Amazon ECS
// services, with aws-sdk-go-v2.
//
// An environment is an existing ECS service (ecs.service) in a cluster
// (ecs.cluster) of one account and region, reached with the environment's
// own credentials: a profile, a role assumed with STS (session name
// "tier-<environment>", optional external ID) or keys read from named
// environment variables (see package awscred). The target builds one ECS
// client per environment and never shares one between environments. The
// SDK's adaptive retryer answers ThrottlingException with backoff.
//
// The container to deploy to is ecs.container, or else the one container
// of the service's task definition whose image is from the service's
// repository (host/path compared, tag and digest ignored). A task
// definition whose containers all use other repositories is a
// *ContainerError that lists them.
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
//     task definition, every registrable field and its tags kept, with only
//     the container's image changed to "<repository>:<tag>@<digest>", and
//     points the service at it with UpdateService. When the service already
//     rolls out or runs that image, Deploy changes nothing.
//
// Deploy serializes updates of one ECS service within the process, notes
// the PRIMARY deployment before the update and the one the update created,
// and returns; the engine then waits with Observe. Observe follows that
// deployment:
//
//	rolloutState IN_PROGRESS                      Deploying ("n of m tasks running")
//	rolloutState FAILED                           Failed with ECS's rolloutStateReason,
//	                                              and "rolled back by the deployment circuit
//	                                              breaker" when a newer deployment is PRIMARY
//	gone from the service before it completed,    Failed: rolled back (or replaced), with
//	  another deployment PRIMARY                  ECS's reason or service event
//	COMPLETED, running = desired                  Running
//	desired count 0                               NotDeployed
//
// A rollback is a failure even though the service is steady again. When
// this process started no deployment (tier status), Observe judges the
// PRIMARY deployment the same way, and a FAILED deployment still listed
// next to a newer PRIMARY one of a service whose circuit breaker rolls
// back is reported Failed; once ECS has drained it, the service deployment
// history (ListServiceDeployments) still says the last update was rolled
// back or stopped, and Observe reports Failed with that status. An identity
// not allowed to list it sees the old build running (drifted).
//
// Running is the set of imageDigest values the deployed container reports
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
