package config

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// DefaultStateDir is the state directory used when state_dir is omitted.
const DefaultStateDir = ".tier"

// Load reads and validates the configuration file at path. A missing file
// gives an error wrapping ErrNotFound; an invalid one gives *Error or
// Errors, both matching ErrInvalid.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w: run `tier init` to write a commented sample, or pass --config PATH", path, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading configuration: %w", err)
	}
	return Parse(path, data)
}

// Parse validates the YAML in data. name is the file name used in
// messages and stored as Config.Path. Every problem found is returned: one
// as *Error, several as Errors sorted by line.
func Parse(name string, data []byte) (*Config, error) {
	file := cmp.Or(name, DefaultFile)
	p := &parser{file: file, secrets: map[*yaml.Node]bool{}}
	root, ok := p.decode(data)
	if !ok {
		return nil, p.err()
	}
	p.findSecrets(root, "")
	c := p.config(root)
	if err := p.err(); err != nil {
		return nil, err
	}
	c.Path = name
	return c, nil
}

// Dir returns the directory of the configuration file.
func (c *Config) Dir() string {
	if c.Path == "" {
		return "."
	}
	return filepath.Dir(c.Path)
}

// StatePath returns StateDir resolved against Dir unless it is absolute,
// as an absolute path.
func (c *Config) StatePath() string {
	dir := cmp.Or(c.StateDir, DefaultStateDir)
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(c.Dir(), dir)
	}
	// Absolute, so that processes started elsewhere (the local target's)
	// and later commands from another directory agree on it.
	if abs, err := filepath.Abs(dir); err == nil {
		return abs
	}
	return dir
}

// yamlLine finds the line in a YAML library error: "yaml: line 3: ...".
var yamlLine = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// decode parses data into a node tree and returns its root, nil for an
// empty document. ok is false after a syntax error.
func (p *parser) decode(data []byte) (root *yaml.Node, ok bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return nil, true
	} else if err != nil {
		p.syntax(data, err)
		return nil, false
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		p.add(&extra, "keep one document: remove this '---' and what follows, or merge it into the first", "a second YAML document starts here")
	} else if !errors.Is(err, io.EOF) {
		p.syntax(data, err)
	}
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) == 0 {
			return nil, true
		}
		return doc.Content[0], true
	}
	return &doc, true
}

// parserProblems are the problems the YAML library's parser (as opposed
// to its scanner) reports. The library gives their line 0-based.
var parserProblems = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected <document start>": true,
	"did not find expected <stream-start>":   true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"found duplicate %TAG directive":         true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found undefined tag handle":             true,
}

// unknownAnchor is the YAML library's message for an alias without anchor.
var unknownAnchor = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)

// syntax records a YAML syntax error, at the line the YAML library
// reports, corrected to 1-based.
func (p *parser) syntax(data []byte, err error) {
	const fix = "check the indentation, colons, quotes and brackets on this line and the one before"
	m := yamlLine.FindStringSubmatch(err.Error())
	if m == nil {
		p.addLine(0, fix, "invalid YAML: %s", err)
		return
	}
	msg := m[2]
	line, _ := strconv.Atoi(m[1])
	anchor := unknownAnchor.FindStringSubmatch(msg)
	if anchor != nil {
		msg = "unknown anchor '" + clip(anchor[1]) + "' referenced"
	}
	switch {
	case parserProblems[msg]:
		line++
	case line == 0 && anchor != nil:
		name := anchor[1]
		p.addLine(aliasLine(data, name), "define the anchor (&"+clip(name)+") before using it (*"+clip(name)+")", "invalid YAML: %s", msg)
		return
	case line == 0 && !strings.HasPrefix(msg, "unknown anchor"):
		// Both marks were on the first line.
		line = 1
	}
	p.addLine(line, fix, "invalid YAML: %s", msg)
}

// aliasLine returns the first line that uses alias *name, or 0.
func aliasLine(data []byte, name string) int {
	text := strings.ReplaceAll(strings.ReplaceAll(string(data), "\r\n", "\n"), "\r", "\n")
	for i, l := range strings.Split(text, "\n") {
		for rest := l; ; {
			j := strings.Index(rest, "*"+name)
			if j < 0 {
				break
			}
			rest = rest[j+1+len(name):]
			if rest == "" || strings.ContainsAny(rest[:1], " \t,]}\r#") {
				return i + 1
			}
		}
	}
	return 0
}
