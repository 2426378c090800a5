package registry

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tierdeploy/tier/tags"
)

// Limits of the reference grammar (distribution/reference): a name (host
// and path) has at most 255 characters; with a tag and a digest a
// reference stays under maxReference.
const (
	maxName      = 255
	maxReference = 512
)

var (
	// pathComponent is one path component of a repository name.
	pathComponent = regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$`)
	// hostLabel is one dot-separated label of a host name.
	hostLabel = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
)

// ReferenceForm is the fix a *ReferenceError points to.
const ReferenceForm = "write HOST/REPOSITORY[:TAG|@DIGEST], for example ghcr.io/acme/api:1.2"

// ReferenceError says a string is not an image reference tier accepts.
type ReferenceError struct {
	// Ref is what was given, whole.
	Ref string
	// Why says what is wrong with it.
	Why string
}

func (e *ReferenceError) Error() string {
	return fmt.Sprintf("%q is not an image reference: %s; %s", Clip(e.Ref), e.Why, ReferenceForm)
}

// ParseReference parses an image reference a user gave
// (ghcr.io/acme/api:1.2, 127.0.0.1:5000/api@sha256:...) by the OCI
// distribution grammar, which go-containerregistry applies loosely: the
// registry must be a host name or IP address with an optional port, and
// every path component lower-case letters and digits joined by '.', '_',
// '__' or '-'. A path with "..", "." or empty components (../../etc,
// ghcr.io/acme/../x) is refused with a *ReferenceError, before anything is
// sent anywhere.
func ParseReference(s string) (name.Reference, error) {
	bad := func(format string, args ...any) error {
		return &ReferenceError{Ref: s, Why: fmt.Sprintf(format, args...)}
	}
	if len(s) > maxReference {
		return nil, bad("it is %d characters long; a reference has at most %d", len(s), maxReference)
	}
	if strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return nil, bad("it contains white space or control characters")
	}
	nm, digest, hasDigest := strings.Cut(s, "@")
	tag, hasTag := "", false
	if i := strings.LastIndexByte(nm, ':'); i > strings.LastIndexByte(nm, '/') {
		nm, tag, hasTag = nm[:i], nm[i+1:], true
	}
	if len(nm) > maxName {
		return nil, bad("its name is %d characters long; a name has at most %d", len(nm), maxName)
	}
	if why := checkSegments(nm); why != "" {
		return nil, bad("%s", why)
	}
	host, path, hasHost := strings.Cut(nm, "/")
	if hasHost && (strings.ContainsAny(host, ".:") || host == "localhost") {
		if why := checkHost(host); why != "" {
			return nil, bad("%s", why)
		}
	} else {
		path = nm
	}
	if why := checkPath(path); why != "" {
		return nil, bad("%s", why)
	}
	if hasTag && tags.Validate(tag) != nil {
		return nil, bad("its tag %q is not an OCI tag (up to 128 letters, digits, '.', '_' and '-', not starting with '.' or '-')", Clip(tag))
	}
	if hasDigest {
		if _, err := v1.NewHash(digest); err != nil {
			return nil, bad("its digest %q is not sha256:<64 hex digits>", Clip(digest))
		}
	}
	r, err := name.ParseReference(s)
	if err != nil {
		return nil, bad("it does not parse as one")
	}
	return r, nil
}

// checkSegments reports a "..", "." or empty segment of a slash-separated
// name, or "".
func checkSegments(s string) string {
	for _, seg := range strings.Split(s, "/") {
		switch seg {
		case "":
			return "it has an empty path segment"
		case ".", "..":
			return fmt.Sprintf("it has a %q path segment (image references are not file paths)", seg)
		}
	}
	return ""
}

// checkPath reports why p is not a repository path, or "".
func checkPath(p string) string {
	if why := checkSegments(p); why != "" {
		return why
	}
	for _, c := range strings.Split(p, "/") {
		if !pathComponent.MatchString(c) {
			return fmt.Sprintf("path component %q is not lower-case letters and digits joined by '.', '_', '__' or '-'", Clip(c))
		}
	}
	return ""
}

// checkHost reports why h is not HOST[:PORT] (a host name, an IPv4
// address or a bracketed IPv6 address), or "".
func checkHost(h string) string {
	var port string
	var hasPort bool
	if strings.HasPrefix(h, "[") {
		end := strings.IndexByte(h, ']')
		if end <= 1 || strings.Trim(h[1:end], "0123456789abcdefABCDEF:.") != "" {
			return fmt.Sprintf("registry %q has an invalid IPv6 address", Clip(h))
		}
		if port = h[end+1:]; port != "" {
			if port[0] != ':' {
				return fmt.Sprintf("registry %q has text after its IPv6 address", Clip(h))
			}
			port, hasPort = port[1:], true
		}
	} else {
		var hostname string
		hostname, port, hasPort = strings.Cut(h, ":")
		for _, l := range strings.Split(hostname, ".") {
			if !hostLabel.MatchString(l) {
				return fmt.Sprintf("registry %q is not a host name (dot-separated letters, digits and '-')", Clip(h))
			}
		}
	}
	if hasPort {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || port != strconv.Itoa(n) {
			return fmt.Sprintf("registry %q has an invalid port", Clip(h))
		}
	}
	return ""
}
