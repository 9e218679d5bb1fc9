package storetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
)

var usageTests = []test{
	{"RecordUsage/Anonymous", testRecordUsageAnonymous},
	{"RecordUsage/RoundTrip", testRecordUsageRoundTrip},
	{"UsageReport/Empty", testUsageReportEmpty},
	{"UsageReport/Grouped", testUsageReportGrouped},
	{"UsageReport/MethodCaseInsensitive", testUsageReportMethodCase},
	{"UsageReport/FilterAccount", testUsageReportFilterAccount},
	{"UsageReport/FilterTime", testUsageReportFilterTime},
	{"ListUsage/OldestFirst", testListUsageOldestFirst},
	{"ListUsage/Filter", testListUsageFilter},
	{"ListUsage/Paged", testListUsagePaged},
}

// day2 is the day after base's, at midnight UTC.
var day2 = time.Date(2030, 1, 3, 0, 0, 0, 0, time.UTC)

func testRecordUsageAnonymous(t *testing.T, s core.Store) {
	ev := &core.UsageEvent{Time: base, Method: "UserAdmin.GetJWT", Outcome: core.Outcome(core.EUNAUTHORIZED), ClientAddr: "192.0.2.1"}
	must(t, s.RecordUsage(t.Context(), ev))
	must(t, s.RecordUsage(t.Context(), ev))
	checkReport(t, s, core.UsageFilter{}, []core.UsageRow{
		{Day: "2030-01-02", Method: "UserAdmin.GetJWT", Calls: 2, Failures: 2},
	})
	checkLines(t, s, core.UsageFilter{}, []*core.UsageEvent{ev, ev})
}

// A line comes back field for field.
func testRecordUsageRoundTrip(t *testing.T, s core.Store) {
	u := newUser(t, s, "alice")
	k := newSigningKey(t, s, base)
	issueToken(t, s, newToken(u, k.Kid, "jti-1", base, base.Add(time.Hour)))
	full := &core.UsageEvent{Time: base.Add(time.Second).In(east), AccountID: &u.AccountID, UserID: &u.ID, Application: "web shop",
		Method: "Address.Clean", Credits: 42, Outcome: core.OutcomeOK, ClientAddr: "[2001:db8::1]:443", JTI: "jti-1"}
	refused := &core.UsageEvent{Time: base.Add(2 * time.Second), AccountID: &u.AccountID, Method: "Phone.Validate",
		Outcome: core.Outcome(core.ENOCREDITS)}
	anonymous := &core.UsageEvent{Time: base.Add(3 * time.Second), Method: "UserAdmin.GetJWT", Outcome: core.Outcome(core.EUNAUTHORIZED)}
	for _, ev := range []*core.UsageEvent{full, refused, anonymous} {
		must(t, s.RecordUsage(t.Context(), ev))
	}
	checkLines(t, s, core.UsageFilter{From: base.Add(time.Second)}, []*core.UsageEvent{full, refused, anonymous})
}

func testUsageReportEmpty(t *testing.T, s core.Store) {
	checkReport(t, s, core.UsageFilter{}, nil)
	checkLines(t, s, core.UsageFilter{}, nil)
	a := newAccount(t, s, "acme", 0)
	f := core.UsageFilter{AccountID: &a.ID, From: base, To: base.Add(time.Hour)}
	checkReport(t, s, f, nil)
	checkLines(t, s, f, nil)
}

// usageFixture records a ledger over two days, not in time order, and
// returns the two users and the lines.
func usageFixture(t *testing.T, s core.Store) (acme, globex *core.User, lines []*core.UsageEvent) {
	acme, globex = newUser(t, s, "acme"), newUser(t, s, "globex")
	lines = []*core.UsageEvent{
		usageEvent(acme, base, "web", "Address.Clean", core.OutcomeOK, 2),
		usageEvent(acme, base.Add(6*time.Hour), "web", "Address.Clean", core.Outcome(core.ENOCREDITS), 0),
		usageEvent(acme, day2.Add(-time.Microsecond), "web", "Address.Clean", core.OutcomeOK, 3),
		usageEvent(acme, day2.Add(-time.Hour).In(east), "web", "Address.Clean", core.OutcomeOK, 1), // 01:00+02:00 is still day 1 in UTC
		usageEvent(acme, day2, "web", "Address.Clean", core.OutcomeOK, 5),
		usageEvent(acme, base, "mobile", "Address.Clean", core.OutcomeOK, 1),
		usageEvent(acme, base, "web", "Phone.Validate", core.Outcome(core.EFORBIDDEN), 0),
		usageEvent(globex, base, "web", "Address.Clean", core.OutcomeOK, 7),
		{Time: base, Method: "UserAdmin.GetJWT", Outcome: core.Outcome(core.EUNAUTHORIZED)},
		usageEvent(acme, base.Add(-time.Hour), "web", "Address.Clean", core.OutcomeOK, 4), // recorded late
	}
	for _, ev := range lines {
		must(t, s.RecordUsage(t.Context(), ev))
	}
	return acme, globex, lines
}

