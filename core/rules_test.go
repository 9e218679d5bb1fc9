package core_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
)

func TestParseExpiresAt(t *testing.T) {
	utc := func(y int, mo time.Month, d, h, mi, s, ns int) time.Time {
		return time.Date(y, mo, d, h, mi, s, ns, time.UTC)
	}
	ok := []struct {
		in   string
		want time.Time
	}{
		{"2030-01-02T03:04:05", utc(2030, 1, 2, 3, 4, 5, 0)}, // no zone = UTC
		{"2030-01-02T03:04:05Z", utc(2030, 1, 2, 3, 4, 5, 0)},
		{"2030-01-02T03:04:05z", utc(2030, 1, 2, 3, 4, 5, 0)},
		{"2030-01-02t03:04:05Z", utc(2030, 1, 2, 3, 4, 5, 0)},
		{"2030-01-02T03:04:05.1Z", utc(2030, 1, 2, 3, 4, 5, 100_000_000)},
		{"2030-01-02T03:04:05.12Z", utc(2030, 1, 2, 3, 4, 5, 120_000_000)},
		{"2030-01-02T03:04:05.123Z", utc(2030, 1, 2, 3, 4, 5, 123_000_000)},
		{"2030-01-02T03:04:05.1234Z", utc(2030, 1, 2, 3, 4, 5, 123_400_000)},
		{"2030-01-02T03:04:05.12345Z", utc(2030, 1, 2, 3, 4, 5, 123_450_000)},
		{"2030-01-02T03:04:05.123456Z", utc(2030, 1, 2, 3, 4, 5, 123_456_000)},
		{"2030-01-02T03:04:05.1234567Z", utc(2030, 1, 2, 3, 4, 5, 123_456_700)},
		{"2030-01-02T03:04:05.0000001", utc(2030, 1, 2, 3, 4, 5, 100)},
		{"2030-01-02T03:04:05+02:00", utc(2030, 1, 2, 1, 4, 5, 0)},
		{"2030-01-02T03:04:05-05:30", utc(2030, 1, 2, 8, 34, 5, 0)},
		{"2030-01-02T03:04:05.5+02:00", utc(2030, 1, 2, 1, 4, 5, 500_000_000)},
		{"2030-01-01T01:00:00+02:00", utc(2029, 12, 31, 23, 0, 0, 0)}, // crosses a year
		{"2030-01-02T03:04:05+00:00", utc(2030, 1, 2, 3, 4, 5, 0)},
		{"2030-01-02T03:04:05-00:00", utc(2030, 1, 2, 3, 4, 5, 0)},
		{"2030-01-02T03:04:05+23:59", utc(2030, 1, 1, 3, 5, 5, 0)},
		{"2028-02-29T00:00:00Z", utc(2028, 2, 29, 0, 0, 0, 0)}, // leap day
		{"2030-12-31T23:59:59.9999999Z", utc(2030, 12, 31, 23, 59, 59, 999_999_900)},
		{" 2030-01-02T03:04:05Z\t", utc(2030, 1, 2, 3, 4, 5, 0)}, // surrounding space is tolerated
	}
	for _, tc := range ok {
		t.Run("OK/"+tc.in, func(t *testing.T) {
			got, err := core.ParseExpiresAt(tc.in)
			if err != nil {
				t.Fatalf("ParseExpiresAt(%q): %v", tc.in, err)
			}
			if !got.Equal(tc.want) {
				t.Errorf("ParseExpiresAt(%q) = %v, want %v", tc.in, got, tc.want)
			}
			if got.Location() != time.UTC {
				t.Errorf("ParseExpiresAt(%q) location = %v, want UTC", tc.in, got.Location())
			}
		})
	}

	bad := []struct{ name, in string }{
		{"8 fractional digits", "2030-01-02T03:04:05.12345678Z"},
		{"8 fractional digits no zone", "2030-01-02T03:04:05.12345678"},
		{"dot without digits", "2030-01-02T03:04:05.Z"},
		{"February 30", "2030-02-30T00:00:00Z"},
		{"February 29 not leap", "2030-02-29T00:00:00Z"},
		{"April 31", "2030-04-31T00:00:00Z"},
		{"month 13", "2030-13-01T00:00:00Z"},
		{"month 0", "2030-00-10T00:00:00Z"},
		{"day 0", "2030-01-00T00:00:00Z"},
		{"day 32", "2030-01-32T00:00:00Z"},
		{"hour 24", "2030-01-01T24:00:00Z"},
		{"minute 60", "2030-01-01T00:60:00Z"},
		{"second 60", "2030-01-01T00:00:60Z"},
		{"offset hour 24", "2030-01-02T03:04:05+24:00"},
		{"offset minute 60", "2030-01-02T03:04:05+02:60"},
		{"offset without colon", "2030-01-02T03:04:05+0200"},
		{"offset hours only", "2030-01-02T03:04:05+02"},
		{"named zone", "2030-01-02T03:04:05 UTC"},
		{"space for T", "2030-01-02 03:04:05Z"},
		{"no seconds", "2030-01-02T03:04Z"},
		{"date only", "2030-01-02"},
		{"basic format", "20300102T030405Z"},
		{"two-digit year", "30-01-02T03:04:05Z"},
		{"non-ASCII digits", "٢٠٣٠-01-02T03:04:05Z"},
		{"garbage", "tomorrow"},
		{"unix seconds", "1893553445"},
		{"trailing junk", "2030-01-02T03:04:05Zjunk"},
		{"empty", ""},
		{"blank", "   "},
	}
	for _, tc := range bad {
		t.Run("Err/"+tc.name, func(t *testing.T) {
			got, err := core.ParseExpiresAt(tc.in)
			if err == nil {
				t.Fatalf("ParseExpiresAt(%q) = %v, want an error", tc.in, got)
			}
			assertErr(t, err, core.EINVALID, "expiresAt")
			if !got.IsZero() {
				t.Errorf("ParseExpiresAt(%q) returned %v with its error, want the zero time", tc.in, got)
			}
		})
	}

	t.Run("ErrLongInputClipped", func(t *testing.T) {
		_, err := core.ParseExpiresAt(strings.Repeat("9", 10_000))
		assertErr(t, err, core.EINVALID, "expiresAt")
		if n := len(core.ErrorMessage(err)); n > 300 {
			t.Errorf("message is %d bytes; a long input must be clipped", n)
		}
	})
}

