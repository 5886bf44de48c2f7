package crmhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/calldex/calldex/shared/tenant"
)

// HubSpot request headers (signature v3).
const (
	HeaderHubSpotSignatureV3 = "X-HubSpot-Signature-v3"
	HeaderHubSpotTimestamp   = "X-HubSpot-Request-Timestamp"
)

// Errors of the HubSpot signature check.
var (
	errNoSignature  = errors.New("missing X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp")
	errStale        = errors.New("request timestamp outside the allowed age")
	errBadSignature = errors.New("signature mismatch")
)

// uriDecoder undoes the percent-encodings HubSpot decodes in the URI
// before signing (developers.hubspot.com/docs/apps/legacy-apps/
// authentication/validating-requests, "Validate the v3 request signature").
var uriDecoder = func() *strings.Replacer {
	pairs := []string{"%3A", ":", "%2F", "/", "%3F", "?", "%40", "@", "%21", "!", "%24", "$", "%27", "'", "%28", "(", "%29", ")", "%2A", "*", "%2C", ",", "%3B", ";"}
	for i := 0; i < 24; i += 2 {
		pairs = append(pairs, strings.ToLower(pairs[i]), pairs[i+1])
	}
	return strings.NewReplacer(pairs...)
}()

// verifyHubSpot checks X-HubSpot-Signature-v3: base64 of the HMAC-SHA256,
// keyed with the app's client secret, of method + URI + body + timestamp,
// where the timestamp (Unix ms, X-HubSpot-Request-Timestamp) must be
// within maxAge of now. It returns the signature and the signed time.
func verifyHubSpot(r *http.Request, body []byte, secret, configuredURL string, now time.Time, maxAge time.Duration) (string, time.Time, error) {
	sig, ts := strings.TrimSpace(r.Header.Get(HeaderHubSpotSignatureV3)), r.Header.Get(HeaderHubSpotTimestamp)
	if sig == "" || ts == "" {
		return "", time.Time{}, errNoSignature
	}
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("%w: timestamp %q is not Unix milliseconds", errStale, ts)
	}
	signed := time.UnixMilli(ms)
	if age := now.Sub(signed); age > maxAge || age < -maxAge {
		return "", time.Time{}, fmt.Errorf("%w: %s off", errStale, age.Round(time.Second))
	}
	uri := uriDecoder.Replace(requestURL(r, configuredURL))
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(r.Method))
	m.Write([]byte(uri))
	m.Write(body)
	m.Write([]byte(ts))
	want := base64.StdEncoding.EncodeToString(m.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(sig)) {
		return "", time.Time{}, fmt.Errorf("%w for %s %s", errBadSignature, r.Method, uri)
	}
	return sig, signed, nil
}

// requestURL is the URL HubSpot called: the configured one, or the one
// received, with the scheme and host a proxy in front reports.
func requestURL(r *http.Request, configured string) string {
	if configured != "" {
		return configured
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := firstValue(r.Header.Get("X-Forwarded-Proto")); p != "" {
		scheme = p
	}
	host := r.Host
	if h := firstValue(r.Header.Get("X-Forwarded-Host")); h != "" {
		host = h
	}
	return scheme + "://" + host + r.URL.RequestURI()
}

func firstValue(h string) string {
	v, _, _ := strings.Cut(h, ",")
	return strings.TrimSpace(v)
}

// hubspotEvent is one entry of a HubSpot webhook body (an array of at most
// 100). Legacy subscriptions name the event in subscriptionType (older
// payloads: eventType), like contact.propertyChange; generic ones use
// object.propertyChange with objectTypeId 0-1 for contacts.
type hubspotEvent struct {
	ObjectID         flexID   `json:"objectId"`
	SubscriptionType string   `json:"subscriptionType"`
	EventType        string   `json:"eventType"`
	ObjectTypeID     string   `json:"objectTypeId"`
	PortalID         flexID   `json:"portalId"`
	PrimaryObjectID  flexID   `json:"primaryObjectId"`
	MergedObjectIDs  []flexID `json:"mergedObjectIds"`
}

// parseHubSpot turns the events into a plan: deletions (and the losing
// side of merges) become tombstones, any other contact event a sync.
// Events of other objects, or of another portal than the connector's, are
// ignored.
func parseHubSpot(body []byte, portal string) (plan, error) {
	var evs []hubspotEvent
	if err := json.Unmarshal(body, &evs); err != nil {
		return plan{}, fmt.Errorf("malformed HubSpot notification (want a JSON array of events): %v", err)
	}
	var p plan
	for _, e := range evs {
		if portal != "" && e.PortalID != "" && string(e.PortalID) != portal {
			continue
		}
		typ := e.SubscriptionType
		if typ == "" {
			typ = e.EventType
		}
		if rest, ok := strings.CutPrefix(typ, "object."); ok {
			if e.ObjectTypeID != "0-1" {
				continue
			}
			typ = "contact." + rest
		}
		switch typ {
		case "contact.deletion", "contact.privacyDeletion":
			if e.ObjectID == "" {
				return plan{}, fmt.Errorf("malformed HubSpot notification: %s without objectId", typ)
			}
			p.deletes = appendID(p.deletes, string(e.ObjectID))
		case "contact.merge":
			for _, id := range e.MergedObjectIDs {
				if id != e.PrimaryObjectID && id != "" {
					p.deletes = appendID(p.deletes, string(id))
				}
			}
			p.sync = true
		default:
			if strings.HasPrefix(typ, "contact.") {
				p.sync = true // creation, propertyChange, restore, associationChange
			}
		}
	}
	return p, nil
}

func appendID(ids []string, id string) []string {
	if len(id) > 256 || slices.Contains(ids, id) {
		return ids
	}
	return append(ids, id)
}

// portalOf is the connector's portalId option as text ("" if not set).
func portalOf(c tenant.Connector) string {
	switch v := c.Options["portalId"].(type) {
	case nil:
		return ""
	case string:
		return strings.TrimSpace(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	default:
		return fmt.Sprint(v)
	}
}
