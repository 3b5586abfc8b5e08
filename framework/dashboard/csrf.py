"""Cross-site request protection for the dashboard's POST actions: a signed double-submit token.

The token lives in an HttpOnly cookie and is echoed by each form (`csrf_token` field) or script
(`X-CSRF-Token` header); it is `nonce.signature`, signed with a key derived from the configured
secrets, so a cookie planted by someone else (a sibling subdomain, say) does not pass. A request
authenticated with a bearer token needs none: a browser never sends one on its own.

Owns the token and the check; it must not decide what a refusal looks like (that is `errors.py`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection
from starlette.responses import Response

from framework.dashboard.auth import Auth, BasicAuth, TokenAuth

__all__ = [
    "CSRF_COOKIE",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "csrf_cookie_header",
    "csrf_key",
    "csrf_ok",
    "csrf_token",
]

CSRF_COOKIE = "nestq_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


def csrf_key(auth: Auth | None) -> bytes:
    """The key that signs CSRF tokens: derived from the configured secrets, so every process of a dashboard
    behind a load balancer accepts the others' tokens; random per process when there are none."""
    methods = [auth] if isinstance(auth, BasicAuth | TokenAuth) or callable(auth) else list(auth or [])
    material = [
        m.password if isinstance(m, BasicAuth) else m.token
        for m in methods
        if isinstance(m, BasicAuth | TokenAuth)
    ]
    if not material:
        return secrets.token_bytes(32)
    return hashlib.sha256(("nestq-dashboard-csrf\0" + "\0".join(material)).encode()).digest()


def _signature(key: bytes, nonce: str) -> str:
    return hmac.new(key, nonce.encode(), hashlib.sha256).hexdigest()[:32]


def _signed(key: bytes, token: str) -> bool:
    """Whether `token` is `nonce.signature` signed with `key`."""
    nonce, _, signature = token.rpartition(".")
    return len(nonce) >= 32 and hmac.compare_digest(signature.encode(), _signature(key, nonce).encode())


def csrf_token(conn: HTTPConnection, key: bytes) -> str:
    """This request's token: the cookie's when it is validly signed, else a new one (kept for the request,
    so the page's forms and the cookie set on its answer agree)."""
    state = conn.scope.setdefault("state", {})
    token = state.get("nestq_csrf")
    if token is None:
        token = conn.cookies.get(CSRF_COOKIE) or ""
        if not _signed(key, token):
            nonce = secrets.token_urlsafe(32)
            token = f"{nonce}.{_signature(key, nonce)}"
        state["nestq_csrf"] = token
    assert isinstance(token, str)
    return token


def csrf_cookie_header(conn: HTTPConnection, key: bytes) -> str | None:
    """The `set-cookie` value that gives the browser this request's token, or None when it has it."""
    token = csrf_token(conn, key)
    if conn.cookies.get(CSRF_COOKIE) == token:
        return None
    carrier = Response()
    carrier.set_cookie(
        CSRF_COOKIE,
        token,
        path=conn.scope.get("root_path", "") + "/",
        httponly=True,
        samesite="strict",
        secure=conn.url.scheme == "https",
    )
    return carrier.headers["set-cookie"]


def csrf_ok(conn: HTTPConnection, form_token: str | None, key: bytes) -> bool:
    """Whether a POST comes from the dashboard's own pages (or a script holding the token)."""
    if conn.scope.get("state", {}).get("nestq_auth") == "bearer":
        return True  # a browser never adds a bearer token on its own
    headers = conn.headers
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return False
    origin = headers.get("origin")
    if origin is not None:
        host = headers.get("x-forwarded-host") or headers.get("host", "")
        if origin == "null" or urlsplit(origin).netloc.lower() != host.split(",")[0].strip().lower():
            return False
    cookie = conn.cookies.get(CSRF_COOKIE, "")
    given = form_token or headers.get(CSRF_HEADER, "")
    return _signed(key, cookie) and hmac.compare_digest(cookie.encode(), given.encode())
