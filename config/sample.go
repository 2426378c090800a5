package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// sample is the tier.yaml that `tier init` writes.
const sample = `# tier.yaml: what tier deploys, and where.
#
# tier promotes container images through tiers by moving registry tags:
# every build is pushed once as <repository>:<git commit>; promoting it to a
# tier moves that tier's tag to the build and deploys every environment of
# the tier. Run "tier validate" after editing this file.
#
# Secrets never go in this file. Name an AWS profile, a role to assume, a
# kubeconfig context, or the environment variables that hold keys.

# The shared registry, the single source of truth for images: HOST[:PORT][/PATH],
# without https://. Leave it commented out to use the embedded registry
# ("tier registry serve"), which keeps its images under state_dir.
# registry: 012345678922.dkr.ecr.us-east-1.amazonaws.com

# Where tier keeps local state (embedded registry storage, locks, logs),
# relative to this file.
state_dir: .tier

# One entry per deployable app. repository is the image repository in the
# registry; it defaults to the service name.
services:
  api:
    repository: api

# The promotion ladder, lowest first. A tier has either a mutable tag that
# moves on every promotion (api:dev), or release: true to cut a new
# immutable tag per promotion (api:prod-20201112T103000Z, UTC) that can be
# rolled back to by date. from names the lower tier whose build
# "tier promote TIER" takes by default.
tiers:
  - name: dev
    tag: dev
  - name: staging
    tag: staging
    from: dev
  - name: prod
    release: true
    from: staging

# One entry per place the services run. Each belongs to one tier and one
# tenant (default is the shared multi-tenant stack, mb the dedicated stack
# of the customer Money Bags) and has exactly one target block: local,
# docker, swarm, ecs or kubernetes. Promoting a tier deploys all of its
# environments in parallel. A new dedicated customer is a few more entries.
#
# These environments run on this machine (local target): each runs the
# image's entrypoint as a process listening on its own port, and is healthy
# when GET /healthz answers. Optional: services: [api] limits an environment
# to some services; env: {NAME: value} sets environment variables.
#
# On AWS, replace each local block with an ecs block. The seed's setup:
#
#   dev:
#     tier: dev
#     tenant: default
#     ecs:
#       cluster: api
#       service: api
#       region: us-east-1
#       profile: dev          # a profile in ~/.aws/config
#   mb-dev:
#     tier: dev
#     tenant: mb
#     ecs:
#       cluster: api
#       service: api
#       region: us-east-1
#       # the mb account: assume a role there...
#       role_arn: "arn:aws:iam::210987654321:role/deployer"
#       # ...or name the variables that hold its keys (never the keys):
#       # access_key_id_env: MB_DEV_AWS_ACCESS_KEY_ID
#       # secret_access_key_env: MB_DEV_AWS_SECRET_ACCESS_KEY
#       # mode: track-tag      # or pin; default pin for release tiers
#
# Other targets:
#   docker:     {container: api, port: 8080, health: /healthz}
#   swarm:      {service: api}
#   kubernetes: {context: prod, namespace: api, deployment: api}
environments:
  dev:
    tier: dev
    tenant: default
    local: {port: 8081, health: /healthz}
  mb-dev:
    tier: dev
    tenant: mb
    local: {port: 8082, health: /healthz}
  staging:
    tier: staging
    tenant: default
    local: {port: 8083, health: /healthz}
  mb-staging:
    tier: staging
    tenant: mb
    local: {port: 8084, health: /healthz}
  prod:
    tier: prod
    tenant: default
    local: {port: 8085, health: /healthz}
  mb-prod:
    tier: prod
    tenant: mb
    local: {port: 8086, health: /healthz}
`

// Sample returns a commented tier.yaml for the seed's six environments
// (dev, mb-dev, staging, mb-staging, prod, mb-prod) on local targets, with
// the AWS ECS equivalent in comments.
func Sample() []byte {
	return []byte(sample)
}

// WriteSample writes Sample to path atomically. It refuses to replace an
// existing file (the error wraps ErrExists) unless force is set.
func WriteSample(path string, force bool) error {
	if !force {
		if _, err := os.Lstat(path); err == nil {
			return existsError(path)
		}
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename or link
	if _, err := tmp.Write(Sample()); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if !force {
		// A hard link fails if path appeared since the check above, so a
		// file written meanwhile is never replaced.
		err := os.Link(tmp.Name(), path)
		if errors.Is(err, fs.ErrExist) {
			return existsError(path)
		}
		if err == nil {
			return nil
		}
		// The file system has no hard links: fall back to rename.
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

func existsError(path string) error {
	return fmt.Errorf("%s: %w: pass --force to overwrite it", path, ErrExists)
}
