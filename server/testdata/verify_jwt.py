#!/usr/bin/python3
"""Verify a jwtgate token the way a Python service would: PyJWT + JWKS.

Usage: verify_jwt.py JWKS_URL TOKEN [EXPECTED_JSON | -]

EXPECTED_JSON (an argument, or stdin when absent or "-") is an object:
  {"alg": "EdDSA",                 the one algorithm accepted
   "claims": {"iss": ..., ...},    claims that must be present and equal; iss is required
   "absent": ["max_credits", ...]} claims that must not be present (optional)

The key is picked by the token's kid from the JWKS; the signature, exp, nbf,
iat and issuer are checked strictly and exp, iat, nbf, iss, sub and jti must
be present. Exit status: 0 verified, 1 rejected, 2 claims differ, 64 usage.
Written for Debian's python3-jwt (PyJWT 2.6) and python3-cryptography.
"""
import json
import sys
import urllib.request

import jwt
from jwt.algorithms import has_crypto

PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
REQUIRED = ["exp", "iat", "nbf", "iss", "sub", "jti"]


def fail(status, msg):
    print("verify_jwt: " + msg, file=sys.stderr)
    sys.exit(status)


def fetch_jwks(url):
    # No proxy: the server is a local test server.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=10) as res:
        if res.status != 200:
            fail(1, "GET %s: HTTP %d" % (url, res.status))
        ctype = res.headers.get("Content-Type", "").split(";")[0].strip()
        if ctype not in ("application/jwk-set+json", "application/json"):
            fail(1, "GET %s: Content-Type %r" % (url, ctype))
        return json.load(res)


def main(argv):
    if len(argv) not in (3, 4):
        fail(64, "usage: verify_jwt.py JWKS_URL TOKEN [EXPECTED_JSON | -]")
    url, token = argv[1], argv[2]
    raw = argv[3] if len(argv) == 4 and argv[3] != "-" else sys.stdin.read()
    try:
        expected = json.loads(raw)
        alg = expected["alg"]
        want = expected["claims"]
        issuer = want["iss"]
    except (ValueError, KeyError, TypeError) as e:
        fail(64, "bad expected claims %r: %s" % (raw, e))
    if not has_crypto:
        fail(64, "PyJWT has no cryptography backend")

    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as e:
        fail(1, "verification failed: %s: %s" % (type(e).__name__, e))
    if header.get("alg") != alg:
        fail(1, "verification failed: header alg %r, expected %r" % (header.get("alg"), alg))
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        fail(1, "verification failed: token has no kid")

    keys = fetch_jwks(url).get("keys")
    if not isinstance(keys, list):
        fail(1, "JWKS has no keys array")
    for k in keys:
        leaked = [m for m in PRIVATE_MEMBERS if m in k]
        if leaked:
            fail(1, "JWKS key %r publishes private members %s" % (k.get("kid"), leaked))
    matching = [k for k in keys if k.get("kid") == kid]
    if len(matching) != 1:
        fail(1, "verification failed: %d JWKS keys with kid %r" % (len(matching), kid))
    data = matching[0]
    if data.get("alg") != alg or data.get("use", "sig") != "sig":
        fail(1, "verification failed: JWK %r has alg %r use %r" % (kid, data.get("alg"), data.get("use")))

    try:
        key = jwt.PyJWK(data)
        claims = jwt.decode(
            token,
            key.key,
            algorithms=[alg],
            issuer=issuer,
            options={
                "require": REQUIRED,
                "verify_signature": True,
                "verify_exp": True,
                "verify_nbf": True,
                "verify_iat": True,
                "verify_iss": True,
                "verify_aud": True,
            },
        )
    except jwt.PyJWTError as e:
        fail(1, "verification failed: %s: %s" % (type(e).__name__, e))

    problems = []
    for name in ("sub", "jti"):
        if not isinstance(claims.get(name), str) or not claims[name]:
            problems.append("%s is not a non-empty string: %r" % (name, claims.get(name)))
    if not claims["iat"] <= claims["nbf"] < claims["exp"]:
        problems.append("iat %r, nbf %r, exp %r are out of order" % (claims["iat"], claims["nbf"], claims["exp"]))
    for name, value in want.items():
        if name not in claims:
            problems.append("claim %s is missing, expected %r" % (name, value))
        elif claims[name] != value or type(claims[name]) is not type(value):
            problems.append("claim %s is %r, expected %r" % (name, claims[name], value))
    for name in expected.get("absent", []):
        if name in claims:
            problems.append("claim %s is present (%r), expected none" % (name, claims[name]))
    if problems:
        fail(2, "claims differ: " + "; ".join(problems))
    print("OK alg=%s kid=%s jti=%s" % (alg, kid, claims["jti"]))


if __name__ == "__main__":
    main(sys.argv)
