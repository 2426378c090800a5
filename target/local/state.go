package local

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Statuses recorded in a state file.
const (
	statusRunning = "running"
	statusFailed  = "failed"
)

// state is what the target recorded for one service of one environment,
// in <Dir>/<env>/<service>.json. PID, StartTime, Digest and Commit describe
// the process that runs now (after a failed deploy: the restored previous
// build, or none).
type state struct {
	PID int `json:"pid,omitempty"`
	// StartTime is field 22 of /proc/<pid>/stat (clock ticks after boot):
	// a pid that now belongs to another process has another start time.
	StartTime uint64    `json:"start_time,omitempty"`
	Digest    string    `json:"digest,omitempty"`
	Commit    string    `json:"commit,omitempty"`
	Port      int       `json:"port"`
	StartedAt time.Time `json:"started_at,omitzero"`
	Argv      []string  `json:"argv,omitempty"`
	Log       string    `json:"log"`
	// Status is "running" after a deploy that passed its health check,
	// "failed" after one that did not.
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
	// FailedDigest is the digest whose deploy failed (status "failed").
	FailedDigest string `json:"failed,omitempty"`
	// Previous is the digest that ran before the last deploy.
	Previous string `json:"previous,omitempty"`
}

// readState returns the recorded state, or nil when there is none.
func readState(path string) (*state, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading state: %w", err)
	}
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("reading state %s: %w", path, err)
	}
	return &s, nil
}

// writeState replaces the state file atomically: a reader sees the old
// state or the new one, never a part.
func writeState(path string, s *state) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding state: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("writing state: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing state: %w", err)
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("writing state %s: %w", path, err)
	}
	return nil
}
