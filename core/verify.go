package core

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"time"
)

// Token refusals. Each says exactly what is wrong; none reveals a key.
var (
	errTokenMissing   = Errorf(EUNAUTHORIZED, "jwt is required")
	errTokenMalformed = Errorf(EUNAUTHORIZED, "jwt is not a well-formed JSON Web Token")
	errTokenAlgNone   = Errorf(EUNAUTHORIZED, `token is unsigned (alg "none"); only signed tokens are accepted`)
	errTokenNoKid     = Errorf(EUNAUTHORIZED, "token has no key id (kid) header")
	errTokenKid       = Errorf(EUNAUTHORIZED, "token key id (kid) is not one of this service's keys")
	errTokenSignature = Errorf(EUNAUTHORIZED, "token signature is invalid")
	errTokenExpired   = Errorf(EUNAUTHORIZED, "token has expired")
	errTokenNotYet    = Errorf(EUNAUTHORIZED, "token is not valid yet (nbf is in the future)")
	errTokenIssuer    = Errorf(EUNAUTHORIZED, "token was not issued by this service (iss)")
	errTokenClaims    = Errorf(EUNAUTHORIZED, "token claims are invalid")
	errTokenUnknown   = Errorf(EUNAUTHORIZED, "token is not known to this service")

	errTokenRevoked      = Errorf(EUNAUTHORIZED, "token has been revoked")
	errTokenUserDisabled = Errorf(EFORBIDDEN, "token's user has been disabled")
	errTokenKeyRevoked   = Errorf(EUNAUTHORIZED, "token was issued for an API key that has since been revoked")
)

// tokenRefusal words what the token strategy found.
func tokenRefusal(te *TokenError) error {
	switch te.Fault {
	case FaultMalformed:
		return errTokenMalformed
	case FaultUnsigned:
		return errTokenAlgNone
	case FaultAlgorithm:
		return Errorf(EUNAUTHORIZED, "token algorithm %q is not accepted; jwtgate signs with %s", clip(te.Alg, 16), strings.Join(Algorithms(), ", "))
	case FaultNoKid:
		return errTokenNoKid
	case FaultUnknownKid:
		return errTokenKid
	case FaultKeyAlgorithm:
		// The key decides the algorithm, never the token.
		return Errorf(EUNAUTHORIZED, "token algorithm %s does not match its key's algorithm %s", te.Alg, te.KeyAlg)
	case FaultSignature:
		return errTokenSignature
	case FaultExpired:
		return errTokenExpired
	case FaultNotYet:
		return errTokenNotYet
	case FaultIssuer:
		return errTokenIssuer
	}
	return errTokenClaims
}

// parseToken checks a token for use at now: signature, time and issuer
// (KeyRing.verify), then that this service issued it and still honours it.
// It returns the claims and the token's record; a token refused for its
// time or state comes back with its record, so that the refusal can be
// attributed.
func parseToken(ctx context.Context, keys *KeyRing, tokens TokenStore, raw string, now time.Time) (*Claims, *IssuedToken, error) {
	claims, err := keys.verify(ctx, raw, now)
	if err != nil {
		if claims != nil {
			rec, _ := readRecord(ctx, tokens, claims.ID)
			return nil, rec, err
		}
		return nil, nil, err
	}
	rec, err := readRecord(ctx, tokens, claims.ID)
	if err != nil {
		return nil, nil, err
	}
	if err := rec.State().refusal(); err != nil {
		return nil, rec, err
	}
	return claims, rec, nil
}

// readRecord reads a token's record as it stands now.
func readRecord(ctx context.Context, tokens TokenStore, jti string) (*IssuedToken, error) {
	rec, err := tokens.TokenByJTI(ctx, jti)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, errTokenUnknown
	case err != nil:
		return nil, Internal(err)
	}
	return rec, nil
}

