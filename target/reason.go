package target

import "strings"

// JoinReasons joins the parts of an Observation's Reason that are not
// empty with "; ".
func JoinReasons(parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		if p == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p)
	}
	return b.String()
}
