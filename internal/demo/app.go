package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

// AppInfo is what the demo app says about itself.
type AppInfo struct {
	Version     string `json:"version"`
	Commit      string `json:"commit"`
	Environment string `json:"environment"`
	Tier        string `json:"tier"`
	Tenant      string `json:"tenant"`
	Digest      string `json:"digest"`
}

func appInfo() AppInfo {
	return AppInfo{
		Version:     os.Getenv("VERSION"),
		Commit:      os.Getenv("TIER_COMMIT"),
		Environment: os.Getenv("TIER_ENVIRONMENT"),
		Tier:        os.Getenv("TIER_TIER"),
		Tenant:      os.Getenv("TIER_TENANT"),
		Digest:      os.Getenv("TIER_DIGEST"),
	}
}

// App is the tiny web app the demo ships as images: it listens on
// 127.0.0.1:$PORT and shows its version, commit and environment, which the
// local target passes in. GET /healthz answers ok; GET /version answers
// JSON. It runs until ctx ends.
//
// Two variables make broken builds for tests and demos of failure:
// DEMO_APP_EXIT=N exits at once with status N; DEMO_APP_HEALTH=N answers
// /healthz with status N.
func App(ctx context.Context) error {
	if v := os.Getenv("DEMO_APP_EXIT"); v != "" {
		code, _ := strconv.Atoi(v)
		fmt.Fprintf(os.Stderr, "demo app: exiting with status %d as DEMO_APP_EXIT asks\n", code)
		os.Exit(code)
	}
	health := http.StatusOK
	if v, err := strconv.Atoi(os.Getenv("DEMO_APP_HEALTH")); err == nil {
		health = v
	}
	port := os.Getenv("PORT")
	if port == "" {
		return errors.New("PORT is not set: the demo app is started by tier's local target")
	}
	info := appInfo()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(health)
		fmt.Fprintln(w, http.StatusText(health))
	})
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(info)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><title>api %s</title><h1>api %s</h1><p>environment <b>%s</b> (tier %s, tenant %s)<br>commit %s<br>image %s</p>\n",
			html.EscapeString(info.Version), html.EscapeString(info.Version), html.EscapeString(info.Environment), html.EscapeString(info.Tier),
			html.EscapeString(info.Tenant), html.EscapeString(info.Commit), html.EscapeString(info.Digest))
	})
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Check asks the demo app on 127.0.0.1:$PORT for /healthz and fails unless
// it answers 200: the command of the demo images' Docker HEALTHCHECK
// ("tier demo-app --check"), since the images carry no curl.
func Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort("127.0.0.1", os.Getenv("PORT"))+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/healthz answered %s", resp.Status)
	}
	return nil
}
