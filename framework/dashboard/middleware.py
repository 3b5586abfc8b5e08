"""The dashboard's ASGI middleware, outermost first: security headers, base path, auth, CSRF cookie; and
`ActionGuard`, the route middleware of every POST action (form parsing, read-only, CSRF check).

Each one does one thing to the request or the answer and knows nothing of queues.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection, Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from framework.dashboard.auth import Auth, authenticate, is_loopback_client, wants_basic_challenge
from framework.dashboard.csrf import CSRF_COOKIE, CSRF_FIELD, csrf_cookie_header, csrf_ok
from framework.dashboard.errors import Refused
from framework.dashboard.rendering import route_of

__all__ = [
    "ActionGuard",
    "AuthMiddleware",
    "BasePathMiddleware",
    "CsrfCookieMiddleware",
    "SecurityHeadersMiddleware",
]

MAX_FORM_BYTES = 64 * 1024

SECURITY_HEADERS = {
    # No inline script or style anywhere: job data can never become code, even if escaping failed.
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


class SecurityHeadersMiddleware:
    """CSP, nosniff, no framing and no caching on every answer (refusals and errors too)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BasePathMiddleware:
    """Make `root_path` the dashboard's root: `base_path` when served standalone, the mount path when
    mounted. Standalone, a path outside `base_path` is a 404, and the bare root redirects (after auth)."""

    def __init__(self, app: ASGIApp, *, base_path: str, auth: Auth | None) -> None:
        self.app = app
        self.base = base_path
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            return  # no websockets here
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        route = path[len(root) :] if root and path.startswith(root) else path
        base = self.base
        if base and (route == base or route.startswith(base + "/")):
            root, route = root + base, route[len(base) :]
        elif base and not root:
            app: ASGIApp = PlainTextResponse("Not Found", status_code=404)
            if route in ("", "/"):
                app = AuthMiddleware(RedirectResponse(base + "/", status_code=307), auth=self.auth)
            await app(scope, receive, send)
            return
        await self.app({**scope, "root_path": root, "path": root + (route or "/")}, receive, send)


class AuthMiddleware:
    """Answer only authenticated requests (or, with no auth configured, only this machine); record how
    the request proved itself in `scope["state"]["nestq_auth"]` (the CSRF check reads it)."""

    def __init__(self, app: ASGIApp, *, auth: Auth | None) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = await self.refusal(scope)
        await (refusal or self.app)(scope, receive, send)

    async def refusal(self, scope: Scope) -> Response | None:
        """The answer refusing this request, or None (and the method recorded) when it may pass."""
        conn = HTTPConnection(scope)
        state = scope.setdefault("state", {})
        if self.auth is None:
            if not is_loopback_client(conn):
                return PlainTextResponse(
                    "This dashboard has no authentication, so it only answers this machine. Set "
                    "NESTQ_DASHBOARD__USERNAME and NESTQ_DASHBOARD__PASSWORD (or NESTQ_DASHBOARD__TOKEN), "
                    "or pass auth= to create_dashboard().",
                    status_code=403,
                )
            state["nestq_auth"] = "loopback"
            return None
        method = await authenticate(conn, self.auth)
        if method is None:
            challenge = 'Basic realm="nestq dashboard", charset="UTF-8"'
            if not wants_basic_challenge(self.auth):
                challenge = 'Bearer realm="nestq dashboard"'
            return PlainTextResponse(
                "Authentication required", status_code=401, headers={"www-authenticate": challenge}
            )
        state["nestq_auth"] = method
        return None


class CsrfCookieMiddleware:
    """Give the browser its CSRF token cookie with every page (and `/api/csrf`), so its forms can act."""

    def __init__(self, app: ASGIApp, *, key: bytes) -> None:
        self.app = app
        self.key = key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = route_of(HTTPConnection(scope))
        if route.startswith("/static/") or (route.startswith("/api/") and route != "/api/csrf"):
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                cookie = csrf_cookie_header(HTTPConnection(scope), self.key)
                if cookie is not None:
                    MutableHeaders(scope=message).append("set-cookie", cookie)
            await send(message)

        await self.app(scope, receive, send_with_cookie)


class ActionGuard:
    """Route middleware of the POST actions: parse the form or JSON body into
    `scope["state"]["nestq_params"]`, then refuse (403) on a read-only dashboard or without the CSRF token.
    Failures are raised, so the dashboard's exception handlers answer them like any other."""

    def __init__(self, app: ASGIApp, *, read_only: bool, csrf_key: bytes) -> None:
        self.app = app
        self.read_only = read_only
        self.csrf_key = csrf_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope.setdefault("state", {})
        state["nestq_action"] = True
        request = Request(scope, receive)
        params = await _read_params(request)
        if self.read_only:
            raise Refused("The dashboard is read-only.")
        if not csrf_ok(request, params.get(CSRF_FIELD), self.csrf_key):
            raise Refused(
                "Missing or wrong CSRF token: reload the page and try again (scripts: send the "
                f"{CSRF_COOKIE} cookie with an X-CSRF-Token header, or use a bearer token)."
            )
        state["nestq_params"] = params
        await self.app(scope, receive, send)


async def _read_params(request: Request) -> dict[str, str]:
    """Query string, then a urlencoded form or a JSON object body, as one dict of strings."""
    params = dict(request.query_params)
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise ValueError("request body too large")
    if not body:
        return params
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        params.update(_json_params(body))
    elif content_type in ("application/x-www-form-urlencoded", ""):
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            raise ValueError("the form is not UTF-8") from None
        form: dict[str, str] = {}
        for key, value in pairs:  # a repeated field (the ids of a bulk selection) is kept, one per line
            form[key] = f"{form[key]}\n{value}" if key in form else value
        params.update(form)
    else:
        raise ValueError(f"unsupported content type {content_type!r}; send a form or JSON")
    return params


def _json_params(body: bytes) -> dict[str, str]:
    try:
        payload = json.loads(body)
    except ValueError:
        raise ValueError("the body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise ValueError("the JSON body must be an object")
    return {
        str(k): json.dumps(v) if isinstance(v, dict | list) else str(v)
        for k, v in payload.items()
        if v is not None
    }
