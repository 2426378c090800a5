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
	"syscall"

	"go.yaml.in/yaml/v3"
)

// DefaultStateDir is the state directory used when state_dir is omitted.
const DefaultStateDir = ".tier"

// MaxFileSize is the largest configuration file Load reads: 1 MiB. A
// tier.yaml is a few kilobytes.
const MaxFileSize = 1 << 20

// Load reads and validates the configuration file at path, and checks the
// state directory it names (see Parse). A missing file gives an error
// wrapping ErrNotFound. A path that is not a regular file (a directory, a
// FIFO, a device, a socket), a file larger than MaxFileSize and an invalid
// configuration give *Error or Errors, both matching ErrInvalid.
func Load(path string) (*Config, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return parse(path, data, true)
}

// readFile reads the regular file at path, at most MaxFileSize bytes. It
// looks at what path is before opening it, and opens it so that the open
// itself cannot wait, so a FIFO or a device is refused at once instead of
// blocking or reading without end.
func readFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w: run `tier init` to write a commented sample, or pass --config PATH", path, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading configuration: %w", err)
	}
	if err := checkFile(path, fi); err != nil {
		return nil, err
	}
	// O_NONBLOCK: should path have become a FIFO since the Stat, the open
	// returns at once; the Stat below then refuses it.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("reading configuration: %w", err)
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, fmt.Errorf("reading configuration: %w", err)
	}
	if err := checkFile(path, fi); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading configuration: %w", err)
	}
	if len(data) > MaxFileSize {
		return nil, tooLarge(path, 0)
	}
	return data, nil
}

// checkFile refuses what is not a regular file of at most MaxFileSize
// bytes.
func checkFile(path string, fi fs.FileInfo) error {
	m := fi.Mode()
	switch {
	case m.IsRegular():
		if fi.Size() > MaxFileSize {
			return tooLarge(path, fi.Size())
		}
		return nil
	case m.IsDir():
		return &Error{File: path, Msg: "is a directory, not a configuration file", Fix: "name the file in it, for example --config " + filepath.Join(path, DefaultFile)}
	}
	return &Error{File: path, Msg: "is " + fileKind(m) + ", not a regular file",
		Fix: "tier reads its configuration only from a regular file of at most " + maxFileSize + ": write it to a file and pass that file's path (--config PATH)"}
}

// fileKind names the kind of file of mode m: "a named pipe (FIFO)".
func fileKind(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "a regular file"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	}
	return "a special file"
}

// tooLarge is the error for a file larger than MaxFileSize; size is its
// size, 0 when unknown.
func tooLarge(file string, size int64) *Error {
	msg := fmt.Sprintf("is larger than %s, the most a configuration file may hold", maxFileSize)
	if size > 0 {
		msg = fmt.Sprintf("is %d bytes, larger than %s, the most a configuration file may hold", size, maxFileSize)
	}
	return &Error{File: file, Msg: msg, Fix: "a tier.yaml is a few kilobytes: check that --config names the right file"}
}

// maxFileSize is MaxFileSize for messages.
const maxFileSize = "1 MiB (1048576 bytes)"

// Parse validates the YAML in data. name is the file name used in
// messages and stored as Config.Path. Every problem found is returned: one
// as *Error, several as Errors sorted by line. Parse reads only data; Load
// also checks the state directory on disk.
func Parse(name string, data []byte) (*Config, error) {
	return parse(name, data, false)
}

// parse is Parse; disk adds the checks of the state directory.
func parse(name string, data []byte, disk bool) (*Config, error) {
	file := cmp.Or(name, DefaultFile)
	if len(data) > MaxFileSize {
		return nil, tooLarge(file, int64(len(data)))
	}
	p := &parser{file: file, secrets: map[*yaml.Node]bool{}, disk: disk}
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
	if offset, msg, fix := unreadable(data); offset >= 0 {
		line, col := position(data, offset)
		p.addLine(line, fix, "%s (column %d)", msg, col)
		return nil, false
	}
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
