package embedded

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

const (
	lockFile = ".lock"
	infoFile = "serve.json"
)

// ErrLocked reports that another process owns the storage directory.
// Errors from [Serve] wrap it in a [*LockedError].
var ErrLocked = errors.New("embedded registry storage is locked")

// LockedError is returned when another process holds the lock on a storage
// directory. errors.Is(err, ErrLocked) is true for it.
type LockedError struct {
	// Dir is the storage directory.
	Dir string
	// Holder describes the owner, from its serve.json; nil when the file is
	// missing, unreadable or names a process that is no longer alive (the
	// owner is still starting).
	Holder *Info
}

func (e *LockedError) Error() string {
	if e.Holder == nil {
		return fmt.Sprintf("%v: %s is in use by another process: stop that process or use its address", ErrLocked, e.Dir)
	}
	return fmt.Sprintf("%v: %s is in use by pid %d (%s mode, serving %s): stop that process or use its address",
		ErrLocked, e.Dir, e.Holder.PID, e.Holder.Mode, e.Holder.Addr)
}

// Unwrap returns [ErrLocked].
func (e *LockedError) Unwrap() error { return ErrLocked }

// Info is the content of DIR/serve.json, written by the process that owns a
// storage directory.
type Info struct {
	// Addr is host:port that processes on this machine can dial.
	Addr string `json:"addr"`
	// PID is the owner's process id.
	PID int `json:"pid"`
	// Mode is [ModeServe] or [ModeSession].
	Mode string `json:"mode"`
	// Started is when the owner started listening, in UTC, whole seconds
	// (RFC 3339 in JSON).
	Started time.Time `json:"started"`
}

// lock takes the exclusive, non-blocking flock on dir/.lock. It returns a
// *LockedError when another open file description holds it (another
// process, or another Server in this process).
func lock(dir string) (*os.File, error) {
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening lock file: %w", err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err == nil {
		return f, nil
	}
	f.Close()
	if errors.Is(err, unix.EWOULDBLOCK) {
		le := &LockedError{Dir: dir}
		if info, err := readInfo(dir); err == nil && pidAlive(info.PID) {
			le.Holder = &info
		}
		return nil, le
	}
	return nil, fmt.Errorf("locking %s: %w", path, err)
}

// unlock releases the lock taken by lock. The file stays on disk.
func unlock(f *os.File) error {
	errUnlock := unix.Flock(int(f.Fd()), unix.LOCK_UN)
	if errUnlock != nil {
		errUnlock = fmt.Errorf("unlocking %s: %w", f.Name(), errUnlock)
	}
	return errors.Join(errUnlock, f.Close())
}

// readInfo reads dir/serve.json. It does not check that the owner is alive.
func readInfo(dir string) (Info, error) {
	var info Info
	b, err := os.ReadFile(filepath.Join(dir, infoFile))
	if err != nil {
		return info, err
	}
	if err := json.Unmarshal(b, &info); err != nil {
		return info, fmt.Errorf("parsing %s: %w", filepath.Join(dir, infoFile), err)
	}
	return info, nil
}

// writeInfo writes dir/serve.json atomically: readers see the old file, no
// file, or the whole new one.
func writeInfo(dir string, info Info) error {
	b, err := json.Marshal(info)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+infoFile+".*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", infoFile, err)
	}
	_, err = tmp.Write(append(b, '\n'))
	err = errors.Join(err, tmp.Chmod(0o644), tmp.Sync(), tmp.Close())
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, infoFile))
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing %s: %w", filepath.Join(dir, infoFile), err)
	}
	return nil
}

// pidAlive reports whether a process with this pid exists.
func pidAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}
