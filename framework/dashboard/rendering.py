"""How the dashboard answers: HTML pages from a typed view, JSON, and the one-shot flash message.

Owns the Jinja environment, asset versions and the flash cookie; it must not read queues (pages do,
through `data.py`) nor decide status codes (that is `errors.py`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, unquote

import jinja2
import orjson
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from framework.dashboard import data
from framework.dashboard.csrf import csrf_token
from framework.dashboard.formatting import format_ago, format_duration, format_time
from framework.dashboard.views import View

__all__ = ["FLASH_COOKIE", "Templates", "base_of", "flash", "json_response", "route_of", "segment"]

FLASH_COOKIE = "nestq_flash"
POLL_INTERVAL_MS = 2000
STATIC = Path(__file__).parent / "static"
_ASSETS = ("dashboard.css", "dashboard.js", "observability.css", "observability.js")

STATE_LABELS = {
    "active": "Active",
    "waiting": "Waiting",
    "waiting-children": "Waiting children",
    "prioritized": "Prioritized",
    "delayed": "Delayed",
    "paused": "Paused",
    "completed": "Completed",
    "failed": "Failed",
}


def base_of(conn: HTTPConnection) -> str:
    """The dashboard's root path for this request (set by `BasePathMiddleware`)."""
    root: str = conn.scope.get("root_path", "")
    return root


def route_of(conn: HTTPConnection) -> str:
    """The request's path inside the dashboard (`/api/queues`, `/queues/email`, ...)."""
    path: str = conn.scope["path"]
    return path[len(base_of(conn)) :]


def segment(value: Any) -> str:
    """A value as one URL path segment."""
    return quote(str(value), safe="")


def json_response(payload: Any, status: int = 200) -> JSONResponse:
    """`payload` as JSON (datetimes and other odd values as text)."""
    return _OrjsonResponse(payload, status_code=status)


class _OrjsonResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=str, option=orjson.OPT_NON_STR_KEYS)


def flash(request: Request, response: Response, kind: Literal["success", "error"], message: str) -> None:
    """Show `message` once, on the next page this browser opens."""
    value = quote(json.dumps({"kind": kind, "text": message[:500]}), safe="")
    response.set_cookie(
        FLASH_COOKIE,
        value,
        max_age=60,
        path=base_of(request) + "/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def _read_flash(request: Request) -> dict[str, str] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        value = json.loads(unquote(raw))
    except ValueError:
        return None
    if not isinstance(value, dict) or value.get("kind") not in ("success", "error"):
        return None
    return {"kind": str(value["kind"]), "text": str(value.get("text", ""))}


def _asset_version(name: str) -> str:
    return hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:10]


class Templates:
    """The dashboard's pages: one template per `View` class, with what every page shares."""

    def __init__(self, *, read_only: bool, csrf_key: bytes) -> None:
        self.read_only = read_only
        self._csrf_key = csrf_key
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._env.filters.update(
            time=format_time, ago=format_ago, duration=format_duration, json=data.pretty_json, seg=segment
        )
        self._env.globals.update(STATE_LABELS=STATE_LABELS, STATES=data.STATES)
        self._assets = {name: _asset_version(name) for name in _ASSETS}

    def render(self, request: Request, view: View, status: int = 200) -> HTMLResponse:
        """The page for `view` (its template is named by its class)."""
        base = base_of(request)
        # Shallow on purpose: the view's dicts are the data layer's, passed through as they are.
        context = {f.name: getattr(view, f.name) for f in dataclasses.fields(view)}
        html = self._env.get_template(view.template).render(
            base=base,
            csrf_token=csrf_token(request, self._csrf_key),
            read_only=self.read_only,
            flash=_read_flash(request),
            asset=lambda name: f"{base}/static/{name}?v={self._assets.get(name, '')}",
            poll_ms=POLL_INTERVAL_MS,
            current_url=_current_url(request),
            page=view.template.removesuffix(".html"),
            **context,
        )
        response = HTMLResponse(html, status_code=status)
        if FLASH_COOKIE in request.cookies:
            response.delete_cookie(FLASH_COOKIE, path=base + "/")
        return response


def _current_url(request: Request) -> str:
    path: str = request.scope["path"]
    query = request.url.query
    return path + (f"?{query}" if query else "")
