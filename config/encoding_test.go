package config

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"unicode/utf16"

	"go.yaml.in/yaml/v3"
)

// Bytes YAML cannot read are reported at their own line, not line 1.
func TestUnreadableAtItsLine(t *testing.T) {
	valid := "services:\n  api: {repository: api}\ntiers:\n  - {name: dev, tag: dev}\n"
	tests := []struct {
		name, yaml string
		line       int
		text       string
	}{
		{"latin-1 in a comment", valid + "# caf\xe9\n", 5, "tier.yaml:5: byte 0xE9 is not valid UTF-8 (column 6): save the file as UTF-8"},
		{"latin-1 in a value", "services:\n  api: {repository: \"\xff\"}\ntiers: []\n", 2, "byte 0xFF is not valid UTF-8 (column 22)"},
		{"first line", "\xfeservices: {}\n", 1, "byte 0xFE is not valid UTF-8 (column 1)"},
		{"after multi-byte characters", "a: é\nb: ü\xc3\n", 2, "byte 0xC3 is not valid UTF-8 (column 5)"},
		{"truncated at the end", valid + "\xe2\x82", 5, "byte 0xE2 is not valid UTF-8 (column 1)"},
		{"surrogate", valid + "x: \xed\xa0\x80\n", 5, "byte 0xED is not valid UTF-8 (column 4)"},
		{"crlf lines", "a: 1\r\nb: 2\r\nc: \xff\r\n", 3, "(column 4)"},
		{"cr lines", "a: 1\rb: 2\rc: \xff\r", 3, "(column 4)"},
		{"next line and line separators", "a: 1\u0085b: 2\u2028c: 3\u2029d: \xff\n", 4, "(column 4)"},
		{"byte order mark", "\xef\xbb\xbfa: \xff\n", 1, "(column 4)"},
		{"control character", valid + "environments:\n  dev: {tier: dev, local: {port: 1, env: {A: \"x\x01\"}}}\n", 6, "character U+0001 is not allowed in YAML (column 48): remove it, or write it as an escape in a double-quoted string (\"\\u0001\")"},
		{"delete", valid + "\x7f\n", 5, "character U+007F is not allowed in YAML (column 1)"},
		{"noncharacter", valid + "# \uffff\n", 5, "character U+FFFF is not allowed in YAML (column 3)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("tier.yaml", []byte(tt.yaml))
			got := list(err)
			if len(got) != 1 || got[0].Line != tt.line || !strings.Contains(got[0].Error(), tt.text) {
				t.Errorf("Parse = %v, want one error at line %d containing %q", err, tt.line, tt.text)
			}
		})
	}
}

// A UTF-16 file (with its byte order mark) is read by the YAML library.
func TestUTF16IsRead(t *testing.T) {
	text := "services: {api: }\ntiers: [{name: dev, tag: dev}]\n"
	var b bytes.Buffer
	b.WriteString("\xff\xfe")
	for _, u := range utf16.Encode([]rune(text)) {
		binary.Write(&b, binary.LittleEndian, u)
	}
	if _, err := Parse("tier.yaml", b.Bytes()); err != nil {
		t.Errorf("Parse(UTF-16LE with BOM) = %v, want no error", err)
	}
}

// position counts lines as the YAML library does.
func TestPositionAgreesWithYAML(t *testing.T) {
	data := []byte("a: 1\r\nb: 2\rc: 3\u0085d: 4\u2028e: 5\u2029f: 6\n\n  # x\r\nzz: 7\n")
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	m := doc.Content[0]
	for i := 0; i < len(m.Content); i += 2 {
		k := m.Content[i]
		off := bytes.Index(data, []byte(k.Value+":"))
		if line, col := position(data, off); line != k.Line || col != k.Column {
			t.Errorf("position(%q) = line %d, column %d; the YAML library says %d, %d", k.Value, line, col, k.Line, k.Column)
		}
	}
}
