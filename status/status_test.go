package status_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/tierdeploy/tier/catalog"
	"github.com/tierdeploy/tier/config"
	"github.com/tierdeploy/tier/internal/testreg"
	"github.com/tierdeploy/tier/promote"
	"github.com/tierdeploy/tier/push"
	"github.com/tierdeploy/tier/registry"
	"github.com/tierdeploy/tier/status"
)

func TestRegistryStatus(t *testing.T) {
	ctx := context.Background()
	c, err := registry.New(testreg.New(t), registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{
		Services: []config.Service{{Name: "api", Repository: "api"}, {Name: "worker", Repository: "worker"}},
		Tiers: []config.Tier{
			{Name: "dev", Tag: "dev"},
			{Name: "staging", Tag: "staging", From: "dev"},
			{Name: "prod", Release: true, From: "staging"},
		},
	}
	built := time.Date(2020, 11, 12, 9, 0, 0, 0, time.UTC)
	commit := "abcdefabcdefabcdefabcdefabcdefabcdefabcd"
	img, _ := random.Image(128, 1)
	res, err := push.Push(ctx, c, img, push.Request{Repository: "api", Commit: commit, Created: built})
	if err != nil {
		t.Fatal(err)
	}
	// worker's build carries no annotations: its commit comes from the
	// commit tag on the same digest.
	other := "0000000000000000000000000000000000000001"
	wimg, _ := random.Image(128, 1)
	wd, err := c.Write(ctx, "worker", other, wimg)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2020, 11, 12, 10, 30, 0, 0, time.UTC)
	p := &promote.Promoter{Config: cfg, Registry: c, Now: func() time.Time { return now }}
	if _, err := p.Promote(ctx, promote.Request{Tier: "dev", Commit: commit[:8], Services: []string{"api"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Promote(ctx, promote.Request{Tier: "dev", Digest: wd.String(), Services: []string{"worker"}}); err != nil {
		t.Fatal(err)
	}
	// A release, then the same build again a day later: still one release.
	for i, want := range []promote.TagStatus{promote.Released, promote.Unchanged} {
		now = now.Add(time.Duration(i) * 24 * time.Hour)
		rep, err := p.Promote(ctx, promote.Request{Tier: "prod", Services: []string{"api"}, Commit: commit})
		if err != nil || rep.Tags[0].Status != want {
			t.Fatalf("Promote(prod) #%d = %+v, %v, want %s", i+1, rep, err, want)
		}
	}
	rows, err := status.Registry(ctx, cfg, catalog.New(c), status.Options{Now: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string]status.TierView{}
	for _, r := range rows {
		byKey[r.Service+"/"+r.Tier] = r
	}
	if len(rows) != 6 {
		t.Fatalf("Registry() = %d rows, want 6", len(rows))
	}
	dev := byKey["api/dev"]
	if !dev.Promoted || dev.Tag != "dev" || dev.Digest != res.Digest.String() || dev.Commit != commit || dev.Kind != "mutable" {
		t.Errorf("api/dev = %+v, want dev at %s commit %s", dev, res.Digest, commit)
	}
	if dev.Created == nil || !dev.Created.Equal(built) || dev.AgeSeconds != int64(now.Add(time.Hour).Sub(built).Seconds()) {
		t.Errorf("api/dev created %v age %d, want %s and %d", dev.Created, dev.AgeSeconds, built, int64(now.Add(time.Hour).Sub(built).Seconds()))
	}
	if st := byKey["api/staging"]; st.Promoted || st.Digest != "" {
		t.Errorf("api/staging = %+v, want never promoted", st)
	}
	prod := byKey["api/prod"]
	if prod.Kind != "release" || prod.Releases != 1 || prod.Tag != "prod-20201112T103000Z" || prod.Commit != commit {
		t.Errorf("api/prod = %+v, want 1 release prod-20201112T103000Z of %s", prod, commit)
	}
	if w := byKey["worker/dev"]; w.Commit != other || w.Digest != wd.String() {
		t.Errorf("worker/dev = %+v, want commit %s from its commit tag", w, other)
	}
	// Filters.
	rows, err = status.Registry(ctx, cfg, catalog.New(c), status.Options{Tier: "prod", Service: "api"})
	if err != nil || len(rows) != 1 || rows[0].Tier != "prod" {
		t.Errorf("Registry(prod, api) = %+v, %v, want one prod row", rows, err)
	}
}
