// Command calldex runs all of Calldex in one process: embedded NATS
// JetStream, the in-process index (or Redis with REDIS_URL), the HTTP API,
// the projector and the workflow worker. With no configuration it serves a
// demo tenant.
package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/calldex/calldex/services/internal/app"
)

func main() { app.Main("calldex", run) }

func run(ctx context.Context, log *slog.Logger) error {
	o, demo, err := app.FromEnv(log)
	if err != nil {
		return err
	}
	if demo {
		o.Ready = func(httpAddr, natsURL string) { fmt.Print(demoHelp(httpAddr, natsURL)) }
	}
	o.Worker = true
	return app.Run(ctx, o)
}

func demoHelp(addr, natsURL string) string {
	return fmt.Sprintf(`
Calldex is running with the demo tenant %[2]q (NATS for calldexctl: %[5]s).

  # peoplefone CONNECTOR lookup (current form)
  curl -s -X POST http://%[1]s/peoplefone/Lookup -H '%[3]s: %[4]s' -d '{"inputs":{"phoneNumber":"41215522000"}}'
  # first form
  curl -s 'http://%[1]s/peoplefone/Lookup?PhoneNumber=41446681800' -H '%[3]s: %[4]s'
  # While1 PBX webservice
  curl -s 'http://%[1]s/pbx/lookup?telephone=0215522000&dnid=0215550000&token=%[4]s'
  # log the call in the demo CRM (SQLite in the data directory)
  curl -s -X POST http://%[1]s/peoplefone/CallFlow -H '%[3]s: %[4]s' -d '{"inputs":{"contactCrmId":"c-1001","originatorNumber":"41215522000","destinationNumber":"41215550000","direction":"incoming","startedTime":"2026-01-05T10:00:00Z","answeredTime":"2026-01-05T10:00:05Z","endedTime":"2026-01-05T10:03:00Z"}}'
  # add a contact, then explain a lookup
  curl -s -X PUT http://%[1]s/admin/v1/tenants/demo/contacts/c-2001 -H 'Authorization: Bearer %[6]s' -d '{"name":"Zoë Keller","phones":[{"raw":"044 123 45 67"}]}'
  curl -s 'http://%[1]s/admin/v1/tenants/demo/lookup?number=%%2B41441234567' -H 'Authorization: Bearer %[6]s'

`, addr, app.DemoTenant, app.DemoExecuteHeader, app.DemoToken, natsURL, app.DemoAdminToken)
}
