package storetest

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
)

// precise is a time as the suite compares it: in UTC, to the microsecond.
func precise(x time.Time) time.Time { return x.UTC().Truncate(time.Microsecond) }

// check requires got to be want, compared as the suite compares: times at
// microsecond precision (and every time in got in UTC), an empty slice the
// same as none. got and want are values or pointers of the store's types,
// or slices of them; a nil pointer is nothing.
func check(t *testing.T, what string, got, want any) {
	t.Helper()
	if d := diff(got, want); d != "" {
		t.Errorf("%s: %s", what, d)
	}
}

// diff says how got differs from want, as check compares them; "" when
// they are the same.
func diff(got, want any) string {
	var notUTC []string
	g := normal(got, func(x time.Time) time.Time {
		if x.Location() != time.UTC {
			notUTC = append(notUTC, x.String())
		}
		return precise(x)
	})
	w := normal(want, precise)
	var d []string
	if len(notUTC) > 0 {
		d = append(d, "times not in UTC: "+strings.Join(notUTC, ", "))
	}
	if !reflect.DeepEqual(g, w) {
		d = append(d, fmt.Sprintf("\n got  %s\n want %s", show(g), show(w)))
	}
	return strings.Join(d, "; ")
}

// show renders a normalised value: JSON follows pointers, which %+v does not.
func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%+v", v)
	}
	return string(b)
}

// normal returns a copy of v (a value or pointer of a store type, or a slice
// of them) with every time passed through tm and the differences the suite
// ignores removed: nil and empty slices are alike.
func normal(v any, tm func(time.Time) time.Time) any {
	at := func(p *time.Time) *time.Time {
		if p == nil {
			return nil
		}
		x := tm(*p)
		return &x
	}
	switch x := v.(type) {
	case nil:
		return nil
	case *core.Account:
		if x == nil {
			return nil
		}
		return normal(*x, tm)
	case core.Account:
		x.Created = tm(x.Created)
		return x
	case *core.User:
		if x == nil {
			return nil
		}
		return normal(*x, tm)
	case core.User:
		x.Created = tm(x.Created)
		return x
	case *core.UserInfo:
		if x == nil {
			return nil
		}
		return normal(*x, tm)
	case core.UserInfo:
		x.User = normal(x.User, tm).(core.User)
		return x
	case *core.APIKey:
		if x == nil {
			return nil
		}
		return normal(*x, tm)
	case core.APIKey:
		x.Created, x.Revoked = tm(x.Created), at(x.Revoked)
		return x
	case *core.ServiceKey:
		if x == nil {
			return nil
		}
		return normal(*x, tm)
	case core.ServiceKey:
		x.Created, x.Revoked = tm(x.Created), at(x.Revoked)
		return x
	case *core.SigningKey:
		if x == nil {
			return nil
		}
		return normal(*x, tm)
	case core.SigningKey:
		x.Private, x.Public = bytesOrNil(x.Private), bytesOrNil(x.Public)
		x.Created, x.Retired = tm(x.Created), at(x.Retired)
		return x
	case *core.IssuedToken:
		if x == nil {
			return nil
		}
		return normal(*x, tm)
	case core.IssuedToken:
		if len(x.AllowedMethods) == 0 {
			x.AllowedMethods = nil // both mean every method
		}
		x.IssuedAt, x.ExpiresAt, x.Revoked = tm(x.IssuedAt), tm(x.ExpiresAt), at(x.Revoked)
		return x
	case *core.UsageEvent:
		if x == nil {
			return nil
		}
		return normal(*x, tm)
	case core.UsageEvent:
		x.Time = tm(x.Time)
		return x
	case core.UsageRow:
		return x
	case *core.ChargeRecord:
		if x == nil {
			return nil
		}
		return normal(*x, tm)
	case core.ChargeRecord:
		x.Time = tm(x.Time)
		return x
	case core.TokenState:
		return x
	case *core.ChargeState:
		if x == nil {
			return nil
		}
		return normal(*x, tm)
	case core.ChargeState:
		if x.Previous != nil {
			p := normal(*x.Previous, tm).(core.ChargeRecord)
			x.Previous = &p
		}
		return x
	case []*core.Account:
		return each(x, tm)
	case []*core.UserInfo:
		return each(x, tm)
	case []*core.APIKey:
		return each(x, tm)
	case []*core.ServiceKey:
		return each(x, tm)
	case []*core.SigningKey:
		return each(x, tm)
	case []*core.IssuedToken:
		return each(x, tm)
	case []*core.UsageEvent:
		return each(x, tm)
	case []core.UsageRow:
		return each(x, tm)
	case []*core.ChargeRecord:
		return each(x, tm)
	case map[string]int64:
		return x
	case core.ThrottleCounter:
		x.Last, x.Until = tm(x.Last), tm(x.Until)
		return x
	case map[string]core.ThrottleCounter:
		out := make(map[string]any, len(x))
		for k, c := range x {
			out[k] = normal(c, tm)
		}
		return out
	}
	panic(fmt.Sprintf("storetest: check cannot compare a %T", v))
}

func each[T any](xs []T, tm func(time.Time) time.Time) []any {
	out := make([]any, 0, len(xs))
	for _, x := range xs {
		out = append(out, normal(x, tm))
	}
	return out
}

