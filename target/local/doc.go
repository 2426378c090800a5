// Package local is the deploy target that runs builds as processes on this
// machine, tier's zero-setup default.
//
// Deploy pulls the build by digest, unpacks its layers once per digest into
// a root filesystem under the state directory, and starts the image's
// entrypoint and cmd from there as an ordinary process: no containers, no
// namespaces, no isolation. The process gets its own session (so it
// outlives the tier command that started it), /dev/null as stdin and an
// append-only log file. Deploy stops the previous process, waits for the
// new one to pass its health check and, when it does not, stops it and
// starts the previous build again.
//
// A process's environment is the image's Env, then the environment's
// local.env settings, then PORT and TIER_ENVIRONMENT, TIER_TIER,
// TIER_TENANT, TIER_SERVICE, TIER_DIGEST and TIER_COMMIT; nothing of tier's
// own environment leaks in, and PATH defaults to Docker's when the image
// sets none.
//
// Layout of the state directory (Options.Dir):
//
//	images/sha256-<hex>/rootfs        the unpacked build, shared by every environment
//	images/sha256-<hex>/config.json   its image config (entrypoint, cmd, env, working dir)
//	images/sha256-<hex>.lock          held while one process unpacks that digest
//	<env>/<service>.json              what runs: pid, start time, digest, status
//	<env>/<service>.lock              held for the whole of a Deploy or Stop
//	logs/<env>/<service>.log          the process's stdout and stderr
//
// What runs is read from the process itself: the recorded pid must exist,
// must not be a zombie and must have the recorded start time (so a reused
// pid is not mistaken for ours), and must answer its health check.
//
// The package reads /proc and so works on Linux only. Processes share the
// unpacked root filesystem of their digest; a process that writes into it
// changes it for every environment running that digest.
package local
