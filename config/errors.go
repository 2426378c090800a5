package config

import (
	"errors"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

// ErrInvalid is matched (errors.Is) by every *Error and Errors: the file
// cannot be a configuration (a directory, a FIFO or device, a file larger
// than MaxFileSize) or its content is not a valid one.
var ErrInvalid = errors.New("invalid configuration")

// ErrNotFound is wrapped by Load when the configuration file does not exist.
// errors.Is(err, fs.ErrNotExist) holds for it too.
var ErrNotFound error = sentinel{msg: "configuration file not found", is: fs.ErrNotExist}

// ErrExists is wrapped by WriteSample when the file exists and force is
// false. errors.Is(err, fs.ErrExist) holds for it too.
var ErrExists error = sentinel{msg: "configuration file already exists", is: fs.ErrExist}

// sentinel is an error value that also matches a standard library error.
type sentinel struct {
	msg string
	is  error
}

func (s sentinel) Error() string { return s.msg }

func (s sentinel) Is(target error) bool { return target == s.is }

// Error is one problem in a configuration file, at a line, with the fix.
// Its text reads "tier.yaml:12: what is wrong: how to fix it".
type Error struct {
	// File is the name the configuration was parsed under.
	File string
	// Line is the 1-based line of the problem; 0 when unknown.
	Line int
	// Msg says what is wrong.
	Msg string
	// Fix says what to do about it; may be empty.
	Fix string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	if e.Fix != "" {
		b.WriteString(": ")
		b.WriteString(e.Fix)
	}
	return b.String()
}

// Is reports whether target is ErrInvalid.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// Errors is every problem found in a configuration file, sorted by line.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Is reports whether target is ErrInvalid.
func (es Errors) Is(target error) bool { return target == ErrInvalid }

// Unwrap returns the individual errors, so errors.As finds an *Error.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// sortErrors orders errors by line, keeping the order of discovery within
// a line.
func sortErrors(es Errors) {
	sort.SliceStable(es, func(i, j int) bool { return es[i].Line < es[j].Line })
}