func bytesOrNil(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantErr requires err to be (or wrap) want.
func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want %v", err, want)
	}
}

// checkPages requires every window of a listing to be that window of all,
// the whole listing in its order: list(p) is the listing of page p.
func checkPages[T any](t *testing.T, what string, all []T, list func(core.Page) ([]T, error)) {
	t.Helper()
	n := len(all)
	if n < 3 {
		panic("storetest: checkPages needs at least 3 items")
	}
	window := func(off, lim int) []T {
		lo := min(off, n)
		hi := n
		if lim > 0 {
			hi = min(off+lim, n)
		}
		return all[lo:hi]
	}
	for _, p := range []core.Page{
		{}, {Limit: -1}, {Limit: 1}, {Limit: 2}, {Offset: 1, Limit: 2}, {Offset: 1}, {Offset: n - 1, Limit: 5},
		{Offset: n - 2, Limit: 2}, {Offset: n}, {Offset: n, Limit: 1}, {Offset: n + 10, Limit: 3}, {Limit: n + 10},
	} {
		got, err := list(p)
		must(t, err)
		check(t, fmt.Sprintf("%s page %+v", what, p), got, window(p.Offset, p.Limit))
	}
	// Pages of one read each, one after the other, make up the listing.
	var pages []T
	for off := 0; off < n; off += 2 {
		got, err := list(core.Page{Offset: off, Limit: 2})
		must(t, err)
		pages = append(pages, got...)
	}
	check(t, what+" read two at a time", pages, all)
}

func checkCredits(t *testing.T, s core.Store, accountID, want int64) {
	t.Helper()
	a, err := s.AccountByID(t.Context(), accountID)
	must(t, err)
	if a.Credits != want {
		t.Errorf("account %q has %d credits, want %d", a.Name, a.Credits, want)
	}
}

func checkSpent(t *testing.T, s core.Store, jti string, want int64) {
	t.Helper()
	tok, err := s.TokenByJTI(t.Context(), jti)
	must(t, err)
	if tok.CreditsSpent != want {
		t.Errorf("token %s CreditsSpent = %d, want %d", jti, tok.CreditsSpent, want)
	}
}

func checkUserCount(t *testing.T, s core.Store, want int64) {
	t.Helper()
	n, err := s.CountUsers(t.Context())
	must(t, err)
	if n != want {
		t.Errorf("CountUsers = %d, want %d", n, want)
	}
}

func checkAccounts(t *testing.T, s core.Store, want ...*core.Account) {
	t.Helper()
	as, err := s.ListAccounts(t.Context(), core.Page{})
	must(t, err)
	check(t, "ListAccounts", as, want)
}

func checkToken(t *testing.T, s core.Store, want *core.IssuedToken) {
	t.Helper()
	got, err := s.TokenByJTI(t.Context(), want.JTI)
	must(t, err)
	check(t, "TokenByJTI("+want.JTI+")", got, want)
}

func row(day, account, app, method string, calls, failures, credits int64) core.UsageRow {
	return core.UsageRow{Day: day, Account: account, Application: app, Method: method, Calls: calls, Failures: failures, Credits: credits}
}

// checkReport requires UsageReport(f) to hold exactly want, in any order.
func checkReport(t *testing.T, s core.Store, f core.UsageFilter, want []core.UsageRow) {
	t.Helper()
	rows, err := s.UsageReport(t.Context(), f)
	must(t, err)
	got := make([]core.UsageRow, 0, len(rows))
	for _, r := range rows {
		got = append(got, *r)
	}
	byKey := func(a, b core.UsageRow) int {
		return cmp.Or(strings.Compare(a.Day, b.Day), strings.Compare(a.Account, b.Account),
			strings.Compare(a.Application, b.Application), strings.Compare(a.Method, b.Method))
	}
	slices.SortFunc(got, byKey)
	want = slices.SortedFunc(slices.Values(want), byKey)
	check(t, fmt.Sprintf("UsageReport(%s)", show(f)), got, want)
}

// checkLines requires ListUsage(f) to be want, oldest first; lines of the
// same time may come in any order.
func checkLines(t *testing.T, s core.Store, f core.UsageFilter, want []*core.UsageEvent) {
	t.Helper()
	got, err := s.ListUsage(t.Context(), f, core.Page{})
	must(t, err)
	checkOrder(t, fmt.Sprintf("ListUsage(%s)", show(f)), got, want, func(ev *core.UsageEvent) time.Time { return ev.Time }, false)
}

// checkOrder requires got to hold what want holds, ordered by the time at
// returns (oldest first, or newestFirst); items of the same time may come in
// any order.
func checkOrder[T any](t *testing.T, what string, got, want []T, at func(T) time.Time, newestFirst bool) {
	t.Helper()
	byTime := func(a, b T) int {
		c := precise(at(a)).Compare(precise(at(b)))
		if newestFirst {
			return -c
		}
		return c
	}
	if !slices.IsSortedFunc(got, byTime) {
		t.Errorf("%s is out of order: %s", what, show(normal(got, precise)))
	}
	sorted := func(xs []T) []T {
		return slices.SortedStableFunc(slices.Values(xs), func(a, b T) int {
			return cmp.Or(byTime(a, b), strings.Compare(show(normal(a, precise)), show(normal(b, precise))))
		})
	}
	check(t, what, sorted(got), sorted(want))
}
