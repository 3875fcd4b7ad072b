#!/usr/bin/env python3
"""Verifies an authd access token with PyJWT, a library independent of authd's Rust code.

usage: jwt_pyjwt.py eddsa TOKEN JWKS_JSON_PATH ISSUER
       jwt_pyjwt.py hs256 TOKEN SECRET ISSUER

The algorithm is pinned (EdDSA or HS256, never taken from the token), the issuer is
checked, expiry has no leeway, and sub, sid, roles, exp, iat and iss are required. Exit 0
and the claims as JSON on stdout when the token verifies, 1 with the reason on stderr
when it does not, 2 on bad usage. Needs `pip install 'pyjwt[crypto]'`.
"""

import json
import sys

import jwt

REQUIRED = ["sub", "sid", "roles", "exp", "iat", "iss"]


def key_for(mode, token, key):
    """The verification key and the one algorithm it may be used with."""
    if mode == "hs256":
        return key, ["HS256"]
    with open(key, encoding="utf-8") as f:
        jwks = jwt.PyJWKSet.from_dict(json.load(f))
    kid = jwt.get_unverified_header(token).get("kid")
    for candidate in jwks.keys:
        if candidate.key_id == kid:
            return candidate.key, ["EdDSA"]
    raise jwt.InvalidTokenError(f"no key with kid {kid!r} in the JWKS")


def main(argv):
    if len(argv) != 5 or argv[1] not in ("eddsa", "hs256"):
        print(__doc__, file=sys.stderr)
        return 2
    mode, token, key, issuer = argv[1:]
    try:
        verification_key, algorithms = key_for(mode, token, key)
        claims = jwt.decode(
            token,
            verification_key,
            algorithms=algorithms,
            issuer=issuer,
            leeway=0,
            options={"require": REQUIRED},
        )
    except (jwt.InvalidTokenError, jwt.PyJWKError, jwt.PyJWKSetError) as err:
        print(f"rejected: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    if not isinstance(claims["roles"], list):
        print("rejected: roles is not a list", file=sys.stderr)
        return 1
    print(json.dumps(claims))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
