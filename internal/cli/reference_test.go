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

// Every package of the module is named in CONTRIBUTING.md's layout list.
func TestContributingNamesEveryPackage(t *testing.T) {
	text, err := os.ReadFile(filepath.Join("..", "..", "CONTRIBUTING.md"))
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join("..", "..")
	seen := map[string]bool{}
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != root || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		pkg, _ := filepath.Rel(root, filepath.Dir(path))
		if seen[pkg] {
			return nil
		}
		seen[pkg] = true
		if !bytes.Contains(text, []byte("`"+filepath.ToSlash(pkg)+"`")) {
			t.Errorf("CONTRIBUTING.md does not name package %s (as `%s`) in its layout list", pkg, filepath.ToSlash(pkg))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
