package config

import (
	"errors"
	"fmt"
)

// ErrUsage is matched (errors.Is) by every *UsageError and *UnknownError.
var ErrUsage = errors.New("usage")

// UsageError is a request that cannot be run as given: a missing or
// conflicting flag, an argument of the wrong form. Front ends print it
// with a pointer to their help; tier exits 2.
type UsageError struct {
	Msg string
}

func (e *UsageError) Error() string { return e.Msg }

// Is reports whether target is ErrUsage.
func (e *UsageError) Is(target error) bool { return target == ErrUsage }

// Usagef returns a *UsageError with a formatted message.
func Usagef(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}

// UnknownError names a tier, service or environment the configuration does
// not have, and lists those it has.
type UnknownError struct {
	// Kind is "tier", "service" or "environment".
	Kind string
	Name string
	// Known lists the names the configuration has, in file order.
	Known []string
	// File is the configuration file, when known.
	File string
}

func (e *UnknownError) Error() string {
	msg := fmt.Sprintf("unknown %s %s: ", e.Kind, quote(e.Name))
	if len(e.Known) == 0 {
		msg += fmt.Sprintf("there are no %ss", e.Kind)
	} else {
		msg += fmt.Sprintf("the %ss are %s", e.Kind, listed(e.Known, ", "))
	}
	if e.File != "" {
		msg += fmt.Sprintf(" (in %s)", e.File)
	}
	return msg
}

// Is reports whether target is ErrUsage.
func (e *UnknownError) Is(target error) bool { return target == ErrUsage }

// LookupTier returns the named tier, or an *UnknownError listing the tiers.
func (c *Config) LookupTier(name string) (Tier, error) {
	if t, ok := c.Tier(name); ok {
		return t, nil
	}
	return Tier{}, &UnknownError{Kind: "tier", Name: name, Known: names(c.Tiers, func(t Tier) string { return t.Name }), File: c.Path}
}

// LookupService returns the named service, or an *UnknownError listing the
// services.
func (c *Config) LookupService(name string) (Service, error) {
	if s, ok := c.Service(name); ok {
		return s, nil
	}
	return Service{}, &UnknownError{Kind: "service", Name: name, Known: names(c.Services, func(s Service) string { return s.Name }), File: c.Path}
}

func names[T any](list []T, name func(T) string) []string {
	out := make([]string, len(list))
	for i, x := range list {
		out[i] = name(x)
	}
	return out
}
