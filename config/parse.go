package config

import (
	"cmp"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/tierdeploy/tier/tags"
)

// Keys allowed in each block, in the order they are listed in messages.
var (
	topKeys     = []string{"registry", "state_dir", "services", "tiers", "environments"}
	serviceKeys = []string{"repository"}
	tierKeys    = []string{"name", "tag", "release", "from"}
	envKeys     = []string{"tier", "tenant", "services", "local", "docker", "swarm", "ecs", "kubernetes"}
	targetKinds = []string{"local", "docker", "swarm", "ecs", "kubernetes"}
)

// DefaultTenant is the tenant of an environment that names none.
const DefaultTenant = "default"

const nameFix = "use letters, digits, '.', '_' and '-', starting with a letter or digit"

// config walks the top-level mapping.
func (p *parser) config(root *yaml.Node) *Config {
	c := &Config{StateDir: DefaultStateDir}
	r := resolve(root)
	if isNull(r) {
		line := 1
		if r != nil && r.Line > 0 {
			line = r.Line
		}
		p.addLine(line, "run `tier init` to write a commented sample, or add services and tiers", "the configuration is empty")
		return c
	}
	f, ok := p.fields(root, "", "services: {api: {repository: api}}", topKeys)
	if !ok {
		return c
	}
	if s, ok := p.str(f, "registry", ""); ok && p.registry(f["registry"].val, s) {
		c.Registry = s
	}
	if s, ok := p.str(f, "state_dir", ""); ok {
		if s == "" {
			p.add(f["state_dir"].val, "omit state_dir to use "+DefaultStateDir+", or name a directory", "state_dir is empty")
		} else {
			c.StateDir = s
			p.stateDir(s, f["state_dir"].val)
		}
	} else if pr, given := f["state_dir"]; !given || isNull(resolve(pr.val)) {
		p.stateDir("", pr.val)
	}
	c.Services = p.services(f, r.Line)
	c.Tiers = p.tiers(f, r.Line)
	c.Environments = p.environments(f, c)
	return c
}

// registry checks the registry address s, written at n, and reports
// whether it is valid. Credentials in it are reported and never shown.
func (p *parser) registry(n *yaml.Node, s string) bool {
	if s == "" {
		p.add(n, "omit registry to use the embedded registry, or write HOST[:PORT][/PATH]", "registry is empty")
		return false
	}
	if creds, rest, ok := registryCredentials(s); ok {
		secret := creds
		if _, password, ok := strings.Cut(creds, ":"); ok {
			secret = password
		}
		if creds != "" {
			p.redact = append(p.redact, creds+"@")
		}
		if len(secret) >= 8 {
			p.redact = append(p.redact, secret)
		}
		addr, host := "HOST[:PORT][/PATH]", "HOST"
		if rest != "" && checkRegistry(rest, p.quote) == "" {
			addr = p.clip(rest)
			host, _, _ = strings.Cut(addr, "/")
		}
		p.add(n, "write only the address (registry: "+addr+") and log in with `docker login "+host+"` or a Docker credential helper (see docs/registry.md)",
			"registry holds credentials (the part before '@'), which do not belong in the registry address")
		return false
	}
	if scheme, rest, ok := strings.Cut(s, "://"); ok {
		p.add(n, "drop the scheme: registry: "+p.clip(rest), "registry %s starts with a scheme (%s://)", p.quote(s), p.clip(scheme))
		return false
	}
	if why := checkRegistry(s, p.quote); why != "" {
		p.add(n, registryForm, "registry %s %s", p.quote(s), why)
		return false
	}
	return true
}

