package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

var (
	// envName is an environment variable name.
	envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// nameRE matches the name of a service, environment or tenant.
	nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	// repoComponent is one path component of an OCI repository name.
	repoComponent = regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$`)
	// hostLabel is one dot-separated label of a host name.
	hostLabel = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$`)
	// dnsLabel is a Kubernetes (RFC 1123) label: namespaces, container names.
	dnsLabel = regexp.MustCompile(`^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?$`)
	// dnsSubdomain is a Kubernetes (RFC 1123) subdomain: Deployment names.
	dnsSubdomain = regexp.MustCompile(`^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$`)
	// containerName is a Docker container name.
	containerName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)
	// awsRegion is an AWS region code such as us-east-1 or us-gov-west-1.
	awsRegion = regexp.MustCompile(`^[a-z]{2}(?:-[a-z]+)+-[0-9]+$`)
	// roleARN is an IAM role ARN in any partition.
	roleARN = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$`)
)

// maxRepository is the longest repository name accepted (the Docker
// reference grammar's limit for a full name).
const maxRepository = 255

// checkRepository reports why s is not an OCI repository name, or "".
// show writes a part of s in the reason.
func checkRepository(s string, show func(string) string) string {
	if s == "" {
		return "it is empty"
	}
	if len(s) > maxRepository {
		return fmt.Sprintf("it is %d characters long; at most %d are allowed", len(s), maxRepository)
	}
	for _, c := range strings.Split(s, "/") {
		if !repoComponent.MatchString(c) {
			if c == "" {
				return "it has an empty path component"
			}
			return fmt.Sprintf("path component %s is not lowercase letters and digits joined by '.', '_', '__' or '-'", show(c))
		}
	}
	return ""
}

// registryForm is the fix for a registry address that is not HOST[:PORT][/PATH].
const registryForm = "write the registry as HOST[:PORT][/PATH], for example 012345678922.dkr.ecr.us-east-1.amazonaws.com or localhost:5000"

// checkRegistry reports why s is not HOST[:PORT][/PATH], or "". The
// reason does not repeat s; show writes a part of it.
func checkRegistry(s string, show func(string) string) string {
	if _, _, creds := registryCredentials(s); creds {
		return "holds credentials"
	}
	if i := strings.Index(s, "://"); i >= 0 {
		return fmt.Sprintf("starts with a scheme (%s://)", show(s[:i]))
	}
	if strings.ContainsAny(s, " \t\r\n") {
		return "contains white space"
	}
	host, path, hasPath := strings.Cut(s, "/")
	if hasPath {
		if why := checkRepository(path, show); why != "" {
			return "has an invalid path: " + why
		}
	}
	hostname, port, hasPort := strings.Cut(host, ":")
	if strings.HasPrefix(host, "[") { // [IPv6]:port
		end := strings.Index(host, "]")
		if end < 0 {
			return "has an unterminated IPv6 address"
		}
		hostname, port, hasPort = host[1:end], "", false
		rest := host[end+1:]
		if rest != "" {
			if !strings.HasPrefix(rest, ":") {
				return "has text after its IPv6 address"
			}
			port, hasPort = rest[1:], true
		}
		if hostname == "" || strings.Trim(hostname, "0123456789abcdefABCDEF:.") != "" {
			return "has an invalid IPv6 address"
		}
	} else {
		if hostname == "" {
			return "has no host"
		}
		if len(hostname) > 253 {
			return "has a host name longer than 253 characters"
		}
		for _, l := range strings.Split(hostname, ".") {
			if !hostLabel.MatchString(l) || len(l) > 63 {
				return "has an invalid host name"
			}
		}
	}
	if hasPort {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || port != strconv.Itoa(n) {
			return "has an invalid port"
		}
	}
	return ""
}

// registryCredentials finds credentials written into a registry address,
// "user:password@host" (after a scheme, if any): it returns them without
// the '@', and the address after them. An '@' counts when what follows it
// is an address, or when it comes before the first '/'.
func registryCredentials(s string) (creds, rest string, ok bool) {
	addr := s
	if _, after, scheme := strings.Cut(s, "://"); scheme {
		addr = after
	}
	at := strings.LastIndex(addr, "@")
	if at < 0 {
		return "", "", false
	}
	creds, rest = addr[:at], addr[at+1:]
	if !strings.Contains(creds, "/") || checkRegistry(rest, strconv.Quote) == "" {
		return creds, rest, true
	}
	return "", "", false
}

// checkHealth reports whether h is "tcp" or an HTTP path.
func checkHealth(h string) bool {
	return h == "tcp" || strings.HasPrefix(h, "/") && !strings.ContainsAny(h, " \t\r\n")
}

// checkDockerHost reports whether h looks like a Docker engine address.
func checkDockerHost(h string) bool {
	scheme, rest, ok := strings.Cut(h, "://")
	if !ok || rest == "" {
		return false
	}
	switch scheme {
	case "unix", "tcp", "ssh", "npipe", "http", "https", "fd":
		return !strings.ContainsAny(h, " \t\r\n")
	}
	return false
}

// suggest returns the known key nearest to key, or "" if none is close.
func suggest(key string, known []string) string {
	norm := func(s string) string {
		return strings.NewReplacer("_", "", "-", "", " ", "").Replace(strings.ToLower(s))
	}
	best, bestD := "", 3
	for _, k := range known {
		if norm(k) == norm(key) || len(key) >= 3 && strings.HasPrefix(k, strings.ToLower(key)) {
			return k
		}
		d := distance(strings.ToLower(key), k)
		if d < bestD && (d == 1 || len(k) >= 6) {
			best, bestD = k, d
		}
	}
	return best
}

// distance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and transpositions of neighbours.
func distance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30
	}
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