// State returns the part of t that changes after it is issued.
func (t *IssuedToken) State() TokenState {
	return TokenState{
		AccountID: t.AccountID, MaxCredits: t.MaxCredits, CreditsSpent: t.CreditsSpent, Revoked: t.Revoked != nil,
		UserDisabled: t.UserDisabled, APIKeyRevoked: t.APIKeyRevoked, Balance: t.AccountCredits,
	}
}

// refusal refuses a token that was revoked, whose user was disabled or
// whose API key was revoked since it was issued.
func (s TokenState) refusal() error {
	switch {
	case s.Revoked:
		return errTokenRevoked
	case s.UserDisabled:
		return errTokenUserDisabled
	case s.APIKeyRevoked:
		return errTokenKeyRevoked
	}
	return nil
}

// checkUse applies a token's limits of use: method and client address.
func checkUse(rec *IssuedToken, method, clientIP string) error {
	if !methodAllowed(rec.AllowedMethods, method) {
		return tokenMethodRefusal(method, rec.AllowedMethods)
	}
	return clientAllowed(rec.ClientIP, clientIP)
}

// methodAllowed reports whether a token limited to allowed may call method
// (Service.Method): an empty list allows all, a Service entry all its methods.
func methodAllowed(allowed []string, method string) bool {
	if len(allowed) == 0 {
		return true
	}
	service, _, _ := strings.Cut(method, ".")
	for _, a := range allowed {
		if strings.EqualFold(a, method) || (!strings.Contains(a, ".") && strings.EqualFold(a, service)) {
			return true
		}
	}
	return false
}

func tokenMethodRefusal(method string, allowed []string) error {
	return Errorf(EFORBIDDEN, "token does not allow method %s (allowed: %s)", method, strings.Join(allowed, ", "))
}

// parseMethod validates a metered method name: Service.Method.
func parseMethod(m string) (string, error) {
	m = strings.TrimSpace(m)
	if m == "" {
		return "", Errorf(EINVALID, "method is required (Service.Method)")
	}
	if !methodRE.MatchString(m) || !strings.Contains(m, ".") || len(m) > MaxMethodNameLen {
		return "", Errorf(EINVALID, "method %q is not Service.Method (letters, digits and _ only)", clip(m, 64))
	}
	return m, nil
}

// clientAllowed checks a caller's address against a token's binding (an
// address or a CIDR range; empty binds nothing).
func clientAllowed(binding, clientIP string) error {
	clientIP = strings.TrimSpace(clientIP)
	var a netip.Addr
	if clientIP != "" {
		var err error
		if a, err = netip.ParseAddr(clientIP); err != nil || a.Zone() != "" {
			return Errorf(EINVALID, "clientIp %q is not a valid IP address", clip(clientIP, 64))
		}
		a = a.Unmap()
	}
	if binding == "" {
		return nil
	}
	if clientIP == "" {
		return Errorf(EFORBIDDEN, "token is bound to a client IP address; clientIp is required")
	}
	var ok bool
	if p, err := netip.ParsePrefix(binding); err == nil {
		ok = p.Contains(a)
	} else if b, err := netip.ParseAddr(binding); err == nil {
		ok = b == a
	}
	if !ok {
		return Errorf(EFORBIDDEN, "token is bound to client IP %s; %s is not allowed", binding, a)
	}
	return nil
}

// callerAllowed checks the address a transport saw, which may carry a port
// or an IPv6 zone, against a bearer token's binding. A token bound to
// nothing is usable from any address, whatever its form.
func callerAllowed(binding, addr string) error {
	if binding == "" {
		return nil
	}
	a, err := netip.ParseAddr(addr)
	if err != nil {
		ap, perr := netip.ParseAddrPort(addr)
		if perr != nil {
			return Errorf(EFORBIDDEN, "token is bound to client IP %s; the caller's address is unknown", binding)
		}
		a = ap.Addr()
	}
	return clientAllowed(binding, a.WithZone("").String())
}