// services reads the services block.
func (p *parser) services(f map[string]pair, rootLine int) []Service {
	const example = "services: {api: {repository: api}}"
	pr, present := f["services"]
	if !present {
		p.addLine(rootLine, "add a services block, for example "+example, "no services are defined")
		return nil
	}
	pairs, ok := p.mapping(pr.val, "services", "{api: {repository: api}}")
	if !ok {
		return nil
	}
	if len(pairs) == 0 {
		p.add(pr.key, "list at least one service, for example "+example, "no services are defined")
		return nil
	}
	var out []Service
	repos := map[string]Service{}
	for _, sp := range pairs {
		name := resolve(sp.key).Value
		what := "services." + p.pathName(name)
		if !nameRE.MatchString(name) {
			p.add(sp.key, nameFix, "service name %s is not valid", p.quote(name))
		}
		sf, _ := p.fields(sp.val, what, "{repository: "+p.clip(name)+"}", serviceKeys)
		s := Service{Name: name, Repository: name, Line: sp.line()}
		repo, given := p.str(sf, "repository", what)
		at := sp.key
		if given {
			s.Repository, at = repo, sf["repository"].val
		}
		const repoFix = "use lowercase letters and digits, separated by '.', '_', '__' or '-', with '/' between path components (for example team/api)"
		if why := checkRepository(s.Repository, p.quote); why != "" {
			if given {
				p.add(at, repoFix, "service %s: repository %s is not a valid repository name: %s", p.quote(name), p.quote(s.Repository), why)
			} else {
				p.add(at, "add repository: NAME; "+repoFix, "service %s: the service name is used as the repository but is not a valid repository name: %s", p.quote(name), why)
			}
		} else if other, dup := repos[s.Repository]; dup {
			p.add(at, "give each service its own repository", "service %s uses repository %s, which service %s (line %d) already uses", p.quote(name), p.quote(s.Repository), p.quote(other.Name), other.Line)
		} else {
			repos[s.Repository] = s
		}
		out = append(out, s)
	}
	return out
}

// tiers reads the tiers list and checks each from.
func (p *parser) tiers(f map[string]pair, rootLine int) []Tier {
	const example = "tiers: [{name: dev, tag: dev}, {name: prod, release: true, from: dev}]"
	pr, present := f["tiers"]
	if !present {
		p.addLine(rootLine, "add a tiers list, for example "+example, "no tiers are defined")
		return nil
	}
	seq := resolve(pr.val)
	if isNull(seq) {
		p.add(pr.key, "list at least one tier, for example "+example, "no tiers are defined")
		return nil
	}
	if seq.Kind != yaml.SequenceNode {
		p.add(pr.val, "write tiers as a list, lowest first: "+example, "tiers must be a list, not %s", describe(seq))
		return nil
	}
	if len(seq.Content) == 0 {
		p.add(pr.key, "list at least one tier, for example "+example, "no tiers are defined")
		return nil
	}
	var out []Tier
	type tierAt struct {
		tier              Tier
		nameNode, tagNode *yaml.Node
		from              *yaml.Node
	}
	var list []tierAt
	names := map[string]int{}
	tagsSeen := map[string]Tier{}
	for i, item := range seq.Content {
		what := fmt.Sprintf("tiers[%d]", i)
		tf, ok := p.fields(item, what, "{name: dev, tag: dev}", tierKeys)
		if !ok {
			continue
		}
		t := Tier{Line: item.Line}
		ta := tierAt{}
		name, hasName := p.str(tf, "name", what)
		switch {
		case !hasName:
			p.add(item, "add name: NAME", "%s has no name", what)
		case tags.Validate(name) != nil:
			p.add(tf["name"].val, "use letters, digits, '.', '_' and '-', starting with a letter, digit or '_', at most 128 characters: the name prefixes release tags", "tier name %s is not a valid tag", p.quote(name))
		default:
			if first, dup := names[name]; dup {
				p.add(tf["name"].val, "give each tier its own name", "tier %s is defined twice (first at line %d)", p.quote(name), first)
			} else {
				names[name] = t.Line
			}
			t.Name, ta.nameNode = name, tf["name"].val
		}
		label := what
		if t.Name != "" {
			label = "tier " + p.quote(t.Name)
		}
		tag, hasTag := p.str(tf, "tag", what)
		release, _ := p.boolean(tf, "release", what)
		switch {
		case hasTag && release:
			p.add(tf["tag"].key, "remove tag to cut a new <name>-<UTC time> tag per promotion, or remove release: true to move one mutable tag", "%s has both tag and release: true", label)
		case !hasTag && !release:
			p.add(item, fmt.Sprintf("add tag: %s for a mutable tier, or release: true for timestamped release tags", cmp.Or(p.clip(t.Name), "NAME")), "%s has neither tag nor release: true", label)
		case release:
			t.Release = true
			if t.Name != "" && len(t.Name)+1+len(tags.ReleaseLayout) > tags.MaxLen {
				p.add(ta.nameNode, fmt.Sprintf("shorten the name to at most %d characters", tags.MaxLen-1-len(tags.ReleaseLayout)), "release tier name %s is too long: its release tags %s-<UTC time> would exceed %d characters", p.quote(t.Name), p.clip(t.Name), tags.MaxLen)
			}
		default:
			at := tf["tag"].val
			switch {
			case tags.Validate(tag) != nil:
				p.add(at, "use letters, digits, '.', '_' and '-', starting with a letter, digit or '_', at most 128 characters", "%s: tag %s is not a valid OCI tag", label, p.quote(tag))
			case tags.IsCommit(tag):
				p.add(at, "choose a name such as "+cmp.Or(p.clip(t.Name), "dev")+"; builds are tagged with their commit hash", "%s: tag %s looks like a commit hash", label, p.quote(tag))
			default:
				if other, dup := tagsSeen[tag]; dup {
					p.add(at, "give each tier its own tag", "%s: tag %s is already the tag of tier %s (line %d)", label, p.quote(tag), p.quote(other.Name), other.Line)
				} else {
					tagsSeen[tag] = t
				}
				t.Tag, ta.tagNode = tag, at
			}
		}
		if from, ok := p.str(tf, "from", what); ok {
			t.From, ta.from = from, tf["from"].val
		}
		ta.tier = t
		list = append(list, ta)
	}
	index := map[string]int{}
	for i, ta := range list {
		if _, dup := index[ta.tier.Name]; !dup && ta.tier.Name != "" {
			index[ta.tier.Name] = i
		}
	}
	for i, ta := range list {
		t := ta.tier
		label := "tier " + p.quote(t.Name)
		if t.Name == "" {
			label = fmt.Sprintf("tiers[%d]", i)
		}
		if ta.from != nil {
			j, known := index[t.From]
			switch {
			case t.From == t.Name:
				p.add(ta.from, "name a lower tier, or remove from", "%s cannot take builds from itself", label)
				t.From = ""
			case !known:
				var lower []string
				for _, o := range list[:i] {
					if o.tier.Name != "" {
						lower = append(lower, o.tier.Name)
					}
				}
				p.add(ta.from, p.oneOf("use", lower, "a lower tier", "remove from"), "%s takes builds from %s, which is not a tier", label, p.quote(t.From))
				t.From = ""
			case j > i:
				p.add(ta.from, fmt.Sprintf("from must name a tier listed above %s: move %s above it, or change from", p.clip(t.Name), p.clip(t.From)), "%s takes builds from %s, which is not a lower tier", label, p.quote(t.From))
				t.From = ""
			}
		}
		if t.Tag != "" {
			for _, o := range list {
				if o.tier.Release && o.tier.Name != "" {
					if _, ok := tags.ParseRelease(o.tier.Name, t.Tag); ok {
						p.add(ta.tagNode, "choose a tag that is not "+p.clip(o.tier.Name)+"-<UTC time>", "%s: tag %s looks like a release tag of tier %s", label, p.quote(t.Tag), p.quote(o.tier.Name))
					}
				}
			}
		}
		out = append(out, t)
	}
	return out
}

