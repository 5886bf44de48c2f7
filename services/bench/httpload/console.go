package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"time"
)

// consolePages are what an operator's open overview loads and refreshes.
var consolePages = []string{"/console/", "/console/overview/stats", "/console/overview/series"}

// watchConsole logs into the web console as an operator would and loads
// its overview every interval until ctx ends, as an open, refreshing
// browser tab does, so that a run shows what the console costs lookups.
// It returns how many pages it loaded.
func watchConsole(ctx context.Context, base string, every time.Duration) (func() (int, error), error) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, err
	}
	client := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	resp, err := client.PostForm(base+"/console/login", url.Values{"token": {demoAdminToken}})
	if err != nil {
		return nil, fmt.Errorf("console login: %w", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.Contains(string(body), "Wrong admin token") {
		return nil, fmt.Errorf("console login: %s", resp.Status)
	}
	done := make(chan struct{})
	var loaded int
	var failed error
	go func() {
		defer close(done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			for _, p := range consolePages {
				resp, err := client.Get(base + p)
				if err != nil {
					failed = err
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failed = fmt.Errorf("console %s: %s", p, resp.Status)
					return
				}
				loaded++
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return func() (int, error) { <-done; return loaded, failed }, nil
}
