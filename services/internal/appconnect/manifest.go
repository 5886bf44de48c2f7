package appconnect

import "net/http"

// isAlive answers the literal text the contract defines; it checks nothing
// behind the process (the ingress has /readyz for that).
func (h *Handler) isAlive(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("OK"))
}

// manifest is App Connect's connector manifest, as its connectors publish
// it (src/connectors/*/manifest.json of rc-unified-crm-extension). The
// contract types the route's answer only as a JSON object.
type manifest struct {
	Successful    bool                        `json:"successful"`
	ReturnMessage *returnMessage              `json:"returnMessage"`
	Version       string                      `json:"version"`
	ServerURL     string                      `json:"serverUrl,omitempty"`
	Author        manifestAuthor              `json:"author"`
	Platforms     map[string]manifestPlatform `json:"platforms"`
}

type manifestAuthor struct {
	Name       string `json:"name"`
	WebsiteURL string `json:"websiteUrl"`
}

type manifestPlatform struct {
	Name           string        `json:"name"`
	DisplayName    string        `json:"displayName"`
	Auth           manifestAuth  `json:"auth"`
	CanOpenLogPage bool          `json:"canOpenLogPage"`
	ContactTypes   []ContactType `json:"contactTypes"`
	RequestConfig  struct {
		Timeout int `json:"timeout"` // seconds
	} `json:"requestConfig"`
}

type manifestAuth struct {
	Type   string `json:"type"`
	APIKey struct {
		Page struct {
			Title   string          `json:"title"`
			Content []manifestField `json:"content"`
		} `json:"page"`
	} `json:"apiKey"`
}

type manifestField struct {
	Const    string `json:"const"`
	Title    string `json:"title"`
	Type     string `json:"type"`
	Required bool   `json:"required"`
}

func (h *Handler) manifest() manifest {
	p := manifestPlatform{
		Name: h.cfg.Platform, DisplayName: h.cfg.DisplayName,
		CanOpenLogPage: false, ContactTypes: h.cfg.ContactTypes,
	}
	p.Auth.Type = "apiKey"
	p.Auth.APIKey.Page.Title = h.cfg.DisplayName
	p.Auth.APIKey.Page.Content = []manifestField{{Const: "apiKey", Title: h.cfg.DisplayName + " API key", Type: "string", Required: true}}
	p.RequestConfig.Timeout = 30
	return manifest{
		Successful: true, ReturnMessage: &returnMessage{Message: h.cfg.DisplayName + " manifest", MessageType: "success", TTL: 1000},
		Version: h.cfg.Version, ServerURL: h.cfg.ServerURL,
		Author:    manifestAuthor{Name: h.cfg.DisplayName},
		Platforms: map[string]manifestPlatform{h.cfg.Platform: p},
	}
}

// crmManifest answers the manifest of the Calldex platform; it is the only
// platform this server has, so it is also the default.
func (h *Handler) crmManifest(w http.ResponseWriter, r *http.Request) {
	if name := r.URL.Query().Get("platformName"); name != "" && name != h.cfg.Platform {
		badRequest(w, "Unknown platform "+truncate(name, 64))
		return
	}
	writeJSON(w, http.StatusOK, h.manifest())
}

// implementedInterfaces tells App Connect which features Calldex offers
// (name search, dispositions, contact creation…): every flag the contract
// requires, true where a route implements it.
func (h *Handler) implementedInterfaces(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("platform")
	if name == "" {
		badRequest(w, "Missing required query parameter: platform")
		return
	}
	if name != h.cfg.Platform {
		badRequest(w, "Unknown platform "+truncate(name, 64))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"successful":    true,
		"returnMessage": &returnMessage{Message: "Implemented interfaces", MessageType: "success", TTL: 1000},
		"getAuthType":   true, "getBasicAuth": true, "getOauthInfo": false, "getUserInfo": true,
		"createCallLog": true, "updateCallLog": true, "getCallLog": true,
		"createMessageLog": true, "updateMessageLog": false,
		"createContact": true, "findContact": true, "findContactWithName": true,
		"listAppointments": false, "createAppointment": false, "updateAppointment": false,
		"refreshAppointment": false, "confirmAppointment": false, "cancelAppointment": false,
		"unAuthorize": true, "upsertCallDisposition": true, "getUserList": false,
		"getManagedAuthOptions": false, "getLicenseStatus": false, "getLogFormatType": false,
		"refreshUserInfo": false, "cacheCallNote": false,
	})
}

// serverVersionInfo answers the manifest version. Its contract allows no
// other property, so this one answer has no successful/returnMessage.
func (h *Handler) serverVersionInfo(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"version": h.cfg.Version})
}
