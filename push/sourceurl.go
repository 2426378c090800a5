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
	// followed by host:path (a token may hold '/' and '@'); without one,
	// at the last '@'. A password (':' in the user info) goes with it.
	at := -1
	for i := len(u) - 1; i >= 0 && at < 0; i-- {
		if u[i] != '@' {
			continue
		}
		rest := u[i+1:]
		colon, slash := strings.IndexByte(rest, ':'), strings.IndexByte(rest, '/')
		if colon > 0 && (slash < 0 || colon < slash) {
			at = i
		}
	}
	if at < 0 {
		at = strings.LastIndexByte(u, '@')
	}
	if at >= 0 && strings.ContainsRune(u[:at], ':') {
		u = u[at+1:]
	}
	return u
}
