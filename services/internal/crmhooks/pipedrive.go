package crmhooks

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// checkBasicAuth compares the request's basic auth with the configured
// credentials in constant time.
func checkBasicAuth(r *http.Request, user, password string) bool {
	u, p, ok := r.BasicAuth()
	if !ok || user == "" {
		return false
	}
	gu, wu := sha256.Sum256([]byte(u)), sha256.Sum256([]byte(user))
	gp, wp := sha256.Sum256([]byte(p)), sha256.Sum256([]byte(password))
	return subtle.ConstantTimeCompare(gu[:], wu[:])&subtle.ConstantTimeCompare(gp[:], wp[:]) == 1
}

// pipedriveBody is a Pipedrive webhook, v1 or v2
// (pipedrive.readme.io/docs/webhooks-v2-migration-guide). v1 names the
// object in meta.object and its id in meta.id, with actions added,
// updated, merged, deleted; v2 names it in meta.entity and meta.entity_id
// (meta.id is the event's own id), with actions create, change, delete.
type pipedriveBody struct {
	Meta *struct {
		Action   string `json:"action"`
		Object   string `json:"object"`
		Entity   string `json:"entity"`
		ID       flexID `json:"id"`
		EntityID flexID `json:"entity_id"`
	} `json:"meta"`
	Previous *struct {
		ID flexID `json:"id"`
	} `json:"previous"`
}

// parsePipedrive turns a person notification into a plan: a deletion
// becomes a tombstone, anything else a sync. Other objects are ignored.
func parsePipedrive(body []byte) (plan, error) {
	var b pipedriveBody
	if err := json.Unmarshal(body, &b); err != nil {
		return plan{}, fmt.Errorf("malformed Pipedrive notification: %v", err)
	}
	if b.Meta == nil || b.Meta.Action == "" {
		return plan{}, errors.New("malformed Pipedrive notification: no meta.action")
	}
	m := b.Meta
	object, id := m.Object, m.ID
	if m.Entity != "" { // v2
		object, id = m.Entity, m.EntityID
	}
	if object != "person" {
		return plan{}, nil
	}
	switch m.Action {
	case "delete", "deleted":
		if id == "" && b.Previous != nil {
			id = b.Previous.ID
		}
		if id == "" {
			return plan{}, errors.New("malformed Pipedrive notification: deletion without the person's id")
		}
		return plan{deletes: appendID(nil, string(id))}, nil
	case "create", "change", "added", "updated", "merged":
		return plan{sync: true}, nil
	}
	return plan{}, nil
}
