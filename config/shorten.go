package config

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxShown is the most characters of one value a message repeats. A
// longer value is cut, and the message says how long it was.
const maxShown = 64

// maxListed is the most names a message lists; the rest are counted.
const maxListed = 32

// shorten cuts s to maxShown characters. It returns what is kept and,
// when it cut, what to write after it: "... (2000000 characters)". Every
// value a message of this package repeats goes through it, so a message
// stays short whatever the file holds.
func shorten(s string) (kept, more string) {
	n := 0
	for i := range s {
		if n == maxShown {
			return s[:i], fmt.Sprintf("... (%d characters)", n+utf8.RuneCountInString(s[i:]))
		}
		n++
	}
	return s, ""
}

// quote returns s as %q writes it, shortened: "abc" or "abc"... (N characters).
func quote(s string) string {
	kept, more := shorten(s)
	return strconv.Quote(kept) + more
}

// clip returns s shortened, unquoted: for names in lists and paths.
func clip(s string) string {
	kept, more := shorten(s)
	return kept + more
}

// listed joins names with sep, each shortened, at most maxListed of them:
// "a, b, c" or "a, b, ... and 12 more".
func listed(names []string, sep string) string {
	shown := make([]string, 0, min(len(names), maxListed))
	for i, n := range names {
		if i == maxListed {
			break
		}
		shown = append(shown, clip(n))
	}
	s := strings.Join(shown, sep)
	if len(names) > maxListed {
		s += fmt.Sprintf("%s... and %d more", sep, len(names)-maxListed)
	}
	return s
}
