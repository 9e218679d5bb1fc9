package core_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/internal/testenv"
	"github.com/jwtgate/jwtgate/token"
)

// Fuzz targets of core. Their seed corpora are the f.Add calls below and
// the files in testdata/fuzz/<target>/ (findings are kept there as
// regression seeds); `go test` runs every seed, `go test -fuzz` explores.

// FuzzParseExpiresAt: ParseExpiresAt accepts exactly the RFC 3339
// date-times with 0–7 fractional digits and an optional zone (checked by a
// hand-written grammar), returns the instant they name in UTC, and what it
// accepts re-formats and re-parses to the same instant.
func FuzzParseExpiresAt(f *testing.F) {
	for _, s := range []string{
		"2030-01-02T03:04:05Z", "2030-01-02T03:04:05", "2030-01-02t03:04:05z", " 2030-01-02T03:04:05Z\t",
		"2030-01-02T03:04:05.1234567+23:59", "2030-01-02T03:04:05.12345678Z", "2030-01-02T03:04:05.Z",
		"2028-02-29T00:00:00Z", "2030-02-29T00:00:00Z", "2100-02-29T00:00:00Z", "2000-02-29T00:00:00Z",
		"2030-01-02T24:00:00Z", "2030-01-02T03:04:60Z", "2030-01-02T03:04:05+24:00", "2030-01-02T03:04:05+05:60",
		"2030-01-02T03:04:05+0500", "2030-01-02 03:04:05Z", "0000-01-01T00:00:00+00:01", "9999-12-31T23:59:59.9999999-23:59",
		"+2030-01-02T03:04:05Z", "２０３０-01-02T03:04:05Z", "2030-1-2T3:4:5Z", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := core.ParseExpiresAt(s)
		want, valid := refExpiresAt(s)
		if err != nil {
			if valid {
				t.Fatalf("ParseExpiresAt(%q) refused a valid date-time (%v): %v", s, want, err)
			}
			if code := core.ErrorCode(err); code != core.EINVALID {
				t.Fatalf("ParseExpiresAt(%q): code %q, want %q", s, code, core.EINVALID)
			}
			// The input is quoted clipped: a refusal never echoes a large input.
			if msg := core.ErrorMessage(err); !strings.Contains(msg, "expiresAt") || len(msg) > 512 {
				t.Fatalf("ParseExpiresAt(%q): message %q", s, msg)
			}
			return
		}
		if !valid {
			t.Fatalf("ParseExpiresAt(%q) = %v, but it is not an RFC 3339 date-time with at most 7 fractional digits", s, got)
		}
		if !got.Equal(want) || got.Location() != time.UTC {
			t.Fatalf("ParseExpiresAt(%q) = %v, want %v in UTC", s, got, want)
		}
		// In UTC, the instant is written with a four-digit year only in
		// years 0–9999: "0000-01-01T00:00:00+00:01" is an instant of year -1.
		if y := got.Year(); y < 0 || y > 9999 {
			return
		}
		for _, layout := range []string{"2006-01-02T15:04:05.0000000Z07:00", time.RFC3339Nano, "2006-01-02T15:04:05.9999999"} {
			txt := got.Format(layout)
			again, err := core.ParseExpiresAt(txt)
			if err != nil || !again.Equal(got) {
				t.Fatalf("ParseExpiresAt(%q) = %v, formatted %q, which parses to %v, %v", s, got, txt, again, err)
			}
		}
	})
}

