package ecr

import (
	"fmt"
	"path"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tierdeploy/tier/registry"
	"github.com/tierdeploy/tier/tags"
)

// TagMutabilityError says ECR refused to move a tag
// (ImageTagAlreadyExistsException) because of the repository's tag
// mutability setting, and which change lets it move. errors.As matches it
// as a *registry.TagImmutableError too.
type TagMutabilityError struct {
	Registry   string // registry host
	Region     string
	Repository string
	Tag        string
	Digest     v1.Hash
	// Mutability and Exclusions are the repository's setting and its
	// WILDCARD exclusion filters; Mutability is empty when DescribeErr says
	// why they could not be read.
	Mutability  types.ImageTagMutability
	Exclusions  []string
	DescribeErr error
	// Err is PutImage's error.
	Err error
}

func (e *TagMutabilityError) Unwrap() error { return e.Err }

// As lets errors.As match e as a *registry.TagImmutableError.
func (e *TagMutabilityError) As(target any) bool {
	if t, ok := target.(**registry.TagImmutableError); ok {
		*t = &registry.TagImmutableError{Repository: e.Registry + "/" + e.Repository, Tag: e.Tag, Err: e.Err}
		return true
	}
	return false
}

func (e *TagMutabilityError) Error() string {
	reason, changes := e.fix()
	msg := fmt.Sprintf("ECR repository %s/%s: tag %q cannot move to %s: %s", e.Registry, e.Repository, e.Tag, e.Digest, reason)
	var ways []string
	for _, c := range changes {
		ways = append(ways, c.what+" ("+c.cmd+")")
	}
	if len(ways) > 0 {
		msg += ": " + strings.Join(ways, ", or ")
	}
	return msg
}

// Commands returns the AWS CLI commands, any one of which lets the tag
// move; none when the setting already lets it move.
func (e *TagMutabilityError) Commands() []string {
	_, changes := e.fix()
	var out []string
	for _, c := range changes {
		out = append(out, c.cmd)
	}
	return out
}

// change is one way to let the tag move, and its command.
type change struct{ what, cmd string }

// fix explains the setting and gives the changes that let e.Tag move.
func (e *TagMutabilityError) fix() (reason string, changes []change) {
	covering := covered(e.Exclusions, e.Tag)
	mutable := change{"set the repository's tag mutability to MUTABLE", e.command(types.ImageTagMutabilityMutable, nil)}
	withExclusion := change{fmt.Sprintf("keep the other tags immutable with IMMUTABLE_WITH_EXCLUSION and an exclusion filter for %q", e.Tag),
		e.command(types.ImageTagMutabilityImmutableWithExclusion, []string{e.Tag})}
	switch {
	case e.Mutability == "":
		return fmt.Sprintf("ECR keeps it from moving, and tier could not read the repository's tag mutability (%v)", e.DescribeErr),
			[]change{mutable, withExclusion}
	case e.Mutability == types.ImageTagMutabilityImmutable:
		return "the repository's tag mutability is IMMUTABLE, and tier moves its tier tags", []change{mutable, withExclusion}
	case e.Mutability == types.ImageTagMutabilityImmutableWithExclusion && len(covering) == 0:
		// put-image-tag-mutability replaces the filter list: keep the
		// existing filters.
		filters := append(append([]string(nil), e.Exclusions...), e.Tag)
		return fmt.Sprintf("the repository's tag mutability is IMMUTABLE_WITH_EXCLUSION and none of its exclusion filters (%s) covers %q",
				strings.Join(e.Exclusions, ", "), e.Tag),
			[]change{{fmt.Sprintf("add an exclusion filter for %q, keeping the existing ones", e.Tag),
				e.command(types.ImageTagMutabilityImmutableWithExclusion, filters)}}
	case e.Mutability == types.ImageTagMutabilityMutableWithExclusion && len(covering) > 0:
		var rest []string
		for _, f := range e.Exclusions {
			if !contains(covering, f) {
				rest = append(rest, f)
			}
		}
		c := change{what: "remove the exclusion filter " + strings.Join(covering, ", ")}
		if len(rest) == 0 {
			c.cmd = e.command(types.ImageTagMutabilityMutable, nil)
		} else {
			c.cmd = e.command(types.ImageTagMutabilityMutableWithExclusion, rest)
		}
		return fmt.Sprintf("the repository's tag mutability is MUTABLE_WITH_EXCLUSION and its exclusion filter %s makes %q immutable",
			strings.Join(covering, ", "), e.Tag), []change{c}
	default:
		return fmt.Sprintf("ECR refused (%v) although the repository's tag mutability (%s%s) lets the tag move: the setting changed meanwhile; run the command again",
			e.Err, e.Mutability, exclusionList(e.Exclusions)), nil
	}
}

