package tags

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// ociTag is the distribution spec's tag grammar, the oracle for Validate.
var ociTag = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)

func TestValidate(t *testing.T) {
	tests := []struct {
		tag  string
		want string // "" when valid, else part of the message
	}{
		{"dev", ""},
		{"prod-20201112T103000Z", ""},
		{"_x", ""},
		{"v1.2.3", ""},
		{strings.Repeat("a", 128), ""},
		{"", "empty"},
		{strings.Repeat("a", 129), "at most 128"},
		{"prod-11/12/20-10:30", `contains '/'`},
		{"-dev", "starts with '-'"},
		{".dev", "starts with '.'"},
		{"dév", "contains"},
	}
	for _, tc := range tests {
		t.Run(tc.tag, func(t *testing.T) {
			err := Validate(tc.tag)
			if tc.want == "" {
				if err != nil {
					t.Errorf("Validate(%q) = %v, want nil", tc.tag, err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate(%q) = %v, want ErrInvalid containing %q", tc.tag, err, tc.want)
			}
		})
	}
}

func TestRelease(t *testing.T) {
	at := time.Date(2020, 11, 12, 10, 30, 0, 0, time.FixedZone("EST", -5*3600))
	tag := Release("prod", at)
	if tag != "prod-20201112T153000Z" {
		t.Errorf("Release(prod, %s) = %q, want prod-20201112T153000Z", at, tag)
	}
	got, ok := ParseRelease("prod", tag)
	if !ok || !got.Equal(at) {
		t.Errorf("ParseRelease(prod, %q) = %s, %v, want %s, true", tag, got, ok, at)
	}
	for _, tc := range []struct{ tier, tag string }{
		{"prod", "prod"},
		{"prod", "prod-"},
		{"prod", "production-20201112T103000Z"},
		{"prod", "mb-prod-20201112T103000Z"},
		{"prod", "prod-20201112T103000"},
		{"prod", "prod-20201312T103000Z"},
		{"pro", "prod-20201112T103000Z"},
	} {
		if _, ok := ParseRelease(tc.tier, tc.tag); ok {
			t.Errorf("ParseRelease(%q, %q) = true, want false", tc.tier, tc.tag)
		}
	}
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
	}{
		{"2020-11-12", time.Date(2020, 11, 12, 23, 59, 59, 0, time.UTC)},
		{"2020-11-12T10:30Z", time.Date(2020, 11, 12, 10, 30, 0, 0, time.UTC)},
		{"2020-11-12T10:30", time.Date(2020, 11, 12, 10, 30, 0, 0, time.UTC)},
		{"2020-11-12T10:30:15Z", time.Date(2020, 11, 12, 10, 30, 15, 0, time.UTC)},
		{"2020-11-12T10:30:00+01:00", time.Date(2020, 11, 12, 9, 30, 0, 0, time.UTC)},
		{"20201112T103000Z", time.Date(2020, 11, 12, 10, 30, 0, 0, time.UTC)},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseTime(tc.in)
			if err != nil || !got.Equal(tc.want) {
				t.Errorf("ParseTime(%q) = %s, %v, want %s", tc.in, got, err, tc.want)
			}
		})
	}
	for _, bad := range []string{"", "11/12/20-10:30", "yesterday", "2020-13-01"} {
		if _, err := ParseTime(bad); err == nil || !strings.Contains(err.Error(), "is not a time") {
			t.Errorf("ParseTime(%q) error = %v, want 'is not a time'", bad, err)
		}
	}
}

func TestCommit(t *testing.T) {
	full := "0123456789abcdef0123456789abcdef01234567"
	if !IsCommit(full) || IsCommit(full[:39]) || IsCommit(strings.ToUpper(full)) || !IsCommit(full+full[:24]) {
		t.Errorf("IsCommit misjudges 40/39/upper/64-digit hashes")
	}
	if !IsCommitPrefix("abcd") || IsCommitPrefix("abc") || IsCommitPrefix("abcg") {
		t.Errorf("IsCommitPrefix misjudges abcd/abc/abcg")
	}
}

func FuzzValidate(f *testing.F) {
	for _, s := range []string{"dev", "prod-20201112T103000Z", "prod-11/12/20-10:30", "", "-x", strings.Repeat("z", 129), "a\x00b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := Validate(s)
		if (err == nil) != ociTag.MatchString(s) {
			t.Fatalf("Validate(%q) = %v, but the OCI grammar says valid=%v", s, err, ociTag.MatchString(s))
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("Validate(%q) error %v does not wrap ErrInvalid", s, err)
		}
	})
}

func FuzzRelease(f *testing.F) {
	f.Add("prod", int64(1605177000), "prod-20201112T103000Z")
	f.Add("mb-prod", int64(0), "mb-prod-19700101T000000Z")
	f.Fuzz(func(t *testing.T, tier string, sec int64, tag string) {
		// Any tag parses or not without panicking; a parsed one rebuilds.
		if at, ok := ParseRelease(tier, tag); ok {
			if Release(tier, at) != tag {
				t.Fatalf("Release(%q, ParseRelease(%q)) = %q, want the tag back", tier, tag, Release(tier, at))
			}
		}
		if Validate(tier) != nil || len(tier) > MaxLen-17 {
			return
		}
		at := time.Unix(sec%(1<<33), 0).UTC() // years 1970..2242
		if at.Year() > 9999 || at.Year() < 0 {
			return
		}
		tag = Release(tier, at)
		if err := Validate(tag); err != nil {
			t.Fatalf("Release(%q, %s) = %q, not a valid tag: %v", tier, at, tag, err)
		}
		back, ok := ParseRelease(tier, tag)
		if !ok || !back.Equal(at) {
			t.Fatalf("ParseRelease(%q, %q) = %s, %v, want %s", tier, tag, back, ok, at)
		}
	})
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2020-11-12", "2020-11-12T10:30Z", "20201112T103000Z", "2020-11-12T10:30:00+01:00", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTime(s)
		if err != nil {
			return
		}
		if got.Location() != time.UTC {
			t.Fatalf("ParseTime(%q) = %s, not in UTC", s, got)
		}
	})
}

// Messages about a hostile value stay short: the value is cut.
func TestMessagesAreBounded(t *testing.T) {
	long := strings.Repeat("a", 2<<20)
	if err := Validate(long); err == nil || len(err.Error()) > 300 || !strings.Contains(err.Error(), "2097152 characters long") {
		t.Errorf("Validate(2 MB tag) = %d bytes of error, want a short one naming the length", len(fmt.Sprint(err)))
	}
	if _, err := ParseTime(long); err == nil || len(err.Error()) > 300 {
		t.Errorf("ParseTime(2 MB) = %d bytes of error, want a short one", len(fmt.Sprint(err)))
	}
}
