package target

import "testing"

func TestJoinReasons(t *testing.T) {
	for _, tc := range []struct {
		parts []string
		want  string
	}{
		{nil, ""},
		{[]string{"", ""}, ""},
		{[]string{"a"}, "a"},
		{[]string{"", "b"}, "b"},
		{[]string{"a", ""}, "a"},
		{[]string{"a", "", "c"}, "a; c"},
	} {
		if got := JoinReasons(tc.parts...); got != tc.want {
			t.Errorf("JoinReasons(%q) = %q, want %q", tc.parts, got, tc.want)
		}
	}
}
