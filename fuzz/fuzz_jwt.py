"""atheris harness: ``bearer_token`` and ``JWTVerifier.verify``.

Contract: any Authorization value gives a token or ``TokenError``; any token gives claims or
``TokenError``. Accepted claims satisfy the pinned rules: right issuer and audience, an
``exp`` that is a finite number not yet past (leeway included), no ``nbf``/``iat`` ahead.

Random strings almost never carry a valid signature, so most inputs here are built: a header
and a payload (JSON from claim templates with fuzzed values, or raw bytes) signed with the
verifier's own HS256 key. That reaches the claim checks that only a key holder can reach.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
from typing import Any

from _harness import Reader, as_text, instrumented, known, main

with instrumented("minisock", "jwt"):
    from minisock.auth import JWTVerifier, bearer_token
    from minisock.errors import TokenError

KEY = b"k" * 32
ISSUER = "https://issuer.example"
AUDIENCE = "minisock"
NOW = 1_800_000_000.0
VERIFIER = JWTVerifier(KEY, issuer=ISSUER, audience=AUDIENCE, leeway=10.0)

_VALUES: list[Any] = [
    NOW + 3600,
    int(NOW) + 3600,
    NOW - 3600,
    10**400,
    -(10**400),
    1e308,
    -1e308,
    0,
    True,
    None,
    "1799999999",
    ISSUER,
    AUDIENCE,
    [AUDIENCE],
    [AUDIENCE, "other"],
    [],
    {},
    {"nested": [1, 2]},
    "",
    2**63,
    0.5,
]
_RAW_NUMBERS = ["1e400", "-1e400", "NaN", "Infinity", "-Infinity", "1" + "0" * 5000]
_CLAIMS = ["exp", "iss", "aud", "nbf", "iat", "data", "sub", "jti"]
_HEADERS = [
    {"alg": "HS256", "typ": "JWT"},
    {"alg": "none"},
    {"alg": "HS512"},
    {"alg": "RS256"},
    {"alg": "HS256", "b64": False, "crit": ["b64"]},
    {"alg": "HS256", "crit": ["exp"]},
    {"alg": "HS256", "kid": ["x"]},
    {"alg": ["HS256"]},
    {"typ": "JWT"},
    {"alg": "HS256", "jku": "http://x"},
]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _payload(reader: Reader) -> bytes:
    if reader.below(8) == 0:
        return reader.sized(200)
    claims: dict[str, Any] = {"exp": NOW + 3600, "iss": ISSUER, "aud": AUDIENCE}
    raw_values: dict[str, str] = {}
    for _ in range(reader.below(5)):
        name = _CLAIMS[reader.below(len(_CLAIMS))]
        choice = reader.byte()
        if choice < 200:
            claims[name] = _VALUES[choice % len(_VALUES)]
        elif choice < 230:
            claims.pop(name, None)
        else:
            raw_values[name] = _RAW_NUMBERS[choice % len(_RAW_NUMBERS)]
    text = json.dumps(claims)
    for name, raw in raw_values.items():
        claims.pop(name, None)
        text = text[:-1] + (", " if len(text) > 2 else "") + f'"{name}": {raw}' + "}"
    return text.encode("utf-8")


def _token(reader: Reader) -> str:
    mode = reader.below(8)
    if mode == 0:
        return as_text(reader.sized(600), reader.byte())
    header = (
        json.dumps(_HEADERS[reader.below(len(_HEADERS))]).encode()
        if reader.below(8)
        else reader.sized(64)
    )
    payload = _payload(reader)
    signing_input = f"{_b64(header)}.{_b64(payload)}"
    key = b"wrong key" if reader.below(8) == 7 else KEY
    signature = _b64(hmac.new(key, signing_input.encode("ascii"), hashlib.sha256).digest())
    token = f"{signing_input}.{signature}"
    if mode == 1:  # a mangled byte or a cut
        where = reader.below(len(token) + 1)
        token = token[:where] + as_text(reader.sized(4), reader.byte()) + token[where + 1 :]
    return token


def _numeric(value: object) -> bool:
    return type(value) is int or (type(value) is float and math.isfinite(value))


def _check_accepted(claims: dict[str, Any]) -> None:
    assert isinstance(claims, dict)
    assert claims.get("iss") == ISSUER
    aud = claims.get("aud")
    assert aud == AUDIENCE or (isinstance(aud, list) and AUDIENCE in aud), aud
    exp = claims.get("exp")
    assert isinstance(exp, int | float) and _numeric(exp), exp
    assert NOW - VERIFIER.leeway < exp, exp
    for name in ("nbf", "iat"):
        if name in claims:
            assert _numeric(claims[name]) and claims[name] <= NOW + VERIFIER.leeway


def test_one_input(data: bytes) -> None:
    reader = Reader(data)
    if reader.below(4) == 0:
        header = as_text(reader.sized(700), reader.byte())
        try:
            token = bearer_token(header, max_size=512)
        except TokenError as exc:
            assert exc.reason in ("missing", "oversize", "malformed"), exc.reason
            return
        assert token and token.isascii() and " " not in token
        assert header.strip().lower().startswith("bearer")
    else:
        token = _token(reader)
    try:
        claims = VERIFIER.verify(token, NOW)
    except TokenError:
        return
    except OverflowError:
        # Finding jwt-exp-overflow: a signed token whose integer "exp" is beyond float range
        # (10**400) makes ``now >= exp + leeway`` raise instead of TokenError.
        if known("jwt-exp-overflow"):
            return
        raise
    except UnicodeEncodeError:
        # Finding jwt-surrogate-token: a token holding a lone surrogate (JSON "\ud800" in a
        # CONNECT auth payload) makes PyJWT's token.encode("utf-8") raise.
        if known("jwt-surrogate-token"):
            return
        raise
    _check_accepted(claims)


def _seed(*choices: int) -> bytes:
    return bytes(choices)


SEEDS = [
    _seed(1, 2, 1, 0, 1),  # a valid token
    _seed(1, 2, 1, 0, 1, 1, 0, 3, 1),  # exp = 10**400
    _seed(1, 2, 1, 0, 1, 1, 0, 234, 1),  # exp = 1e400 (raw)
    _seed(1, 2, 1, 1, 1),  # alg none
    b"\x00\x00\x0cBearer a.b.c\x00",
]

if __name__ == "__main__":
    main("jwt", test_one_input, SEEDS)
