package promote_test

import (
	"cmp"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tierdeploy/tier/deploy"
	"github.com/tierdeploy/tier/promote"
	"github.com/tierdeploy/tier/registry"
)

// hook is a transport that calls on for every request whose path holds
// path ("/api/manifests/prod-" when empty: api's release tags), after the
// registry answered it; when on returns a response, the client gets that
// one instead.
type hook struct {
	next http.RoundTripper
	path string
	on   func(req *http.Request, resp *http.Response) *http.Response
	mu   sync.Mutex
}

func (h *hook) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := h.next.RoundTrip(req)
	if err != nil || !strings.Contains(req.URL.Path, cmp.Or(h.path, "/api/manifests/prod-")) {
		return resp, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if r := h.on(req, resp); r != nil {
		resp.Body.Close()
		return r, nil
	}
	return resp, nil
}

// releaseRace returns a project whose registry client calls on for the
// requests of api's release tags, and a plain client to race it with.
func releaseRace(t *testing.T, on func(req *http.Request, resp *http.Response) *http.Response) (*library, *registry.Client) {
	t.Helper()
	l := newLibrary(t)
	plain, err := registry.New(l.reg.Host(), registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hooked, err := registry.New(l.reg.Host(), registry.Options{
		Transport: &hook{next: http.DefaultTransport, on: on},
		Retry:     registry.Retry{Attempts: 2, Base: time.Millisecond, Cap: time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	l.p.Registry = hooked
	return l, plain
}

func headDigest(t *testing.T, c *registry.Client, tag string) v1.Hash {
	t.Helper()
	d, err := c.Head(context.Background(), "api", tag)
	if err != nil {
		t.Fatalf("Head(api:%s) = %v", tag, err)
	}
	return d.Digest
}

// Two releases in one second: another build writes the same release tag
// right after this one did, so this one reads back the other build. The
// other keeps its tag; this build is released under the next second, and
// no release tag ever holds a build other than the one reported.
func TestReleaseTakenWhileWriting(t *testing.T) {
	ctx := context.Background()
	var l *library
	var plain *registry.Client
	fired := false
	l, plain = releaseRace(t, func(req *http.Request, resp *http.Response) *http.Response {
		if req.Method == http.MethodPut && !fired {
			fired = true
			if err := plain.Retag(ctx, "api", l.builds[commit2], "prod-20201112T103000Z"); err != nil {
				t.Errorf("the racing release failed: %v", err)
			}
		}
		return nil
	})
	rep, err := l.p.Promote(ctx, promote.Request{Tier: "prod", Commit: commit1})
	if err != nil {
		t.Fatalf("Promote(prod) error = %v", err)
	}
	c := rep.Tags[0]
	if c.Status != promote.Released || c.Tag != "prod-20201112T103001Z" || !strings.Contains(c.Note, "prod-20201112T103000Z was taken by a racing release") {
		t.Errorf("Promote(prod).Tags[0] = %+v, want released as prod-20201112T103001Z with a note", c)
	}
	if got := headDigest(t, plain, "prod-20201112T103000Z"); got != l.builds[commit2] {
		t.Errorf("prod-20201112T103000Z = %s, want the racing build %s kept", got, l.builds[commit2])
	}
	if got := headDigest(t, plain, c.Tag); got != l.builds[commit1] {
		t.Errorf("%s = %s, want this build %s", c.Tag, got, l.builds[commit1])
	}
}

// The racing write lands after this release read its tag back: the check
// after deploying finds the tag overwritten, releases the build again
// under a new tag, and deploys the tier's newest release.
func TestReleaseOverwrittenAfterReadBack(t *testing.T) {
	ctx := context.Background()
	var l *library
	var plain *registry.Client
	fired := false
	l, plain = releaseRace(t, func(req *http.Request, resp *http.Response) *http.Response {
		// The read-back: a HEAD of the tag that answered 200.
		if req.Method == http.MethodHead && resp.StatusCode == http.StatusOK && !fired {
			fired = true
			// The answer (this build) is already read; the racing write
			// lands before this promotion sees it.
			if err := plain.Retag(ctx, "api", l.builds[commit2], "prod-20201112T103000Z"); err != nil {
				t.Errorf("the racing release failed: %v", err)
			}
		}
		return nil
	})
	rep, err := l.p.Promote(ctx, promote.Request{Tier: "prod", Commit: commit1})
	if err != nil {
		t.Fatalf("Promote(prod) error = %v", err)
	}
	c := rep.Tags[0]
	if c.Status != promote.Released || c.Tag == "prod-20201112T103000Z" || !strings.Contains(c.Note, "overwritten by a racing release") {
		t.Fatalf("Promote(prod).Tags[0] = %+v, want released again under another tag with a note", c)
	}
	if got := headDigest(t, plain, c.Tag); got != l.builds[commit1] {
		t.Errorf("%s = %s, want this build %s", c.Tag, got, l.builds[commit1])
	}
	if rep.Verdict() != deploy.Done {
		t.Errorf("Promote(prod) verdict = %s (%s), want done", rep.Verdict(), rep.Problem())
	}
	for _, env := range []string{"prod", "mb-prod"} {
		if got := l.tg.Running(env); len(got) != 1 || got[0] != l.builds[commit1] {
			t.Errorf("%s runs %v, want the newest release's build %s", env, got, l.builds[commit1])
		}
	}
}

// A release tag written whose read-back then fails: the error says the tag
// may exist, and a rerun finds it.
func TestReleaseReadBackFails(t *testing.T) {
	ctx := context.Background()
	put := false
	l, _ := releaseRace(t, func(req *http.Request, resp *http.Response) *http.Response {
		if req.Method == http.MethodPut {
			put = true
		}
		if put && req.Method == http.MethodHead {
			return &http.Response{StatusCode: http.StatusInternalServerError, Status: "500 Internal Server Error", Body: io.NopCloser(strings.NewReader("")), Header: http.Header{}, Request: req}
		}
		return nil
	})
	_, err := l.p.Promote(ctx, promote.Request{Tier: "prod", Commit: commit1})
	if err == nil || !strings.Contains(err.Error(), "release tag") || !strings.Contains(err.Error(), "prod-20201112T103000Z may exist now") {
		t.Fatalf("Promote(prod) error = %v, want it to say the release tag may exist", err)
	}
	l.p.Registry = l.reg
	rep, err := l.p.Promote(ctx, promote.Request{Tier: "prod", Commit: commit1})
	if err != nil || rep.Tags[0].Status != promote.Unchanged || rep.Tags[0].Tag != "prod-20201112T103000Z" {
		t.Errorf("rerun = %+v, %v, want prod-20201112T103000Z found unchanged", rep, err)
	}
}
