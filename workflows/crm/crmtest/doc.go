// Package crmtest is the conformance suite of CRM connectors: Run checks,
// for every crm capability a connector implements, the behaviour the
// capability's interface promises (a search finds the CRM's contact and
// finds nothing without error on a miss, the same Call logged twice is one
// effect, a listing advances its cursor) and how the connector classifies
// each way its CRM can fail: 401, 403 and other 4xx (and a refused
// statement) permanent; 429 transient with the CRM's Retry-After exposed;
// 5xx, no answer in time and nothing listening transient.
//
// The connector's own tests call Run with a constructor that builds the
// connector against a CRM of its own — an HTTP fake, a real database — and
// can arrange that CRM's answer to the connector's next call (Subject).
// ServeFailure answers an HTTP request as a failing CRM would, for fakes.
package crmtest