func testUsageReportGrouped(t *testing.T, s core.Store) {
	usageFixture(t, s)
	checkReport(t, s, core.UsageFilter{}, []core.UsageRow{
		row("2030-01-02", "", "", "UserAdmin.GetJWT", 1, 1, 0),
		row("2030-01-02", "acme", "mobile", "Address.Clean", 1, 0, 1),
		row("2030-01-02", "acme", "web", "Address.Clean", 5, 1, 10),
		row("2030-01-02", "acme", "web", "Phone.Validate", 1, 1, 0),
		row("2030-01-02", "globex", "web", "Address.Clean", 1, 0, 7),
		row("2030-01-03", "acme", "web", "Address.Clean", 1, 0, 5),
	})
}

// Methods that differ only in case are one method.
func testUsageReportMethodCase(t *testing.T, s core.Store) {
	u := newUser(t, s, "acme")
	for i, method := range []string{"Address.Clean", "address.clean", "ADDRESS.CLEAN"} {
		must(t, s.RecordUsage(t.Context(), usageEvent(u, base.Add(time.Duration(i)*time.Minute), "web", method, core.OutcomeOK, int64(i+1))))
	}
	must(t, s.RecordUsage(t.Context(), usageEvent(u, base, "web", "Address.Check", core.OutcomeOK, 10)))
	rows, err := s.UsageReport(t.Context(), core.UsageFilter{})
	must(t, err)
	var clean []*core.UsageRow
	for _, r := range rows {
		if strings.EqualFold(r.Method, "Address.Clean") {
			clean = append(clean, r)
		}
	}
	if len(rows) != 2 || len(clean) != 1 || clean[0].Calls != 3 || clean[0].Credits != 6 {
		t.Errorf("UsageReport = %s, want Address.Check and one Address.Clean (in any case) with 3 calls and 6 credits", show(rows))
	}
}

func testUsageReportFilterAccount(t *testing.T, s core.Store) {
	acme, globex, _ := usageFixture(t, s)
	checkReport(t, s, core.UsageFilter{AccountID: &acme.AccountID}, []core.UsageRow{
		row("2030-01-02", "acme", "mobile", "Address.Clean", 1, 0, 1),
		row("2030-01-02", "acme", "web", "Address.Clean", 5, 1, 10),
		row("2030-01-02", "acme", "web", "Phone.Validate", 1, 1, 0),
		row("2030-01-03", "acme", "web", "Address.Clean", 1, 0, 5),
	})
	checkReport(t, s, core.UsageFilter{AccountID: &globex.AccountID}, []core.UsageRow{
		row("2030-01-02", "globex", "web", "Address.Clean", 1, 0, 7),
	})
	none := globex.AccountID + 1000
	checkReport(t, s, core.UsageFilter{AccountID: &none}, nil)
}

// usageFilters are the filters of the time cases, by name, for an account.
func usageFilters(accountID *int64) []struct {
	name string
	f    core.UsageFilter
} {
	return []struct {
		name string
		f    core.UsageFilter
	}{
		{"To is exclusive", core.UsageFilter{To: day2}},
		{"From is inclusive", core.UsageFilter{From: day2}},
		{"From and To", core.UsageFilter{From: day2.Add(-time.Hour), To: day2}},
		{"From and To in another zone", core.UsageFilter{From: day2.Add(-time.Hour).In(east), To: day2.In(east)}},
		{"microsecond bounds", core.UsageFilter{From: day2.Add(-time.Microsecond), To: day2.Add(time.Microsecond)}},
		{"account and time", core.UsageFilter{AccountID: accountID, From: base, To: base.Add(time.Microsecond)}},
		{"empty range", core.UsageFilter{From: day2, To: day2}},
		{"after everything", core.UsageFilter{From: day2.Add(time.Microsecond)}},
	}
}

