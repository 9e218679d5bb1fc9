package storetest

import (
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
)

// The suite's comparison is at microsecond precision: what a store may drop
// below it never counts, what it must keep always does.
func TestDiff_Time(t *testing.T) {
	parsed, err := time.Parse(time.RFC3339Nano, "2030-01-02T05:04:05.123456+02:00")
	if err != nil {
		t.Fatal(err)
	}
	parsed = parsed.UTC()
	for _, tc := range []struct {
		name      string
		got, want time.Time
		same      bool
	}{
		{"equal", base, base, true},
		{"sub-microsecond digits in want", base, base.Add(999 * time.Nanosecond), true},
		{"sub-microsecond digits in got", base.Add(999 * time.Nanosecond), base, true},
		{"parsed", parsed, base, true},
		{"want in another zone", base, base.In(east), true},
		{"a microsecond apart", base, base.Add(time.Microsecond), false},
		{"a microsecond apart, below", base.Add(-time.Nanosecond), base, false},
		{"got in another zone", base.In(east), base, false},
		{"got in Local", base.In(time.Local), base, time.Local == time.UTC},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := diff(&core.Account{Created: tc.got}, &core.Account{Created: tc.want})
			if (d == "") != tc.same {
				t.Errorf("diff(%v, %v) = %q; want same: %v", tc.got, tc.want, d, tc.same)
			}
		})
	}
	now := time.Now() // with a monotonic reading, in Local
	if d := diff(&core.Account{Created: now.UTC()}, &core.Account{Created: now}); d != "" {
		t.Errorf("a time read back without its monotonic reading differs: %s", d)
	}
}

func TestDiff_Values(t *testing.T) {
	for _, tc := range []struct {
		name      string
		got, want any
		same      bool
	}{
		{"nil and empty listings", []*core.Account(nil), []*core.Account{}, true},
		{"nil and empty methods", &core.IssuedToken{AllowedMethods: []string{}}, &core.IssuedToken{}, true},
		{"nil and empty public key", &core.SigningKey{Public: []byte{}}, &core.SigningKey{}, true},
		{"nil pointers", (*core.Account)(nil), (*core.Account)(nil), true},
		{"value and pointer", core.Account{ID: 1}, &core.Account{ID: 1}, true},
		{"a field", &core.Account{Credits: 1}, &core.Account{Credits: 2}, false},
		{"nil and zero pointer", &core.IssuedToken{MaxCredits: ptr[int64](0)}, &core.IssuedToken{}, false},
		{"pointed-to values", &core.IssuedToken{MaxCredits: ptr[int64](1)}, &core.IssuedToken{MaxCredits: ptr[int64](2)}, false},
		{"a pointed-to time", &core.APIKey{Revoked: ptr(base)}, &core.APIKey{Revoked: ptr(base.Add(time.Second))}, false},
		{"a time in a record", &core.ChargeState{Previous: &core.ChargeRecord{Time: base}},
			core.ChargeState{Previous: &core.ChargeRecord{Time: base.Add(time.Microsecond)}}, false},
		{"order", []*core.Account{{ID: 1}, {ID: 2}}, []*core.Account{{ID: 2}, {ID: 1}}, false},
		{"length", []*core.Account{{ID: 1}}, []*core.Account{{ID: 1}, {ID: 1}}, false},
		{"nil and zero", (*core.Account)(nil), &core.Account{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if d := diff(tc.got, tc.want); (d == "") != tc.same {
				t.Errorf("diff = %q; want same: %v", d, tc.same)
			}
		})
	}
}
