package appconnect_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/testwait"
	"github.com/calldex/calldex/workflows/crm"
)

func callLogBody(sessionID, note string) string {
	b, _ := json.Marshal(map[string]any{
		"logInfo": map[string]any{
			"id": "123456789", "sessionId": sessionID, "telephonySessionId": "s-a1b2c3",
			"direction": "Inbound", "result": "Accepted",
			"startTime": "2026-06-24T02:30:00.000Z", "duration": 125,
			"from":      map[string]any{"phoneNumber": "+14155550100", "name": "Jane Smith"},
			"to":        map[string]any{"phoneNumber": "+16505550199", "extensionNumber": "101"},
			"recording": map[string]any{"link": "https://example.com/recording/123"},
		},
		"extensionNumber": "101", "hashedExtensionId": "hashed-extension-101",
		"contactId": "crm-contact-123", "contactName": "Jane Smith", "contactType": "Contact",
		"note": note,
	})
	return string(b)
}

// logs returns the logs of a GET /callLog answer by session id.
func logs(t *testing.T, v map[string]any) map[string]map[string]any {
	t.Helper()
	list, ok := v["logs"].([]any)
	if !ok {
		t.Fatalf("no logs: %v", v)
	}
	out := map[string]map[string]any{}
	for _, l := range list {
		m := l.(map[string]any)
		out[m["sessionId"].(string)] = m
	}
	return out
}

func TestCallLogCreatedOncePerSession(t *testing.T) {
	h := newHarness(t)
	acme := bearer(h.login("acme-key-123456"))

	v := h.do("POST", "/appconnect/callLog", callLogBody("987654321", "Discussed renewal"), acme...).envelope(t, 200, true, "success")
	logID, _ := v["logId"].(string)
	if logID == "" {
		t.Fatalf("no logId: %v", v)
	}
	// The client retries, a second tab logs the same call, all at once.
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			v := h.do("POST", "/appconnect/callLog", callLogBody("987654321", "Discussed renewal (again)"), acme...).json(t)
			if v["successful"] != true || v["logId"] != logID {
				t.Errorf("repeat answered %v", v)
			}
		})
	}
	wg.Wait()
	if n := h.disp.runsOf("CallLog"); n != 1 {
		t.Errorf("CallLog ran %d times", n)
	}
	subs := h.disp.submitted("CallLog")
	in := subs[0].In
	want := events.CallInput{
		CallID: "987654321", ContactCRMID: "crm-contact-123", Direction: "incoming",
		OriginatorNumber: "+14155550100", OriginatorName: "Jane Smith", DestinationNumber: "+16505550199",
		StartedTime: "2026-06-24T02:30:00Z", EndedTime: "2026-06-24T02:32:05Z",
		Note: "Discussed renewal", Result: "Accepted", Recording: "https://example.com/recording/123",
	}
	if in.DurationSeconds == nil || *in.DurationSeconds != 125 {
		t.Errorf("duration %v", in.DurationSeconds)
	}
	in.DurationSeconds = nil
	if !reflect.DeepEqual(in, want) {
		t.Errorf("workflow input\n got %+v\nwant %+v", in, want)
	}

	// Another call is another log.
	v = h.do("POST", "/appconnect/callLog", callLogBody("987654322", ""), acme...).envelope(t, 200, true, "success")
	if v["logId"] == logID {
		t.Error("two calls share a log")
	}

	t.Run("missing fields", func(t *testing.T) {
		h.invalid("POST", "/appconnect/callLog", `{"contactId":"c1"}`, acme...).envelope(t, 400, false, "warning")
		h.invalid("POST", "/appconnect/callLog", `{"logInfo":{"sessionId":"1"}}`, acme...).envelope(t, 400, false, "warning")
		h.invalid("POST", "/appconnect/callLog", `{"logInfo":{"sessionId":"1","direction":"Sideways"},"contactId":"c"}`, acme...).
			envelope(t, 400, false, "warning")
	})

	t.Run("tenant without the workflow", func(t *testing.T) {
		globex := bearer(h.login("globex-key-456789"))
		h.do("POST", "/appconnect/callLog", callLogBody("1", ""), globex...).envelope(t, 200, false, "warning")
	})
}

