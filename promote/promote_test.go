package promote_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/tierdeploy/tier/catalog"
	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/internal/testreg"
	"github.com/tierdeploy/tier/promote"
	"github.com/tierdeploy/tier/push"
	"github.com/tierdeploy/tier/registry"
	"github.com/tierdeploy/tier/tags"
)

const (
	commit1 = "1111111111111111111111111111111111111111"
	commit2 = "2222222222222222222222222222222222222222"
	commit3 = "2222333333333333333333333333333333333333"
)

type fixture struct {
	t       *testing.T
	reg     *registry.Client
	clock   time.Time
	p       *promote.Promoter
	digests map[string]v1.Hash
}

func seedConfig() *config.Config {
	return &config.Config{
		Services: []config.Service{{Name: "api", Repository: "api"}, {Name: "worker", Repository: "team/worker"}},
		Tiers: []config.Tier{
			{Name: "dev", Tag: "dev"},
			{Name: "staging", Tag: "staging", From: "dev"},
			{Name: "prod", Release: true, From: "staging"},
		},
	}
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	c, err := registry.New(testreg.New(t), registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, reg: c, clock: time.Date(2020, 11, 12, 10, 30, 0, 0, time.UTC), digests: map[string]v1.Hash{}}
	f.p = &promote.Promoter{Config: seedConfig(), Registry: c, ReleaseSettle: time.Millisecond, Now: func() time.Time { return f.clock }}
	for _, commit := range []string{commit1, commit2, commit3} {
		for _, repo := range []string{"api", "team/worker"} {
			img, err := random.Image(256, 1)
			if err != nil {
				t.Fatal(err)
			}
			res, err := push.Push(context.Background(), c, img, push.Request{Repository: repo, Commit: commit, Created: f.clock.Add(-time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			f.digests[repo+"@"+commit] = res.Digest
		}
	}
	return f
}

func (f *fixture) promote(req promote.Request) []promote.TagChange {
	f.t.Helper()
	rep, err := f.p.Promote(context.Background(), req)
	if err != nil {
		f.t.Fatalf("Promote(%+v) error = %v", req, err)
	}
	return rep.Tags
}

func (f *fixture) rollback(req promote.RollbackRequest) []promote.TagChange {
	f.t.Helper()
	rep, err := f.p.Rollback(context.Background(), req)
	if err != nil {
		f.t.Fatalf("Rollback(%+v) error = %v", req, err)
	}
	return rep.Tags
}

func (f *fixture) tag(repo, tag string) v1.Hash {
	f.t.Helper()
	d, err := f.reg.Head(context.Background(), repo, tag)
	if err != nil {
		f.t.Fatalf("Head(%s:%s) error = %v", repo, tag, err)
	}
	return d.Digest
}

func (f *fixture) releases(repo string) []string {
	f.t.Helper()
	all, err := f.reg.Tags(context.Background(), repo)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, t := range all {
		if _, ok := tags.ParseRelease("prod", t); ok {
			out = append(out, t)
		}
	}
	return out
}

func TestPromoteMutableAndRelease(t *testing.T) {
	f := newFixture(t)
	api1, api2 := f.digests["api@"+commit1], f.digests["api@"+commit2]

	res := f.promote(promote.Request{Tier: "dev", Services: []string{"api"}, Commit: "1111"})
	if len(res) != 1 || res[0].Status != promote.Moved || res[0].Digest != api1.String() || res[0].Commit != commit1 || res[0].Tag != "dev" || res[0].Source != "commit" {
		t.Fatalf("Promote(dev, 1111) = %+v, want dev moved to %s (commit %s)", res, api1, commit1)
	}
	if got := f.tag("api", "dev"); got != api1 {
		t.Errorf("api:dev = %s, want %s", got, api1)
	}

	res = f.promote(promote.Request{Tier: "staging", Services: []string{"api"}})
	if res[0].Status != promote.Moved || res[0].Source != "tier dev" || f.tag("api", "staging") != api1 {
		t.Errorf("Promote(staging) = %+v, want staging moved to %s from tier dev", res[0], api1)
	}

	res = f.promote(promote.Request{Tier: "prod", Services: []string{"api"}})
	if res[0].Status != promote.Released || res[0].Tag != "prod-20201112T103000Z" {
		t.Errorf("Promote(prod) = %+v, want released as prod-20201112T103000Z", res[0])
	}
	if got := f.tag("api", "prod-20201112T103000Z"); got != api1 {
		t.Errorf("api:prod-20201112T103000Z = %s, want %s", got, api1)
	}

	// The same build again changes nothing: no second release tag.
	f.clock = f.clock.Add(time.Hour)
	res = f.promote(promote.Request{Tier: "prod", Services: []string{"api"}})
	if res[0].Status != promote.Unchanged || res[0].Tag != "prod-20201112T103000Z" {
		t.Errorf("Promote(prod) again = %+v, want unchanged at prod-20201112T103000Z", res[0])
	}
	if got := f.releases("api"); len(got) != 1 {
		t.Errorf("release tags = %v, want 1", got)
	}

	// A newer build to dev leaves staging and prod alone.
	res = f.promote(promote.Request{Tier: "dev", Services: []string{"api"}, Commit: commit2})
	if res[0].PreviousDigest != api1.String() || res[0].PreviousCommit != commit1 || f.tag("api", "dev") != api2 {
		t.Errorf("Promote(dev, %s) = %+v, want dev moved from %s to %s", commit2[:4], res[0], api1, api2)
	}
	if f.tag("api", "staging") != api1 {
		t.Errorf("staging moved when dev was promoted")
	}
}

func TestPromoteAllServicesAndDigest(t *testing.T) {
	f := newFixture(t)
	res := f.promote(promote.Request{Tier: "dev", Commit: commit1})
	if len(res) != 2 {
		t.Fatalf("Promote(dev) = %d results, want 2", len(res))
	}
	for _, repo := range []string{"api", "team/worker"} {
		if got, want := f.tag(repo, "dev"), f.digests[repo+"@"+commit1]; got != want {
			t.Errorf("%s:dev = %s, want %s", repo, got, want)
		}
	}
	d := f.digests["api@"+commit2]
	res = f.promote(promote.Request{Tier: "dev", Services: []string{"api"}, Digest: d.String()})
	if res[0].Digest != d.String() || res[0].Commit != commit2 || res[0].Source != "digest" {
		t.Errorf("Promote(dev, digest) = %+v, want %s commit %s", res[0], d, commit2)
	}
}

func TestPromoteDryRunChangesNothing(t *testing.T) {
	f := newFixture(t)
	f.promote(promote.Request{Tier: "dev", Commit: commit1})
	f.promote(promote.Request{Tier: "staging"})
	res := f.promote(promote.Request{Tier: "prod", DryRun: true})
	for _, r := range res {
		if r.Status != promote.Planned || r.Tag != "prod-20201112T103000Z" {
			t.Errorf("Promote(prod, dry run) = %+v, want planned prod-20201112T103000Z", r)
		}
	}
	if got := f.releases("api"); len(got) != 0 {
		t.Errorf("dry run cut release tags %v", got)
	}
	res = f.promote(promote.Request{Tier: "dev", Commit: commit2, DryRun: true})
	if res[0].Status != promote.Planned || f.tag("api", "dev") != f.digests["api@"+commit1] {
		t.Errorf("dry run moved dev: %+v", res[0])
	}
}

func TestPromoteRejects(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name string
		req  promote.Request
		is   error
		want string
	}{
		{"unknown tier", promote.Request{Tier: "qa", Commit: commit1}, config.ErrUsage, `unknown tier "qa": the tiers are dev, staging, prod`},
		{"unknown service", promote.Request{Tier: "dev", Services: []string{"web"}, Commit: commit1}, config.ErrUsage, `unknown service "web"`},
		{"no from and no build", promote.Request{Tier: "dev"}, config.ErrUsage, "tier dev has no `from` tier"},
		{"commit and digest", promote.Request{Tier: "dev", Commit: commit1, Digest: "sha256:" + strings.Repeat("a", 64)}, config.ErrUsage, "not both"},
		{"ambiguous prefix", promote.Request{Tier: "dev", Commit: "2222"}, tags.ErrInvalid, "ambiguous"},
		{"prefix too short", promote.Request{Tier: "dev", Commit: "22"}, tags.ErrInvalid, "not a commit hash or a prefix"},
		{"unknown commit", promote.Request{Tier: "dev", Commit: "abcdef"}, catalog.ErrNoBuild, "no build of commit abcdef"},
		{"bad digest", promote.Request{Tier: "dev", Digest: "sha256:xyz"}, tags.ErrInvalid, "not a digest"},
		{"unknown digest", promote.Request{Tier: "dev", Digest: "sha256:" + strings.Repeat("a", 64)}, catalog.ErrNoBuild, "is not in api"},
		{"from tier empty", promote.Request{Tier: "staging"}, catalog.ErrNoBuild, "tier dev has no build of api yet"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.p.Promote(context.Background(), tc.req)
			if !errors.Is(err, tc.is) {
				t.Fatalf("Promote(%+v) error = %v, want %v", tc.req, err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Promote(%+v) error = %q, want it to contain %q", tc.req, err, tc.want)
			}
		})
	}
	if all, _ := f.reg.Tags(context.Background(), "api"); len(all) != 3 {
		t.Errorf("tags after rejected promotions = %v, want only the 3 commit tags", all)
	}
}

// A service that lacks the build stops the whole promotion before any tag
// moves.
func TestPromoteResolvesAllBeforeMoving(t *testing.T) {
	f := newFixture(t)
	img, _ := random.Image(64, 1)
	only := "4444444444444444444444444444444444444444"
	if _, err := push.Push(context.Background(), f.reg, img, push.Request{Repository: "api", Commit: only, Created: f.clock}); err != nil {
		t.Fatal(err)
	}
	_, err := f.p.Promote(context.Background(), promote.Request{Tier: "dev", Commit: only})
	if !errors.Is(err, catalog.ErrNoBuild) || !strings.Contains(err.Error(), "service worker") {
		t.Fatalf("Promote(dev, %s) error = %v, want no build for service worker", only[:4], err)
	}
	if _, err := f.reg.Head(context.Background(), "api", "dev"); err == nil {
		t.Errorf("api:dev was moved although worker could not be promoted")
	}
}

func TestReleaseTagNeverOverwritten(t *testing.T) {
	f := newFixture(t)
	f.promote(promote.Request{Tier: "prod", Services: []string{"api"}, Commit: commit1})
	// Same second, another build: the tag exists and must not move; the
	// build is released under the next free second.
	res := f.promote(promote.Request{Tier: "prod", Services: []string{"api"}, Commit: commit2})
	if res[0].Status != promote.Released || res[0].Tag != "prod-20201112T103001Z" || !strings.Contains(res[0].Note, "never overwritten") {
		t.Errorf("second release in the same second = %+v, want released as prod-20201112T103001Z with a note", res[0])
	}
	if got := f.tag("api", "prod-20201112T103000Z"); got != f.digests["api@"+commit1] {
		t.Errorf("prod-20201112T103000Z = %s, want it kept at %s", got, f.digests["api@"+commit1])
	}
	if got := f.tag("api", "prod-20201112T103001Z"); got != f.digests["api@"+commit2] {
		t.Errorf("prod-20201112T103001Z = %s, want %s", got, f.digests["api@"+commit2])
	}
}

func TestRollbackRelease(t *testing.T) {
	f := newFixture(t)
	api := func(c string) v1.Hash { return f.digests["api@"+c] }
	// Two releases: commit1 on the 12th, commit2 on the 13th.
	f.promote(promote.Request{Tier: "prod", Services: []string{"api"}, Commit: commit1})
	f.clock = time.Date(2020, 11, 13, 9, 0, 0, 0, time.UTC)
	f.promote(promote.Request{Tier: "prod", Services: []string{"api"}, Commit: commit2})
	f.clock = time.Date(2020, 11, 14, 12, 0, 0, 0, time.UTC)

	tests := []struct {
		name    string
		to      string
		want    v1.Hash
		source  string
		current v1.Hash // what prod is on before
	}{
		{"by date", "2020-11-12", api(commit1), "release prod-20201112T103000Z", api(commit2)},
		{"back to the 13th by time", "2020-11-13T09:00Z", api(commit2), "release prod-20201113T090000Z", api(commit1)},
		{"by release tag", "prod-20201112T103000Z", api(commit1), "release prod-20201112T103000Z", api(commit2)},
		{"by commit", commit2[:7], api(commit2), "commit", api(commit1)},
		{"previous release", "", api(commit1), "release prod-20201114T120300Z", api(commit2)},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.clock = time.Date(2020, 11, 14, 12, i+1, 0, 0, time.UTC)
			res := f.rollback(promote.RollbackRequest{Tier: "prod", Services: []string{"api"}, To: tc.to})
			wantTag := tags.Release("prod", f.clock)
			if res[0].Status != promote.Released || res[0].Tag != wantTag || res[0].Digest != tc.want.String() || res[0].Source != tc.source {
				t.Fatalf("Rollback(prod, %q) = %+v, want new release %s at %s from %s", tc.to, res[0], wantTag, tc.want, tc.source)
			}
			if res[0].PreviousDigest != tc.current.String() {
				t.Errorf("Rollback(prod, %q) previous = %s, want %s", tc.to, res[0].PreviousDigest, tc.current)
			}
			if got := f.tag("api", wantTag); got != tc.want {
				t.Errorf("%s = %s, want %s", wantTag, got, tc.want)
			}
		})
	}
	// The log is append-only: the first two releases are untouched.
	if f.tag("api", "prod-20201112T103000Z") != api(commit1) || f.tag("api", "prod-20201113T090000Z") != api(commit2) {
		t.Errorf("earlier release tags moved")
	}
	if got := len(f.releases("api")); got != 2+len(tests) {
		t.Errorf("release tags = %d, want %d", got, 2+len(tests))
	}
}