// environments reads the environments block; c holds the services and
// tiers already read.
func (p *parser) environments(f map[string]pair, c *Config) []Environment {
	pr, present := f["environments"]
	if !present {
		return nil
	}
	pairs, ok := p.mapping(pr.val, "environments", "{dev: {tier: dev, local: {port: 8081}}}")
	if !ok {
		return nil
	}
	var tierNames, serviceNames []string
	for _, t := range c.Tiers {
		if t.Name != "" {
			tierNames = append(tierNames, t.Name)
		}
	}
	for _, s := range c.Services {
		serviceNames = append(serviceNames, s.Name)
	}
	ports := map[int]string{}
	var out []Environment
	for _, ep := range pairs {
		name := resolve(ep.key).Value
		what := "environments." + p.pathName(name)
		if !nameRE.MatchString(name) {
			p.add(ep.key, nameFix, "environment name %s is not valid", p.quote(name))
		}
		ef, ok := p.fields(ep.val, what, "{tier: dev, local: {port: 8081}}", envKeys)
		if !ok {
			continue
		}
		e := Environment{Name: name, Tenant: DefaultTenant, Line: ep.line()}
		var tier *Tier
		t, ok := p.str(ef, "tier", what)
		switch tp, present := ef["tier"]; {
		case !present || isNull(resolve(tp.val)) || ok && t == "":
			p.add(ep.key, p.oneOf("add tier: NAME, using", tierNames, "a tier from the tiers list", ""), "environment %s has no tier", p.quote(name))
		case !ok:
			// Not a string: reported by str.
		default:
			if known, found := c.Tier(t); found {
				e.Tier, tier = t, &known
			} else {
				p.add(tp.val, p.oneOf("use", tierNames, "a tier from the tiers list", ""), "environment %s names tier %s, which does not exist", p.quote(name), p.quote(t))
			}
		}
		if t, ok := p.str(ef, "tenant", what); ok {
			if !nameRE.MatchString(t) {
				p.add(ef["tenant"].val, nameFix+", or omit tenant for "+DefaultTenant, "environment %s: tenant %s is not a valid name", p.quote(name), p.quote(t))
			} else {
				e.Tenant = t
			}
		}
		if list, nodes, ok := p.strList(ef, "services", what, "[api]"); ok {
			if len(list) == 0 && len(resolve(ef["services"].val).Content) == 0 {
				p.add(ef["services"].val, "omit services to deploy every service, or list some", "environment %s lists no services", p.quote(name))
			}
			seen := map[string]bool{}
			for i, s := range list {
				switch {
				case seen[s]:
					p.add(nodes[i], "list each service once", "environment %s lists service %s twice", p.quote(name), p.quote(s))
				case !contains(serviceNames, s):
					p.add(nodes[i], p.oneOf("use", serviceNames, "a service from the services block", ""), "environment %s lists service %s, which is not defined", p.quote(name), p.quote(s))
				default:
					e.Services = append(e.Services, s)
				}
				seen[s] = true
			}
		}
		e.Target = p.target(ef, ep, what, tier, ports)
		// A local process has one port, a container one name: one service.
		if k := e.Target.Kind(); (k == "local" || k == "docker") && len(c.Services) > 1 && len(e.Services) != 1 {
			p.add(ef[k].key, "add services: [NAME] to run one service here, and another environment for each other service",
				"environment %s runs %d services on one %s target, which runs one (one port, one container name)", p.quote(name), max(len(e.Services), len(c.Services)), k)
		}
		out = append(out, e)
	}
	return out
}