func TestCallLogSlowFailedAndUnavailable(t *testing.T) {
	h := newHarness(t)
	acme := bearer(h.login("acme-key-123456"))

	t.Run("still running after the wait", func(t *testing.T) {
		h.disp.delay.Store(int64(3 * time.Second)) // longer than acme's WorkflowWait (2s default)
		start := time.Now()
		v := h.do("POST", "/appconnect/callLog", callLogBody("slow-1", "n"), acme...).envelope(t, 200, true, "success")
		h.disp.delay.Store(0)
		if time.Since(start) > 2900*time.Millisecond {
			t.Errorf("answered after %s", time.Since(start))
		}
		if _, ok := v["logId"]; ok {
			t.Errorf("logId before the CRM answered: %v", v)
		}
		l := logs(t, h.do("GET", "/appconnect/callLog?sessionIds=slow-1", "", acme...).json(t))["slow-1"]
		if l["matched"] != true || l["logId"] != nil {
			t.Errorf("while running: %v", l)
		}
		testwait.Until(t, 5*time.Second, "the call log's logId", func() bool {
			l = logs(t, h.do("GET", "/appconnect/callLog?sessionIds=slow-1", "", acme...).json(t))["slow-1"]
			return l["logId"] != nil
		})
		if id, _ := l["logId"].(string); !strings.HasPrefix(id, "calllog-") {
			t.Errorf("after the run: %v", l)
		}
	})

	t.Run("failed, then logged again", func(t *testing.T) {
		orig := h.disp.setExec(func(string, string, events.CallInput) (crm.Result, error) {
			return crm.Result{}, crm.Permanent(errors.New("CRM answered 400: contact does not exist"))
		})
		v := h.do("POST", "/appconnect/callLog", callLogBody("fail-1", "n"), acme...).envelope(t, 200, false, "danger")
		if !strings.Contains(message(v), "contact does not exist") {
			t.Errorf("message %q", message(v))
		}
		l := logs(t, h.do("GET", "/appconnect/callLog?sessionIds=fail-1", "", acme...).json(t))["fail-1"]
		if l["matched"] != false {
			t.Errorf("failed log matched: %v", l)
		}
		h.disp.setExec(orig)
		v = h.do("POST", "/appconnect/callLog", callLogBody("fail-1", "n"), acme...).envelope(t, 200, true, "success")
		if v["logId"] == nil {
			t.Errorf("replay: %v", v)
		}
		if n := h.disp.runsOf("CallLog"); n != 3 { // slow-1, fail-1, its replay
			t.Errorf("CallLog ran %d times", n)
		}
		// Logged now: sending it again runs nothing.
		h.do("POST", "/appconnect/callLog", callLogBody("fail-1", "n"), acme...).envelope(t, 200, true, "success")
		if n := h.disp.runsOf("CallLog"); n != 3 {
			t.Errorf("CallLog ran %d times after a repeat", n)
		}
	})

	t.Run("queue unavailable", func(t *testing.T) {
		h.disp.down.Store(true)
		defer h.disp.down.Store(false)
		r := h.do("POST", "/appconnect/callLog", callLogBody("down-1", "n"), acme...)
		r.envelope(t, 200, false, "danger")
		if r.Header.Get("Retry-After") == "" {
			t.Error("no Retry-After")
		}
		l := logs(t, h.do("GET", "/appconnect/callLog?sessionIds=down-1", "", acme...).json(t))["down-1"]
		if l["matched"] != false {
			t.Errorf("a refused log matched: %v", l)
		}
	})
}

// TestDispositionReachesTheCRM: PUT /callDisposition runs the tenant's
// CallDisposition workflow for the logged call (its CRM id and its call
// log's key), once per change of the dispositions.
func TestDispositionReachesTheCRM(t *testing.T) {
	h := newHarness(t)
	acme := bearer(h.login("acme-key-123456"))
	logID := h.do("POST", "/appconnect/callLog", callLogBody("s-disp", "note"), acme...).envelope(t, 200, true, "success")["logId"].(string)
	logKey := h.disp.submitted("CallLog")[0].Key

	put := func(body, kind string, ok bool) {
		t.Helper()
		h.do("PUT", "/appconnect/callDisposition", body, acme...).envelope(t, 200, ok, kind)
	}
	put(`{"sessionId":"s-disp","dispositions":{"outcome":"Connected","score":3,"gone":null}}`, "success", true)
	subs := h.disp.submitted("CallDisposition")
	if len(subs) != 1 {
		t.Fatalf("%d CallDisposition submissions, want 1", len(subs))
	}
	in := subs[0].In
	if in.CallID != "s-disp" || in.LogID != logID || in.LogKey != logKey || in.ContactCRMID != "crm-contact-123" ||
		!reflect.DeepEqual(in.Dispositions, map[string]string{"outcome": "Connected", "score": "3"}) {
		t.Fatalf("disposition input %+v (log %s, key %s)", in, logID, logKey)
	}
	// The same dispositions again run nothing; a change runs under a new key.
	put(`{"sessionId":"s-disp","dispositions":{"outcome":"Connected"}}`, "success", true)
	if n := len(h.disp.submitted("CallDisposition")); n != 1 {
		t.Fatalf("%d submissions after the same dispositions, want 1", n)
	}
	put(`{"sessionId":"s-disp","dispositions":{"outcome":"Busy"}}`, "success", true)
	subs = h.disp.submitted("CallDisposition")
	if len(subs) != 2 || subs[1].Key == subs[0].Key || subs[1].In.Dispositions["outcome"] != "Busy" || subs[1].In.Dispositions["score"] != "3" {
		t.Fatalf("after a change: %+v", subs)
	}
	// A CRM refusal is shown, and sending the same again retries it.
	h.disp.setExec(func(string, string, events.CallInput) (crm.Result, error) {
		return crm.Result{}, crm.Permanent(errors.New("CRM answered 404: no such call"))
	})
	put(`{"sessionId":"s-disp","dispositions":{"outcome":"No answer"}}`, "danger", false)
	h.disp.setExec(func(string, string, events.CallInput) (crm.Result, error) { return crm.Result{ID: logID}, nil })
	put(`{"sessionId":"s-disp","dispositions":{"outcome":"No answer"}}`, "success", true)
	if n := len(h.disp.submitted("CallDisposition")); n != 4 {
		t.Fatalf("%d submissions, want 4: a refused disposition sent again is tried again", n)
	}
}

