"""Who may open the dashboard: HTTP basic auth, a bearer token, or a callable of the request.

With no auth at all the dashboard answers only clients on this machine (loopback), and
`start_dashboard` refuses to bind anything but a loopback address: a queue admin UI must never be
open to a network by accident.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import inspect
import ipaddress
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from pydantic import SecretStr
from starlette.requests import HTTPConnection

from framework.settings import DashboardSettings

__all__ = [
    "Auth",
    "AuthCallable",
    "BasicAuth",
    "TokenAuth",
    "auth_from_settings",
    "authenticate",
    "is_loopback_client",
    "is_loopback_host",
    "wants_basic_challenge",
]


def _secret(value: str | SecretStr) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


@dataclass(frozen=True)
class BasicAuth:
    """HTTP basic auth with one user (the browser asks for it)."""

    username: str
    password: str = field(repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "username", _secret(self.username))
        object.__setattr__(self, "password", _secret(self.password))
        if not self.username or not self.password:
            raise ValueError("BasicAuth needs a non-empty username and password")


@dataclass(frozen=True)
class TokenAuth:
    """`Authorization: Bearer <token>` (for scripts); a browser may also log in with basic auth,
    any user name and the token as password."""

    token: str = field(repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "token", _secret(self.token))
        if len(self.token) < 8:
            raise ValueError("TokenAuth needs a token of at least 8 characters")


AuthCallable: TypeAlias = Callable[[HTTPConnection], bool | Awaitable[bool]]
Auth: TypeAlias = BasicAuth | TokenAuth | AuthCallable | Sequence[BasicAuth | TokenAuth | AuthCallable]

# How a request proved who it is. Only "bearer" is never sent by a browser on its own, so only a
# bearer-authenticated request may skip the CSRF check.
AuthMethod = Literal["bearer", "basic", "custom", "loopback"]


def auth_from_settings(settings: DashboardSettings) -> list[BasicAuth | TokenAuth] | None:
    """The auth configured by `NESTQ_DASHBOARD__USERNAME`/`__PASSWORD` and `NESTQ_DASHBOARD__TOKEN`."""
    methods: list[BasicAuth | TokenAuth] = []
    if settings.username is not None and settings.password is not None:
        methods.append(BasicAuth(settings.username.get_secret_value(), settings.password.get_secret_value()))
    if settings.token is not None:
        methods.append(TokenAuth(settings.token.get_secret_value()))
    return methods or None


@dataclass(frozen=True)
class _Credentials:
    scheme: Literal["bearer", "basic"]
    user: str  # "" for a bearer token
    secret: str


def _credentials(conn: HTTPConnection) -> _Credentials | None:
    header = conn.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        return _Credentials("bearer", "", value.strip())
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        user, sep, password = decoded.partition(":")
        if sep:
            return _Credentials("basic", user, password)
    return None


def _methods(auth: Auth) -> list[BasicAuth | TokenAuth | AuthCallable]:
    if isinstance(auth, BasicAuth | TokenAuth) or callable(auth):
        return [auth]
    return list(auth)


async def authenticate(conn: HTTPConnection, auth: Auth) -> AuthMethod | None:
    """How the request is authenticated under `auth`, or None when it is not."""
    creds = _credentials(conn)
    for method in _methods(auth):
        if isinstance(method, TokenAuth):
            if creds is None:
                continue
            # The scheme, not the user name, says whether this is a bearer token: a basic-auth user called
            # "bearer" is a browser login like any other (and must pass the CSRF check).
            if _same(creds.secret, method.token):
                return creds.scheme
        elif isinstance(method, BasicAuth):
            if creds is None or creds.scheme != "basic":
                continue
            # Both compared, always, so timing does not tell which one was wrong.
            user_ok = _same(creds.user, method.username)
            password_ok = _same(creds.secret, method.password)
            if user_ok and password_ok:
                return "basic"
        else:
            result = method(conn)
            if inspect.isawaitable(result):
                result = await result
            if result:
                return "custom"
    return None


def wants_basic_challenge(auth: Auth) -> bool:
    """Whether a browser can log in with a basic-auth prompt (basic auth or a token)."""
    return any(isinstance(m, BasicAuth | TokenAuth) for m in _methods(auth))


_LOCAL_NAMES = frozenset({"localhost", "testclient"})


def is_loopback_host(host: str | None) -> bool:
    """Whether binding `host` keeps a server private to this machine."""
    if host is None:
        return False
    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback_client(conn: HTTPConnection) -> bool:
    """Whether the request comes from this machine (a Unix socket counts)."""
    client = conn.client
    if client is None or not client.host:
        return True
    if client.host.lower() in _LOCAL_NAMES:
        return True
    return is_loopback_host(client.host)
