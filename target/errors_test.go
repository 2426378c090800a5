package target

import (
	"errors"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestDeployErrorMessage(t *testing.T) {
	h := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("d", 64)}
	prev := "sha256:" + strings.Repeat("e", 64)
	// As the docker target fills it in.
	container := func(de DeployError) *DeployError {
		de.Environment, de.Service, de.Digest = "dev", "api", h
		de.PreviousName, de.RestoreVerb, de.LogSource = "the previous container api", "restarting", "container api-next"
		return &de
	}
	for _, tc := range []struct {
		name string
		err  *DeployError
		want []string
	}{
		{"restored", container(DeployError{Reason: "container api-next exited with code 3", ExitCode: 3, Previous: prev, Restored: prev, Log: []string{"boom"}}),
			[]string{"deploying api sha256:dddddddddddd to dev: container api-next exited with code 3", "restored the previous container api (sha256:eeeeeeeeeeee)", "last lines of container api-next:\n  boom"}},
		{"restore failed", container(DeployError{Reason: "r", Previous: prev, RestoreErr: errors.New("port taken")}),
			[]string{"restarting the previous container api (sha256:eeeeeeeeeeee) failed too: port taken"}},
		{"nothing before", container(DeployError{Reason: "r"}),
			[]string{"deploying api sha256:dddddddddddd to dev: r; nothing ran before, so nothing runs now"}},
		{"a build not restored, named by default", &DeployError{Environment: "dev", Service: "api", Digest: h, Reason: "exited with status 3", Previous: prev, RestoreErr: errors.New("port taken")},
			[]string{"; restoring the previous build (sha256:eeeeeeeeeeee) failed too: port taken"}},
		{"a build restored, named by default", &DeployError{Environment: "dev", Service: "api", Digest: h, Reason: "exited with status 3", Previous: prev, Restored: prev,
			Log: []string{"crashing"}, LogSource: "/state/logs/dev/api.log"},
			[]string{"deploying api sha256:dddddddddddd to dev: exited with status 3", "restored the previous build (sha256:eeeeeeeeeeee)", "last lines of /state/logs/dev/api.log:\n  crashing"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := tc.err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("DeployError.Error() = %q, want it to contain %q", msg, w)
				}
			}
		})
	}
}
