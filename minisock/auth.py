"""JSON Web Tokens on the handshake: the Socket.IO JWT guide's check, done carefully.

Where a token may come from, and when it is checked:

- ``Authorization: Bearer <token>`` on the *first* request of a session only, the one without
  a sid (the polling handshake GET, or a sid-less WebSocket upgrade). Later requests are
  authorised by the sid, which is then the session's bearer credential. A bad token gets
  ``401`` with ``WWW-Authenticate: Bearer error="invalid_token"``; no session, no 101.
- Optionally (``connect_auth=True``) the Socket.IO CONNECT payload ``{"token": "..."}``,
  because a browser cannot set headers on a WebSocket. The same verifier checks it.
- Never the query string: URLs end up in logs and histories (RFC 6750 §2.3).
- Later, on a live socket, from the application: ``socket.reauthenticate(token)`` (say, in
  an event handler) checks a fresh token of the *same* user with the same verifier and moves
  the socket's expiry (``close_at_exp``) to the new ``exp``. A refresh never switches users.

The verifier pins its algorithms, requires ``exp``, ``iss`` and ``aud``, matches issuer and
audience exactly, and checks the time claims itself with the time it is given: PyJWT would
read the clock on its own, and would accept ``"exp": "1799999999"`` (a string).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import jwt

from minisock.errors import TokenError
from minisock.request import Request

__all__ = ["JWTAuth", "JWTVerifier", "TokenError", "bearer_token"]

_HMAC = frozenset({"HS256", "HS384", "HS512"})
_ASYMMETRIC_PREFIXES = ("RS", "PS", "ES", "Ed")


def bearer_token(authorization: str | None, *, max_size: int = 8192) -> str:
    """The token of an ``Authorization: Bearer <token>`` header (scheme case-insensitive).

    Raises :class:`TokenError` with reason ``missing``, ``oversize`` or ``malformed``.
    """
    if authorization is None:
        raise TokenError("missing", "no Authorization header")
    if len(authorization) > max_size + 7:
        raise TokenError("oversize", "Authorization header too large")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise TokenError("malformed", "expected 'Bearer <token>'")
    if not token.isascii() or " " in token:
        raise TokenError("malformed", "the token is not a compact JWT")
    return token


@dataclass(frozen=True)
class JWTVerifier:
    """Checks compact JWTs against one key and a pinned set of algorithms."""

    key: str | bytes
    issuer: str
    audience: str
    algorithms: Sequence[str] = ("HS256",)
    leeway: float = 10.0
    required: Sequence[str] = ("exp", "iss", "aud")
    max_token_size: int = 8192

    def __post_init__(self) -> None:
        algorithms = set(self.algorithms)
        if not algorithms:
            raise ValueError("pin at least one algorithm")
        if "none" in {a.lower() for a in algorithms}:
            raise ValueError("the 'none' algorithm is never accepted")
        hmac = algorithms & _HMAC
        asymmetric = {a for a in algorithms if a.startswith(_ASYMMETRIC_PREFIXES)}
        if hmac and asymmetric:
            # One key used as an HMAC secret and as a public key invites algorithm confusion.
            raise ValueError("do not mix HMAC and public-key algorithms in one verifier")
        if hmac and _looks_like_public_key(self.key):
            raise ValueError("an HMAC secret must not be a public key (algorithm confusion)")

    def verify(self, token: str, now: float) -> dict[str, Any]:
        """The verified claims of ``token`` at time ``now`` (seconds since the epoch)."""
        if len(token) > self.max_token_size:
            raise TokenError("oversize", f"token over {self.max_token_size} bytes")
        if not token.isascii():
            raise TokenError("malformed", "a compact JWT is ASCII")
        try:
            claims = jwt.decode(
                token,
                self.key,
                algorithms=list(self.algorithms),
                audience=self.audience,
                issuer=self.issuer,
                options={
                    "require": list(self.required),
                    "verify_exp": False,  # checked below, with the time we were given
                    "verify_nbf": False,
                    "verify_iat": False,
                    "strict_aud": False,
                },
            )
        except jwt.InvalidSignatureError as exc:
            raise TokenError("bad_signature") from exc
        except jwt.InvalidIssuerError as exc:
            raise TokenError("wrong_issuer") from exc
        except jwt.InvalidAudienceError as exc:
            raise TokenError("wrong_audience") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise TokenError("missing_claim", exc.claim) from exc
        except jwt.InvalidAlgorithmError as exc:
            raise TokenError("bad_algorithm") from exc
        except jwt.DecodeError as exc:
            raise TokenError("malformed", str(exc)) from exc
        except jwt.InvalidTokenError as exc:
            raise TokenError("invalid", str(exc)) from exc
        except jwt.PyJWTError as exc:  # e.g. InvalidKeyError: never let a token crash a request
            raise TokenError("invalid", type(exc).__name__) from exc
        if not isinstance(claims.get("iss"), str):
            raise TokenError("wrong_issuer")
        self._check_times(claims, now)
        return claims

    def _check_times(self, claims: dict[str, Any], now: float) -> None:
        for name in ("exp", "nbf", "iat"):
            value = claims.get(name)
            # RFC 7519 §2 NumericDate: a JSON number. Not a string, not a boolean, and not
            # NaN or Infinity (PyJWT's JSON parser accepts them; NaN would never expire).
            if name in claims and not _is_numeric_date(value):
                raise TokenError("malformed", f"'{name}' is not a finite number")
        exp = claims.get("exp")
        if exp is not None and now >= exp + self.leeway:
            raise TokenError("expired")
        nbf = claims.get("nbf")
        if nbf is not None and now + self.leeway < nbf:
            raise TokenError("not_yet_valid")
        iat = claims.get("iat")
        if iat is not None and now + self.leeway < iat:
            raise TokenError("not_yet_valid", "issued in the future")


_PUBLIC_KEY_MARKERS = (b"-----BEGIN", b"ssh-rsa", b"ssh-ed25519", b"ecdsa-sha2-", b'"kty"')


def _looks_like_public_key(key: str | bytes) -> bool:
    raw = key.encode("utf-8") if isinstance(key, str) else key
    return any(marker in raw[:200] for marker in _PUBLIC_KEY_MARKERS)


_MAX_DATE = 2**53  # seconds: far past any real date, and safe to add to a float


def _is_numeric_date(value: object) -> bool:
    """RFC 7519 §2 NumericDate: an int or a finite float (bool is an int subclass: no),
    within a range that arithmetic on it cannot overflow."""
    if type(value) is int:
        return -_MAX_DATE < value < _MAX_DATE
    return type(value) is float and math.isfinite(value) and abs(value) < _MAX_DATE


def _token_string(token: object, where: str) -> str:
    """A token as the application or the client handed it over: a string, or TokenError."""
    if token is None:
        raise TokenError("missing", f"no token in {where}")
    if not isinstance(token, str):
        raise TokenError("malformed", "the token must be a string")
    return token


def _data_claim(claims: dict[str, Any]) -> Any:
    return claims.get("data")


@dataclass
class JWTAuth:
    """The guide's policy: a bearer token on the handshake, optionally in CONNECT ``auth``.

    ``identity`` turns verified claims into the user the application sees (the guide keeps
    the user in the ``data`` claim). ``close_at_exp`` disconnects sockets when their token
    expires (reason "token expired"); otherwise a session outlives its token.
    """

    verifier: JWTVerifier
    identity: Callable[[dict[str, Any]], Any] = _data_claim
    connect_auth: bool = False
    close_at_exp: bool = False
    clock: Callable[[], float] = field(default=time.time, repr=False)

    def check_handshake(self, request: Request) -> tuple[Any, dict[str, Any] | None]:
        """(identity, claims) for a sid-less request, or :class:`TokenError`.

        With ``connect_auth``, a request with no Authorization header passes with no
        identity: the token must then come in the CONNECT payload. A header that is present
        but bad is refused in either mode.
        """
        header = request.header("authorization")
        if header is None and self.connect_auth:
            return None, None
        claims = self.verify(bearer_token(header, max_size=self.verifier.max_token_size))
        return self.identity(claims), claims

    def check_connect(self, payload: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        """(identity, claims) from a CONNECT payload ``{"token": "..."}``, or TokenError."""
        claims = self.verify(_token_string(payload.get("token"), "the CONNECT payload"))
        return self.identity(claims), claims

    def check_refresh(self, token: object, identity: Any) -> dict[str, Any]:
        """The claims of ``token`` if it is valid now *and* names ``identity``; else TokenError.

        Same verifier, same rules as the handshake. Reason ``identity_mismatch`` when the token
        is valid but for someone else (or there is no identity to compare: a socket without
        one cannot prove that the new token is its own).
        """
        claims = self.verify(_token_string(token, "the refresh"))
        if identity is None or self.identity(claims) != identity:
            raise TokenError("identity_mismatch", "a refresh cannot change the user")
        return claims

    def verify(self, token: str) -> dict[str, Any]:
        return self.verifier.verify(token, self.clock())
