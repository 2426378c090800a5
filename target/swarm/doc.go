// Package swarm is the deploy target that runs builds as Docker Swarm
// services.
//
// An environment is an existing Swarm service (swarm.service) on a manager
// (swarm.host, default DOCKER_HOST). The user creates it and owns its spec:
// replicas, update_config with its failure_action, networks, env, secrets.
// Deploy changes one field of that spec, the container image, to the pinned
// form Swarm itself uses, "<repository>:<tag>@<digest>", and sends the rest
// back exactly as the manager returned it, with the spec's version so that
// a concurrent change is never overwritten (an "update out of sequence" is
// retried from a fresh inspect). Swarm then rolls the tasks over under the
// service's own update_config, and Deploy returns as soon as the manager
// accepts the update; the engine waits with Observe.
//
// Deploy adds no TIER_* variables or labels: any other change to the spec
// would restart tasks for reasons the user did not ask for, and would be
// undone by the next `docker stack deploy` of the user's own file. What runs
// is read from the platform instead: the digests pinned in the specs of the
// service's running tasks. A spec field this build of tier does not know
// would be dropped by the round trip, so Deploy refuses to update a service
// whose spec carries one (see SpecError) rather than change it silently.
//
// Observe maps the service's UpdateStatus and its tasks to a
// target.Observation:
//
//	updating, rollback_started        Deploying (Running = the digests running now)
//	paused, rollback_paused           Failed with Swarm's message
//	rollback_completed                Failed: "the update was rolled back: ..."
//	completed, or no update yet       Running when every desired task runs,
//	                                  Deploying (with the latest task error) when fewer do,
//	                                  NotDeployed when there are no tasks at all
//
// A platform rollback is a failure, never a success, even though the
// service runs again afterwards. Failed reasons carry the latest failed
// task's error ("task: non-zero exit (3)") and its last log lines
// (Options.LogLines). A service that does not exist is an error
// (*NotFoundError), not NotDeployed: tier never creates services.
//
// Nodes pull the image themselves. Deploy sends no registry credentials
// (the update leaves registryAuthFrom at its default, "spec"), so a private
// registry needs credentials the nodes or the service already hold; only
// the credential-free embedded registry is tested here.
package swarm
