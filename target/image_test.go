package target

import (
	"strings"
	"testing"
)

func TestPinnedDigest(t *testing.T) {
	hex := strings.Repeat("c", 64)
	for _, tc := range []struct {
		ref  string
		want string
	}{
		{"127.0.0.1:5000/api@sha256:" + hex, "sha256:" + hex},
		{"127.0.0.1:5000/api:dev@sha256:" + hex, "sha256:" + hex},
		{"127.0.0.1:5000/api:dev", ""},
		{"api@sha256:short", ""},
	} {
		h, ok := PinnedDigest(tc.ref)
		got := ""
		if ok {
			got = h.String()
		}
		if got != tc.want {
			t.Errorf("PinnedDigest(%q) = %q, want %q", tc.ref, got, tc.want)
		}
	}
}

func TestSameImage(t *testing.T) {
	hex := strings.Repeat("c", 64)
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"api:dev", "api:dev", true},
		{"api:dev", "docker.io/library/api:dev", true},
		{"api:dev@sha256:" + hex, "docker.io/library/api:dev@sha256:" + hex, true},
		{"127.0.0.1:5000/api:dev", "127.0.0.1:5000/api:prod", false},
		{"127.0.0.1:5000/api:dev", "127.0.0.1:5000/api:dev@sha256:" + hex, false},
		{"Not A Reference", "docker.io/library/api:dev", false},
	} {
		if got := SameImage(tc.a, tc.b); got != tc.want {
			t.Errorf("SameImage(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