func TestNormalizeMethods(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		for _, tc := range []struct{ in, want []string }{
			{nil, []string{}},
			{[]string{}, []string{}},
			{[]string{"UserAdmin"}, []string{"UserAdmin"}},
			{[]string{"UserAdmin.GetJWT"}, []string{"UserAdmin.GetJWT"}},
			{[]string{"Address_2.Clean_3", "123.456", "_"}, []string{"Address_2.Clean_3", "123.456", "_"}},
			{[]string{" UserAdmin "}, []string{"UserAdmin"}},
			{
				[]string{"AddressCapture.GetFullAddress", "UserAdmin", "addresscapture.getfulladdress", "USERADMIN", "Phone", "phone"},
				[]string{"AddressCapture.GetFullAddress", "UserAdmin", "Phone"},
			},
			{[]string{"b", "a", "B", "c", "A"}, []string{"b", "a", "c"}},
		} {
			got, err := core.NormalizeMethods(tc.in)
			if err != nil {
				t.Errorf("NormalizeMethods(%q): %v", tc.in, err)
				continue
			}
			if got == nil || !slices.Equal(got, tc.want) {
				t.Errorf("NormalizeMethods(%q) = %#v, want %#v", tc.in, got, tc.want)
			}
		}
	})
	t.Run("OKLimits", func(t *testing.T) {
		many := make([]string, core.MaxAllowedMethods)
		for i := range many {
			many[i] = fmt.Sprintf("S%d", i)
		}
		if got, err := core.NormalizeMethods(many); err != nil || len(got) != core.MaxAllowedMethods {
			t.Errorf("%d entries: got %d, %v", core.MaxAllowedMethods, len(got), err)
		}
		long := strings.Repeat("a", core.MaxMethodNameLen)
		if _, err := core.NormalizeMethods([]string{long}); err != nil {
			t.Errorf("%d characters: %v", core.MaxMethodNameLen, err)
		}
	})
}

func TestParseClientIP(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"  ", ""},
		{"203.0.113.9", "203.0.113.9"},
		{" 203.0.113.9 ", "203.0.113.9"},
		{"2001:DB8::1", "2001:db8::1"},
		{"2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
		{"::FFFF:c000:0201", "192.0.2.1"},
		{"192.0.2.77/24", "192.0.2.0/24"},
		{"192.0.2.77/32", "192.0.2.77/32"},
		{"0.0.0.0/0", "0.0.0.0/0"},
		{"2001:db8:1:2::1/48", "2001:db8:1::/48"},
		{"::ffff:192.0.2.77/120", "192.0.2.0/24"},
		{"::ffff:192.0.2.77/96", "0.0.0.0/0"},
	} {
		got, err := core.ParseClientIP(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseClientIP(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{
		"not-an-ip", "256.1.1.1", "1.2.3", "192.0.2.1:80", "[2001:db8::1]:443", "fe80::1%eth0",
		"fe80::1%eth0/64", "192.0.2.1/33", "2001:db8::/129", "192.0.2.1/", "/24", "::ffff:192.0.2.1/95",
		"192.0.2.1/24/8", "192.0.2.1 ,192.0.2.2",
	} {
		got, err := core.ParseClientIP(in)
		if err == nil {
			t.Errorf("ParseClientIP(%q) = %q, want an error", in, got)
			continue
		}
		assertErr(t, err, core.EINVALID, "clientIp")
	}
}