func TestRollbackRejects(t *testing.T) {
	f := newFixture(t)
	f.promote(promote.Request{Tier: "prod", Services: []string{"api"}, Commit: commit1})
	f.promote(promote.Request{Tier: "dev", Services: []string{"api"}, Commit: commit2})
	tests := []struct {
		name string
		req  promote.RollbackRequest
		is   error
		want string
	}{
		{"before the first release", promote.RollbackRequest{Tier: "prod", Services: []string{"api"}, To: "2020-11-12T10:29Z"}, catalog.ErrNoBuild, "no release of prod in api was live at 2020-11-12T10:29:00Z: the first, prod-20201112T103000Z, came later"},
		{"no earlier release", promote.RollbackRequest{Tier: "prod", Services: []string{"api"}}, catalog.ErrNoBuild, "no earlier release"},
		{"garbage", promote.RollbackRequest{Tier: "prod", Services: []string{"api"}, To: "11/12/20-10:30"}, config.ErrUsage, "is not a time"},
		{"mutable without to", promote.RollbackRequest{Tier: "dev", Services: []string{"api"}}, config.ErrUsage, "keeps no timeline"},
		{"mutable by date", promote.RollbackRequest{Tier: "dev", Services: []string{"api"}, To: "2020-11-12"}, config.ErrUsage, "times do not apply"},
		{"unknown tier", promote.RollbackRequest{Tier: "qa", To: commit1}, config.ErrUsage, "unknown tier"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.p.Rollback(context.Background(), tc.req)
			if !errors.Is(err, tc.is) {
				t.Fatalf("Rollback(%+v) error = %v, want %v", tc.req, err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Rollback(%+v) error = %q, want it to contain %q", tc.req, err, tc.want)
			}
		})
	}
}

