package push

import (
	"net/url"
	"strings"
)

// SourceURL returns u as tier records it in org.opencontainers.image.source:
// without the parts that can carry credentials. A URL
// (https://user:token@host/acme/api.git?private_token=...#access_token=...)
// loses its user info, query string and fragment; a URL that does not parse
// is dropped (""), since its credentials cannot be told apart. An scp-like
// git address keeps a user name (git@github.com:acme/api.git) but loses a
// password (user:token@host:acme/api.git) and a query string.
func SourceURL(u string) string {
	u = strings.TrimSpace(u)
	if u == "" {
		return ""
	}
	if strings.Contains(u, "://") {
		p, err := url.Parse(u)
		if err != nil {
			return ""
		}
		p.User, p.RawQuery, p.ForceQuery, p.Fragment, p.RawFragment = nil, "", false, "", ""
		return p.String()
	}
	u, _, _ = strings.Cut(u, "?")
	u, _, _ = strings.Cut(u, "#")
	// [user[:password]@]host:path: the user info ends at the last '@'
	// before the path.
	head := u
	if i := strings.IndexByte(u, '/'); i >= 0 {
		head = u[:i]
	}
	if at := strings.LastIndexByte(head, '@'); at >= 0 && strings.ContainsRune(head[:at], ':') {
		u = u[at+1:]
	}
	return u
}
