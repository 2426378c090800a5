package registry_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tierdeploy/tier/internal/testreg"
	"github.com/tierdeploy/tier/registry"
	"github.com/tierdeploy/tier/tags"
)

// recordingRetagger records what Client.Retag hands it.
type recordingRetagger struct {
	calls []string
	err   error
}

func (r *recordingRetagger) Retag(_ context.Context, repo string, digest v1.Hash, tag string) error {
	r.calls = append(r.calls, repo+"@"+digest.String()+" "+tag)
	return r.err
}

func TestRetagDelegatesToRetagger(t *testing.T) {
	ctx := context.Background()
	d := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}
	for _, tc := range []struct {
		name, host, repo, tag string
		want                  []string
		wantErr               error
	}{
		{name: "repository name", host: "012345678922.dkr.ecr.us-east-1.amazonaws.com", repo: "api", tag: "dev",
			want: []string{"api@" + d.String() + " dev"}},
		{name: "path prefix of the host", host: "012345678922.dkr.ecr.us-east-1.amazonaws.com/team", repo: "api", tag: "dev",
			want: []string{"team/api@" + d.String() + " dev"}},
		{name: "invalid tag", host: "012345678922.dkr.ecr.us-east-1.amazonaws.com", repo: "api", tag: "prod-11/12/20",
			wantErr: tags.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := &recordingRetagger{}
			c, err := registry.New(tc.host, registry.Options{Retagger: rt, Transport: refuseAll{t}})
			if err != nil {
				t.Fatal(err)
			}
			err = c.Retag(ctx, tc.repo, d, tc.tag)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Retag() = %v, want %v", err, tc.wantErr)
			}
			if strings.Join(rt.calls, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("Retagger calls = %q, want %q", rt.calls, tc.want)
			}
		})
	}
}

// TestRetagReturnsRetaggerErrors: the Retagger's typed errors reach the
// caller as they are, so promote still tells "superseded" apart.
func TestRetagReturnsRetaggerErrors(t *testing.T) {
	want := &registry.MismatchError{Ref: "x/api:dev"}
	c, err := registry.New(testreg.New(t), registry.Options{Retagger: &recordingRetagger{err: want}})
	if err != nil {
		t.Fatal(err)
	}
	var mm *registry.MismatchError
	if err := c.Retag(context.Background(), "api", v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("cd", 32)}, "dev"); !errors.As(err, &mm) || mm != want {
		t.Errorf("Retag() = %v, want the Retagger's *MismatchError", err)
	}
}

// refuseAll fails every HTTP request: with a Retagger, Retag makes none.
type refuseAll struct{ t *testing.T }

func (r refuseAll) RoundTrip(req *http.Request) (*http.Response, error) {
	r.t.Errorf("HTTP request %s %s, want none", req.Method, req.URL)
	return nil, errors.New("no HTTP requests in this test")
}
