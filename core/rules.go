package core

import (
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits of a GetJWT request.
const (
	MaxAllowedMethods     = 100
	MaxMethodNameLen      = 128
	MaxApplicationLen     = 100
	MaxCreditsLimit       = 1<<53 - 1 // largest integer every JSON client reads exactly
	OptionApplicationName = "ApplicationName"
)

// expiresAtRE accepts RFC 3339 date-times with 0–7 fractional digits and an
// optional zone; a value without a zone is UTC.
var expiresAtRE = regexp.MustCompile(`^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?([Zz]|[+-]\d{2}:\d{2})?$`)

// ParseExpiresAt parses an expiresAt value and returns it in UTC.
func ParseExpiresAt(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, Errorf(EINVALID, "expiresAt is required (RFC 3339 date-time, e.g. 2030-01-31T12:00:00Z)")
	}
	m := expiresAtRE.FindStringSubmatch(s)
	if m == nil {
		return time.Time{}, Errorf(EINVALID, "expiresAt %q is not an RFC 3339 date-time with at most 7 fractional digits (e.g. 2030-01-31T12:00:00Z)", clip(s, 64))
	}
	n := func(i int) int { v, _ := strconv.Atoi(m[i]); return v }
	year, month, day, hour, minute, sec := n(1), n(2), n(3), n(4), n(5), n(6)
	nsec := 0
	if m[7] != "" {
		frac := m[7] + strings.Repeat("0", 9-len(m[7]))
		nsec, _ = strconv.Atoi(frac)
	}
	loc := time.UTC
	if z := m[8]; z != "" && z != "Z" && z != "z" {
		hh, _ := strconv.Atoi(z[1:3])
		mm, _ := strconv.Atoi(z[4:6])
		if hh > 23 || mm > 59 {
			return time.Time{}, Errorf(EINVALID, "expiresAt %q has an invalid zone offset", clip(s, 64))
		}
		off := hh*3600 + mm*60
		if z[0] == '-' {
			off = -off
		}
		loc = time.FixedZone("", off)
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, loc)
	if t.Year() != year || int(t.Month()) != month || t.Day() != day || t.Hour() != hour || t.Minute() != minute || t.Second() != sec {
		return time.Time{}, Errorf(EINVALID, "expiresAt %q is not a valid date and time", clip(s, 64))
	}
	return t.UTC(), nil
}

var methodRE = regexp.MustCompile(`^[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)?$`)

// NormalizeMethods validates allowedMethods entries (Service or
// Service.Method) and removes case-insensitive duplicates, keeping the first
// spelling and the order.
func NormalizeMethods(in []string) ([]string, error) {
	if len(in) > MaxAllowedMethods {
		return nil, Errorf(EINVALID, "allowedMethods has %d entries; at most %d are allowed", len(in), MaxAllowedMethods)
	}
	out := make([]string, 0, len(in))
	seen := make(map[string]bool, len(in))
	for i, m := range in {
		m = strings.TrimSpace(m)
		switch {
		case m == "":
			return nil, Errorf(EINVALID, "allowedMethods[%d] is empty; give Service or Service.Method", i)
		case len(m) > MaxMethodNameLen:
			return nil, Errorf(EINVALID, "allowedMethods[%d] is longer than %d characters", i, MaxMethodNameLen)
		case !methodRE.MatchString(m):
			return nil, Errorf(EINVALID, "allowedMethods[%d] %q is not Service or Service.Method (letters, digits and _ only)", i, clip(m, 64))
		}
		key := strings.ToLower(m)
		if !seen[key] {
			seen[key] = true
			out = append(out, m)
		}
	}
	return out, nil
}

// ParseClientIP validates a clientIp binding: empty (any address), an IPv4 or
// IPv6 address, or a CIDR range. It returns the canonical form.
func ParseClientIP(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return "", Errorf(EINVALID, "clientIp %q is not a valid IP address or CIDR range", clip(s, 64))
		}
		if p.Addr().Is4In6() {
			bits := p.Bits() - 96
			if bits < 0 {
				return "", Errorf(EINVALID, "clientIp %q is not a valid IP address or CIDR range", clip(s, 64))
			}
			p = netip.PrefixFrom(p.Addr().Unmap(), bits)
		}
		return p.Masked().String(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return "", Errorf(EINVALID, "clientIp %q is not a valid IP address or CIDR range", clip(s, 64))
	}
	return a.Unmap().String(), nil
}

// Option is one name/value pair of GetJWT's options.
type Option struct {
	Name  string
	Value string
}

// parseOptions returns the ApplicationName, refusing unknown or repeated options.
func parseOptions(opts []Option) (app string, err error) {
	seen := false
	for _, o := range opts {
		name := strings.TrimSpace(o.Name)
		if !strings.EqualFold(name, OptionApplicationName) {
			return "", Errorf(EINVALID, "unknown option %q; the supported option is %s", clip(name, 64), OptionApplicationName)
		}
		if seen {
			return "", Errorf(EINVALID, "option %s is given more than once", OptionApplicationName)
		}
		seen = true
		app = strings.TrimSpace(o.Value)
		if utf8.RuneCountInString(app) > MaxApplicationLen {
			return "", Errorf(EINVALID, "option %s is longer than %d characters", OptionApplicationName, MaxApplicationLen)
		}
		if !printable(app) {
			return "", Errorf(EINVALID, "option %s contains control characters or invalid UTF-8", OptionApplicationName)
		}
	}
	return app, nil
}

func validateMaxCredits(mc *int64) error {
	if mc != nil && (*mc < 1 || *mc > MaxCreditsLimit) {
		return Errorf(EINVALID, "maxCredits must be at least 1 and at most %d, or absent for no limit (got %d)", int64(MaxCreditsLimit), *mc)
	}
	return nil
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// clip shortens s for quoting in an error message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
