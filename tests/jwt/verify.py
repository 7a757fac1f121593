"""Verifies a wxlogin access JWT with PyJWT, an implementation we did not write.

Run by crates/wxlogin/tests/jwt.rs with the virtualenv that scripts/test.sh installs:

    python verify.py --jwks-url URL --token JWT --audience APPID --issuer ISS [--clock-offset S]

Fetches the JWKS the way a business backend would (PyJWKClient), picks the key by the token's
`kid`, and verifies signature, algorithm (EdDSA only), issuer, audience and expiry. Prints one
JSON line: {"ok": true, "claims": {...}} or {"ok": false, "error": "<PyJWT exception class>"}.

`--clock-offset` moves PyJWT's notion of "now" forward by as many seconds as the Rust test
moved the server's test clock, so expiry is judged on the server's clock; leeway stays 0.
"""

import argparse
import datetime
import json
import sys

import jwt
import jwt.api_jwt


def shift_clock(offset_secs: float) -> None:
    """Makes PyJWT's claim checks read a clock `offset_secs` ahead of the wall clock."""

    class Shifted(datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.datetime.now(tz) + datetime.timedelta(seconds=offset_secs)

    jwt.api_jwt.datetime = Shifted


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jwks-url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--audience", required=True)
    parser.add_argument("--issuer", required=True)
    parser.add_argument("--clock-offset", type=float, default=0.0)
    args = parser.parse_args()
    shift_clock(args.clock_offset)

    try:
        # No JWKS cache between runs: each check sees what the server publishes now.
        client = jwt.PyJWKClient(args.jwks_url, cache_jwk_set=False, cache_keys=False)
        key = client.get_signing_key_from_jwt(args.token)
        claims = jwt.decode(
            args.token,
            key,
            algorithms=["EdDSA"],
            audience=args.audience,
            issuer=args.issuer,
            options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]},
        )
    except jwt.exceptions.PyJWTError as error:
        print(json.dumps({"ok": False, "error": type(error).__name__, "detail": str(error)}))
        return 0
    print(json.dumps({"ok": True, "claims": claims}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
