// Command tier promotes container images through environment tiers by
// moving registry tags, and shows what is deployed where.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/tierdeploy/tier/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
