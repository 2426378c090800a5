package config

import (
	"bytes"
	"fmt"
	"unicode/utf8"
)

// unreadable finds the first character YAML cannot read in data: a byte
// that is not UTF-8, or a character YAML does not allow (control
// characters other than tab and line breaks, U+FFFE, U+FFFF). It returns
// its byte offset, or -1, with what is wrong and the fix. The YAML
// library reports these without a line; this finds it. A file that starts
// with a UTF-16 byte order mark is left to the library, which reads UTF-16.
func unreadable(data []byte) (offset int, msg, fix string) {
	if bytes.HasPrefix(data, []byte("\xff\xfe")) || bytes.HasPrefix(data, []byte("\xfe\xff")) {
		return -1, "", ""
	}
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			return i, fmt.Sprintf("byte 0x%02X is not valid UTF-8", data[i]),
				"save the file as UTF-8 (a file written in another encoding can be converted, for example with iconv -f WINDOWS-1252 -t UTF-8), or remove the byte"
		case !yamlAllows(r):
			return i, fmt.Sprintf("character %U is not allowed in YAML", r),
				fmt.Sprintf(`remove it, or write it as an escape in a double-quoted string ("\u%04X")`, r)
		}
		i += size
	}
	return -1, "", ""
}

// yamlAllows reports whether YAML allows r in a file (YAML 1.2, 5.1).
func yamlAllows(r rune) bool {
	switch {
	case r == '\t', r == '\n', r == '\r', r == 0x85:
		return true
	case r >= 0x20 && r <= 0x7E:
		return true
	case r >= 0xA0 && r <= 0xD7FF, r >= 0xE000 && r <= 0xFFFD, r >= 0x10000 && r <= 0x10FFFF:
		return true
	}
	return false
}

// position returns the 1-based line and column (in characters) of the byte
// at offset in data, which is UTF-8 before it. Lines end as YAML ends them:
// at "\r\n", "\r", "\n", U+0085, U+2028 or U+2029.
func position(data []byte, offset int) (line, col int) {
	line, col = 1, 1
	i := 0
	if bytes.HasPrefix(data, []byte("\xef\xbb\xbf")) && offset >= 3 {
		i = 3 // a byte order mark is no character of the first line
	}
	for i < offset {
		r, size := utf8.DecodeRune(data[i:])
		switch r {
		case '\r':
			if i+1 < offset && data[i+1] == '\n' {
				size = 2
			}
			fallthrough
		case '\n', 0x85, 0x2028, 0x2029:
			line, col = line+1, 1
		default:
			col++
		}
		i += size
	}
	return line, col
}
