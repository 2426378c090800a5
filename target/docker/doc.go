// Package docker is the deploy target that runs builds as named containers
// on Docker engines.
//
// An environment is one container, docker.container in the configuration,
// on one engine: docker.host, or DOCKER_HOST (with DOCKER_CERT_PATH,
// DOCKER_TLS_VERIFY and DOCKER_API_VERSION) when the host is empty. The
// client negotiates the API version with each engine, so engines as old as
// API 1.40 (Docker 19.03) work.
//
// Deploy pulls the build by digest unless the engine has it, creates the
// replacement container "<container>-next" (before anything is stopped,
// so a bad spec changes nothing), stops the old container without
// removing it, starts the replacement and waits for its health:
//
//   - an image with a Docker HEALTHCHECK must reach "healthy"
//     ("unhealthy" fails at once);
//   - otherwise tier checks it from this machine: docker.health "/path"
//     wants GET http://HOST:PORT/path to answer 2xx or 3xx, "tcp" (the
//     default) a TCP connection; HOST is 127.0.0.1 for a local engine
//     (unix socket, loopback) and the engine's host name otherwise;
//   - without a port the container must keep running for two seconds.
//
// A replacement that exits fails with its exit code. When the replacement
// is healthy, the old container is removed and the replacement renamed to
// the environment's container; when it is not, the target keeps its last
// log lines, removes it, starts the old container again and returns a
// *target.DeployError. The replacement runs with restart policy "no" while it is
// checked (so an exit is seen as an exit, with its code, not hidden by a
// restart) and gets "unless-stopped" once it has passed.
//
// The container's environment is docker.env, then PORT (when a port is
// set) and TIER_ENVIRONMENT, TIER_TIER, TIER_TENANT, TIER_SERVICE,
// TIER_DIGEST and TIER_COMMIT, on top of the image's own Env. Its labels
// are tier.environment, tier.service, tier.tier, tier.tenant, tier.digest,
// tier.commit, tier.repository and tier.spec, a hash of the settings that
// shape the container (env, port, network): deploying the digest that
// already runs, healthy, with the same settings changes nothing. With
// network "host" (the only mode on engines without a bridge) the container
// uses the host's ports directly; in any other network mode but "none" and
// "container:..." the port is published on 127.0.0.1 for a local engine
// and on all interfaces for a remote one, where tier has to reach it.
//
// Observe reads only the engine: what runs is the digest of the
// container's image reference (Config.Image, "repo@sha256:..."), checked
// against the image's RepoDigests; the tier.digest label is never trusted
// over it. A "<container>-next" container means a deploy is in flight.
// The target keeps no state of its own, so after a failed deploy that
// restored the previous container, Observe reports that container running
// (and the engine reports the deploy failed from Deploy's error); a later
// status shows the environment as drifted from its tier's digest.
//
// Deploys of one environment run one at a time within a Target. Two tier
// processes deploying the same environment at once are not serialised:
// the second would remove the first's replacement.
package docker
