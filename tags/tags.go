// Package tags validates OCI tags and builds and parses the tags tier uses:
// commit tags, mutable tier tags and timestamped release tags.
package tags

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrInvalid is wrapped by every validation error of this package.
var ErrInvalid = errors.New("invalid tag")

// MaxLen is the longest tag the OCI distribution spec allows.
const MaxLen = 128

// ReleaseLayout is the UTC timestamp format of release tags: ISO 8601 basic
// format, which sorts by time and is a valid tag everywhere.
const ReleaseLayout = "20060102T150405Z"

// Validate reports whether tag matches [A-Za-z0-9_][A-Za-z0-9._-]{0,127}.
func Validate(tag string) error {
	if tag == "" {
		return fmt.Errorf("%w: the tag is empty", ErrInvalid)
	}
	if len(tag) > MaxLen {
		return fmt.Errorf("%w: %q is %d characters long; a tag has at most %d", ErrInvalid, tag[:32]+"...", len(tag), MaxLen)
	}
	for i := 0; i < len(tag); i++ {
		c := tag[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
		if i > 0 {
			ok = ok || c == '.' || c == '-'
		}
		if !ok {
			if i == 0 && (c == '.' || c == '-') {
				return fmt.Errorf("%w: %q starts with %q; a tag starts with a letter, digit or '_'", ErrInvalid, tag, c)
			}
			return fmt.Errorf("%w: %q contains %q; use letters, digits, '.', '_' and '-'", ErrInvalid, tag, c)
		}
	}
	return nil
}

// IsCommit reports whether s is a full git commit hash: 40 (SHA-1) or 64
// (SHA-256) lower-case hex digits.
func IsCommit(s string) bool {
	return (len(s) == 40 || len(s) == 64) && isHex(s)
}

// IsCommitPrefix reports whether s could abbreviate a commit hash: 4 to 64
// lower-case hex digits.
func IsCommitPrefix(s string) bool {
	return len(s) >= 4 && len(s) <= 64 && isHex(s)
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Release returns the release tag of tier cut at t: "<tier>-<UTC time>".
func Release(tier string, t time.Time) string {
	return tier + "-" + t.UTC().Format(ReleaseLayout)
}

// ParseRelease reports whether tag is a release tag of tier and, if so, the
// time it was cut.
func ParseRelease(tier, tag string) (time.Time, bool) {
	rest, ok := strings.CutPrefix(tag, tier+"-")
	if !ok || len(rest) != len(ReleaseLayout) {
		return time.Time{}, false
	}
	t, err := time.Parse(ReleaseLayout, rest)
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

// ParseTime reads a point in time given on the command line, in UTC unless
// it carries an offset. A bare date means the end of that day (its last
// second), so "--to 2020-11-12" picks what was live at the close of the 12th.
// Accepted: 2020-11-12, 2020-11-12T10:30, 2020-11-12T10:30Z,
// 2020-11-12T10:30:00Z, RFC 3339 with offset, and 20201112T103000Z.
func ParseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t.Add(24*time.Hour - time.Second), nil
	}
	layouts := []string{
		time.RFC3339,
		"2006-01-02T15:04Z07:00",
		"2006-01-02T15:04:05",
		"2006-01-02T15:04",
		"2006-01-02 15:04:05",
		"2006-01-02 15:04",
		ReleaseLayout,
	}
	for _, l := range layouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return time.Time{}, fmt.Errorf("%q is not a time: use a date (2020-11-12, the end of that day UTC) or a UTC time (2020-11-12T10:30Z)", s)
}