func TestRollbackMutable(t *testing.T) {
	f := newFixture(t)
	f.promote(promote.Request{Tier: "dev", Services: []string{"api"}, Commit: commit1})
	f.promote(promote.Request{Tier: "dev", Services: []string{"api"}, Commit: commit2})
	res := f.rollback(promote.RollbackRequest{Tier: "dev", Services: []string{"api"}, To: "1111111"})
	if res[0].Status != promote.Moved || f.tag("api", "dev") != f.digests["api@"+commit1] {
		t.Errorf("Rollback(dev, 1111111) = %+v, want dev back on %s", res[0], f.digests["api@"+commit1])
	}
	res = f.rollback(promote.RollbackRequest{Tier: "dev", Services: []string{"api"}, To: f.digests["api@"+commit2].String()})
	if res[0].Commit != commit2 || f.tag("api", "dev") != f.digests["api@"+commit2] {
		t.Errorf("Rollback(dev, digest) = %+v, want dev on commit %s", res[0], commit2)
	}
}

// A rollback to a release whose image the registry no longer has (a
// lifecycle policy expired it) moves nothing and says why.
func TestRollbackToAnExpiredBuild(t *testing.T) {
	f := newFixture(t)
	f.promote(promote.Request{Tier: "prod", Commit: commit1})
	f.clock = f.clock.Add(time.Hour)
	f.promote(promote.Request{Tier: "prod", Commit: commit2})
	// worker's first release image is gone from the registry (its
	// manifest answers 404 MANIFEST_UNKNOWN, as after a lifecycle expiry).
	gone := f.digests["team/worker@"+commit1]
	c, err := registry.New(f.reg.Host(), registry.Options{Transport: missing{next: http.DefaultTransport, path: "/team/worker/manifests/" + gone.String()}})
	if err != nil {
		t.Fatal(err)
	}
	f.p.Registry = c
	before := f.tag("api", "prod-20201112T113000Z")
	f.clock = f.clock.Add(time.Hour)
	_, err = f.p.Rollback(context.Background(), promote.RollbackRequest{Tier: "prod", To: "prod-20201112T103000Z"})
	if err == nil || !strings.Contains(err.Error(), "service worker") || !strings.Contains(err.Error(), "nothing was moved") {
		t.Fatalf("Rollback(prod) to an expired build error = %v, want it refused", err)
	}
	if got := f.tag("api", "prod-20201112T113000Z"); got != before || len(f.releases("api")) != 2 {
		t.Errorf("a release tag moved or was cut although the rollback was refused: %v", f.releases("api"))
	}
}

// missing answers 404 MANIFEST_UNKNOWN for the manifest at path.
type missing struct {
	next http.RoundTripper
	path string
}

func (m missing) RoundTrip(req *http.Request) (*http.Response, error) {
	if strings.HasSuffix(req.URL.Path, m.path) {
		body := `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}`
		return &http.Response{StatusCode: http.StatusNotFound, Status: "404 Not Found", Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(body)), Request: req}, nil
	}
	return m.next.RoundTrip(req)
}
