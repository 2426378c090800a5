package target

import (
	"strings"
	"testing"
)

func TestShort(t *testing.T) {
	d := "sha256:" + strings.Repeat("ab", 32)
	for in, want := range map[string]string{
		d:                        "sha256:abababababab",
		"sha256:abc":             "sha256:abc",
		strings.Repeat("1", 40):  "111111111111",
		"tsk123":                 "tsk123",
		"127.0.0.1:5000/api":     "127.0.0.1:5000/api",
		"repo/with/slashes/long": "repo/with/slashes/long",
		"":                       "",
	} {
		if got := Short(in); got != want {
			t.Errorf("Short(%q) = %q, want %q", in, got, want)
		}
	}
}
