package registry

import "unicode/utf8"

// MaxEcho is the most bytes of a value that an error message of tier's
// registry, push and catalog packages repeats.
const MaxEcho = 128

// Clip returns s for an error message: whole when it is at most MaxEcho
// bytes long, else its first MaxEcho bytes (cut at a character boundary)
// followed by "…". Values that come from a user or a registry can be of any
// length; a message that repeats one stays readable.
func Clip(s string) string {
	if len(s) <= MaxEcho {
		return s
	}
	cut := MaxEcho
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
