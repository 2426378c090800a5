package config

import (
	"path/filepath"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// accessKeyID matches an AWS access key ID (long-term AKIA, temporary ASIA).
var accessKeyID = regexp.MustCompile(`^(AKIA|ASIA)[A-Z0-9]{16}$`)

// secretWords are key names (or their last "_"-separated words) that hold a
// secret when given a literal value. Keys ending in _env, _file or _path
// name where a secret is, and are fine.
var secretWords = []string{
	"secret_access_key", "access_key_id", "session_token", "private_key",
	"client_secret", "access_token", "auth_token", "api_key", "apikey",
	"password", "passwd", "token", "secret", "credentials",
}

// secretFix tells what to write instead of a literal secret under key.
func secretFix(key string, inEnv bool) string {
	k := normKey(key)
	switch {
	case inEnv:
		return "remove it and give the secret to the process another way (its own environment or a secret store)"
	case strings.HasSuffix(k, "secret_access_key"):
		return "put the key in an environment variable and name it: secret_access_key_env: NAME_OF_ENV_VAR (with access_key_id_env), or use profile or role_arn"
	case strings.HasSuffix(k, "access_key_id"):
		return "put the key in an environment variable and name it: access_key_id_env: NAME_OF_ENV_VAR (with secret_access_key_env), or use profile or role_arn"
	case strings.HasSuffix(k, "session_token"):
		return "put the token in an environment variable and name it: session_token_env: NAME_OF_ENV_VAR, or use profile or role_arn"
	case strings.HasSuffix(k, "private_key"):
		return "put the key in a file and name the file (docker: tls_key: path/to/key.pem)"
	}
	return "name where the secret is instead: an AWS profile or role_arn, a kubeconfig context, or an environment variable (for example secret_access_key_env: NAME_OF_ENV_VAR)"
}

func normKey(key string) string {
	return strings.ReplaceAll(strings.ToLower(key), "-", "_")
}

// secretKey reports whether a key name looks like it holds a secret.
func secretKey(key string) bool {
	k := normKey(key)
	for _, suffix := range []string{"_env", "_file", "_path", "_arn", "_name", "_url"} {
		if strings.HasSuffix(k, suffix) {
			return false
		}
	}
	for _, w := range secretWords {
		if k == w || strings.HasSuffix(k, "_"+w) {
			return true
		}
	}
	return false
}

// secretValue reports what kind of secret a string is, or "".
func secretValue(s string) string {
	t := strings.TrimSpace(s)
	if accessKeyID.MatchString(t) {
		return "AWS access key ID"
	}
	if i := strings.Index(t, "-----BEGIN"); i >= 0 && strings.Contains(t[i:], "PRIVATE KEY-----") {
		return "private key"
	}
	return ""
}

// findSecrets reports every literal secret in the tree: keys that hold one
// and values that are one. It does not follow aliases, so every node is
// visited once.
func (p *parser) findSecrets(n *yaml.Node, parentKey string) {
	if n == nil {
		return
	}
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			p.findSecrets(c, parentKey)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind == yaml.ScalarNode && secretKey(k.Value) && holdsLiteral(v) {
				p.secrets[k] = true
				p.add(k, secretFix(k.Value, parentKey == "env"), "%s holds a literal secret; secrets are not allowed in %s", p.quote(k.Value), filepath.Base(p.file))
				if rv := resolve(v); rv.Kind == yaml.ScalarNode && len(rv.Value) >= 8 {
					p.redact = append(p.redact, rv.Value)
				}
			}
			p.findSecrets(k, parentKey)
			key := ""
			if k.Kind == yaml.ScalarNode {
				key = k.Value
			}
			p.findSecrets(v, key)
		}
	case yaml.ScalarNode:
		if p.secrets[n] {
			return
		}
		if kind := secretValue(n.Value); kind != "" {
			p.secrets[n] = true
			p.redact = append(p.redact, n.Value, strings.TrimSpace(n.Value))
			fix := "put it in an environment variable and name the variable (access_key_id_env: NAME_OF_ENV_VAR), or use profile or role_arn"
			if kind == "private key" {
				fix = "put it in a file and name the file (docker: tls_key: path/to/key.pem)"
			}
			p.add(n, fix, "a literal %s is not allowed in %s", kind, filepath.Base(p.file))
		}
	}
}

// holdsLiteral reports whether v is a value a secret could be written in:
// not a mapping, not empty.
func holdsLiteral(v *yaml.Node) bool {
	r := resolve(v)
	if r == nil || isNull(r) || r.Kind == yaml.MappingNode {
		return false
	}
	return r.Kind != yaml.ScalarNode || strings.TrimSpace(r.Value) != ""
}
