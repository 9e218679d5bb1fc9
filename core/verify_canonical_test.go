package core_test

import (
	"strings"
	"testing"

	"github.com/jwtgate/jwtgate/core"
)

// TestService_VerifyJWT_CanonicalEncoding: a token is accepted only as the
// exact text it was issued as. A regression test for what FuzzVerifyJWT
// found (seeds in testdata/fuzz/FuzzVerifyJWT): golang-jwt, without
// WithStrictDecoding, ignores the unused low bits of a segment's last
// base64url character, and Go's base64 decoder skips \r and \n anywhere, so
// one signature had many spellings. In the header and payload that changes
// the signed text and the signature fails; in the signature segment it did
// not, and a token holder could present one token as any number of different
// strings, each a miss (and a new entry) for anything that recognises tokens
// by their text, such as the verified-signature cache.
func TestService_VerifyJWT_CanonicalEncoding(t *testing.T) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	fx := newTokenFixture(t)
	for i, tok := range fx.tokens {
		t.Run(core.Algorithms()[i], func(t *testing.T) {
			verify := func(s string) error {
				_, err := fx.svc.Enforcer.VerifyJWT(fx.ctx, &core.VerifyJWTRequest{ServiceKey: fx.serviceKey, JWT: s, Method: "Email.IsValid"})
				return err
			}
			if err := verify(tok); err != nil {
				t.Fatalf("the issued token: %v", err)
			}
			sig := tok[strings.LastIndexByte(tok, '.')+1:]
			head := tok[:len(tok)-len(sig)]
			last := strings.IndexByte(alphabet, sig[len(sig)-1])
			mid := len(sig) / 2
			for name, variant := range map[string]string{
				// The lowest bit of the last character is never used: a
				// signature's length is not a multiple of 3 bytes.
				"LastCharacterUnusedBit": head + sig[:len(sig)-1] + string(alphabet[last^1]),
				"NewlineInSignature":     head + sig[:mid] + "\n" + sig[mid:],
				"CRLFInSignature":        head + sig[:mid] + "\r\n" + sig[mid:],
				"NewlinesEverywhere":     head + strings.Join(strings.Split(sig, ""), "\n"),
			} {
				err := verify(variant)
				if err == nil {
					t.Errorf("%s: VerifyJWT accepts %q, a different string from the issued token; want EUNAUTHORIZED %q",
						name, variant, "jwt is not a well-formed JSON Web Token")
					continue
				}
				if core.ErrorCode(err) != core.EUNAUTHORIZED {
					t.Errorf("%s: %v, want EUNAUTHORIZED", name, err)
				}
			}
		})
	}
}
