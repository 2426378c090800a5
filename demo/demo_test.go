package demo

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	now := time.Date(2020, 11, 14, 10, 30, 0, 0, time.UTC)
	var out bytes.Buffer
	res, err := Run(context.Background(), Options{Dir: t.TempDir(), Now: func() time.Time { return now }, Out: &out})
	if err != nil {
		t.Fatalf("Run() error = %v\n%s", err, out.String())
	}
	want := map[string]struct {
		version, tag string
		releases     int
	}{
		"dev":     {"v3", "dev", 0},
		"staging": {"v2", "staging", 0},
		"prod":    {"v1", "prod-20201114T103000Z", 3},
	}
	if len(res.Status.Tiers) != 3 {
		t.Fatalf("status rows = %d, want 3", len(res.Status.Tiers))
	}
	for _, row := range res.Status.Tiers {
		w := want[row.Tier]
		if got := versionOf(res.Builds, row.Digest); got != w.version || row.Tag != w.tag || row.Releases != w.releases {
			t.Errorf("tier %s = %s at %s with %d releases, want %s at %s with %d", row.Tier, got, row.Tag, row.Releases, w.version, w.tag, w.releases)
		}
	}
	for _, s := range []string{"prod-20201112T123000Z", "prod-20201113T123000Z", "rollback prod", "no environment was deployed"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("demo output does not mention %q:\n%s", s, out.String())
		}
	}
}
