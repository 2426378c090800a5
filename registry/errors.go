package registry

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// NotFoundError says a repository, tag or digest does not exist.
type NotFoundError struct {
	Ref string
	Err error
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("%s not found in the registry", e.Ref)
}

func (e *NotFoundError) Unwrap() error { return e.Err }

// UnauthorizedError says the registry refused our credentials or has none
// for us.
type UnauthorizedError struct {
	Registry string
	Err      error
}

func (e *UnauthorizedError) Error() string {
	return fmt.Sprintf("registry %s refused access (%s): log in with `docker login %s`, or for ECR check the AWS credentials (AWS_PROFILE, role) of the registry account", e.Registry, describe(e.Err), e.Registry)
}

func (e *UnauthorizedError) Unwrap() error { return e.Err }

// TagImmutableError says the repository refuses to move an existing tag
// (ECR's tag immutability, Harbor's immutable tag rules and the like).
type TagImmutableError struct {
	Repository string
	Tag        string
	Err        error
}

func (e *TagImmutableError) Error() string {
	return fmt.Sprintf("repository %s does not let tag %q move (its tags are immutable): "+
		"on ECR set the repository's tag mutability to MUTABLE "+
		"(aws ecr put-image-tag-mutability --repository-name %s --image-tag-mutability MUTABLE), "+
		"or to IMMUTABLE_WITH_EXCLUSION with an exclusion filter for %q; "+
		"on other registries remove the immutability rule that covers %q",
		e.Repository, e.Tag, repoPath(e.Repository), e.Tag, e.Tag)
}

func (e *TagImmutableError) Unwrap() error { return e.Err }

// PlainHTTPError says a non-loopback registry was about to be spoken to
// without TLS.
type PlainHTTPError struct{ Host string }

func (e *PlainHTTPError) Error() string {
	return fmt.Sprintf("registry %s would be reached over plain HTTP, which tier allows only for loopback addresses (127.0.0.1, ::1, localhost): serve it over HTTPS", e.Host)
}

func repoPath(repo string) string {
	if i := strings.IndexByte(repo, '/'); i >= 0 && strings.ContainsAny(repo[:i], ".:") {
		return repo[i+1:]
	}
	return repo
}

// answerError is an error answer of the registry that has no type of its
// own here. Its message gives the status and the registry's error codes
// and messages, each cut by Clip; Err is the whole answer.
type answerError struct {
	Err *transport.Error
}

func (e *answerError) Error() string { return describe(e.Err) }

func (e *answerError) Unwrap() error { return e.Err }

// maxDiagnostics is how many of a registry's error entries a message
// repeats.
const maxDiagnostics = 3

// describe says what the registry answered, bounded: the status, then up
// to maxDiagnostics error entries, each code and message cut by Clip. The
// request's URL is left out: the caller names what was asked for.
func describe(err error) string {
	var terr *transport.Error
	if !errors.As(err, &terr) {
		return Clip(err.Error())
	}
	msg := fmt.Sprintf("%d %s", terr.StatusCode, http.StatusText(terr.StatusCode))
	for i, d := range terr.Errors {
		if i == maxDiagnostics {
			msg += fmt.Sprintf("; and %d more", len(terr.Errors)-i)
			break
		}
		msg += "; " + Clip(string(d.Code))
		if d.Message != "" {
			msg += ": " + Clip(d.Message)
		}
	}
	return msg
}

// classify turns the registry's wire errors into the typed errors above.
// ref names what was being accessed; tag is set when a tag was written.
func classify(err error, registry, repo, ref, tag string) error {
	if err == nil {
		return nil
	}
	var terr *transport.Error
	if !errors.As(err, &terr) {
		return err
	}
	for _, d := range terr.Errors {
		msg := strings.ToLower(d.Message)
		switch {
		case d.Code == "TAG_IMMUTABLE",
			d.Code == transport.TagInvalidErrorCode && strings.Contains(msg, "immutable"),
			d.Code == transport.DeniedErrorCode && strings.Contains(msg, "immutable"):
			return &TagImmutableError{Repository: repo, Tag: tag, Err: err}
		case d.Code == transport.ManifestUnknownErrorCode, d.Code == transport.NameUnknownErrorCode, d.Code == transport.BlobUnknownErrorCode:
			return &NotFoundError{Ref: ref, Err: err}
		}
	}
	switch terr.StatusCode {
	case http.StatusNotFound:
		return &NotFoundError{Ref: ref, Err: err}
	case http.StatusUnauthorized, http.StatusForbidden:
		return &UnauthorizedError{Registry: registry, Err: err}
	}
	return &answerError{Err: terr}
}
