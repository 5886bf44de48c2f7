package appconnect

import (
	"reflect"
	"testing"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/risk"
)

func TestContactInfoCarriesTheCallersRisk(t *testing.T) {
	c := events.Contact{ID: "c-1", Name: "Alexa Holiday", Source: "crm"}
	plain := toContactInfo(c, "", nil)
	if got := withRisk(toContactInfo(c, "", nil), risk.Assessment{}); !reflect.DeepEqual(got, plain) {
		t.Errorf("no signal changed the contact: %+v", got)
	}
	got := withRisk(toContactInfo(c, "", nil), risk.Assessment{Score: 85, Reasons: 1<<risk.ManyTenants | 1<<risk.ShortCalls, High: true})
	want := map[string]any{"source": "crm", "risk": 85, "riskReasons": []string{"many_tenants", "short_calls"}}
	if !reflect.DeepEqual(got.AdditionalInfo, want) {
		t.Errorf("additionalInfo = %v, want %v", got.AdditionalInfo, want)
	}
	if got := withRisk(toContactInfo(events.Contact{ID: "c-2", Name: "No Info"}, "", nil), risk.Assessment{Score: 70, Reasons: 1 << risk.PremiumRate}); got.AdditionalInfo["risk"] != 70 {
		t.Errorf("a contact without additionalInfo: %v", got.AdditionalInfo)
	}
}
