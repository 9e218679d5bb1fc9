package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/core"
	"github.com/jwtgate/jwtgate/internal/testenv"
)

// systemPython is Debian's interpreter, whose python3-jwt (PyJWT) and
// python3-cryptography packages the test relies on; a python3 earlier on
// PATH (pyenv, a venv) may lack them.
const systemPython = "/usr/bin/python3"

const verifyScript = "testdata/verify_jwt.py"

// pyJWTHint says how to get what the PyJWT check needs.
const pyJWTHint = "apt-get install python3 python3-jwt python3-cryptography"

// pyJWT returns the interpreter; without it, or without PyJWT and a
// cryptography backend, the test fails in CI and is skipped (and listed)
// elsewhere (testenv.Missing).
func pyJWT(t *testing.T) string {
	t.Helper()
	py := testenv.RequireTool(t, systemPython, pyJWTHint)
	out, err := exec.CommandContext(t.Context(), py, "-I", "-c",
		"import jwt, cryptography; from jwt.algorithms import has_crypto; assert has_crypto; print(jwt.__version__)").CombinedOutput()
	if err != nil {
		testenv.Missing(t, "PyJWT", pyJWTHint, fmt.Errorf("%s cannot import jwt with cryptography: %v: %s", py, err, bytes.TrimSpace(out)))
	}
	t.Logf("PyJWT %s", strings.TrimSpace(string(out)))
	return py
}

// runVerifier runs the script and returns its exit status and output.
func runVerifier(t *testing.T, py, jwksURL, tok string, expected []byte, viaStdin bool) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	args := []string{"-I", verifyScript, jwksURL, tok}
	cmd := exec.CommandContext(ctx, py, args...)
	if viaStdin {
		cmd.Stdin = bytes.NewReader(expected)
	} else {
		cmd.Args = append(cmd.Args, string(expected))
	}
	out, err := cmd.CombinedOutput()
	t.Logf("%s: %s", verifyScript, bytes.TrimSpace(out))
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &exit):
		return exit.ExitCode(), string(out)
	}
	t.Fatalf("running %s: %v: %s", verifyScript, err, out)
	return -1, ""
}

// TestGetJWT_VerifiedByPyJWT proves the tokens and the JWKS work for a
// verifier written in another language: PyJWT fetches the JWKS from the live
// server, picks the key by kid and checks the token strictly.
func TestGetJWT_VerifiedByPyJWT(t *testing.T) {
	py := pyJWT(t)
	e := newEnv(t)
	jwksURL := e.srv.URL + jwksPath

	for _, alg := range []string{core.AlgEdDSA, core.AlgES256, core.AlgRS256} {
		t.Run(alg, func(t *testing.T) {
			e.rotate(alg)
			tok := assertOK(t, e.getJWT(e.request(time.Hour)), testCredits)
			c := e.mustVerify(tok, alg) // Go agrees first
			expected := mustJSON(t, map[string]any{
				"alg": alg,
				"claims": map[string]any{
					"iss":             testIssuer,
					"sub":             testUser,
					"jti":             c.ID,
					"exp":             e.expires(time.Hour).Unix(),
					"account":         testUser,
					"allowed_methods": []string{"AddressCapture", "Email.IsValid"},
					"max_credits":     40,
					"application":     "Checkout",
					"client_ip":       "203.0.113.9",
				},
			})
			if code, out := runVerifier(t, py, jwksURL, tok, expected, false); code != 0 || !strings.Contains(out, "OK alg="+alg) {
				t.Fatalf("PyJWT rejected a %s token (exit %d): %s", alg, code, out)
			}

			t.Run("ExpectedViaStdin", func(t *testing.T) {
				if code, out := runVerifier(t, py, jwksURL, tok, expected, true); code != 0 {
					t.Errorf("exit %d: %s", code, out)
				}
			})

			t.Run("ErrTamperedClaim", func(t *testing.T) {
				// One character of the claims changed, the signature kept.
				parts := strings.Split(tok, ".")
				payload, err := base64.RawURLEncoding.DecodeString(parts[1])
				if err != nil {
					t.Fatal(err)
				}
				forged := bytes.Replace(payload, []byte(`"max_credits":40`), []byte(`"max_credits":90`), 1)
				if bytes.Equal(forged, payload) {
					t.Fatalf("payload %s has no max_credits 40", payload)
				}
				parts[1] = base64.RawURLEncoding.EncodeToString(forged)
				code, out := runVerifier(t, py, jwksURL, strings.Join(parts, "."), expected, false)
				if code == 0 || !strings.Contains(out, "InvalidSignatureError") {
					t.Errorf("a forged token: exit %d, %q; want a signature failure", code, out)
				}
			})

			t.Run("ErrFlippedCharacter", func(t *testing.T) {
				parts := strings.Split(tok, ".")
				p := []byte(parts[1])
				i := len(p) / 2
				if p[i] == 'A' {
					p[i] = 'B'
				} else {
					p[i] = 'A'
				}
				parts[1] = string(p)
				if code, out := runVerifier(t, py, jwksURL, strings.Join(parts, "."), expected, false); code == 0 {
					t.Errorf("a token with a flipped payload character verified: %s", out)
				}
			})

			t.Run("ErrClaimsDiffer", func(t *testing.T) {
				other := mustJSON(t, map[string]any{"alg": alg, "claims": map[string]any{"iss": testIssuer, "sub": "mallory"}})
				if code, out := runVerifier(t, py, jwksURL, tok, other, false); code != 2 || !strings.Contains(out, "claim sub") {
					t.Errorf("wrong expected sub: exit %d, %q; want exit 2 naming sub", code, out)
				}
			})

			t.Run("ErrIssuer", func(t *testing.T) {
				other := mustJSON(t, map[string]any{"alg": alg, "claims": map[string]any{"iss": core.DefaultIssuer}})
				if code, out := runVerifier(t, py, jwksURL, tok, other, false); code != 1 || !strings.Contains(out, "InvalidIssuerError") {
					t.Errorf("wrong issuer: exit %d, %q; want a rejection", code, out)
				}
			})

			t.Run("ErrAlgorithm", func(t *testing.T) {
				wrong := core.AlgRS256
				if alg == core.AlgRS256 {
					wrong = core.AlgES256
				}
				other := mustJSON(t, map[string]any{"alg": wrong, "claims": map[string]any{"iss": testIssuer}})
				if code, out := runVerifier(t, py, jwksURL, tok, other, false); code != 1 {
					t.Errorf("%s token accepted as %s: exit %d, %q", alg, wrong, code, out)
				}
			})
		})
	}

	t.Run("MinimalTokenHasNoLimits", func(t *testing.T) {
		tok := assertOK(t, e.getJWT(e.minimal()), testCredits)
		expected := mustJSON(t, map[string]any{
			"alg":    core.AlgRS256, // the last rotation
			"claims": map[string]any{"iss": testIssuer, "sub": testUser, "account": testUser},
			"absent": []string{"allowed_methods", "max_credits", "application", "client_ip"},
		})
		if code, out := runVerifier(t, py, jwksURL, tok, expected, false); code != 0 {
			t.Errorf("exit %d: %s", code, out)
		}
	})
}
