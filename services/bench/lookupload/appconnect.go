package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/calldex/calldex/services/internal/appconnect"
	"github.com/calldex/calldex/services/internal/ingress"
	"github.com/calldex/calldex/shared/natsx"
	"github.com/calldex/calldex/workflows/dispatch"
)

// appConnectSecret signs the bench's App Connect sessions.
const appConnectSecret = "calldex-bench-app-connect-secret-0123456789"

// appConnect builds the App Connect handler as services/internal/app does
// (appConnect in wire.go), on the ingress deps d: the bench tenant has no
// appConnect section (zero TenantOptions), there is no live CRM (nil
// Connectors), and the dispatcher has no worker behind it (GET /contact
// submits no workflow).
func appConnect(ctx context.Context, js jetstream.JetStream, d ingress.Deps) (http.Handler, error) {
	cfg := appconnect.Config{Secret: appConnectSecret}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	buckets, err := natsx.EnsureBuckets(ctx, js, d.Topology)
	if err != nil {
		return nil, err
	}
	revocations, callLogs, err := appconnect.KVStores(ctx, js, d.Topology, cfg.TokenTTL)
	if err != nil {
		return nil, err
	}
	return appconnect.New(cfg, appconnect.Deps{
		Tenants: d.Tenants, Lookup: d.Lookup, Names: d.Index, Contacts: d.Contacts, Projection: d.Projection,
		Workflows: dispatch.New(js, buckets.WorkflowResults, d.Topology), ErrUnavailable: dispatch.ErrUnavailable, ErrNotFound: dispatch.ErrNotFound,
		Revocations: revocations, CallLogs: callLogs,
		Metrics: d.Metrics, Events: d.Events, Topology: &d.Topology, Log: d.Log,
	})
}

// appConnectLogin exchanges the bench tenant's credential for a session
// token, as App Connect does once per user.
func appConnectLogin(base string) (string, error) {
	body, _ := json.Marshal(map[string]string{"platform": appconnect.DefaultPlatform, "apiKey": "bench-token"})
	resp, err := http.Post(base+appconnect.Prefix+"/apiKeyLogin", "application/json", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var r struct {
		JWTToken string `json:"jwtToken"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || resp.StatusCode != http.StatusOK || r.JWTToken == "" {
		return "", fmt.Errorf("app connect login: status %d, decode error %v", resp.StatusCode, err)
	}
	return r.JWTToken, nil
}

// contactRequests are App Connect's ringing lookups, GET /contact, of the
// numbers lookupBody asks for, in E.164 with "+".
func contactRequests(base, jwt string, contacts int) func(n uint64) *http.Request {
	prefix := base + appconnect.Prefix + "/contact?phoneNumber="
	return func(n uint64) *http.Request {
		number, _ := lookupNumber(contacts, n)
		req, _ := http.NewRequest("GET", prefix+url.QueryEscape("+"+number), nil)
		req.Header.Set("Authorization", "Bearer "+jwt)
		return req
	}
}

// checkContact vets the answer to contactRequests' request n: successful,
// with exactly the synthetic contact for a known number and none for an
// unknown one.
func checkContact(contacts int) func(n uint64, body []byte) error {
	return func(n uint64, body []byte) error {
		var r struct {
			Successful bool `json:"successful"`
			Contact    []struct {
				ID string `json:"id"`
			} `json:"contact"`
		}
		if err := json.Unmarshal(body, &r); err != nil {
			return fmt.Errorf("request %d: %w", n, err)
		}
		number, i := lookupNumber(contacts, n)
		want := 0
		if i >= 0 {
			want = 1
		}
		if !r.Successful || len(r.Contact) != want || (want == 1 && r.Contact[0].ID != fmt.Sprintf("c%d", i)) {
			return fmt.Errorf("request %d (+%s): unexpected answer %.300s", n, number, body)
		}
		return nil
	}
}
