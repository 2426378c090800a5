package swarm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"github.com/tierdeploy/tier/target"
)

// updateAttempts bounds the retries of an update that raced another change
// to the same service.
const updateAttempts = 5

// image returns the reference Deploy sets: "<repository>:<tag>@<digest>",
// or "<repository>@<digest>" without a tag. It is the form Swarm itself
// pins images to; nodes pull the digest and the tag is for people.
func image(d target.Deployment) string {
	if d.Tag == "" {
		return d.Repository + "@" + d.Digest.String()
	}
	return d.Repository + ":" + d.Tag + "@" + d.Digest.String()
}

// Deploy sets the image of the environment's Swarm service to
// image(d), leaving the rest of its spec as it is, and returns once the
// manager has accepted the update; Swarm rolls the tasks over under the
// service's update_config. When the spec already names that image, Deploy
// changes nothing: Swarm is rolling it out, runs it, or paused its update.
// A paused update is not resumed: its tasks already have the new spec, so
// sending the spec again would only clear Swarm's "paused" status (and the
// previous spec a rollback returns to) while the failing tasks keep
// restarting. Observe reports it Failed with Swarm's message; roll back
// (docker service rollback) or deploy another build.
func (t *Target) Deploy(ctx context.Context, d target.Deployment) error {
	s, err := t.service(d.Environment)
	if err != nil {
		return err
	}
	want := image(d)
	for attempt := 1; ; attempt++ {
		r, err := s.inspect(ctx)
		if err != nil {
			return err
		}
		svc := r.Service
		spec := svc.Spec
		cs := *spec.TaskTemplate.ContainerSpec
		if target.SameImage(cs.Image, want) {
			t.log.Info("swarm service already names the image", "environment", d.Environment.Name, "service", s.name, "image", want)
			return nil
		}
		if err := lossless(r.Raw, spec); err != nil {
			return &SpecError{Service: s.name, Host: s.host, Reason: err.Error() + ": tier would drop it, so it leaves the service alone; update tier"}
		}
		cs.Image = want
		spec.TaskTemplate.ContainerSpec = &cs
		res, err := s.c.ServiceUpdate(ctx, svc.ID, client.ServiceUpdateOptions{Version: svc.Version, Spec: spec})
		if err == nil {
			for _, w := range res.Warnings {
				t.log.Warn("swarm service update", "environment", d.Environment.Name, "service", s.name, "warning", w)
			}
			t.log.Info("swarm service update accepted", "environment", d.Environment.Name, "service", s.name, "from", svc.Spec.TaskTemplate.ContainerSpec.Image, "to", want)
			return nil
		}
		if outOfSequence(err) && attempt < updateAttempts && ctx.Err() == nil {
			t.log.Info("swarm service changed meanwhile; retrying", "environment", d.Environment.Name, "service", s.name, "attempt", attempt)
			continue
		}
		return fmt.Errorf("updating swarm service %s on %s to %s: %w", s.name, s.host, want, err)
	}
}

// outOfSequence reports whether the manager refused an update because the
// service changed since it was read. The engine answers a plain 500 with
// swarmkit's message and no typed error, so the message is all there is.
func outOfSequence(err error) bool {
	return strings.Contains(err.Error(), "update out of sequence")
}

// lossless checks that sending spec back changes nothing the manager
// returned in raw (the service's JSON): a field unknown to the API types
// would be dropped by the round trip.
func lossless(raw json.RawMessage, spec swarm.ServiceSpec) error {
	var got struct{ Spec any }
	if err := decode(raw, &got); err != nil {
		return fmt.Errorf("reading the service's spec: %v", err)
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return fmt.Errorf("encoding the service's spec: %v", err)
	}
	var sent any
	if err := decode(b, &sent); err != nil {
		return fmt.Errorf("reading the encoded spec: %v", err)
	}
	if p := lost("Spec", got.Spec, sent); p != "" {
		return fmt.Errorf("its spec has %s, which this build of tier does not carry over", p)
	}
	return nil
}

func decode(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	return d.Decode(v)
}

// lost returns the path of the first value of raw that sent lacks or
// differs in, or "". Zero values (null, "", 0, false, {}, []) that sent
// omits are not lost: the engine reads an absent field as its zero.
func lost(path string, raw, sent any) string {
	switch r := raw.(type) {
	case map[string]any:
		m, ok := sent.(map[string]any)
		if !ok {
			if zero(raw) && sent == nil {
				return ""
			}
			return path
		}
		keys := make([]string, 0, len(r))
		for k := range r {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v, ok := m[k]
			if !ok {
				// encoding/json matches names case-insensitively.
				for mk, mv := range m {
					if strings.EqualFold(mk, k) {
						v, ok = mv, true
						break
					}
				}
			}
			if !ok {
				if zero(r[k]) {
					continue
				}
				return path + "." + k
			}
			if p := lost(path+"."+k, r[k], v); p != "" {
				return p
			}
		}
		return ""
	case []any:
		s, ok := sent.([]any)
		if !ok {
			if zero(raw) && sent == nil {
				return ""
			}
			return path
		}
		if len(s) != len(r) {
			return path
		}
		for i := range r {
			if p := lost(fmt.Sprintf("%s[%d]", path, i), r[i], s[i]); p != "" {
				return p
			}
		}
		return ""
	}
	if reflect.DeepEqual(raw, sent) || (zero(raw) && sent == nil) {
		return ""
	}
	return path
}

func zero(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case bool:
		return !x
	case json.Number:
		f, err := x.Float64()
		return err == nil && f == 0
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return false
}