func TestCallLogUpdateSeenByGet(t *testing.T) {
	h := newHarness(t)
	acme := bearer(h.login("acme-key-123456"))
	v := h.do("POST", "/appconnect/callLog", callLogBody("s-upd", "first note"), acme...).envelope(t, 200, true, "success")
	logID := v["logId"].(string)

	v = h.do("PATCH", "/appconnect/callLog", `{"sessionId":"s-upd","subject":"Renewal call","note":"second note","duration":130,"result":"Call connected","recordingLink":"https://example.com/rec/2"}`, acme...).
		envelope(t, 200, true, "success")
	if v["logId"] != logID || v["updatedNote"] != "second note" {
		t.Errorf("patch answer %v", v)
	}
	subs := h.disp.submitted("CallLogUpdate")
	if len(subs) != 1 {
		t.Fatalf("%d CallLogUpdate submissions", len(subs))
	}
	in := subs[0].In
	if in.CallID != "s-upd" || in.Subject != "Renewal call" || in.Note != "second note" || in.Result != "Call connected" ||
		in.Recording != "https://example.com/rec/2" || *in.DurationSeconds != 130 || in.ContactCRMID != "crm-contact-123" {
		t.Errorf("update input %+v", in)
	}

	// Only the fields sent change.
	h.do("PATCH", "/appconnect/callLog", `{"sessionId":"s-upd","note":"third note"}`, acme...).envelope(t, 200, true, "success")
	h.do("PUT", "/appconnect/callDisposition", `{"sessionId":"s-upd","extensionNumber":"101","dispositions":{"outcome":"Qualified lead"}}`, acme...).
		envelope(t, 200, true, "success")

	v = h.do("GET", "/appconnect/callLog?sessionIds=s-upd,never-logged&requireDetails=true", "", acme...).envelope(t, 200, true, "success")
	got := logs(t, v)
	l := got["s-upd"]
	data, _ := l["logData"].(map[string]any)
	if l["matched"] != true || l["logId"] != logID || data["subject"] != "Renewal call" || data["note"] != "third note" ||
		data["contactName"] != "Jane Smith" || data["dispositions"].(map[string]any)["outcome"] != "Qualified lead" {
		t.Errorf("GET after updates: %v", l)
	}
	if n := got["never-logged"]; n["matched"] != false || n["logId"] != nil {
		t.Errorf("unlogged session: %v", n)
	}

	// The same update again changes nothing and runs nothing.
	h.do("PATCH", "/appconnect/callLog", `{"sessionId":"s-upd","note":"third note"}`, acme...).envelope(t, 200, true, "success")
	if n := len(h.disp.submitted("CallLogUpdate")); n != 2 {
		t.Errorf("%d CallLogUpdate submissions, want 2", n)
	}
	// A call not logged yet cannot be updated.
	h.do("PATCH", "/appconnect/callLog", `{"sessionId":"nope","note":"x"}`, acme...).envelope(t, 200, false, "warning")
	h.do("PUT", "/appconnect/callDisposition", `{"sessionId":"nope","dispositions":{"a":"b"}}`, acme...).envelope(t, 200, false, "warning")
	h.invalid("PATCH", "/appconnect/callLog", `{"note":"x"}`, acme...).envelope(t, 400, false, "warning")

	t.Run("at most five sessions", func(t *testing.T) {
		v := h.do("GET", "/appconnect/callLog?sessionIds=a,b,c,d,e,f,s-upd", "", acme...).envelope(t, 200, true, "success")
		list := v["logs"].([]any)
		if len(list) != 5 {
			t.Errorf("%d logs for 7 ids", len(list))
		}
		h.invalid("GET", "/appconnect/callLog", "", acme...).envelope(t, 400, false, "warning")
	})

	t.Run("tenant without an update workflow", func(t *testing.T) {
		// Sessions are per tenant: globex cannot see or update acme's.
		globex := bearer(h.login("globex-key-456789"))
		l := logs(t, h.do("GET", "/appconnect/callLog?sessionIds=s-upd", "", globex...).json(t))["s-upd"]
		if l["matched"] != false {
			t.Errorf("globex sees acme's log: %v", l)
		}
	})
}