// refExpiresAt parses s by the grammar of RFC 3339 section 5.6 restricted to
// 0–7 fractional digits, a missing zone meaning UTC, and no leap second,
// checking each field's range by hand.
func refExpiresAt(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	num := func(t string) (int, bool) {
		n := 0
		for i := 0; i < len(t); i++ {
			if t[i] < '0' || t[i] > '9' {
				return 0, false
			}
			n = n*10 + int(t[i]-'0')
		}
		return n, t != ""
	}
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	var f [6]int
	for i, r := range [6][2]int{{0, 4}, {5, 7}, {8, 10}, {11, 13}, {14, 16}, {17, 19}} {
		n, ok := num(s[r[0]:r[1]])
		if !ok {
			return time.Time{}, false
		}
		f[i] = n
	}
	year, month, day, hour, minute, sec := f[0], f[1], f[2], f[3], f[4], f[5]
	rest := s[19:]
	nsec := 0
	if strings.HasPrefix(rest, ".") {
		i := 1
		for i < len(rest) && '0' <= rest[i] && rest[i] <= '9' {
			i++
		}
		digits := rest[1:i]
		if len(digits) < 1 || len(digits) > 7 {
			return time.Time{}, false
		}
		nsec, _ = num(digits + strings.Repeat("0", 9-len(digits)))
		rest = rest[i:]
	}
	offset := 0
	switch {
	case rest == "" || rest == "Z" || rest == "z":
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		hh, ok1 := num(rest[1:3])
		mm, ok2 := num(rest[4:6])
		if !ok1 || !ok2 || hh > 23 || mm > 59 {
			return time.Time{}, false
		}
		offset = hh*3600 + mm*60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, false
	}
	days := 31
	switch month {
	case 4, 6, 9, 11:
		days = 30
	case 2:
		days = 28
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			days = 29
		}
	}
	if month < 1 || month > 12 || day < 1 || day > days || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.FixedZone("", offset)).UTC(), true
}

// FuzzClientIP: ParseClientIP accepts what net/netip reads as an address or
// a prefix (without zone; an IPv4-mapped prefix only within the mapped
// range); its canonical form is netip's own text, is idempotent, and binds
// exactly the addresses the input did; and the binding checks (VerifyJWT's
// clientIp, a bearer caller's address) agree with a reference that compares
// the addresses bit by bit in the 128-bit space, IPv4 and IPv4-mapped IPv6
// being one family.
func FuzzClientIP(f *testing.F) {
	for _, s := range [][2]string{
		{"", "198.51.100.9"}, {"198.51.100.9", "198.51.100.9"}, {"198.51.100.9", "::ffff:198.51.100.9"},
		{"::ffff:198.51.100.9", "198.51.100.9"}, {"198.51.100.0/24", "198.51.101.1"}, {"::ffff:198.51.100.0/120", "::FFFF:c633:6401"},
		{"::ffff:0:0/96", "203.0.113.1"}, {"::ffff:0:0/95", "203.0.113.1"}, {"::/0", "203.0.113.1"}, {"0.0.0.0/0", "::1"},
		{"2001:db8::/32", "2001:db8::1"}, {"2001:DB8:0::1", "2001:db8::1%eth0"}, {"fe80::1%eth0", "fe80::1"},
		{"198.51.100.9/32", "198.51.100.9 "}, {"198.51.100.9/032", ""}, {"198.51.100.9/+8", "x"}, {"1.2.3.4/24/8", "1.2.3.4"},
		{"::198.51.100.9", "198.51.100.9"}, {"64:ff9b::198.51.100.9", "198.51.100.9"}, {" 2001:db8::1/128\n", "[2001:db8::1]:443"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, binding, client string) {
		canon, err := core.ParseClientIP(binding)
		ref, valid := refBinding(binding)
		if err != nil {
			if valid {
				t.Fatalf("ParseClientIP(%q) refused a valid binding: %v", binding, err)
			}
			if code, msg := core.ErrorCode(err), core.ErrorMessage(err); code != core.EINVALID || !strings.Contains(msg, "clientIp") || len(msg) > 512 {
				t.Fatalf("ParseClientIP(%q): %q %q", binding, code, msg)
			}
			return
		}
		if !valid {
			t.Fatalf("ParseClientIP(%q) = %q, but it is not an address or CIDR range", binding, canon)
		}
		if again, err := core.ParseClientIP(canon); err != nil || again != canon {
			t.Fatalf("ParseClientIP(%q) = %q, which is not canonical: it parses to %q, %v", binding, canon, again, err)
		}
		if canon != "" {
			if p, err := netip.ParsePrefix(canon); err == nil {
				if p != p.Masked() || p.String() != canon || p.Addr().Is4In6() {
					t.Fatalf("ParseClientIP(%q) = %q: not a masked, unmapped prefix in netip's form", binding, canon)
				}
			} else if a, err := netip.ParseAddr(canon); err != nil || a.String() != canon || a.Is4In6() {
				t.Fatalf("ParseClientIP(%q) = %q: not an unmapped address in netip's form", binding, canon)
			}
		}
		cref, ok := refBinding(canon)
		if !ok {
			t.Fatalf("the reference refuses the canonical form %q of %q", canon, binding)
		}
		probes := append([]string{client}, ref.probes()...)
		for _, c := range probes {
			// The original binding and its canonical form bind the same addresses.
			if refAllowed(ref, c) != refAllowed(cref, c) {
				t.Fatalf("binding %q and its canonical form %q differ on %q", binding, canon, c)
			}
			checkClientAllowed(t, canon, cref, c)
			for _, addr := range callerForms(c) {
				checkCallerAllowed(t, canon, cref, addr)
			}
		}
	})
}

