package registry_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/tierdeploy/tier/internal/testreg"
	"github.com/tierdeploy/tier/registry"
)

// staticKeychain hands out one user name and password for every registry.
type staticKeychain struct{ user, password string }

func (k staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	return authn.FromConfig(authn.AuthConfig{Username: k.user, Password: k.password}), nil
}

// guarded wraps a registry so that it wants basic auth, answers the first
// HEAD of api:dev with 503 and Retry-After: 0, and redirects blob reads to a
// URL whose query carries signed tokens, as registries backed by S3 do.
func guarded(user, password, token string) func(http.Handler) http.Handler {
	var once sync.Once
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u, p, ok := r.BasicAuth(); !ok || u != user || p != password {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			if r.Method == http.MethodHead && r.URL.Path == "/v2/api/manifests/dev" {
				busy := false
				once.Do(func() { busy = true })
				if busy {
					w.Header().Set("Retry-After", "0")
					w.WriteHeader(http.StatusServiceUnavailable)
					return
				}
			}
			if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/sha256:") {
				if r.URL.RawQuery == "" {
					http.Redirect(w, r, r.URL.Path+"?X-Amz-Signature="+token+"&token="+token, http.StatusTemporaryRedirect)
					return
				}
				r.URL.RawQuery = ""
			}
			h.ServeHTTP(w, r)
		})
	}
}

func TestRequestLog(t *testing.T) {
	const user, password, token = "tier-user", "PASSWORD-9f1c", "QUERYTOKEN-77ab"
	ctx := context.Background()
	host := testreg.NewWithHandler(t, guarded(user, password, token))
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := registry.New(host, registry.Options{
		Keychain: staticKeychain{user, password},
		Log:      log,
		Retry:    registry.Retry{Sleep: func(context.Context, time.Duration) error { return nil }},
	})
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(ctx, "api", "dev", img); err != nil {
		t.Fatalf("Write() error = %v", err)
	}
	if _, err := c.Head(ctx, "api", "dev"); err != nil {
		t.Fatalf("Head() error = %v", err)
	}
	layers, _ := img.Layers()
	ld, _ := layers[0].Digest()
	repo, _ := c.Repository("api")
	l, err := remote.Layer(repo.Digest(ld.String()), c.Options(ctx)...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Compressed(); err != nil {
		t.Fatalf("reading a redirected blob: %v", err)
	}
	got := buf.String()
	h := regexp.QuoteMeta(host)
	for _, want := range []string{
		// The ping, refused until credentials are sent.
		`level=DEBUG msg="registry request" method=GET host=` + h + ` path=/v2/ status=401 duration=\S+ retry=0`,
		`msg="registry request" method=PUT host=` + h + ` path=/v2/api/manifests/dev status=201 duration=\S+ retry=0`,
		// The busy HEAD, its retry with the reason, and the retried request.
		`msg="registry request" method=HEAD host=` + h + ` path=/v2/api/manifests/dev status=503 duration=\S+ retry=0`,
		`level=INFO msg="registry retry" method=HEAD host=` + h + ` path=/v2/api/manifests/dev retry=1 reason="503 Service Unavailable, Retry-After 0s" wait=0s`,
		`msg="registry request" method=HEAD host=` + h + ` path=/v2/api/manifests/dev status=(200|404) duration=\S+ retry=1`,
		// The redirect and the redirected request, without its query.
		`msg="registry request" method=GET host=` + h + ` path=/v2/api/blobs/` + ld.String() + ` status=307 duration=\S+ retry=0`,
		`msg="registry request" method=GET host=` + h + ` path=/v2/api/blobs/` + ld.String() + ` status=200 duration=\S+ retry=0`,
	} {
		if !regexp.MustCompile(want).MatchString(got) {
			t.Errorf("request log lacks a line matching\n  %s\nlog:\n%s", want, got)
		}
	}
	basic := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	for _, secret := range []string{password, basic, token, "Authorization", "Basic"} {
		if strings.Contains(got, secret) {
			t.Errorf("request log contains %q:\n%s", secret, got)
		}
	}
	if n := strings.Count(got, `msg="registry request"`); n != strings.Count(got, "\n")-1 {
		t.Errorf("log has %d request lines and %d lines in all, want one retry line and the rest requests:\n%s", n, strings.Count(got, "\n"), got)
	}

	// Without debug, requests are not logged; retries are, at info.
	buf.Reset()
	c, _ = registry.New(host, registry.Options{Keychain: staticKeychain{user, password}, Log: slog.New(slog.NewTextHandler(&buf, nil))})
	if _, err := c.Head(ctx, "api", "dev"); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 0 {
		t.Errorf("info-level log of a HEAD without retries = %q, want nothing", buf.String())
	}
}
