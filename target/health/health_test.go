package health

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

func TestProbe(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
		case "/moved":
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		default:
			http.Error(w, "broken", http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	host, p, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	port, _ := strconv.Atoi(p)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	tests := []struct {
		name  string
		port  int
		check string
		want  string // "" for healthy
	}{
		{"http 200", port, "/healthz", ""},
		{"http 302 is healthy", port, "/moved", ""},
		{"http 500", port, "/broken", "answered 500 Internal Server Error"},
		{"tcp", port, "tcp", ""},
		{"empty means tcp", port, "", ""},
		{"tcp refused", closed, "tcp", "connecting to"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Probe(context.Background(), host, tc.port, tc.check)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Probe(%d, %q) = %v, want %q", tc.port, tc.check, err, tc.want)
			}
		})
	}
}