func messageLogBody(ids ...any) string {
	msgs := []any{}
	for _, id := range ids {
		msgs = append(msgs, map[string]any{
			"id": id, "type": "SMS", "direction": "Inbound", "subject": "Can we talk later today?",
			"from":         map[string]any{"phoneNumber": "+14155550100", "name": "Jane Smith"},
			"to":           []any{map[string]any{"phoneNumber": "+16505550199", "extensionNumber": "101"}},
			"creationTime": "2026-06-24T03:15:00.000Z",
		})
	}
	b, _ := json.Marshal(map[string]any{
		"contactId": "crm-contact-123", "contactName": "Jane Smith", "contactType": "Contact",
		"logInfo": map[string]any{
			"conversationId": 555100, "conversationLogId": "555100-2026-06-24",
			"correspondents": []any{map[string]any{"phoneNumber": "+14155550100", "name": "Jane Smith"}},
			"messages":       msgs,
		},
	})
	return string(b)
}

func TestMessageLog(t *testing.T) {
	h := newHarness(t)
	acme := bearer(h.login("acme-key-123456"))

	v := h.do("POST", "/appconnect/messageLog", messageLogBody(1724099032021, "1724099032020"), acme...).envelope(t, 200, true, "success")
	got, _ := v["logIds"].([]any)
	if len(got) != 2 || got[0] != "1724099032020" || got[1] != "1724099032021" {
		t.Errorf("logIds %v (want oldest first)", got)
	}
	in := h.disp.submitted("MessageLog")[0].In
	if in.CallID != "1724099032020" || in.MessageType != "SMS" || in.Direction != "incoming" || in.Note != "Can we talk later today?" ||
		in.OriginatorNumber != "+14155550100" || in.ContactCRMID != "crm-contact-123" {
		t.Errorf("message input %+v", in)
	}

	// Sent again with one new message: only that one is logged.
	v = h.do("POST", "/appconnect/messageLog", messageLogBody(1724099032022, 1724099032021, "1724099032020"), acme...).envelope(t, 200, true, "success")
	if got, _ := v["logIds"].([]any); len(got) != 1 || got[0] != "1724099032022" {
		t.Errorf("logIds %v", got)
	}
	v = h.do("POST", "/appconnect/messageLog", messageLogBody(1724099032022), acme...).envelope(t, 200, true, "success")
	if got, _ := v["logIds"].([]any); len(got) != 0 {
		t.Errorf("already logged: %v", got)
	}
	if n := h.disp.runsOf("MessageLog"); n != 3 {
		t.Errorf("MessageLog ran %d times", n)
	}

	voicemail := strings.Replace(messageLogBody("vm-1"), `"type":"SMS"`, `"type":"VoiceMail","attachments":[{"type":"AudioRecording","link":"https://example.com/vm/1","vmDuration":17}]`, 1)
	h.do("POST", "/appconnect/messageLog", voicemail, acme...).envelope(t, 200, true, "success")
	subs := h.disp.submitted("MessageLog")
	vm := subs[len(subs)-1].In
	if vm.MessageType != "Voicemail" || vm.Recording != "https://example.com/vm/1" || vm.DurationSeconds == nil || *vm.DurationSeconds != 17 {
		t.Errorf("voicemail input %+v", vm)
	}

	h.do("POST", "/appconnect/messageLog", messageLogBody(), acme...).envelope(t, 200, false, "warning")
	h.invalid("POST", "/appconnect/messageLog", `{"contactId":"c"}`, acme...).envelope(t, 400, false, "warning")

	h.disp.down.Store(true)
	h.do("POST", "/appconnect/messageLog", messageLogBody("down-1"), acme...).envelope(t, 200, false, "danger")
	h.disp.down.Store(false)

	globex := bearer(h.login("globex-key-456789"))
	h.do("POST", "/appconnect/messageLog", messageLogBody("g-1"), globex...).envelope(t, 200, false, "warning")
}