// refBind is a binding as the reference reads it: nothing, or the first n
// bits of a 128-bit address (IPv4 as IPv4-mapped) in one family.
type refBind struct {
	any bool
	v4  bool
	n   int
	a   [16]byte
}

func refBinding(s string) (refBind, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return refBind{any: true}, true
	}
	addr, bits, isPrefix := strings.Cut(s, "/")
	a, err := netip.ParseAddr(addr)
	if err != nil || a.Zone() != "" {
		return refBind{}, false
	}
	b := refBind{v4: a.Is4() || a.Is4In6(), n: 128, a: a.As16()}
	if isPrefix {
		// Decimal without sign or leading zero, as netip writes it.
		n := 0
		for i := 0; i < len(bits); i++ {
			if bits[i] < '0' || bits[i] > '9' || (i == 0 && bits[i] == '0' && len(bits) > 1) || n > 128 {
				return refBind{}, false
			}
			n = n*10 + int(bits[i]-'0')
		}
		if bits == "" || n > a.BitLen() {
			return refBind{}, false
		}
		if a.Is4() {
			n += 96
		}
		if a.Is4In6() && n < 96 {
			return refBind{}, false // a range wider than the IPv4-mapped addresses
		}
		b.n = n
	}
	return b, true
}

// covers reports whether a is inside b, bit by bit.
func (b refBind) covers(a netip.Addr) bool {
	if b.any {
		return true
	}
	if (a.Is4() || a.Is4In6()) != b.v4 {
		return false
	}
	x := a.As16()
	for i := 0; i < b.n; i++ {
		if (x[i/8]^b.a[i/8])&(0x80>>(i%8)) != 0 {
			return false
		}
	}
	return true
}

// refAllowed is the reference for a clientIp checked against b: whether it
// is allowed, treating an unparsable address as not allowed.
func refAllowed(b refBind, client string) bool {
	a, err := netip.ParseAddr(strings.TrimSpace(client))
	if err != nil || a.Zone() != "" {
		return false
	}
	return b.covers(a)
}

// probes are addresses at the edges of b: its own, one just inside the
// prefix, one just outside, each also in its other IPv4 spelling.
func (b refBind) probes() []string {
	if b.any {
		return nil
	}
	flip := func(i int) [16]byte {
		x := b.a
		x[i/8] ^= 0x80 >> (i % 8)
		return x
	}
	cands := [][16]byte{b.a, flip(127)}
	if b.n > 0 {
		cands = append(cands, flip(b.n-1))
	}
	if b.n < 128 {
		cands = append(cands, flip(b.n))
	}
	var out []string
	for _, c := range cands {
		a := netip.AddrFrom16(c)
		out = append(out, a.String())
		if a.Is4In6() {
			out = append(out, a.Unmap().String())
		}
	}
	return out
}

