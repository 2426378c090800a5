package config

import (
	"fmt"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestShorten(t *testing.T) {
	long := strings.Repeat("a", 100)
	wide := strings.Repeat("é", 70)
	tests := []struct {
		in, quote, clip string
	}{
		{"", `""`, ""},
		{"api", `"api"`, "api"},
		{"a\nb", `"a\nb"`, "a\nb"},
		{long[:64], `"` + long[:64] + `"`, long[:64]},
		{long, `"` + long[:64] + `"... (100 characters)`, long[:64] + "... (100 characters)"},
		{wide, `"` + wide[:128] + `"... (70 characters)`, wide[:128] + "... (70 characters)"},
	}
	for _, tt := range tests {
		if got := quote(tt.in); got != tt.quote {
			t.Errorf("quote(%q) = %q, want %q", tt.in, got, tt.quote)
		}
		if got := clip(tt.in); got != tt.clip {
			t.Errorf("clip(%q) = %q, want %q", tt.in, got, tt.clip)
		}
	}
	names := make([]string, 40)
	for i := range names {
		names[i] = fmt.Sprint("t", i)
	}
	if got, want := listed(names[:3], ", "), "t0, t1, t2"; got != want {
		t.Errorf("listed(3 names) = %q, want %q", got, want)
	}
	if got := listed(names, ", "); !strings.HasSuffix(got, ", t31, ... and 8 more") || strings.Contains(got, "t32") {
		t.Errorf("listed(40 names) = %q, want the first 32 and ... and 8 more", got)
	}
}

// A value of any length is repeated in a message cut to 64 characters,
// with its length.
func TestLongValuesAreCut(t *testing.T) {
	long := strings.Repeat("A", 20_000)
	key := long[:1000] // YAML allows at most 1024 characters in a plain key
	tests := []struct {
		name, yaml string
	}{
		{"repository", "services: {api: {repository: " + long + "}}\ntiers: [{name: dev, tag: dev}]\n"},
		{"service name", "services: {" + key[:999] + "!: {repository: api}}\ntiers: [{name: dev, tag: dev}]\n"},
		{"unknown key", head + key + ": 1\n"},
		{"registry", "registry: " + long + "\nservices: {api: }\ntiers: [{name: dev, tag: dev}]\n"},
		{"tier of an environment", head + "  x: {tier: " + long + ", local: {port: 1}}\n"},
		{"anchor", "services: {api: }\ntiers: [*" + long + "]\n"},
		{"tag", "services: {api: }\ntiers: [{name: dev, tag: '" + long + "'}]\n"},
		{"custom YAML tag", "services: !" + long + " x\ntiers: [{name: dev, tag: dev}]\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("tier.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatal("Parse = nil, want an error")
			}
			if len(err.Error()) > 1000 {
				t.Errorf("Parse error is %d bytes long, want at most 1000: %.300s...", len(err.Error()), err)
			}
			if !strings.Contains(err.Error(), "... (") || !strings.Contains(err.Error(), " characters)") {
				t.Errorf("Parse = %v, want the value cut with its length", err)
			}
		})
	}
}

// Every message stays short when any one value or key of a file is long.
func TestMessagesBounded(t *testing.T) {
	const bound = 1000
	for _, tt := range rejectTests {
		var doc yaml.Node
		if yaml.Unmarshal([]byte(tt.yaml), &doc) != nil || doc.Kind == 0 {
			continue
		}
		var scalars []*yaml.Node
		var walk func(n *yaml.Node)
		walk = func(n *yaml.Node) {
			if n.Kind == yaml.ScalarNode {
				scalars = append(scalars, n)
			}
			for _, c := range n.Content {
				walk(c)
			}
		}
		walk(&doc)
		for _, n := range scalars {
			old, oldTag, oldStyle := n.Value, n.Tag, n.Style
			n.Value, n.Tag, n.Style = old+strings.Repeat("x", 1500), "!!str", 0
			data, err := yaml.Marshal(&doc)
			n.Value, n.Tag, n.Style = old, oldTag, oldStyle
			if err != nil {
				t.Fatalf("%s: yaml.Marshal: %v", tt.name, err)
			}
			_, err = Parse("tier.yaml", data)
			for _, e := range list(err) {
				if len(e.Error()) > bound {
					t.Errorf("%s with %q made long: a message of %d bytes, want at most %d: %.300s...", tt.name, old, len(e.Error()), bound, e)
				}
			}
		}
	}
}

func TestLongListsAreCut(t *testing.T) {
	var b strings.Builder
	b.WriteString("services: {api: }\ntiers:\n")
	for i := range 100 {
		fmt.Fprintf(&b, "  - {name: t%d, tag: t%d}\n", i, i)
	}
	b.WriteString("environments:\n  x: {tier: qa, local: {port: 1}}\n")
	_, err := Parse("tier.yaml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "use one of: t0, t1,") || !strings.Contains(err.Error(), "t31, ... and 68 more") || strings.Contains(err.Error(), "t32") {
		t.Errorf("Parse = %v, want the first 32 tiers listed and 68 more counted", err)
	}

	long := strings.Repeat("n", 100_000)
	e := &UnknownError{Kind: "tier", Name: long, Known: []string{"dev", long}}
	want := `unknown tier "` + long[:64] + `"... (100000 characters): the tiers are dev, ` + long[:64] + "... (100000 characters)"
	if got := e.Error(); got != want {
		t.Errorf("UnknownError.Error() = %.200q..., want %.200q...", got, want)
	}
}
