package main

import (
	"fmt"
	"time"

	"github.com/calldex/calldex/events"
)

// The synthetic contacts look like a Swiss CRM's: numbers typed the many
// ways people type them (national, +41, 0041, a French number now and then,
// a legacy short number that never becomes valid E.164), one to three per
// contact, accented names, a company, an e-mail, links and custom data.
var (
	firstNames = []string{"Alexa", "Jürgen", "Zoë", "Marie-Claire", "Søren", "Ann", "Bob", "Chloé", "Luca", "Noémie", "Stefan", "Ana"}
	lastNames  = []string{"Holiday", "Müller", "Saldaña", "O'Neil", "Berg", "Smith", "Dubois", "Rossi", "Keller", "Favre", "Meier", "Łukasz"}
	cities     = []string{"21", "22", "31", "44", "61", "71", "91", "26"}
)

// synth is contact i in its version-th state. Each new version moves the
// contact's mobile number and changes its name, so that an update replaces
// phone keys and name words, as a real change does.
func synth(i, version int, updated time.Time) events.Contact {
	area := cities[i%len(cities)]
	// Seven subscriber digits, unique per contact and area up to 8M
	// contacts per area: landlines never repeat within a run.
	sub := 2_000_000 + (i/len(cities))%8_000_000
	a, b, c := sub/10_000, sub/100%100, sub%100
	var land string
	switch i % 4 {
	case 0:
		land = fmt.Sprintf("0%s %03d %02d %02d", area, a, b, c)
	case 1:
		land = fmt.Sprintf("+41 %s %03d %02d %02d", area, a, b, c)
	case 2:
		land = fmt.Sprintf("0041%s%03d%02d%02d", area, a, b, c)
	default:
		land = fmt.Sprintf("0%s/%03d.%02d.%02d", area, a, b, c)
	}
	phones := []events.Phone{{Raw: land, Label: "work"}}
	if i%5 < 2 {
		m := (i*7 + version*1_000_003) % 10_000_000
		phones = append(phones, events.Phone{Raw: fmt.Sprintf("+41 7%d %03d %02d %02d", 6+m%4, m/10_000%1000, m/100%100, m%100), Label: "mobile"})
	}
	switch {
	case i%20 == 3:
		phones = append(phones, events.Phone{Raw: fmt.Sprintf("+33 1 %02d %02d %02d %02d", 40+sub%10, sub/10000%100, sub/100%100, sub%100), Label: "paris"})
	case i%20 == 7:
		phones = append(phones, events.Phone{Raw: fmt.Sprintf("0%s %04d", area, sub%10_000), Label: "legacy"})
	}
	first := firstNames[i%len(firstNames)]
	last := lastNames[(i/len(firstNames)+version)%len(lastNames)]
	id := fmt.Sprintf("003%012d", i)
	return events.Contact{
		ID:         id,
		Source:     "hubspot",
		Type:       "contact",
		Name:       first + " " + last,
		Title:      "Sales",
		Company:    fmt.Sprintf("Company %d SA", i%50_000),
		ContactURI: "https://app.hubspot.com/contacts/4711/record/0-1/" + id,
		CompanyURI: fmt.Sprintf("https://app.hubspot.com/contacts/4711/record/0-2/%d", i%50_000),
		CRMName:    "HubSpot",
		Phones:     phones,
		Emails:     []string{fmt.Sprintf("%s.%d@example.com", first, i)},
		CustomData: events.CustomData{{Key: "Language", Value: []string{"fr", "de", "it", "en"}[i%4]}, {Key: "Segment", Value: "SME"}},
		UpdatedAt:  updated.Add(time.Duration(i) * time.Millisecond),
	}
}