// command is the AWS CLI command that sets the repository's mutability and
// exclusion filters.
func (e *TagMutabilityError) command(m types.ImageTagMutability, filters []string) string {
	c := fmt.Sprintf("aws ecr put-image-tag-mutability --region %s --repository-name %s --image-tag-mutability %s",
		e.Region, shellQuote(e.Repository), m)
	if len(filters) > 0 {
		c += " --image-tag-mutability-exclusion-filters"
		for _, f := range filters {
			c += " " + shellQuote("filterType=WILDCARD,filter="+f)
		}
	}
	return c
}

func exclusionList(fs []string) string {
	if len(fs) == 0 {
		return ""
	}
	return " with exclusion filters " + strings.Join(fs, ", ")
}

// covered returns the WILDCARD filters that match tag.
func covered(filters []string, tag string) []string {
	var out []string
	for _, f := range filters {
		if ok, _ := path.Match(f, tag); ok {
			out = append(out, f)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func shellQuote(s string) string {
	if strings.ContainsAny(s, "*?[]{}$ '\"\\;&|<>()!#~") {
		return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
	}
	return s
}

// TagExistsError says ECR refused to point Tag at Digest
// (ImageTagAlreadyExistsException) because the tag already points at
// another image, Holder, and the repository's tag mutability keeps it
// there.
//
// For a release tag (<tier>-<UTC time>, see Release) in a repository that
// keeps release tags (IMMUTABLE, or IMMUTABLE_WITH_EXCLUSION with only the
// tier tags excluded) this is the setting at work: another build took the
// tag first, and a promotion has to cut another release tag. For a tier
// tag the setting is what is wrong: Setting says which setting keeps the
// tag and the commands that let it move (which are wrong advice for a
// release tag).
//
// errors.As matches it as a *TagMutabilityError (Setting) and, through
// that, as a *registry.TagImmutableError.
type TagExistsError struct {
	Registry   string // registry host
	Repository string
	Tag        string
	// Digest is the image the tag was to point at, Holder the one it
	// points at.
	Digest, Holder v1.Hash
	// Setting is the repository's tag mutability and PutImage's error.
	Setting *TagMutabilityError
}

func (e *TagExistsError) Unwrap() error { return e.Setting }

// Is reports whether target is registry.ErrTagExists: promotions take the
// tag as taken by a racing release.
func (e *TagExistsError) Is(target error) bool { return target == registry.ErrTagExists }

// Release reports whether Tag is a release tag: "<tier>-<UTC time>", as
// tags.Release cuts them.
func (e *TagExistsError) Release() bool { return isRelease(e.Tag) }

func (e *TagExistsError) Error() string {
	if e.Release() {
		setting := "its tag mutability keeps it"
		if e.Setting != nil && e.Setting.Mutability != "" {
			setting = fmt.Sprintf("the repository's tag mutability (%s%s) keeps it", e.Setting.Mutability, exclusionList(e.Setting.Exclusions))
		}
		return fmt.Sprintf("release tag %s/%s:%s already points at %s, not %s: another build took it first and %s, as it should: "+
			"release tags are never moved; promote again to cut a new release tag",
			e.Registry, e.Repository, e.Tag, e.Holder, e.Digest, setting)
	}
	if e.Setting == nil {
		return fmt.Sprintf("ECR repository %s/%s keeps tag %q on %s: it cannot move to %s", e.Registry, e.Repository, e.Tag, e.Holder, e.Digest)
	}
	return fmt.Sprintf("%v (the tag points at %s)", e.Setting, e.Holder)
}

// isRelease reports whether tag is "<tier>-<UTC time>" for some tier.
func isRelease(tag string) bool {
	i := strings.LastIndexByte(tag, '-')
	if i <= 0 {
		return false
	}
	_, ok := tags.ParseRelease(tag[:i], tag)
	return ok
}

// AccessDeniedError says AWS refused an ECR call: the credentials are
// invalid or expired, the identity lacks the IAM permission, or (for a
// registry in another account) the repository policy does not let the
// caller's account in. errors.As matches it as a
// *registry.UnauthorizedError too.
type AccessDeniedError struct {
	Registry   string // registry host
	Region     string
	RegistryID string
	Repository string
	Action     string // "ecr:PutImage"
	Err        error
}

func (e *AccessDeniedError) Unwrap() error { return e.Err }

// As lets errors.As match e as a *registry.UnauthorizedError.
func (e *AccessDeniedError) As(target any) bool {
	if t, ok := target.(**registry.UnauthorizedError); ok {
		*t = &registry.UnauthorizedError{Registry: e.Registry, Err: e.Err}
		return true
	}
	return false
}

func (e *AccessDeniedError) Error() string {
	return fmt.Sprintf("AWS refused %s on ECR repository %s/%s (%v): check the AWS credentials used for the registry (profile, role, keys), "+
		"that they allow %s on arn:aws:ecr:%s:%s:repository/%s, and, for a role in another account, that the repository policy allows that account",
		e.Action, e.Registry, e.Repository, e.Err, e.Action, e.Region, e.RegistryID, e.Repository)
}
