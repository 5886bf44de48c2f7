// Package httpjson writes the JSON answers of Calldex's own HTTP API (the
// ingress, the tenant admin API, the CRM webhooks): one error envelope,
// {"error":{"code","message"}}, for every route.
package httpjson

import (
	"encoding/json"
	"net/http"
)

// Error is the JSON error every route answers with.
type Error struct {
	Error ErrorBody `json:"error"`
}

// ErrorBody is the error's stable code, its message for people, and the
// request fields it is about, when it is about some.
type ErrorBody struct {
	Code    string   `json:"code"`
	Message string   `json:"message"`
	Fields  []string `json:"fields,omitempty"`
}

// Write answers v as JSON with code.
func Write(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteError answers the error envelope with code, errCode and msg.
func WriteError(w http.ResponseWriter, code int, errCode, msg string) {
	Write(w, code, Error{Error: ErrorBody{Code: errCode, Message: msg}})
}
