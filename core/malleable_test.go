package core_test

import (
	"crypto/elliptic"
	"encoding/base64"
	"math/big"
	"strings"
	"testing"

	"github.com/jwtgate/jwtgate/core"
)

// TestService_ES256SignatureVariant: an ECDSA signature (r, s) has a twin
// (r, n−s) that verifies as well, and anyone holding the token can compute
// it: an ES256 token can be presented as a second string. jwtgate knows a
// token by its jti, never by its text, so the twin is the same token: its
// charges count against the same limit, and revoking either revokes both.
// (Services verifying offline should key on the jti too; see SECURITY.md.)
func TestService_ES256SignatureVariant(t *testing.T) {
	e := newEnf(t)
	if _, err := e.svc.Admin.RotateSigningKey(e.ctx, core.AlgES256, true); err != nil {
		t.Fatal(err)
	}
	tok, c := e.issue(func(r *core.GetJWTRequest) { r.ClientIP, r.MaxCredits = "", ptr[int64](3) })
	twin := ecdsaTwin(t, tok)
	if twin == tok {
		t.Fatal("the twin is the token")
	}
	if _, err := e.verify(twin, emailMethod, ""); err != nil {
		return // refusing high-s signatures would give ES256 tokens one spelling: fine too
	}
	e.mustCharge(tok, emailMethod, 2, "", "")
	_, err := e.charge(twin, emailMethod, 2, "", "")
	assertExact(t, err, core.ENOCREDITS, "token credit limit reached: 2 of 3 spent, 2 more requested")
	if _, err := e.svc.Enforcer.RevokeJWT(e.ctx, &core.RevokeJWTRequest{JWT: twin}); err != nil {
		t.Fatal(err)
	}
	_, err = e.verify(tok, emailMethod, "")
	assertExact(t, err, core.EUNAUTHORIZED, msgRevoked)
	if rec := e.token(c.ID); rec.CreditsSpent != 2 || rec.Revoked == nil {
		t.Errorf("the token's record: spent %d, revoked %v", rec.CreditsSpent, rec.Revoked)
	}
}

// ecdsaTwin returns tok with its P-256 signature (r, s) replaced by (r, n−s).
func ecdsaTwin(t *testing.T, tok string) string {
	t.Helper()
	i := strings.LastIndexByte(tok, '.')
	sig, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
	if err != nil || len(sig) != 64 {
		t.Fatalf("signature: %d bytes, %v", len(sig), err)
	}
	s := new(big.Int).SetBytes(sig[32:])
	s.Sub(elliptic.P256().Params().N, s)
	twin := append([]byte(nil), sig[:32]...)
	twin = append(twin, s.FillBytes(make([]byte, 32))...)
	return tok[:i+1] + base64.RawURLEncoding.EncodeToString(twin)
}
