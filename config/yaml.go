package config

import (
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// parser walks a yaml.Node tree and collects every problem it finds.
type parser struct {
	file string
	errs Errors
	// secrets holds the nodes already reported as literal secrets: their
	// keys are not reported again as unknown keys.
	secrets map[*yaml.Node]bool
	// redact holds secret values that must not appear in any message.
	redact []string
	// merges counts merge key expansions, to bound the work a file with
	// many nested merges can cause.
	merges int
	// disk turns on the checks that look at the file system (Load's).
	disk bool
}

// maxMerges bounds merge key expansions per file.
const maxMerges = 1000

// pair is one "key: value" entry of a mapping. val is as written (it may
// be an alias); use resolve to read through it.
type pair struct {
	key, val *yaml.Node
}

// line returns the line of the entry's key.
func (pr pair) line() int { return pr.key.Line }

// add records a problem at node n.
func (p *parser) add(n *yaml.Node, fix, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	p.addLine(line, fix, format, args...)
}

// addLine records a problem at a line.
func (p *parser) addLine(line int, fix, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...), Fix: fix})
}

// err returns the problems found, nil, a single *Error or Errors, with
// secret values removed from the text.
func (p *parser) err() error {
	if len(p.errs) == 0 {
		return nil
	}
	for _, e := range p.errs {
		for _, s := range p.redact {
			e.Msg = redact(e.Msg, s)
			e.Fix = redact(e.Fix, s)
		}
	}
	sortErrors(p.errs)
	if len(p.errs) == 1 {
		return p.errs[0]
	}
	return p.errs
}

// quote returns s quoted and shortened for a message. Secrets are taken
// out first, so that cutting a value cannot leave part of one.
func (p *parser) quote(s string) string { return quote(p.hide(s)) }

// clip returns s shortened for a message, unquoted, secrets taken out.
func (p *parser) clip(s string) string { return clip(p.hide(s)) }

// hide takes the secret values found so far out of s.
func (p *parser) hide(s string) string {
	for _, secret := range p.redact {
		s = redact(s, secret)
	}
	return s
}

func redact(text, secret string) string {
	text = strings.ReplaceAll(text, secret, "[redacted]")
	quoted := strconv.Quote(secret)
	return strings.ReplaceAll(text, quoted[1:len(quoted)-1], "[redacted]")
}

// maxAlias bounds how many aliases and merges are followed in a row, so a
// self-referencing anchor cannot loop.
const maxAlias = 16

// resolve follows aliases to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < maxAlias; i++ {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.AliasNode {
		return nil
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == 0 || n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// describe names the kind of a node for messages: "a list", "a string".
func describe(n *yaml.Node) string {
	n = resolve(n)
	switch {
	case isNull(n):
		return "empty"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	}
	switch n.Tag {
	case "!!str":
		return "a string"
	case "!!int", "!!float":
		return "a number"
	case "!!bool":
		return "true/false"
	}
	return "a " + clip(strings.TrimLeft(n.Tag, "!")) + " value"
}

// mapping returns the entries of a mapping node, with merge keys ("<<")
// expanded, after reporting duplicate and non-scalar keys. A null node is
// an empty mapping. what names the node in messages ("environments.dev");
// example shows what a correct value looks like. ok is false when the node
// is not a mapping.
func (p *parser) mapping(n *yaml.Node, what, example string) (pairs []pair, ok bool) {
	at := n
	n = resolve(n)
	if isNull(n) {
		return nil, true
	}
	if n.Kind != yaml.MappingNode {
		p.add(at, "write it as a mapping, for example "+example, "%s must be a mapping, not %s", orTop(what), describe(n))
		return nil, false
	}
	seen := map[string]*yaml.Node{}
	var merged []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		rk := resolve(k)
		if rk == nil || rk.Kind != yaml.ScalarNode || isNull(rk) {
			p.add(k, "use a plain name as the key", "%s has a key that is %s", orTop(what), describe(k))
			continue
		}
		if rk.Tag == "!!merge" {
			merged = append(merged, p.merge(v, what, 0)...)
			continue
		}
		if first, dup := seen[rk.Value]; dup {
			if !p.secrets[k] {
				p.add(k, "remove one of them", "%skey %s appears twice (first at line %d)", prefix(what), p.quote(rk.Value), first.Line)
			}
			continue
		}
		seen[rk.Value] = k
		pairs = append(pairs, pair{key: k, val: v})
	}
	// Explicit keys override merged ones; among merged mappings the first wins.
	for _, pr := range merged {
		name := resolve(pr.key).Value
		if _, dup := seen[name]; dup {
			continue
		}
		seen[name] = pr.key
		pairs = append(pairs, pr)
	}
	return pairs, true
}