func checkClientAllowed(t *testing.T, binding string, b refBind, client string) {
	t.Helper()
	err := core.ClientAllowed(binding, client)
	c := strings.TrimSpace(client)
	a, perr := netip.ParseAddr(c)
	code, msg := core.ErrorCode(err), core.ErrorMessage(err)
	switch {
	case c != "" && (perr != nil || a.Zone() != ""):
		if code != core.EINVALID || !strings.Contains(msg, "is not a valid IP address") || len(msg) > 512 {
			t.Fatalf("binding %q, clientIp %q: %v, want EINVALID", binding, client, err)
		}
	case b.any:
		if err != nil {
			t.Fatalf("unbound, clientIp %q: %v", client, err)
		}
	case c == "":
		if code != core.EFORBIDDEN || !strings.Contains(msg, "clientIp is required") {
			t.Fatalf("binding %q, no clientIp: %v", binding, err)
		}
	case b.covers(a):
		if err != nil {
			t.Fatalf("binding %q refuses clientIp %q, which it covers: %v", binding, client, err)
		}
	default:
		want := "token is bound to client IP " + binding + "; " + a.Unmap().String() + " is not allowed"
		if code != core.EFORBIDDEN || msg != want {
			t.Fatalf("binding %q, clientIp %q: %v, want EFORBIDDEN %q", binding, client, err, want)
		}
	}
}

// callerForms are the spellings a transport may give of an address: as
// is, with a port, and (IPv6) with a zone.
func callerForms(c string) []string {
	out := []string{c}
	a, err := netip.ParseAddr(strings.TrimSpace(c))
	if err != nil {
		return out
	}
	out = append(out, netip.AddrPortFrom(a, 443).String())
	if a.Is6() && a.Zone() == "" {
		out = append(out, a.WithZone("eth0").String(), netip.AddrPortFrom(a.WithZone("eth0"), 8443).String())
	}
	return out
}

func checkCallerAllowed(t *testing.T, binding string, b refBind, addr string) {
	t.Helper()
	err := core.CallerAllowed(binding, addr)
	if b.any {
		if err != nil {
			t.Fatalf("unbound, caller %q: %v", addr, err)
		}
		return
	}
	a, perr := netip.ParseAddr(addr)
	if perr != nil {
		ap, err := netip.ParseAddrPort(addr)
		if err != nil {
			a = netip.Addr{}
		} else {
			a = ap.Addr()
		}
	}
	allowed := a.IsValid() && b.covers(a.WithZone(""))
	if allowed != (err == nil) {
		t.Fatalf("binding %q, caller %q: %v; the reference says allowed=%v", binding, addr, err, allowed)
	}
	if err != nil && core.ErrorCode(err) != core.EFORBIDDEN {
		t.Fatalf("binding %q, caller %q: %v, want EFORBIDDEN", binding, addr, err)
	}
}

// FuzzVerifyJWT: a token string that VerifyJWT accepts is, but for the
// white space around it, one that the service issued; anything else is
// refused as unauthorized with a short message, never an internal error or
// a panic. The seeds are genuine tokens of every algorithm, whose bytes the
// fuzzer mutates.
func FuzzVerifyJWT(f *testing.F) {
	fx := newTokenFixture(f)
	for _, tok := range fx.tokens {
		f.Add(tok)
		f.Add(" " + tok + "\n")
	}
	f.Add("")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Fuzz(func(t *testing.T, tok string) {
		info, err := fx.svc.Enforcer.VerifyJWT(fx.ctx, &core.VerifyJWTRequest{ServiceKey: fx.serviceKey, JWT: tok, Method: "Email.IsValid"})
		if err == nil {
			if !slices.Contains(fx.tokens, strings.TrimSpace(tok)) {
				t.Fatalf("VerifyJWT accepts %q, which was never issued (issued: %q)", tok, fx.tokens)
			}
			if info.Username != testUser {
				t.Fatalf("VerifyJWT(%q): user %q", tok, info.Username)
			}
			return
		}
		if code, msg := core.ErrorCode(err), core.ErrorMessage(err); code != core.EUNAUTHORIZED || len(msg) > 512 {
			t.Fatalf("VerifyJWT(%q): %v; want a short unauthorized refusal", tok, err)
		}
	})
}

// tokenFixture is a service on SQLite that has issued one token with each
// signing algorithm (rotating between them, so that the earlier keys are
// retired but still verify). Its keys, clock and token ids are fixed, so that
// a token the fuzzer turns into a finding is the same token in every run and
// its seed file reproduces it (ES256 signatures alone are randomised).
type tokenFixture struct {
	ctx        context.Context
	svc        *core.Service
	serviceKey string
	tokens     []string
}

var fuzzNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func newTokenFixture(tb testing.TB) *tokenFixture {
	tb.Helper()
	ctx := context.Background()
	// No KeyRing.Ensure: the fixed keys below are the only ones.
	db := testenv.OpenStore(tb)
	cfg := testenv.Config(db)
	cfg.Now = func() time.Time { return fuzzNow }
	svc := core.New(cfg)
	u := testenv.CreateUser(tb, svc, testUser, testPassword, testCredits)
	fx := &tokenFixture{ctx: ctx, svc: svc, serviceKey: testenv.CreateServiceKey(tb, svc, "fuzz")}
	for i, k := range fixedSigningKeys(tb) {
		if err := db.RotateSigningKey(ctx, k); err != nil {
			tb.Fatal(err)
		}
		jti := fmt.Sprintf("fuzz-%d", i)
		iat, exp := fuzzNow.Add(-time.Minute), fuzzNow.Add(time.Hour)
		tok, err := token.SignClaims(k, &token.Claims{
			RegisteredClaims: jwt.RegisteredClaims{
				Issuer: core.DefaultIssuer, Subject: testUser, ID: jti,
				IssuedAt: jwt.NewNumericDate(iat), NotBefore: jwt.NewNumericDate(iat), ExpiresAt: jwt.NewNumericDate(exp),
			},
			Account: testUser,
		})
		if err != nil {
			tb.Fatal(err)
		}
		if k.Alg == core.AlgES256 {
			// ECDSA signatures are randomised: the token was signed once,
			// with these claims, and kept.
			b, err := os.ReadFile(filepath.Join("testdata", "fuzz-es256.jwt"))
			if err != nil {
				tb.Fatal(err)
			}
			tok = strings.TrimSpace(string(b))
		}
		rec := &core.IssuedToken{JTI: jti, Kid: k.Kid, AccountID: u.AccountID, UserID: u.ID, IssuedAt: iat, ExpiresAt: exp}
		ev := &core.UsageEvent{Time: iat, AccountID: &u.AccountID, UserID: &u.ID, Method: core.OpGetJWT.Method, Outcome: core.OutcomeOK, JTI: jti}
		if err := db.IssueToken(ctx, rec, ev); err != nil {
			tb.Fatal(err)
		}
		fx.tokens = append(fx.tokens, tok)
	}
	return fx
}

// fixedSigningKeys returns one key of each algorithm, made from fixed
// material (test keys in testdata/, a fixed Ed25519 seed and HS256 secret).
func fixedSigningKeys(tb testing.TB) []*core.SigningKey {
	tb.Helper()
	pkcs8 := func(file string) crypto.Signer {
		b, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			tb.Fatal(err)
		}
		block, _ := pem.Decode(b)
		if block == nil {
			tb.Fatalf("%s: no PEM block", file)
		}
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			tb.Fatalf("%s: %v", file, err)
		}
		return k.(crypto.Signer)
	}
	signers := []struct {
		alg string
		key crypto.Signer
	}{
		{core.AlgEdDSA, ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))},
		{core.AlgES256, pkcs8("fuzz-es256.pem")},
		{core.AlgRS256, pkcs8("fuzz-rs256.pem")},
	}
	var keys []*core.SigningKey
	for i, s := range signers {
		priv, err := x509.MarshalPKCS8PrivateKey(s.key)
		if err != nil {
			tb.Fatal(err)
		}
		pub, err := x509.MarshalPKIXPublicKey(s.key.Public())
		if err != nil {
			tb.Fatal(err)
		}
		keys = append(keys, &core.SigningKey{Kid: "fuzz-" + strings.ToLower(s.alg), Alg: s.alg, Private: priv, Public: pub,
			Created: fuzzNow.Add(time.Duration(i-10) * time.Hour)})
	}
	return append(keys, &core.SigningKey{Kid: "fuzz-hs256", Alg: core.AlgHS256, Private: bytes.Repeat([]byte{9}, 32),
		Created: fuzzNow.Add(-time.Hour)})
}
