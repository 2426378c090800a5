package ecs

import (
	"cmp"
	"fmt"

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

// pick returns the index of the container to deploy to: the one named
// name, or else the only one whose image is from repo.
func pick(env, taskDef string, defs []types.ContainerDefinition, name, repo string) (int, error) {
	want := repository(repo)
	if want == "" {
		return 0, fmt.Errorf("environment %s: %q is not a repository name", env, repo)
	}
	e := &ContainerError{Environment: env, TaskDefinition: taskDef, Container: name, Repository: repo}
	found := -1
	for i, c := range defs {
		r := cmp.Or(repository(str(c.Image)), str(c.Image))
		e.Containers = append(e.Containers, fmt.Sprintf("%s (%s)", str(c.Name), r))
		switch {
		case name != "" && str(c.Name) == name:
			found = i
		case name == "" && r == want:
			e.Matches = append(e.Matches, str(c.Name))
			found = i
		}
	}
	switch {
	case found < 0, len(e.Matches) > 1:
		return 0, e
	case name != "" && repository(str(defs[found].Image)) != want:
		return 0, e
	}
	return found, nil
}

// matcher recognizes the deployed container in a running task: by name
// when known, else by the repository of its image.
type matcher struct {
	name string
	// repo is host/path when the registry is known; path is the
	// service's repository path otherwise.
	repo, path string
}

func (m matcher) match(name, image string) bool {
	switch {
	case m.name != "":
		return name == m.name
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
	case m.name != "":
		return "container " + m.name
	case m.repo != "":
		return "a container from " + m.repo
	}
	return "a container from repository " + m.path
}
