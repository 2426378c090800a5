package ecr_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/tierdeploy/tier/internal/awsfake"
	"github.com/tierdeploy/tier/registry"
	"github.com/tierdeploy/tier/registry/ecr"
	"github.com/tierdeploy/tier/tags"
)

// noOCI fails every request of the OCI distribution API: with a Retagger,
// Client.Retag must not make any.
type noOCI struct{ t *testing.T }

func (n noOCI) RoundTrip(r *http.Request) (*http.Response, error) {
	n.t.Errorf("OCI request %s %s, want none", r.Method, r.URL)
	return nil, fmt.Errorf("no OCI requests in this test")
}

// TestClientRetagsThroughECR is the wiring the CLI does: a registry.Client
// for an ECR host (with a path prefix) whose Retag goes through the
// Retagger, ECR's API, and nothing else.
func TestClientRetagsThroughECR(t *testing.T) {
	ctx := context.Background()
	s := fakeAWS(t)
	s.AddRepository(account, region, "team/api", awsfake.ECRMutable)
	b := pushBuild(t, s, "team/api", "aaaa", false)
	rt, err := ecr.ForHost(awsConfig(t, s, "AKIAREGISTRY", ""), host+"/team", ecr.Options{Backoff: fast, Limiter: &countingLimiter{}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := registry.New(host+"/team", registry.Options{Retagger: rt, Transport: noOCI{t}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Retag(ctx, "api", b.digest, "dev"); err != nil {
		t.Fatalf("Client.Retag() = %v, want nil", err)
	}
	if got := s.Tags(account, region, "team/api")["dev"]; got != b.digest.String() {
		t.Errorf("team/api:dev = %s, want %s", got, b.digest)
	}
	for _, call := range ecrCalls(s) {
		if call.Params["repositoryName"] != "team/api" {
			t.Errorf("%s repositoryName = %v, want team/api", call.Operation, call.Params["repositoryName"])
		}
	}
	n := len(ecrCalls(s))
	if err := c.Retag(ctx, "api", b.digest, "prod-11/12/20"); !errors.Is(err, tags.ErrInvalid) {
		t.Errorf("Client.Retag(invalid tag) = %v, want tags.ErrInvalid", err)
	}
	if len(ecrCalls(s)) != n {
		t.Errorf("an invalid tag reached ECR")
	}
}

func TestForHostRejectsOtherRegistries(t *testing.T) {
	s := fakeAWS(t)
	if _, err := ecr.ForHost(awsConfig(t, s, "AKIAREGISTRY", ""), "ghcr.io/acme", ecr.Options{}); err == nil {
		t.Errorf("ForHost(ghcr.io/acme) = nil error, want one")
	}
}

func TestRetagNotFound(t *testing.T) {
	ctx := context.Background()
	s := fakeAWS(t)
	s.AddRepository(account, region, "api", awsfake.ECRMutable)
	missing := mustHash(t, "sha256:"+strings.Repeat("ab", 32))
	for _, tc := range []struct{ name, repo, ref string }{
		{"digest", "api", host + "/api@" + missing.String()},
		{"repository", "worker", host + "/worker"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := newRetagger(t, s, ecr.Options{})
			err := rt.Retag(ctx, tc.repo, missing, "dev")
			var nf *registry.NotFoundError
			if !errors.As(err, &nf) || nf.Ref != tc.ref {
				t.Fatalf("Retag() = %v, want a *registry.NotFoundError for %s", err, tc.ref)
			}
		})
	}
	if n := len(s.CallsOf("ecr:PutImage")); n != 0 {
		t.Errorf("PutImage calls = %d, want 0", n)
	}
}

// TestRetagCrossAccount: the registry account's credentials are the ones to
// use; another account gets in only where the repository policy lets it.
func TestRetagCrossAccount(t *testing.T) {
	ctx := context.Background()
	s := fakeAWS(t)
	s.AddRepository(account, region, "api", awsfake.ECRMutable)
	b := pushBuild(t, s, "api", "aaaa", false)
	tenant := ecr.New(awsConfig(t, s, "AKIATENANT", ""), account, ecr.Options{Backoff: fast, Limiter: &countingLimiter{}, Sleep: noSleep})

	err := tenant.Retag(ctx, "api", b.digest, "dev")
	var ad *ecr.AccessDeniedError
	var ua *registry.UnauthorizedError
	if !errors.As(err, &ad) || !errors.As(err, &ua) || ad.Action != "ecr:DescribeImages" {
		t.Fatalf("Retag() from account %s = %v, want an *ecr.AccessDeniedError for ecr:DescribeImages matching *registry.UnauthorizedError", other, err)
	}
	if !strings.Contains(err.Error(), "arn:aws:ecr:us-east-1:"+account+":repository/api") {
		t.Errorf("Retag() = %q, want it to name the repository ARN", err)
	}

	s.SetRepositoryPolicy(account, region, "api", `{"Version":"2012-10-17","Statement":[{"Sid":"tenant-push","Effect":"Allow",
		"Principal":{"AWS":"arn:aws:iam::`+other+`:root"},
		"Action":["ecr:BatchGetImage","ecr:PutImage","ecr:DescribeImages"]}]}`)
	if err := tenant.Retag(ctx, "api", b.digest, "dev"); err != nil {
		t.Fatalf("Retag() allowed by the policy = %v, want nil", err)
	}
	for _, c := range s.CallsOf("ecr:PutImage") {
		if c.Account != other || c.Params["registryId"] != account {
			t.Errorf("PutImage signed by %s for registry %v, want %s for %s", c.Account, c.Params["registryId"], other, account)
		}
	}
}
