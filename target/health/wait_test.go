package health

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestWaitUntil(t *testing.T) {
	errExited := errors.New("exited with status 3")
	errStop := errors.New("interrupted")
	tests := []struct {
		name string
		w    Wait
		ctx  func() context.Context
		// check answers its n-th call (from 1).
		check func(ctx context.Context, n int) (bool, error)
		want  []string // fragments of the error; none for nil
		calls int      // checks expected, -1 for any number
	}{
		{"healthy on the third check", Wait{Timeout: time.Minute, Interval: time.Millisecond}, nil,
			func(_ context.Context, n int) (bool, error) {
				if n < 3 {
					return false, errors.New("connection refused")
				}
				return true, nil
			}, nil, 3},
		{"a final error ends the wait", Wait{Timeout: time.Minute, Interval: time.Millisecond}, nil,
			func(context.Context, int) (bool, error) { return true, errExited }, []string{"exited with status 3"}, 1},
		{"timed out with the last reason", Wait{Timeout: 20 * time.Millisecond, Interval: time.Millisecond}, nil,
			func(context.Context, int) (bool, error) { return false, errors.New("answered 500") },
			[]string{"health check timed out after 20ms: answered 500"}, -1},
		{"a check cut short by the deadline does not hide the one before", Wait{Timeout: 50 * time.Millisecond, Interval: time.Millisecond}, nil,
			func(ctx context.Context, n int) (bool, error) {
				if n == 1 {
					return false, errors.New("answered 500")
				}
				<-ctx.Done()
				return false, ctx.Err()
			}, []string{"health check timed out after 50ms: answered 500"}, -1},
		{"the caller's context ends the wait", Wait{What: "container api-next", Timeout: time.Minute, Interval: time.Millisecond},
			func() context.Context {
				ctx, cancel := context.WithCancelCause(context.Background())
				cancel(errStop)
				return ctx
			},
			func(context.Context, int) (bool, error) { return false, errors.New("starting") },
			[]string{"stopped waiting for container api-next to become healthy after ", "interrupted (last check: starting)"}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			if tc.ctx != nil {
				ctx = tc.ctx()
			}
			n := 0
			err := tc.w.Until(ctx, func(ctx context.Context) (bool, error) {
				n++
				return tc.check(ctx, n)
			})
			switch {
			case len(tc.want) == 0 && err != nil:
				t.Errorf("Until() = %v, want nil", err)
			case len(tc.want) > 0 && err == nil:
				t.Errorf("Until() = nil, want an error saying %q", tc.want)
			}
			for _, w := range tc.want {
				if err != nil && !strings.Contains(err.Error(), w) {
					t.Errorf("Until() = %q, want it to contain %q", err, w)
				}
			}
			if tc.calls >= 0 && n != tc.calls {
				t.Errorf("Until() checked %d times, want %d", n, tc.calls)
			}
		})
	}
	t.Run("errors keep their cause", func(t *testing.T) {
		err := Wait{Timeout: time.Minute, Interval: time.Millisecond}.Until(context.Background(), func(context.Context) (bool, error) { return true, errExited })
		if !errors.Is(err, errExited) {
			t.Errorf("Until() = %v, want the check's error", err)
		}
		ctx, cancel := context.WithCancelCause(context.Background())
		cancel(errStop)
		err = Wait{Timeout: time.Minute, Interval: time.Millisecond}.Until(ctx, func(context.Context) (bool, error) { return false, nil })
		if !errors.Is(err, errStop) {
			t.Errorf("Until() after the context ended = %v, want it to wrap the context's cause", err)
		}
	})
}

func TestWaitWakes(t *testing.T) {
	wake := make(chan struct{})
	// Without the wake-up the second check would come after an hour and
	// the wait would time out first.
	w := Wait{Timeout: 10 * time.Second, Interval: time.Hour, Wake: wake}
	n := 0
	err := w.Until(context.Background(), func(context.Context) (bool, error) {
		n++
		if n == 1 {
			close(wake)
			return false, errors.New("starting")
		}
		return true, errors.New("exited with status 3")
	})
	if err == nil || err.Error() != "exited with status 3" || n != 2 {
		t.Errorf("Until() = %v after %d checks, want the exit after 2", err, n)
	}
}
