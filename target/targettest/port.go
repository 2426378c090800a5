package targettest

import (
	"net"
	"testing"
)

// FreePort returns a TCP port on 127.0.0.1 that nothing listened on a
// moment ago, for a build a target test starts.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
