package promote

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tierdeploy/tier/deploy"
)

// Report is what one promotion did: each service's tag change and each
// environment's rollout. Field names are the JSON API's.
type Report struct {
	Tier   string `json:"tier"`
	DryRun bool   `json:"dry_run"`
	// Tags holds one change per service, in config order.
	Tags []TagChange `json:"results"`
	// Environments holds one result per environment and service, in
	// config order.
	Environments []deploy.Result `json:"environments"`
	// Stopped says why the promotion stopped before deploying, after the
	// tags in Tags had moved (the registry failed on a later service).
	Stopped string `json:"stopped,omitempty"`
}

// MarshalJSON adds the verdict and the problem to the report's fields.
func (r *Report) MarshalJSON() ([]byte, error) {
	type fields Report
	return json.Marshal(struct {
		*fields
		Verdict deploy.Verdict `json:"verdict"`
		Problem string         `json:"problem,omitempty"`
	}{(*fields)(r), r.Verdict(), r.Problem()})
}

// Superseded lists the services whose tag another promotion moved while
// this one wrote it; their environments are left to that promotion.
func (r *Report) Superseded() []string {
	var out []string
	for _, c := range r.Tags {
		if c.Status == Superseded {
			out = append(out, c.Service)
		}
	}
	return out
}

// Verdict sums the promotion up: deploy.Done when every environment was
// verified (or, in a dry run, planned) and no tag was superseded,
// deploy.NoneVerified when no environment converged, deploy.Partial
// otherwise.
//
// A promotion stopped before deploying is deploy.Partial.
func (r *Report) Verdict() deploy.Verdict {
	if r.Stopped != "" {
		return deploy.Partial
	}
	v := deploy.VerdictOf(r.Environments)
	if v == deploy.Done && len(r.Superseded()) > 0 {
		return deploy.Partial
	}
	return v
}

// Problem says why the verdict is not deploy.Done, in one line; "" when it
// is.
func (r *Report) Problem() string {
	if r.Stopped != "" {
		return r.Stopped
	}
	if deploy.VerdictOf(r.Environments) != deploy.Done {
		var bad []string
		for _, e := range r.Environments {
			if e.Outcome != deploy.Verified {
				bad = append(bad, fmt.Sprintf("%s/%s (%s)", e.Environment, e.Service, e.Outcome))
			}
		}
		return fmt.Sprintf("%d of %d environments not verified: %s", len(bad), len(r.Environments), strings.Join(bad, ", "))
	}
	if lost := r.Superseded(); len(lost) > 0 {
		return fmt.Sprintf("superseded: another promotion moved the %s tag of %s while this one wrote it; its environments are left to that promotion", r.Tier, strings.Join(lost, ", "))
	}
	return ""
}
