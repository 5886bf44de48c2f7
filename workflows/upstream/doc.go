// Package upstream uses an existing peoplefone-compatible phone lookup
// service (shared/specs/peoplefone-connector-api-v2.txt, Part 1) as a live
// contact source: crm.PhoneSearcher only.
//
// The current API is POST <root>/Lookup with {"inputs":{"phoneNumber":
// "<digits without +>"}} and the configured header credential; the answer
// is a JSON array of camelCase entries (name, company, contactUri,
// companyUri, id, crmName, crmLogo, customData), [] when nothing matches.
// With Legacy set the first version is used instead
// (shared/specs/peoplefone-connector-api-v1.txt): GET <url>?PhoneNumber=
// answered with PascalCase entries. Field names are matched without regard
// to case, so either shape decodes, and custom data is read from
// customData or, as the spec's field table calls it, customFields.
//
// The spec gives 404 a meaning of its own, "the phone lookup service is not
// accessible", so a 404 is transient here; every other status goes through
// crm.ClassifyStatus. Transport errors and malformed JSON are transient.
package upstream
