"""The JWT verifier, the bearer-header parser and the handshake/CONNECT policy, without sockets.

SECURITY.md §3 is the contract: algorithms pinned (``HS256``, one secret), ``exp``/``iss``/``aud``
required, issuer and audience matched exactly, NumericDates type-checked by minisock itself
(PyJWT 2.15 accepts ``"exp": "1799999999"``), unknown ``crit`` refused, ``kid`` ignored, the
token size capped before decoding. Valid tokens come from PyJWT; the hostile ones (``alg:
none``, RS256/ES256 headers, odd claim types) are built by hand, since PyJWT refuses to make
them and ``cryptography`` is not installed. Time is passed in (``now``), never read.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import jwt
import pytest

from minisock.auth import JWTAuth, JWTVerifier, bearer_token
from minisock.errors import TokenError
from minisock.request import Request

SECRET = "k7Qm2vX9pL4sT8wZ1cR6yB3nH5jD0fGaE7uK2iO9qW4xV8tY1zM6bN3rS5dF0gHj"  # 64 bytes
OTHER_SECRET = "a" * 64
ISSUER = "accounts.examplesoft.com"
AUDIENCE = "yoursite.net"
NOW = 1_700_000_000
LEEWAY = 10.0

FAKE_PUBLIC_KEY = (
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo\n"
    "-----END PUBLIC KEY-----\n"
)


def verifier(**options: Any) -> JWTVerifier:
    return JWTVerifier(SECRET, ISSUER, AUDIENCE, **options)


def claims(**changes: Any) -> dict[str, Any]:
    """Good claims at NOW; ``changes`` override them, a value of ``...`` removes the claim."""
    value: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "exp": NOW + 3600,
        "iat": NOW,
        "data": {"id": 42, "name": "ada"},
    }
    for name, changed in changes.items():
        if changed is ...:
            value.pop(name, None)
        else:
            value[name] = changed
    return value


def token(payload: dict[str, Any] | None = None, **options: Any) -> str:
    """A token made by PyJWT (HS256 with SECRET unless told otherwise)."""
    key = options.pop("key", SECRET)
    algorithm = options.pop("algorithm", "HS256")
    return jwt.encode(claims() if payload is None else payload, key, algorithm, **options)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode("utf-8"))


def hand_made(
    header: dict[str, Any], payload: Any, *, signature: str | None = None, key: str = SECRET
) -> str:
    """A compact JWS built without PyJWT: HMAC-SHA256 over it with ``key`` unless
    ``signature`` is given."""
    signing_input = f"{b64json(header)}.{b64json(payload)}"
    if signature is None:
        digest = hmac.new(key.encode(), signing_input.encode("ascii"), hashlib.sha256).digest()
        signature = b64url(digest)
    return f"{signing_input}.{signature}"


def reason_of(tok: str, now: float = NOW, **options: Any) -> str:
    with pytest.raises(TokenError) as info:
        verifier(**options).verify(tok, now)
    return info.value.reason


def request(*headers: tuple[str, str]) -> Request:
    """A sid-less handshake request; header names lowercased, as h11 hands them over."""
    return Request(
        "GET",
        "/socket.io/?EIO=4&transport=polling",
        [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers],
    )


# ---------------------------------------------------------------- valid tokens


def test_a_valid_token_gives_its_claims() -> None:
    assert verifier().verify(token(), NOW) == claims()


def test_an_audience_list_containing_ours_is_accepted() -> None:
    payload = claims(aud=["other.example", AUDIENCE])
    assert verifier().verify(token(payload), NOW)["aud"] == ["other.example", AUDIENCE]


def test_float_time_claims_are_numbers_too() -> None:
    payload = claims(exp=NOW + 60.5, nbf=NOW - 0.5, iat=NOW - 0.25)
    assert verifier().verify(token(payload), NOW)["exp"] == NOW + 60.5


@pytest.mark.parametrize(
    "kid", ["", "key-1", "../../../../etc/passwd", "' OR '1'='1", "https://evil.example/jwks"]
)
def test_kid_is_ignored(kid: str) -> None:
    tok = token(headers={"kid": kid})
    assert jwt.get_unverified_header(tok)["kid"] == kid
    assert verifier().verify(tok, NOW) == claims()


# ---------------------------------------------------------------- time claims


def test_expired_token_is_refused() -> None:
    assert reason_of(token(claims(exp=NOW - 3600))) == "expired"


def test_expired_within_the_leeway_is_accepted() -> None:
    tok = token(claims(exp=NOW, iat=NOW - 60))
    v = verifier(leeway=LEEWAY)
    assert v.verify(tok, NOW + LEEWAY - 0.001)["exp"] == NOW
    assert v.verify(tok, NOW + 5)["exp"] == NOW


def test_expired_just_past_the_leeway_is_refused() -> None:
    tok = token(claims(exp=NOW, iat=NOW - 60))
    assert reason_of(tok, NOW + LEEWAY + 0.001, leeway=LEEWAY) == "expired"
    assert reason_of(tok, NOW + LEEWAY + 1, leeway=LEEWAY) == "expired"


def test_not_yet_valid_token_is_refused() -> None:
    tok = token(claims(nbf=NOW + 3600))
    assert reason_of(tok) == "not_yet_valid"


def test_nbf_within_the_leeway_is_accepted() -> None:
    tok = token(claims(nbf=NOW + LEEWAY))
    assert verifier(leeway=LEEWAY).verify(tok, NOW)["nbf"] == NOW + LEEWAY
    assert reason_of(tok, NOW - 0.001, leeway=LEEWAY) == "not_yet_valid"


def test_iat_in_the_future_is_refused() -> None:
    tok = token(claims(iat=NOW + 3600))
    assert reason_of(tok) == "not_yet_valid"


@pytest.mark.parametrize("name", ["exp", "nbf", "iat"])
def test_numeric_string_time_claims_are_refused(name: str) -> None:
    # PyJWT 2.15.1 would accept "exp": "1799999999"; minisock type-checks NumericDates.
    value = {"exp": str(NOW + 3600), "nbf": str(NOW - 60), "iat": str(NOW)}[name]
    assert reason_of(token(claims(**{name: value}))) == "malformed"


@pytest.mark.parametrize("value", [True, False])
def test_boolean_exp_is_refused(value: bool) -> None:
    assert reason_of(hand_made({"alg": "HS256", "typ": "JWT"}, claims(exp=value))) == "malformed"


@pytest.mark.parametrize("name", ["nbf", "iat"])
def test_boolean_nbf_and_iat_are_refused(name: str) -> None:
    payload = claims(**{name: False})
    assert reason_of(hand_made({"alg": "HS256", "typ": "JWT"}, payload)) == "malformed"


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_json_numbers_in_exp_are_refused(literal: str) -> None:
    # NaN and Infinity are no JSON numbers (RFC 7519 §2: a NumericDate is a JSON numeric
    # value), but Python's json module, which PyJWT uses, reads them as floats. A NaN exp
    # compares false with everything and an infinite one lies forever ahead: either token
    # would never expire.
    header = b64json({"alg": "HS256", "typ": "JWT"})
    body = f'{{"iss":"{ISSUER}","aud":"{AUDIENCE}","exp":{literal},"iat":{NOW}}}'
    signing_input = f"{header}.{b64url(body.encode('ascii'))}"
    digest = hmac.new(SECRET.encode(), signing_input.encode("ascii"), hashlib.sha256).digest()
    tok = f"{signing_input}.{b64url(digest)}"
    assert reason_of(tok, NOW + 10**9) in {"malformed", "expired"}


# ---------------------------------------------------------------- issuer and audience


def test_wrong_issuer_is_refused() -> None:
    assert reason_of(token(claims(iss="evil.example"))) == "wrong_issuer"


@pytest.mark.parametrize(
    "issuer",
    [
        "accounts.examplesoft.co",  # a substring (CVE-2024-53861)
        "examplesoft.com",
        "accounts.examplesoft.com.evil.example",  # a superstring
        "xaccounts.examplesoft.com",
        "ACCOUNTS.EXAMPLESOFT.COM",
        "accounts.examplesoft.com ",
    ],
)
def test_issuer_must_match_exactly(issuer: str) -> None:
    assert reason_of(token(claims(iss=issuer))) == "wrong_issuer"


def test_issuer_list_is_refused() -> None:
    payload = claims(iss=[ISSUER])
    assert reason_of(hand_made({"alg": "HS256", "typ": "JWT"}, payload)) == "wrong_issuer"


def test_wrong_audience_is_refused() -> None:
    assert reason_of(token(claims(aud="othersite.net"))) == "wrong_audience"


@pytest.mark.parametrize("audience", ["yoursite.ne", "yoursite.net.evil", "YOURSITE.NET"])
def test_audience_must_match_exactly(audience: str) -> None:
    assert reason_of(token(claims(aud=audience))) == "wrong_audience"


def test_audience_list_without_ours_is_refused() -> None:
    assert reason_of(token(claims(aud=["a.example", "b.example"]))) == "wrong_audience"


@pytest.mark.parametrize("name", ["exp", "iss", "aud"])
def test_missing_required_claim_is_refused(name: str) -> None:
    with pytest.raises(TokenError) as info:
        verifier().verify(token(claims(**{name: ...})), NOW)
    assert info.value.reason == "missing_claim"
    assert info.value.detail == name


# ---------------------------------------------------------------- signature and algorithm


def test_signature_made_with_another_secret_is_refused() -> None:
    assert reason_of(token(key=OTHER_SECRET)) == "bad_signature"


def test_tampered_payload_is_refused() -> None:
    header, _, signature = token().split(".")
    forged = f"{header}.{b64json(claims(data={'id': 1, 'admin': True}))}.{signature}"
    assert reason_of(forged) == "bad_signature"


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none_without_a_signature_is_refused(alg: str) -> None:
    tok = hand_made({"alg": alg, "typ": "JWT"}, claims(), signature="")
    assert tok.endswith(".")
    assert reason_of(tok) == "bad_algorithm"


@pytest.mark.parametrize("alg", ["none", "None"])
def test_alg_none_with_a_signature_is_refused(alg: str) -> None:
    tok = hand_made({"alg": alg, "typ": "JWT"}, claims())  # an HMAC with our secret, even
    assert reason_of(tok) == "bad_algorithm"


def test_alg_none_without_the_signature_part_is_refused() -> None:
    tok = f"{b64json({'alg': 'none', 'typ': 'JWT'})}.{b64json(claims())}"
    assert reason_of(tok) in {"malformed", "bad_algorithm"}


@pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
def test_other_hmac_algorithms_are_refused_by_an_hs256_verifier(algorithm: str) -> None:
    assert reason_of(token(algorithm=algorithm)) == "bad_algorithm"


@pytest.mark.parametrize("alg", ["RS256", "ES256", "PS256", "EdDSA"])
def test_asymmetric_headers_are_refused(alg: str) -> None:
    fake_signature = b64url(b"\x01" * 64)
    tok = hand_made({"alg": alg, "typ": "JWT"}, claims(), signature=fake_signature)
    assert reason_of(tok) == "bad_algorithm"


def test_rs256_header_hmac_signed_with_our_secret_is_refused() -> None:
    # HS/RS confusion, seen from the HMAC side: the header claims RS256 while the bytes are an
    # HMAC-SHA256 under the verifier's own secret. RS256 is not pinned, so it fails.
    tok = hand_made({"alg": "RS256", "typ": "JWT"}, claims())
    assert reason_of(tok) == "bad_algorithm"


def test_hs256_signed_with_the_public_key_is_refused_by_an_rs256_verifier() -> None:
    # CVE-2017-11424's shape: the public key, used as an HMAC secret, signs an HS256 token.
    rs_verifier = JWTVerifier(FAKE_PUBLIC_KEY, ISSUER, AUDIENCE, algorithms=("RS256",))
    tok = hand_made({"alg": "HS256", "typ": "JWT"}, claims(), key=FAKE_PUBLIC_KEY)
    with pytest.raises(TokenError) as info:
        rs_verifier.verify(tok, NOW)
    assert info.value.reason == "bad_algorithm"


def test_unknown_critical_header_parameter_is_refused() -> None:
    # RFC 7515 §4.1.11 (CVE-2026-32597): an unknown critical extension MUST be refused.
    tok = token(headers={"crit": ["https://example.com/must-understand"]})
    assert reason_of(tok) in {"invalid", "malformed"}
    hand = hand_made({"alg": "HS256", "typ": "JWT", "crit": ["exp2"], "exp2": 1}, claims())
    assert reason_of(hand) in {"invalid", "malformed"}


# ---------------------------------------------------------------- malformed and oversize


@pytest.mark.parametrize(
    "tok",
    [
        "",
        "garbage",
        "not.a.jwt",
        "a.b",  # two parts
        "a.b.c.d",
        "!!!.@@@.###",  # not base64url
        f"{b64url(b'not json')}.{b64json({'iss': ISSUER})}.{b64url(b'sig')}",  # header not JSON
        f"{b64json([1, 2])}.{b64json({'iss': ISSUER})}.{b64url(b'sig')}",  # header not an object
    ],
)
def test_malformed_tokens_are_refused(tok: str) -> None:
    assert reason_of(tok) == "malformed"


def test_two_part_token_made_from_a_valid_one_is_refused() -> None:
    header, payload, _ = token().split(".")
    assert reason_of(f"{header}.{payload}") == "malformed"


def test_bad_base64_in_a_valid_looking_token_is_refused() -> None:
    header, payload, signature = token().split(".")
    assert reason_of(f"{header}.{payload[:-1]}*.{signature}") == "malformed"


def test_payload_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(TokenError):
        verifier().verify(hand_made({"alg": "HS256", "typ": "JWT"}, [1, 2, 3]), NOW)


def test_oversize_token_is_refused_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def spy(*args: Any, **kwargs: Any) -> dict[str, Any]:
        calls.append("decode")
        raise AssertionError("decoded an oversize token")

    monkeypatch.setattr(jwt, "decode", spy)
    big = token(claims(data={"padding": "x" * 600}))
    assert len(big) > 500
    with pytest.raises(TokenError) as info:
        verifier(max_token_size=500).verify(big, NOW)
    assert info.value.reason == "oversize"
    with pytest.raises(TokenError) as info:
        verifier().verify("a" * 8193, NOW)
    assert info.value.reason == "oversize"
    assert calls == []


def test_a_token_of_exactly_max_token_size_is_decoded() -> None:
    tok = token()
    assert verifier(max_token_size=len(tok)).verify(tok, NOW) == claims()
    assert reason_of(tok, max_token_size=len(tok) - 1) == "oversize"


# ---------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    "algorithms",
    [("HS256", "RS256"), ("RS256", "HS256"), ("HS512", "ES256"), ("HS256", "PS256", "EdDSA")],
)
def test_mixing_hmac_and_public_key_algorithms_is_a_configuration_error(
    algorithms: tuple[str, ...],
) -> None:
    with pytest.raises(ValueError):
        verifier(algorithms=algorithms)


@pytest.mark.parametrize("algorithms", [("none",), ("HS256", "none"), ("None",), ("NONE",)])
def test_the_none_algorithm_is_a_configuration_error(algorithms: tuple[str, ...]) -> None:
    with pytest.raises(ValueError):
        verifier(algorithms=algorithms)


def test_no_algorithm_is_a_configuration_error() -> None:
    with pytest.raises(ValueError):
        verifier(algorithms=())


def test_default_verifier_pins_hs256_only() -> None:
    assert tuple(verifier().algorithms) == ("HS256",)


# ---------------------------------------------------------------- bearer_token


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_bearer_scheme_is_case_insensitive(scheme: str) -> None:
    tok = token()
    assert bearer_token(f"{scheme} {tok}") == tok


def test_bearer_token_tolerates_surrounding_spaces() -> None:
    tok = token()
    assert bearer_token(f"  Bearer   {tok}  ") == tok


def test_missing_authorization_header() -> None:
    with pytest.raises(TokenError) as info:
        bearer_token(None)
    assert info.value.reason == "missing"


@pytest.mark.parametrize(
    "header", ["Basic x", "Basic dXNlcjpwYXNz", "Token abc", "Bearertoken", "abc.def.ghi", ""]
)
def test_other_schemes_are_refused(header: str) -> None:
    with pytest.raises(TokenError) as info:
        bearer_token(header)
    assert info.value.reason == "malformed"


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Bearer    ", "bearer\t"])
def test_empty_token_is_refused(header: str) -> None:
    with pytest.raises(TokenError) as info:
        bearer_token(header)
    assert info.value.reason == "malformed"


@pytest.mark.parametrize("tok", ["tökén.a.b", "abc.déf.ghi", "a.b\u00e9.c", "\u2603.b.c"])
def test_non_ascii_token_is_refused(tok: str) -> None:
    with pytest.raises(TokenError) as info:
        bearer_token(f"Bearer {tok}")
    assert info.value.reason == "malformed"


def test_token_with_inner_spaces_is_refused() -> None:
    with pytest.raises(TokenError) as info:
        bearer_token("Bearer a.b.c d.e.f")
    assert info.value.reason == "malformed"


def test_oversize_authorization_header_is_refused() -> None:
    with pytest.raises(TokenError) as info:
        bearer_token("Bearer " + "a" * 8193)
    assert info.value.reason == "oversize"
    with pytest.raises(TokenError) as info:
        bearer_token("Bearer " + "a" * 101, max_size=100)
    assert info.value.reason == "oversize"
    assert bearer_token("Bearer " + "a" * 100, max_size=100) == "a" * 100


# ---------------------------------------------------------------- JWTAuth


def jwt_auth(**options: Any) -> JWTAuth:
    return JWTAuth(verifier(), clock=lambda: float(NOW), **options)


@pytest.mark.parametrize("connect_auth", [False, True])
def test_check_handshake_with_a_good_header(connect_auth: bool) -> None:
    auth = jwt_auth(connect_auth=connect_auth)
    identity, verified = auth.check_handshake(request(("Authorization", f"Bearer {token()}")))
    assert identity == {"id": 42, "name": "ada"}
    assert verified == claims()


def test_check_handshake_without_a_header_is_refused() -> None:
    with pytest.raises(TokenError) as info:
        jwt_auth().check_handshake(request())
    assert info.value.reason == "missing"


def test_check_handshake_without_a_header_passes_with_connect_auth() -> None:
    assert jwt_auth(connect_auth=True).check_handshake(request()) == (None, None)


@pytest.mark.parametrize("connect_auth", [False, True])
@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("Bearer garbage", "malformed"),
        ("Basic dXNlcjpwYXNz", "malformed"),
        ("Bearer ", "malformed"),
        (f"Bearer {token(claims(exp=NOW - 3600))}", "expired"),
        (f"Bearer {token(key=OTHER_SECRET)}", "bad_signature"),
        (f"Bearer {token(claims(iss='evil.example'))}", "wrong_issuer"),
        (f"Bearer {token(claims(aud='evil.example'))}", "wrong_audience"),
        ("Bearer " + "a" * 9000, "oversize"),
    ],
)
def test_check_handshake_refuses_a_bad_header_in_both_modes(
    header: str, reason: str, connect_auth: bool
) -> None:
    with pytest.raises(TokenError) as info:
        jwt_auth(connect_auth=connect_auth).check_handshake(request(("Authorization", header)))
    assert info.value.reason == reason


def test_check_handshake_uses_the_injected_clock() -> None:
    tok = token(claims(exp=NOW + 60))
    header = ("Authorization", f"Bearer {tok}")
    auth = JWTAuth(verifier(), clock=lambda: float(NOW + 60 + LEEWAY + 1))
    with pytest.raises(TokenError) as info:
        auth.check_handshake(request(header))
    assert info.value.reason == "expired"


def test_check_handshake_ignores_the_query_string() -> None:
    req = Request("GET", f"/socket.io/?EIO=4&transport=polling&token={token()}", [])
    with pytest.raises(TokenError) as info:
        jwt_auth().check_handshake(req)
    assert info.value.reason == "missing"


def test_custom_identity_function() -> None:
    auth = JWTAuth(verifier(), identity=lambda c: c["data"]["id"], clock=lambda: float(NOW))
    identity, _ = auth.check_handshake(request(("Authorization", f"Bearer {token()}")))
    assert identity == 42


def test_check_connect_with_a_valid_token() -> None:
    identity, verified = jwt_auth(connect_auth=True).check_connect({"token": token()})
    assert identity == {"id": 42, "name": "ada"}
    assert verified == claims()


@pytest.mark.parametrize("payload", [{}, {"token": None}, {"other": "x"}])
def test_check_connect_without_a_token(payload: dict[str, Any]) -> None:
    with pytest.raises(TokenError) as info:
        jwt_auth(connect_auth=True).check_connect(payload)
    assert info.value.reason == "missing"


@pytest.mark.parametrize("value", [42, 1.5, True, ["a.b.c"], {"t": "a.b.c"}, b"a.b.c"])
def test_check_connect_with_a_non_string_token(value: object) -> None:
    with pytest.raises(TokenError) as info:
        jwt_auth(connect_auth=True).check_connect({"token": value})
    assert info.value.reason == "malformed"


@pytest.mark.parametrize(
    ("tok", "reason"),
    [
        ("bad", "malformed"),
        (token(claims(exp=NOW - 3600)), "expired"),
        (token(key=OTHER_SECRET), "bad_signature"),
        (token(algorithm="HS512"), "bad_algorithm"),
        ("a" * 9000, "oversize"),
    ],
)
def test_check_connect_applies_the_same_verifier(tok: str, reason: str) -> None:
    with pytest.raises(TokenError) as info:
        jwt_auth(connect_auth=True).check_connect({"token": tok})
    assert info.value.reason == reason


def test_token_error_reasons_are_single_words_without_the_token() -> None:
    secret_looking = token(key=OTHER_SECRET)
    with pytest.raises(TokenError) as info:
        verifier().verify(secret_looking, NOW)
    assert info.value.reason.replace("_", "").isalpha()
    assert secret_looking not in str(info.value)
