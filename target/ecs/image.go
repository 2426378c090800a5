package ecs

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/distribution/reference"

	"github.com/tierdeploy/tier/target"
)

// pinned returns the image pin mode sets: "<repository>:<tag>@<digest>",
// or "<repository>@<digest>" without a tag. ECS pulls the digest; the tag
// is for people reading the task definition.
func pinned(d target.Deployment) string {
	if d.Tag == "" {
		return d.Repository + "@" + d.Digest.String()
	}
	return d.Repository + ":" + d.Tag + "@" + d.Digest.String()
}

// repository returns the normalized repository (host/path) of an image
// reference, ignoring its tag and digest, or "" when it does not parse.
func repository(image string) string {
	n, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return ""
	}
	return n.Name()
}

// pick returns the indexes of the containers to deploy to: the one named
// name, or else every container whose image is from repo (an app and a
// worker built from one image are both updated).
func pick(env, taskDef string, defs []types.ContainerDefinition, name, repo string) ([]int, error) {
	want := repository(repo)
	if want == "" {
		return nil, fmt.Errorf("environment %s: %q is not a repository name", env, repo)
	}
	e := &ContainerError{Environment: env, TaskDefinition: taskDef, Container: name, Repository: repo}
	var found []int
	for i, c := range defs {
		r := cmp.Or(repository(str(c.Image)), str(c.Image))
		e.Containers = append(e.Containers, fmt.Sprintf("%s (%s)", str(c.Name), r))
		switch {
		case name != "" && str(c.Name) == name && r == want, name == "" && r == want:
			found = append(found, i)
		}
	}
	if len(found) == 0 {
		return nil, e
	}
	return found, nil
}

// matcher recognizes the deployed containers in a running task: by name
// when known, else by the repository of their image.
type matcher struct {
	names []string
	// repo is host/path when the registry is known; path is the
	// service's repository path otherwise.
	repo, path string
}

func (m matcher) match(name, image string) bool {
	switch {
	case len(m.names) > 0:
		return slices.Contains(m.names, name)
	case m.repo != "":
		return repository(image) == m.repo
	}
	n, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return false
	}
	p := reference.Path(n)
	return p == m.path || p == "library/"+m.path
}

func (m matcher) String() string {
	switch {
	case len(m.names) == 1:
		return "container " + m.names[0]
	case len(m.names) > 1:
		return "containers " + strings.Join(m.names, ", ")
	case m.repo != "":
		return "a container from " + m.repo
	}
	return "a container from repository " + m.path
}
