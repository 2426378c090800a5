package cli

import (
	"bytes"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra/doc"
)

var update = flag.Bool("update", false, "rewrite docs/cli from the commands")

// The command reference in docs/cli is generated from the commands; this
// test fails when it is stale. Regenerate it with
//
//	go test ./internal/cli -run TestCommandReference -update
func TestCommandReference(t *testing.T) {
	t.Setenv("TIER_CONFIG", "")
	root := (&app{stdout: io.Discard, stderr: io.Discard, now: time.Now}).root()
	root.DisableAutoGenTag = true
	dir := t.TempDir()
	if err := doc.GenMarkdownTree(root, dir); err != nil {
		t.Fatal(err)
	}
	want := filepath.Join("..", "..", "docs", "cli")
	if *update {
		if err := os.RemoveAll(want); err != nil {
			t.Fatal(err)
		}
		if err := os.CopyFS(want, os.DirFS(dir)); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, _ := filepath.Glob(filepath.Join(dir, "*.md"))
	have, _ := filepath.Glob(filepath.Join(want, "*.md"))
	if len(got) != len(have) {
		t.Errorf("docs/cli has %d pages, the commands make %d: run go test ./internal/cli -run TestCommandReference -update", len(have), len(got))
	}
	for _, g := range got {
		name := filepath.Base(g)
		fresh, _ := os.ReadFile(g)
		old, err := os.ReadFile(filepath.Join(want, name))
		if err != nil || !bytes.Equal(fresh, old) {
			t.Errorf("docs/cli/%s is stale: run go test ./internal/cli -run TestCommandReference -update", name)
		}
	}
}

// CONTRIBUTING.md's layout list ("- `path`: what it holds" under
// "## Layout") names exactly the packages of the module.
func TestContributingNamesEveryPackage(t *testing.T) {
	text, err := os.ReadFile(filepath.Join("..", "..", "CONTRIBUTING.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, layout, ok := strings.Cut(string(text), "\n## Layout\n")
	if !ok {
		t.Fatal("CONTRIBUTING.md has no ## Layout section")
	}
	layout, _, _ = strings.Cut(layout, "\n## ")
	listed := map[string]bool{}
	for _, line := range strings.Split(layout, "\n") {
		if rest, ok := strings.CutPrefix(line, "- `"); ok {
			if pkg, _, ok := strings.Cut(rest, "`"); ok {
				listed[pkg] = true
			}
		}
	}
	root := filepath.Join("..", "..")
	packages := map[string]bool{}
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != root || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") {
			pkg, _ := filepath.Rel(root, filepath.Dir(path))
			packages[filepath.ToSlash(pkg)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for pkg := range packages {
		if !listed[pkg] {
			t.Errorf("CONTRIBUTING.md's layout list does not name package %s: add \"- `%s`: what it holds\"", pkg, pkg)
		}
	}
	for pkg := range listed {
		if !packages[pkg] {
			t.Errorf("CONTRIBUTING.md's layout list names %s, which is not a package of the module", pkg)
		}
	}
	if len(packages) < 20 {
		t.Errorf("found only %d packages: the walk is broken", len(packages))
	}
}