// target reads the one target block of an environment.
func (p *parser) target(ef map[string]pair, ep pair, what string, tier *Tier, ports map[int]string) Target {
	name := resolve(ep.key).Value
	var given []pair
	for _, k := range targetKinds {
		if pr, ok := ef[k]; ok {
			given = append(given, pr)
		}
	}
	// Report in the order they are written.
	for i := 1; i < len(given); i++ {
		for j := i; j > 0 && given[j].line() < given[j-1].line(); j-- {
			given[j], given[j-1] = given[j-1], given[j]
		}
	}
	switch len(given) {
	case 0:
		p.add(ep.key, "add exactly one of local, docker, swarm, ecs or kubernetes, for example local: {port: 8081}", "environment %s has no target", p.quote(name))
	case 1:
	default:
		var kinds []string
		for _, g := range given {
			kinds = append(kinds, fmt.Sprintf("%s (line %d)", resolve(g.key).Value, g.line()))
		}
		p.add(given[1].key, "keep exactly one; to run in another place, add another environment", "environment %s has %d targets: %s", p.quote(name), len(given), strings.Join(kinds, ", "))
	}
	var t Target
	for _, g := range given {
		kind := resolve(g.key).Value
		where := join(what, kind)
		switch kind {
		case "local":
			t.Local = p.local(g, where, name, ports)
		case "docker":
			t.Docker = p.docker(g, where)
		case "swarm":
			t.Swarm = p.swarm(g, where)
		case "ecs":
			t.ECS = p.ecs(g, where, tier)
		case "kubernetes":
			t.Kubernetes = p.kubernetes(g, where)
		}
	}
	if len(given) != 1 {
		return Target{}
	}
	return t
}

// oneOf builds a fix naming the allowed values: "use one of: a, b".
func (p *parser) oneOf(verb string, names []string, otherwise, orElse string) string {
	var s string
	switch len(names) {
	case 0:
		s = verb + " " + otherwise
	case 1:
		s = verb + " " + p.clip(names[0])
	default:
		hidden := make([]string, len(names))
		for i, n := range names {
			hidden[i] = p.hide(n)
		}
		s = verb + " one of: " + listed(hidden, ", ")
	}
	if orElse != "" {
		s += ", or " + orElse
	}
	return s
}

// pathName returns a name for a dotted path in messages, quoted unless it
// is a plain name, and shortened.
func (p *parser) pathName(name string) string {
	if nameRE.MatchString(name) {
		return p.clip(name)
	}
	return p.quote(name)
}