func testUsageReportFilterTime(t *testing.T, s core.Store) {
	acme, _, _ := usageFixture(t, s)
	day1 := []core.UsageRow{
		row("2030-01-02", "", "", "UserAdmin.GetJWT", 1, 1, 0),
		row("2030-01-02", "acme", "mobile", "Address.Clean", 1, 0, 1),
		row("2030-01-02", "acme", "web", "Address.Clean", 5, 1, 10),
		row("2030-01-02", "acme", "web", "Phone.Validate", 1, 1, 0),
		row("2030-01-02", "globex", "web", "Address.Clean", 1, 0, 7),
	}
	lastDay := []core.UsageRow{row("2030-01-03", "acme", "web", "Address.Clean", 1, 0, 5)}
	lateDay1 := []core.UsageRow{row("2030-01-02", "acme", "web", "Address.Clean", 2, 0, 4)}
	want := map[string][]core.UsageRow{
		"To is exclusive":             day1,
		"From is inclusive":           lastDay,
		"From and To":                 lateDay1,
		"From and To in another zone": lateDay1,
		"microsecond bounds": {
			row("2030-01-02", "acme", "web", "Address.Clean", 1, 0, 3),
			row("2030-01-03", "acme", "web", "Address.Clean", 1, 0, 5),
		},
		"account and time": {
			row("2030-01-02", "acme", "mobile", "Address.Clean", 1, 0, 1),
			row("2030-01-02", "acme", "web", "Address.Clean", 1, 0, 2),
			row("2030-01-02", "acme", "web", "Phone.Validate", 1, 1, 0),
		},
	}
	for _, tc := range usageFilters(&acme.AccountID) {
		t.Run(tc.name, func(t *testing.T) { checkReport(t, s, tc.f, want[tc.name]) })
	}
}

func testListUsageOldestFirst(t *testing.T, s core.Store) {
	_, _, lines := usageFixture(t, s)
	checkLines(t, s, core.UsageFilter{}, lines)
}

// ListUsage selects the lines UsageReport sums.
func testListUsageFilter(t *testing.T, s core.Store) {
	acme, globex, lines := usageFixture(t, s)
	filters := usageFilters(&acme.AccountID)
	filters = append(filters, struct {
		name string
		f    core.UsageFilter
	}{"account", core.UsageFilter{AccountID: &globex.AccountID}})
	for _, tc := range filters {
		t.Run(tc.name, func(t *testing.T) {
			var want []*core.UsageEvent
			for _, ev := range lines {
				if selects(tc.f, ev) {
					want = append(want, ev)
				}
			}
			checkLines(t, s, tc.f, want)
		})
	}
}

// selects reports whether f selects ev.
func selects(f core.UsageFilter, ev *core.UsageEvent) bool {
	switch {
	case f.AccountID != nil && (ev.AccountID == nil || *ev.AccountID != *f.AccountID):
		return false
	case !f.From.IsZero() && ev.Time.Before(f.From):
		return false
	case !f.To.IsZero() && !ev.Time.Before(f.To):
		return false
	}
	return true
}

// Pages of the ledger, oldest first, with lines of the same time.
func testListUsagePaged(t *testing.T, s core.Store) {
	u := newUser(t, s, "acme")
	var all []*core.UsageEvent
	for i, at := range []time.Time{base.Add(time.Hour), base, base, base.Add(time.Second), base, base.Add(time.Second), base.Add(2 * time.Hour)} {
		ev := usageEvent(u, at, "web", fmt.Sprintf("Method%d", i), core.OutcomeOK, int64(i))
		must(t, s.RecordUsage(t.Context(), ev))
		all = append(all, ev)
	}
	full, err := s.ListUsage(t.Context(), core.UsageFilter{}, core.Page{})
	must(t, err)
	checkOrder(t, "ListUsage", full, all, func(ev *core.UsageEvent) time.Time { return ev.Time }, false)
	checkPages(t, "ListUsage", full, func(p core.Page) ([]*core.UsageEvent, error) {
		return s.ListUsage(t.Context(), core.UsageFilter{}, p)
	})
	f := core.UsageFilter{AccountID: &u.AccountID, From: base, To: base.Add(2 * time.Hour)}
	full, err = s.ListUsage(t.Context(), f, core.Page{})
	must(t, err)
	checkOrder(t, "ListUsage(filtered)", full, all[:6], func(ev *core.UsageEvent) time.Time { return ev.Time }, false)
	checkPages(t, "ListUsage(filtered)", full, func(p core.Page) ([]*core.UsageEvent, error) {
		return s.ListUsage(t.Context(), f, p)
	})
}