// merge returns the entries a "<<" key brings in: a mapping or a list of
// mappings, usually aliases.
func (p *parser) merge(v *yaml.Node, what string, depth int) []pair {
	const fix = "merge a mapping (<<: *anchor) or a list of mappings (<<: [*a, *b])"
	p.merges++
	if p.merges == maxMerges {
		p.add(v, "merge fewer mappings", "%stoo many merge keys (more than %d expansions)", prefix(what), maxMerges)
	}
	if p.merges >= maxMerges {
		return nil
	}
	if depth > maxAlias {
		p.merges = maxMerges // report once, then stop expanding
		p.add(v, fix, "%smerge keys nest more than %d deep", prefix(what), maxAlias)
		return nil
	}
	r := resolve(v)
	if r == nil {
		p.add(v, fix, "%smerge key names an alias that cannot be resolved", prefix(what))
		return nil
	}
	switch r.Kind {
	case yaml.MappingNode:
		var out []pair
		var nested []pair
		seen := map[string]bool{}
		for i := 0; i+1 < len(r.Content); i += 2 {
			k := resolve(r.Content[i])
			if k == nil || k.Kind != yaml.ScalarNode || isNull(k) {
				continue // reported where the mapping is walked directly
			}
			if k.Tag == "!!merge" {
				nested = append(nested, p.merge(r.Content[i+1], what, depth+1)...)
				continue
			}
			if seen[k.Value] {
				continue
			}
			seen[k.Value] = true
			out = append(out, pair{key: r.Content[i], val: r.Content[i+1]})
		}
		for _, pr := range nested {
			if k := resolve(pr.key).Value; !seen[k] {
				seen[k] = true
				out = append(out, pr)
			}
		}
		return out
	case yaml.SequenceNode:
		if depth > 0 {
			p.add(v, fix, "%smerge key lists cannot nest", prefix(what))
			return nil
		}
		var out []pair
		seen := map[string]bool{}
		for _, item := range r.Content {
			if ri := resolve(item); ri == nil || ri.Kind != yaml.MappingNode {
				p.add(item, fix, "%smerge key list holds %s", prefix(what), describe(item))
				continue
			}
			for _, pr := range p.merge(item, what, depth+1) {
				if k := resolve(pr.key).Value; !seen[k] {
					seen[k] = true
					out = append(out, pr)
				}
			}
		}
		return out
	}
	p.add(v, fix, "%smerge key holds %s", prefix(what), describe(v))
	return nil
}

