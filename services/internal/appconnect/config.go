package appconnect

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/calldex/calldex/events"
)

// Defaults applied by Config.Validate to fields left empty.
const (
	DefaultPlatform              = "calldex"
	DefaultDisplayName           = "Calldex"
	DefaultTokenTTL              = 14 * 24 * time.Hour // App Connect's own server issues two-week tokens
	DefaultCallLogWorkflow       = "CallLog"
	DefaultCallLogUpdateWorkflow = "CallLogUpdate"
	DefaultMessageLogWorkflow    = "MessageLog"
	DefaultDispositionWorkflow   = "CallDisposition"
	DefaultLiveTimeout           = 1500 * time.Millisecond
	DefaultProjectionWait        = 3 * time.Second
	DefaultVersion               = "1.0.0"

	// MinSecretLen is the shortest accepted signing secret: HS256 wants at
	// least as many bytes as its output.
	MinSecretLen = 32
)

// Config configures the App Connect server. Read it at the edge (env, file)
// and pass it to New; Validate applies the defaults.
type Config struct {
	// Secret signs session tokens (HS256). At least MinSecretLen bytes;
	// every replica of the ingress must share it. Required.
	Secret string `yaml:"secret"`
	// PreviousSecret, when set, still verifies tokens signed with it, so
	// that the secret can be rotated without signing every user out.
	PreviousSecret string `yaml:"previousSecret"`
	// TokenTTL is how long a session token is valid. Default 14 days.
	TokenTTL time.Duration `yaml:"tokenTTL"`
	// Platform is the connector platform name App Connect knows Calldex by
	// (manifest platforms key, apiKeyLogin "platform", token claim).
	// Default "calldex".
	Platform string `yaml:"platform"`
	// DisplayName is what App Connect shows. Default "Calldex".
	DisplayName string `yaml:"displayName"`
	// ServerURL is the public base URL App Connect calls, including the
	// /appconnect prefix and without a trailing slash
	// (https://calldex.example.com/appconnect). It is written into the
	// manifest; empty leaves the manifest without serverUrl.
	ServerURL string `yaml:"serverUrl"`
	// Version is the manifest version. Default "1.0.0".
	Version string `yaml:"version"`
	// ContactTypes are the contact types the manifest offers and POST
	// /contact accepts. Default: Contact (contact) and Lead (lead).
	ContactTypes []ContactType `yaml:"contactTypes"`
	// CallLogWorkflow, CallLogUpdateWorkflow, MessageLogWorkflow and
	// DispositionWorkflow name the tenant workflows (tenant.Tenant.Workflows)
	// that log calls, update a call log, log messages and apply a logged
	// call's dispositions (action logDisposition). Defaults CallLog,
	// CallLogUpdate, MessageLog, CallDisposition.
	CallLogWorkflow       string `yaml:"callLogWorkflow"`
	CallLogUpdateWorkflow string `yaml:"callLogUpdateWorkflow"`
	MessageLogWorkflow    string `yaml:"messageLogWorkflow"`
	DispositionWorkflow   string `yaml:"dispositionWorkflow"`
	// LiveTimeout bounds one live CRM search (PhoneSearcher on an index
	// miss, NameSearcher beside the index). Default 1.5s.
	LiveTimeout time.Duration `yaml:"liveTimeout"`
	// ProjectionWait bounds how long POST /contact waits for the new
	// contact to reach the index. Default 3s.
	ProjectionWait time.Duration `yaml:"projectionWait"`
	// Tenants holds App Connect options per tenant id; a tenant without an
	// entry gets the zero TenantOptions.
	Tenants map[string]TenantOptions `yaml:"tenants"`
}

// ContactType is one entry of the manifest's contactTypes.
type ContactType struct {
	// Display is what the user picks from ("Lead").
	Display string `yaml:"display" json:"display"`
	// Value is the events.Contact type stored ("lead").
	Value string `yaml:"value" json:"value"`
}

// TenantOptions are one tenant's App Connect choices.
type TenantOptions struct {
	// AllowCreate offers "Create new contact..." in lookups and accepts
	// POST /contact.
	AllowCreate bool `yaml:"allowCreate"`
	// CRM names the tenant connector (tenant.Tenant.Connectors) contacts
	// are created in and searched live. Empty: the tenant's only connector
	// if it has exactly one, else none (contacts created by App Connect are
	// then Calldex-owned, source "appconnect").
	CRM string `yaml:"crm"`
	// LivePhoneSearch asks the CRM live (crm.PhoneSearcher) when the index
	// has no match, with the user's overridingFormat masks applied: for
	// CRMs that only match exact strings. The index itself needs no masks.
	LivePhoneSearch bool `yaml:"livePhoneSearch"`
	// LiveNameSearch adds the CRM's live name search (crm.NameSearcher) to
	// the index's.
	LiveNameSearch bool `yaml:"liveNameSearch"`
	// Directory lists internal extensions answered for isExtension=true,
	// besides the indexed contacts of type "user" or "extension".
	Directory []Extension `yaml:"directory"`
}

