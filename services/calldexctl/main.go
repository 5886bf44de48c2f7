// Command calldexctl is the developers' and operators' tool for when
// something went wrong: inspect streams and consumers, follow and replay
// events, redrive dead letters, rebuild the Redis index, import contacts,
// explain a lookup and check a configuration. See `calldexctl --help` and
// the README's "When things go wrong".
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/calldex/calldex/services/calldexctl/internal/ctl"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// The first Ctrl-C stops the command cleanly; a second one kills.
		<-ctx.Done()
		stop()
	}()
	code := ctl.Main(ctx, os.Args[1:], ctl.Stdio(), os.LookupEnv)
	stop()
	os.Exit(code)
}