// fields reads a mapping with a fixed set of keys, reporting unknown ones
// with the nearest known key. It returns the known entries by key.
func (p *parser) fields(n *yaml.Node, what, example string, known []string) (map[string]pair, bool) {
	pairs, ok := p.mapping(n, what, example)
	out := make(map[string]pair, len(pairs))
	for _, pr := range pairs {
		name := resolve(pr.key).Value
		if contains(known, name) {
			out[name] = pr
			continue
		}
		if p.secrets[pr.key] {
			continue
		}
		fix := "allowed keys: " + strings.Join(known, ", ")
		if s := suggest(name, known); s != "" {
			fix = fmt.Sprintf("did you mean %s?", s)
		}
		p.add(pr.key, fix, "%sunknown key %s", prefix(what), p.quote(name))
	}
	return out, ok
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// str reads a scalar as the string written. ok is false when the entry is
// absent or null, or after reporting a value that is not a scalar.
func (p *parser) str(f map[string]pair, key, what string) (string, bool) {
	pr, present := f[key]
	if !present {
		return "", false
	}
	v := resolve(pr.val)
	if isNull(v) {
		return "", false
	}
	if v.Kind != yaml.ScalarNode {
		p.add(pr.val, "write a single value, for example "+key+": value", "%s must be a string, not %s", join(what, key), describe(v))
		return "", false
	}
	return v.Value, true
}

// integer reads an integer scalar.
func (p *parser) integer(f map[string]pair, key, what string) (int, bool) {
	pr, present := f[key]
	if !present {
		return 0, false
	}
	v := resolve(pr.val)
	if isNull(v) {
		return 0, false
	}
	fix := "write a whole number without quotes, for example " + key + ": 8080"
	if v.Kind != yaml.ScalarNode || v.Tag != "!!int" {
		p.add(pr.val, fix, "%s must be an integer, not %s", join(what, key), describe(v))
		return 0, false
	}
	i, err := strconv.ParseInt(v.Value, 0, 64)
	if err != nil {
		p.add(pr.val, fix, "%s must be an integer", join(what, key))
		return 0, false
	}
	if i < -1<<31 || i > 1<<31-1 {
		p.add(pr.val, fix, "%s is out of range", join(what, key))
		return 0, false
	}
	return int(i), true
}

// boolean reads a true/false scalar.
func (p *parser) boolean(f map[string]pair, key, what string) (bool, bool) {
	pr, present := f[key]
	if !present {
		return false, false
	}
	v := resolve(pr.val)
	if isNull(v) {
		return false, false
	}
	fix := "write " + key + ": true or " + key + ": false, without quotes"
	if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" {
		p.add(pr.val, fix, "%s must be true or false, not %s", join(what, key), describe(v))
		return false, false
	}
	b, err := strconv.ParseBool(v.Value)
	if err != nil {
		p.add(pr.val, fix, "%s must be true or false", join(what, key))
		return false, false
	}
	return b, true
}

// strings reads a list of scalars, returning each with its node.
func (p *parser) strList(f map[string]pair, key, what, example string) ([]string, []*yaml.Node, bool) {
	pr, present := f[key]
	if !present {
		return nil, nil, false
	}
	v := resolve(pr.val)
	if isNull(v) {
		return nil, nil, false
	}
	if v.Kind != yaml.SequenceNode {
		p.add(pr.val, "write a list, for example "+key+": "+example, "%s must be a list, not %s", join(what, key), describe(v))
		return nil, nil, false
	}
	var out []string
	var nodes []*yaml.Node
	for _, item := range v.Content {
		ri := resolve(item)
		if ri == nil || ri.Kind != yaml.ScalarNode || isNull(ri) {
			p.add(item, "write a list of names, for example "+key+": "+example, "%s holds %s", join(what, key), describe(item))
			continue
		}
		out = append(out, ri.Value)
		nodes = append(nodes, item)
	}
	return out, nodes, true
}

// stringMap reads a mapping of names to scalar values (an env block). Null
// values read as "".
func (p *parser) stringMap(f map[string]pair, key, what string) map[string]string {
	pr, present := f[key]
	if !present {
		return nil
	}
	where := join(what, key)
	pairs, ok := p.mapping(pr.val, where, "{NAME: value}")
	if !ok || len(pairs) == 0 {
		return nil
	}
	out := make(map[string]string, len(pairs))
	for _, kv := range pairs {
		name := resolve(kv.key).Value
		if !envName.MatchString(name) {
			p.add(kv.key, "use letters, digits and '_', not starting with a digit", "%s: %s is not a valid environment variable name", where, p.quote(name))
		}
		v := resolve(kv.val)
		switch {
		case isNull(v):
			out[name] = ""
		case v.Kind != yaml.ScalarNode:
			p.add(kv.val, "quote the value: "+p.clip(name)+": \"...\"", "%s must be a string, not %s", join(where, p.clip(name)), describe(v))
		default:
			out[name] = v.Value
		}
	}
	return out
}

// join names key inside what: "environments.dev" + "tier".
func join(what, key string) string {
	if what == "" {
		return key
	}
	return what + "." + key
}

// prefix returns "what: ", or "" at the top level.
func prefix(what string) string {
	if what == "" {
		return ""
	}
	return what + ": "
}

// orTop names what, or the top level.
func orTop(what string) string {
	if what == "" {
		return "the top level"
	}
	return what
}