// Extension is one internal extension of a tenant's directory.
type Extension struct {
	Number string `yaml:"number"`
	Name   string `yaml:"name"`
	// ID is the id App Connect logs against; default "ext-<number>".
	ID    string `yaml:"id"`
	Email string `yaml:"email"`
	Title string `yaml:"title"`
}

// Validate applies defaults and reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf("appconnect: "+format, a...)) }
	if len(c.Secret) < MinSecretLen {
		bad("secret must have at least %d bytes", MinSecretLen)
	}
	if c.PreviousSecret != "" && len(c.PreviousSecret) < MinSecretLen {
		bad("previousSecret must have at least %d bytes", MinSecretLen)
	}
	defaultDuration(&c.TokenTTL, DefaultTokenTTL)
	defaultDuration(&c.LiveTimeout, DefaultLiveTimeout)
	defaultDuration(&c.ProjectionWait, DefaultProjectionWait)
	if c.TokenTTL < time.Minute {
		bad("tokenTTL %s is shorter than a minute", c.TokenTTL)
	}
	if c.LiveTimeout < 0 || c.ProjectionWait < 0 {
		bad("liveTimeout and projectionWait must not be negative")
	}
	defaultString(&c.Platform, DefaultPlatform)
	defaultString(&c.DisplayName, DefaultDisplayName)
	defaultString(&c.Version, DefaultVersion)
	defaultString(&c.CallLogWorkflow, DefaultCallLogWorkflow)
	defaultString(&c.CallLogUpdateWorkflow, DefaultCallLogUpdateWorkflow)
	defaultString(&c.MessageLogWorkflow, DefaultMessageLogWorkflow)
	defaultString(&c.DispositionWorkflow, DefaultDispositionWorkflow)
	if strings.ContainsAny(c.Platform, " /?#") {
		bad("platform %q must be one word", c.Platform)
	}
	if c.ServerURL != "" {
		u, err := url.Parse(c.ServerURL)
		switch {
		case err != nil:
			bad("serverUrl: %v", err)
		case u.Scheme != "https" && u.Scheme != "http", u.Host == "":
			bad("serverUrl %q must be an absolute http(s) URL", c.ServerURL)
		case strings.HasSuffix(c.ServerURL, "/"):
			bad("serverUrl %q must not end with a slash", c.ServerURL)
		}
	}
	if len(c.ContactTypes) == 0 {
		c.ContactTypes = []ContactType{{Display: "Contact", Value: "contact"}, {Display: "Lead", Value: "lead"}}
	}
	seen := map[string]bool{}
	for i, ct := range c.ContactTypes {
		if ct.Display == "" || ct.Value == "" {
			bad("contactTypes[%d]: display and value are required", i)
		}
		if seen[ct.Value] {
			bad("contactTypes[%d]: duplicate value %q", i, ct.Value)
		}
		seen[ct.Value] = true
	}
	for id, t := range c.Tenants {
		if err := events.ValidID(id); err != nil {
			bad("tenants: %v", err)
		}
		if err := t.Validate(); err != nil {
			bad("tenant %s: %w", id, err)
		}
	}
	return errors.Join(errs...)
}

// DecodeTenantOptions reads a tenant's appConnect section (tenant.Tenant.
// AppConnect), refusing unknown fields and values of the wrong type, and
// validates it.
func DecodeTenantOptions(in map[string]any) (TenantOptions, error) {
	var o TenantOptions
	if len(in) == 0 {
		return o, nil
	}
	raw, err := yaml.Marshal(in)
	if err != nil {
		return o, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&o); err != nil {
		return o, err
	}
	return o, o.Validate()
}

// Validate reports every problem of one tenant's options at once.
func (o TenantOptions) Validate() error {
	var errs []error
	for i, e := range o.Directory {
		if strings.TrimSpace(e.Number) == "" || strings.TrimSpace(e.Name) == "" {
			errs = append(errs, fmt.Errorf("directory[%d]: number and name are required", i))
		}
	}
	return errors.Join(errs...)
}

// tenantOptions returns a tenant's options (the zero value when none).
func (c *Config) tenantOptions(id string) TenantOptions {
	return c.Tenants[id]
}

func defaultDuration(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}

func defaultString(s *string, def string) {
	if *s == "" {
		*s = def
	}
}
