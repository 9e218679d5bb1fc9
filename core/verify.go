package core

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Leeway is the clock skew tolerated on exp, nbf and iat.
const Leeway = 5 * time.Second

// verifier parses and checks jwtgate tokens. Public keys are cached by kid:
// a kid never changes its key.
type verifier struct {
	mu   sync.RWMutex
	keys map[string]*SigningKey
}

func (s *Service) keyByKid(ctx context.Context, kid string) (*SigningKey, error) {
	s.verify.mu.RLock()
	k := s.verify.keys[kid]
	s.verify.mu.RUnlock()
	if k != nil {
		return k, nil
	}
	k, err := s.Store.SigningKeyByKid(ctx, kid)
	if err != nil {
		return nil, err
	}
	s.verify.mu.Lock()
	if s.verify.keys == nil {
		s.verify.keys = make(map[string]*SigningKey)
	}
	s.verify.keys[kid] = k
	s.verify.mu.Unlock()
	return k, nil
}

// Refusals a store's Charge also returns: the state they describe can change
// between a token's checks and its charge, so the charge re-checks it.
var (
	ErrTokenRevoked      = Errorf(EUNAUTHORIZED, "token has been revoked")
	ErrTokenUserDisabled = Errorf(EFORBIDDEN, "token's user has been disabled")
	ErrTokenKeyRevoked   = Errorf(EUNAUTHORIZED, "token was issued for an API key that has since been revoked")
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
	errTokenRevoked   = ErrTokenRevoked

	errTokenUserDisabled = ErrTokenUserDisabled
	errTokenKeyRevoked   = ErrTokenKeyRevoked
)

// parseToken checks a token's signature (by kid, with the key's own
// algorithm), its registered claims, and that this service issued and still
// honours it. It returns the claims and the issued-token record; a revoked
// token's record comes back with errTokenRevoked, so that the refusal can be
// attributed to it.
func (s *Service) parseToken(ctx context.Context, raw string, now time.Time) (*Claims, *IssuedToken, error) {
	claims, err := s.verifySignature(ctx, raw, now, true)
	if err != nil {
		if claims != nil {
			// Genuine but expired, early or from another issuer: still
			// attributed to its record.
			rec, _ := s.record(ctx, claims.ID)
			return nil, rec, err
		}
		return nil, nil, err
	}
	rec, err := s.record(ctx, claims.ID)
	if err != nil {
		return nil, nil, err
	}
	if err := tokenState(rec); err != nil {
		return nil, rec, err
	}
	return claims, rec, nil
}

// tokenState refuses a token that was revoked, whose user was disabled or
// whose API key was revoked since it was issued.
func tokenState(rec *IssuedToken) error {
	switch {
	case rec.Revoked != nil:
		return errTokenRevoked
	case rec.UserDisabled:
		return errTokenUserDisabled
	case rec.APIKeyRevoked:
		return errTokenKeyRevoked
	}
	return nil
}

func (s *Service) record(ctx context.Context, jti string) (*IssuedToken, error) {
	rec, err := s.Store.TokenByJTI(ctx, jti)
	switch {
	case ErrorCode(err) == ENOTFOUND:
		return nil, errTokenUnknown
	case err != nil:
		return nil, Internal(err)
	}
	return rec, nil
}

// verifySignature parses a token and checks its signature; with checkTime
// also exp, nbf, iat and iss.
func (s *Service) verifySignature(ctx context.Context, raw string, now time.Time, checkTime bool) (*Claims, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, errTokenMissing
	}
	if checkTime {
		if c, ok := s.sigs.get(raw, now); ok {
			return c, nil
		}
	}
	if err := checkHeader(raw); err != nil {
		return nil, err
	}
	// Strict base64url: a token is byte-exact, so the unused low bits of a
	// segment's last character cannot vary (found by FuzzVerifyJWT).
	opts := []jwt.ParserOption{jwt.WithValidMethods(Algorithms()), jwt.WithStrictDecoding()}
	if checkTime {
		opts = append(opts, jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithIssuer(s.Issuer),
			jwt.WithLeeway(Leeway), jwt.WithTimeFunc(func() time.Time { return now }))
	} else {
		opts = append(opts, jwt.WithoutClaimsValidation())
	}
	var lookupErr error
	claims := &Claims{}
	_, err := jwt.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, errTokenNoKid
		}
		k, err := s.keyByKid(ctx, kid)
		if err != nil {
			if ErrorCode(err) == ENOTFOUND {
				return nil, errTokenKid
			}
			lookupErr = err
			return nil, err
		}
		// The key decides the algorithm, never the token: an HS256 token
		// "signed" with a public key, or any other mismatch, is refused.
		if t.Method.Alg() != k.Alg {
			return nil, Errorf(EUNAUTHORIZED, "token algorithm %s does not match its key's algorithm %s", t.Method.Alg(), k.Alg)
		}
		if k.Alg == AlgHS256 {
			return k.Private, nil
		}
		return k.PublicKey()
	}, opts...)
	if err != nil {
		if lookupErr != nil {
			return nil, Internal(lookupErr)
		}
		if errors.Is(err, jwt.ErrTokenInvalidClaims) && claims.ID != "" {
			// golang-jwt validates claims only after the signature verified.
			return claims, classifyTokenError(err)
		}
		return nil, classifyTokenError(err)
	}
	if claims.ID == "" {
		return nil, errTokenClaims
	}
	if checkTime {
		s.sigs.put(raw, claims)
	}
	return claims, nil
}

// checkHeader refuses, before any key is looked up, a token that is not
// three base64url segments of the JWS compact form (nothing else: base64
// decoders skip line breaks, which would make one token many), whose header
// is unreadable or names an algorithm jwtgate never signs with, or whose
// signature segment does not decode.
func checkHeader(raw string) error {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return errTokenMalformed
	}
	for _, p := range parts {
		for i := 0; i < len(p); i++ {
			if c := p[i]; !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return errTokenMalformed
			}
		}
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(parts[0])
	var h struct {
		Alg string `json:"alg"`
	}
	if err != nil || json.Unmarshal(b, &h) != nil {
		return errTokenMalformed
	}
	if strings.EqualFold(h.Alg, "none") {
		return errTokenAlgNone
	}
	if !slices.Contains(Algorithms(), h.Alg) {
		return Errorf(EUNAUTHORIZED, "token algorithm %q is not accepted; jwtgate signs with %s", clip(h.Alg, 16), strings.Join(Algorithms(), ", "))
	}
	if _, err := base64.RawURLEncoding.Strict().DecodeString(parts[2]); err != nil {
		return errTokenSignature
	}
	return nil
}

// classifyTokenError maps golang-jwt's errors to one refusal each.
func classifyTokenError(err error) error {
	var ce *Error
	switch {
	case errors.As(err, &ce):
		return ce
	case errors.Is(err, jwt.ErrTokenMalformed):
		return errTokenMalformed
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return errTokenSignature
	case errors.Is(err, jwt.ErrTokenExpired):
		return errTokenExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return errTokenNotYet
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return errTokenIssuer
	}
	return errTokenClaims
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

func tokenMethodRefusal(method string, allowed []string) error {
	return Errorf(EFORBIDDEN, "token does not allow method %s (allowed: %s)", method, strings.Join(allowed, ", "))
}
