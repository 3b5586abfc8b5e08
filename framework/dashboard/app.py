"""The dashboard as an ASGI app: server-rendered pages, a JSON API, and POST actions.

    app = create_dashboard(application)                 # or a list of Queue
    starlette_app.mount("/admin/queues", app)           # mounted: links follow the mount path
    uvicorn.run(app)                                    # standalone: served under base_path

Every page and every action has a JSON twin under `{base}/api/...`; both go through the same
functions of `framework.dashboard.data`. Actions are POSTs guarded against cross-site requests by a
double-submit token (cookie + form field or `X-CSRF-Token` header) and an Origin check; a request
authenticated with a bearer token (never sent by a browser on its own) needs no token.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import jinja2
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

from framework.dashboard import data, editing
from framework.dashboard.auth import (
    Auth,
    auth_from_settings,
    authenticate,
    is_loopback_client,
    wants_basic_challenge,
)
from framework.dashboard.control import queue_limits
from framework.dashboard.data import ActionError, NotFoundError, QueueSource
from framework.dashboard.formatting import format_ago, format_duration, format_time
from framework.dashboard.observability import routes as observability_routes
from framework.errors import CorruptJobError
from framework.queue import Queue

__all__ = ["Dashboard", "create_dashboard"]

CSRF_COOKIE = "nestq_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
FLASH_COOKIE = "nestq_flash"
PAGE_SIZE = 25
MAX_FORM_BYTES = 64 * 1024
POLL_INTERVAL_MS = 2000

_HERE = Path(__file__).parent
_STATIC = _HERE / "static"

_SECURITY_HEADERS = {
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


def create_dashboard(
    queues: Any,
    *,
    base_path: str = "/admin/queues",
    read_only: bool = False,
    auth: Auth | None = None,
) -> Dashboard:
    """The dashboard over some queues, as an ASGI app.

    Args:
        queues: an `Application` (its registered queues), a list of `Queue`, or a `QueueSource`.
        base_path: where the dashboard lives when served standalone. Mounted in another ASGI app
            (`Mount("/ops", app)`), it follows the mount path instead.
        read_only: hide every action and refuse them with 403.
        auth: `BasicAuth(user, password)`, `TokenAuth(token)`, a callable `(request) -> bool` (may be
            async), or a list of these (any one passing is enough). None uses the settings'
            `NESTQ_DASHBOARD__USERNAME`/`__PASSWORD`/`__TOKEN`; with none configured, only clients on
            this machine (loopback) are answered.

    Returns:
        The `Dashboard` ASGI app.
    """
    if auth is None:
        from framework.settings import get_settings

        auth = auth_from_settings(get_settings().dashboard)
    return Dashboard(data.source_of(queues), base_path=base_path, read_only=read_only, auth=auth)


def _normalize_base(path: str) -> str:
    path = path.strip()
    if path and not path.startswith("/"):
        path = "/" + path
    return path.rstrip("/")


def _asset_version(name: str) -> str:
    return hashlib.sha256((_STATIC / name).read_bytes()).hexdigest()[:10]


class Dashboard:
    """The dashboard ASGI app (build it with `create_dashboard`)."""

    def __init__(self, source: QueueSource, *, base_path: str, read_only: bool, auth: Auth | None) -> None:
        self.source = source
        self.base_path = _normalize_base(base_path)
        self.read_only = read_only
        self.auth = auth
        self._templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(_HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._templates.filters.update(
            time=format_time, ago=format_ago, duration=format_duration, json=data.pretty_json, seg=_segment
        )
        self._templates.globals.update(STATE_LABELS=STATE_LABELS, STATES=data.STATES)
        assets = ("dashboard.css", "dashboard.js", "observability.css", "observability.js")
        self._assets = {name: _asset_version(name) for name in assets}
        self._router = self._build_router()
        self._csrf_key = _csrf_key(auth)

    # -- ASGI -------------------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._router(scope, receive, send)
            return
        if scope["type"] != "http":
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _SECURITY_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        rebased = self._rebase(scope)
        if rebased is None:
            await PlainTextResponse("Not Found", status_code=404)(scope, receive, send_with_headers)
            return
        scope = rebased
        refusal = await self._check_auth(HTTPConnection(scope), scope)
        if refusal is not None:
            await refusal(scope, receive, send_with_headers)
            return
        await self._router(scope, receive, send_with_headers)

    def _rebase(self, scope: Scope) -> Scope | None:
        """Make `root_path` point at the dashboard's root, standalone (base_path) or mounted."""
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        route = path[len(root) :] if root and path.startswith(root) else path
        base = self.base_path
        if base and (route == base or route.startswith(base + "/")):
            root, route = root + base, route[len(base) :]
        elif base and not root:
            # Standalone, outside base_path: only the bare root leads somewhere.
            if route in ("", "/"):
                return {**scope, "nestq_redirect": base + "/"}
            return None
        if route == "":
            route = "/"
        return {**scope, "root_path": root, "path": root + route}

    async def _check_auth(self, conn: HTTPConnection, scope: Scope) -> Response | None:
        redirect = scope.get("nestq_redirect")
        state = scope.setdefault("state", {})
        if self.auth is None:
            if not is_loopback_client(conn):
                return _text_error(
                    403,
                    "This dashboard has no authentication, so it only answers this machine. Set "
                    "NESTQ_DASHBOARD__USERNAME and NESTQ_DASHBOARD__PASSWORD (or NESTQ_DASHBOARD__TOKEN), "
                    "or pass auth= to create_dashboard().",
                )
            state["nestq_auth"] = "loopback"
        else:
            method = await authenticate(conn, self.auth)
            if method is None:
                headers = {"www-authenticate": 'Basic realm="nestq dashboard", charset="UTF-8"'}
                if not wants_basic_challenge(self.auth):
                    headers = {"www-authenticate": 'Bearer realm="nestq dashboard"'}
                return PlainTextResponse("Authentication required", status_code=401, headers=headers)
            state["nestq_auth"] = method
        if redirect is not None:
            return RedirectResponse(scope.get("root_path", "") + redirect, status_code=307)
        return None

    # -- routes -----------------------------------------------------------------------------------------

    def _build_router(self) -> Starlette:
        page, api, act = self._page, self._api, self._action
        routes = [
            Route("/", page(self._queues_page)),
            Route("/search", page(self._search_page)),
            Route("/queues/{queue}", page(self._queue_page)),
            Route("/queues/{queue}/jobs/{job_id:path}/{action}", act(self._job_action), methods=["POST"]),
            Route(
                "/queues/{queue}/schedulers/{scheduler_id:path}/remove",
                act(self._scheduler_action),
                methods=["POST"],
            ),
            Route("/queues/{queue}/jobs/{job_id:path}", page(self._job_page)),
            Route("/queues/{queue}/{action}", act(self._queue_action), methods=["POST"]),
            Route("/api/queues", api(self._api_queues)),
            Route("/api/csrf", self._api_csrf),
            Route("/api/search", api(self._api_search)),
            Route("/api/queues/{queue}", api(self._api_queue)),
            Route("/api/queues/{queue}/jobs", api(self._api_jobs)),
            Route("/api/queues/{queue}/schedulers", api(self._api_schedulers)),
            Route("/api/queues/{queue}/jobs/{job_id:path}/{action}", act(self._job_action), methods=["POST"]),
            Route(
                "/api/queues/{queue}/schedulers/{scheduler_id:path}/remove",
                act(self._scheduler_action),
                methods=["POST"],
            ),
            Route("/api/queues/{queue}/jobs/{job_id:path}", api(self._api_job)),
            Route("/api/queues/{queue}/{action}", act(self._queue_action), methods=["POST"]),
            *observability_routes(self),  # activity charts, workers, Redis server info
            Mount("/static", StaticFiles(directory=_STATIC)),
        ]
        return Starlette(routes=routes)

    # -- wrappers: errors, CSRF, read-only ----------------------------------------------------------------

    def _page(
        self, handler: Callable[[Request], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                response = await handler(request)
            except NotFoundError as exc:
                response = self._error_page(request, 404, "Not found", data.error_text(exc))
            except (ActionError, ValueError) as exc:
                response = self._error_page(request, 400, "Bad request", data.error_text(exc))
            except RedisError as exc:
                response = self._error_page(request, 503, "Redis is unreachable", data.error_text(exc))
            self._ensure_csrf_cookie(request, response)
            return response

        return endpoint

    def _api(self, handler: Callable[[Request], Awaitable[Any]]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                return _json(await handler(request))
            except NotFoundError as exc:
                return _json({"error": data.error_text(exc)}, 404)
            except (ActionError, ValueError) as exc:
                return _json({"error": data.error_text(exc)}, 400)
            except RedisError as exc:
                return _json({"error": f"Redis is unreachable: {data.error_text(exc)}"}, 503)

        return endpoint

    def _action(
        self, handler: Callable[[Request, Mapping[str, str]], Awaitable[tuple[dict[str, Any], str]]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            is_api = _route(request).startswith("/api/")
            try:
                params = await _params(request)
            except ValueError as exc:
                return self._action_error(request, is_api, 400, str(exc), None)
            if self.read_only:
                return self._action_error(request, is_api, 403, "The dashboard is read-only.", None)
            if not _csrf_ok(request, params.get(CSRF_FIELD), self._csrf_key):
                return self._action_error(
                    request,
                    is_api,
                    403,
                    "Missing or wrong CSRF token: reload the page and try again (scripts: send the "
                    f"{CSRF_COOKIE} cookie with an X-CSRF-Token header, or use a bearer token).",
                    None,
                )
            try:
                result, default_next = await handler(request, params)
            except NotFoundError as exc:
                return self._action_error(request, is_api, 404, data.error_text(exc), params)
            except (ActionError, CorruptJobError) as exc:
                return self._action_error(request, is_api, 409, data.error_text(exc), params)
            except ValueError as exc:
                return self._action_error(request, is_api, 400, data.error_text(exc), params)
            except RedisError as exc:
                return self._action_error(
                    request, is_api, 503, f"Redis is unreachable: {data.error_text(exc)}", params
                )
            if is_api:
                return _json(result)
            response = RedirectResponse(self._next(request, params, default_next), status_code=303)
            self._flash(request, response, "success", str(result.get("message", "Done")))
            return response

        return endpoint

    def _action_error(
        self, request: Request, is_api: bool, status: int, message: str, params: Mapping[str, str] | None
    ) -> Response:
        if is_api:
            return _json({"error": message}, status)
        if params is not None and status in (400, 404, 409):
            # A failed action in the browser goes back where it came from, with the reason shown.
            target = self._next(request, params, _base(request) + "/")
            response: Response = RedirectResponse(target, status_code=303)
            self._flash(request, response, "error", message)
            return response
        response = self._error_page(request, status, "Action refused", message)
        self._ensure_csrf_cookie(request, response)
        return response

    def _next(self, request: Request, params: Mapping[str, str], default: str) -> str:
        """Where to go after an action: `next` when it is a path inside the dashboard."""
        target = params.get("next", "")
        base = _base(request)
        parts = urlsplit(target)
        if (
            target.startswith(base + "/")
            and not parts.scheme
            and not parts.netloc
            and "\\" not in target
            and "//" not in parts.path
        ):
            return target
        return default

    # -- CSRF and flash ---------------------------------------------------------------------------------

    def _csrf_token(self, request: Request) -> str:
        token = request.scope.setdefault("state", {}).get("nestq_csrf")
        if token is None:
            token = request.cookies.get(CSRF_COOKIE) or ""
            if not _csrf_signed(self._csrf_key, token):
                nonce = secrets.token_urlsafe(32)
                token = f"{nonce}.{_csrf_signature(self._csrf_key, nonce)}"
            request.scope["state"]["nestq_csrf"] = token
        assert isinstance(token, str)
        return token

    def _ensure_csrf_cookie(self, request: Request, response: Response) -> None:
        token = self._csrf_token(request)
        if request.cookies.get(CSRF_COOKIE) != token:
            response.set_cookie(
                CSRF_COOKIE,
                token,
                path=_base(request) + "/",
                httponly=True,
                samesite="strict",
                secure=request.url.scheme == "https",
            )

    def _flash(self, request: Request, response: Response, kind: str, message: str) -> None:
        value = quote(json.dumps({"kind": kind, "text": message[:500]}), safe="")
        response.set_cookie(
            FLASH_COOKIE,
            value,
            max_age=60,
            path=_base(request) + "/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )

    def _take_flash(self, request: Request, response: Response) -> None:
        if FLASH_COOKIE in request.cookies:
            response.delete_cookie(FLASH_COOKIE, path=_base(request) + "/")

    def _read_flash(self, request: Request) -> dict[str, str] | None:
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

    # -- rendering --------------------------------------------------------------------------------------

    def _render(self, request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        base = _base(request)
        context.setdefault("page", template.removesuffix(".html"))
        html = self._templates.get_template(template).render(
            base=base,
            csrf_token=self._csrf_token(request),
            read_only=self.read_only,
            flash=self._read_flash(request),
            asset=lambda name: f"{base}/static/{name}?v={self._assets.get(name, '')}",
            poll_ms=POLL_INTERVAL_MS,
            current_url=_current_url(request),
            **context,
        )
        response = HTMLResponse(html, status_code=status)
        self._take_flash(request, response)
        return response

    def _error_page(self, request: Request, status: int, title: str, message: str) -> HTMLResponse:
        return self._render(request, "error.html", status=status, title=title, message=message, page="error")

    # -- pages ------------------------------------------------------------------------------------------

    async def _queues_page(self, request: Request) -> Response:
        queues = await data.list_queues(self.source)
        totals = {state: sum(q["counts"][state] for q in queues) for state in data.STATES}
        return self._render(request, "queues.html", queues=queues, totals=totals)

    async def _queue_page(self, request: Request) -> Response:
        queue = await self.source.get(request.path_params["queue"])
        state = request.query_params.get("state") or ""
        summary = await data.queue_summary(queue)
        if state not in data.STATES:
            # Open on the most interesting tab: failures first, then what is running or waiting.
            counts = summary["counts"]
            state = next(
                (s for s in ("failed", "active", "waiting", "paused", "delayed") if counts[s]), "completed"
            )
        limit = _int_param(request, "limit", PAGE_SIZE, lo=1, hi=200)
        page_number = _int_param(request, "page", 1, lo=1, hi=10**9)
        name = request.query_params.get("name", "").strip() or None
        listing = await data.list_jobs(queue, state, start=(page_number - 1) * limit, limit=limit, name=name)
        schedulers = await data.list_schedulers(queue)
        limits = await queue_limits(queue)
        pages = max((listing["total"] + limit - 1) // limit, 1)
        return self._render(
            request,
            "queue.html",
            queue=listing | {"name": queue.name},
            listing=listing,
            state=state,
            name_filter=name or "",
            page_number=page_number,
            pages=pages,
            limit=limit,
            schedulers=schedulers,
            limits=limits,
            cleanable=state in data.CLEANABLE_STATES,
            action_states=data.ACTION_STATES,
        )

    async def _job_page(self, request: Request) -> Response:
        queue = await self.source.get(request.path_params["queue"])
        job = await data.job_detail(queue, request.path_params["job_id"])
        return self._render(
            request, "job.html", queue={"name": queue.name}, job=job, action_states=data.ACTION_STATES
        )

    async def _search_page(self, request: Request) -> Response:
        job_id = request.query_params.get("id", "").strip()
        queue = request.query_params.get("queue", "").strip() or None
        found = await editing.search_jobs(self.source, job_id, queue) if job_id else []
        if len(found) == 1:
            hit = found[0]
            return RedirectResponse(
                f"{_base(request)}/queues/{_segment(hit['queue'])}/jobs/{_segment(hit['id'])}",
                status_code=303,
            )
        return self._render(request, "search.html", job_id=job_id, found=found)

    # -- JSON API (reads) -------------------------------------------------------------------------------

    async def _api_queues(self, request: Request) -> Any:
        return {"queues": await data.list_queues(self.source), "read_only": self.read_only}

    async def _api_queue(self, request: Request) -> Any:
        queue = await self.source.get(request.path_params["queue"])
        summary = await data.queue_summary(queue)
        summary["schedulers"] = (await data.list_schedulers(queue))["schedulers"]
        summary["limits"] = await queue_limits(queue)
        return summary

    async def _api_jobs(self, request: Request) -> Any:
        queue = await self.source.get(request.path_params["queue"])
        state = request.query_params.get("state", "failed")
        limit = _int_param(request, "limit", PAGE_SIZE, lo=1, hi=1000)
        if "page" in request.query_params:
            start = (_int_param(request, "page", 1, lo=1, hi=10**9) - 1) * limit
        else:
            start = _int_param(request, "start", 0, lo=0, hi=10**12)
        name = request.query_params.get("name", "").strip() or None
        return await data.list_jobs(queue, state, start=start, limit=limit, name=name)

    async def _api_job(self, request: Request) -> Any:
        queue = await self.source.get(request.path_params["queue"])
        return await data.job_detail(queue, request.path_params["job_id"])

    async def _api_schedulers(self, request: Request) -> Any:
        queue = await self.source.get(request.path_params["queue"])
        return await data.list_schedulers(queue)

    async def _api_search(self, request: Request) -> Any:
        job_id = request.query_params.get("id", "").strip()
        if not job_id:
            raise ValueError("give the job id as ?id=...")
        queue = request.query_params.get("queue", "").strip() or None
        return {"id": job_id, "found": await editing.search_jobs(self.source, job_id, queue)}

    async def _api_csrf(self, request: Request) -> Response:
        """A CSRF token for scripts that use a cookie jar instead of a bearer token."""
        response = _json(
            {"token": self._csrf_token(request), "cookie": CSRF_COOKIE, "header": "X-CSRF-Token"}
        )
        self._ensure_csrf_cookie(request, response)
        return response

    # -- actions ----------------------------------------------------------------------------------------

    async def _queue_action(self, request: Request, params: Mapping[str, str]) -> tuple[dict[str, Any], str]:
        queue = await self.source.get(request.path_params["queue"])
        action = request.path_params["action"]
        back = f"{_base(request)}/queues/{_segment(queue.name)}"
        if action == "pause":
            return await data.pause_queue(queue), back
        if action == "resume":
            return await data.resume_queue(queue), back
        if action == "retry":
            state = params.get("state", "failed")
            return await data.retry_all(queue, state), f"{back}?state={state}"
        if action == "promote":
            return await data.promote_all(queue), f"{back}?state=delayed"
        if action == "clean":
            state = params.get("state", "completed")
            grace = _float(params.get("grace", "0"), "grace")
            limit = int(_float(params.get("limit", "1000"), "limit"))
            return await data.clean_queue(queue, state, grace, limit), f"{back}?state={state}"
        if action in ("add", "bulk"):
            return await self._edit_action(queue, action, params, back)
        raise NotFoundError(f"no queue action {action!r} (pause, resume, retry, promote, clean, add, bulk)")

    async def _edit_action(
        self, queue: Queue, action: str, params: Mapping[str, str], back: str
    ) -> tuple[dict[str, Any], str]:
        """add (name, data JSON, delay, priority, attempts) and bulk (action, ids) (editing.py)."""
        if action == "add":
            name = params.get("name", "").strip()
            if not name:
                raise ActionError("give the job a name")
            opts: dict[str, Any] = {}
            for key, convert in (("delay", _float), ("priority", _float), ("attempts", _float)):
                raw = params.get(key, "").strip()
                if raw:
                    value = convert(raw, key)
                    opts[key] = value if key == "delay" else int(value)
            job_data = editing.parse_json_field(params.get("data"), "data")
            result = await data.add_job(queue, name, job_data, opts)
            return result, f"{back}/jobs/{_segment(result['job_id'])}"
        ids = editing.parse_ids(params.get("ids"))
        return await editing.bulk_action(queue, params.get("bulk", ""), ids), back

    async def _job_action(self, request: Request, params: Mapping[str, str]) -> tuple[dict[str, Any], str]:
        queue = await self.source.get(request.path_params["queue"])
        job_id, action = request.path_params["job_id"], request.path_params["action"]
        back = f"{_base(request)}/queues/{_segment(queue.name)}"
        job_page = f"{back}/jobs/{_segment(job_id)}"
        if action == "retry":
            return await data.retry_job(queue, job_id), job_page
        if action == "promote":
            return await data.promote_job(queue, job_id), job_page
        if action == "remove":
            return await data.remove_job(queue, job_id), back
        if action == "duplicate":
            result = await editing.duplicate_job(queue, job_id)
            return result, f"{back}/jobs/{_segment(result['job_id'])}"
        if action == "edit":
            new_data = editing.parse_json_field(params.get("data"), "data")
            return await editing.update_job_data(queue, job_id, new_data), job_page
        raise NotFoundError(f"no job action {action!r} (retry, promote, remove, duplicate, edit)")

    async def _scheduler_action(
        self, request: Request, params: Mapping[str, str]
    ) -> tuple[dict[str, Any], str]:
        queue = await self.source.get(request.path_params["queue"])
        result = await data.remove_scheduler(queue, request.path_params["scheduler_id"])
        return result, f"{_base(request)}/queues/{_segment(queue.name)}"


# --- helpers -----------------------------------------------------------------------------------------


def _base(conn: HTTPConnection) -> str:
    root: str = conn.scope.get("root_path", "")
    return root


def _route(conn: HTTPConnection) -> str:
    path: str = conn.scope["path"]
    return path[len(_base(conn)) :]


def _current_url(request: Request) -> str:
    path: str = request.scope["path"]
    query = request.url.query
    return path + (f"?{query}" if query else "")


def _segment(value: Any) -> str:
    """A value as one URL path segment."""
    return quote(str(value), safe="")


def _json(payload: Any, status: int = 200) -> JSONResponse:
    return _OrjsonResponse(payload, status_code=status)


class _OrjsonResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        import orjson

        return orjson.dumps(content, default=str, option=orjson.OPT_NON_STR_KEYS)


def _text_error(status: int, message: str) -> Response:
    return PlainTextResponse(message, status_code=status)


def _int_param(request: Request, name: str, default: int, *, lo: int, hi: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from None
    return min(max(value, lo), hi)


def _float(raw: str, name: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None


async def _params(request: Request) -> dict[str, str]:
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
        try:
            payload = json.loads(body)
        except ValueError:
            raise ValueError("the body is not valid JSON") from None
        if not isinstance(payload, dict):
            raise ValueError("the JSON body must be an object")
        params.update(
            {
                str(k): json.dumps(v) if isinstance(v, dict | list) else str(v)
                for k, v in payload.items()
                if v is not None
            }
        )
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


def _csrf_key(auth: Auth | None) -> bytes:
    """The key that signs CSRF tokens: derived from the configured secrets, so every process of a dashboard
    behind a load balancer accepts the others' tokens; random per process when there are none."""
    from framework.dashboard.auth import BasicAuth, TokenAuth

    methods = [auth] if isinstance(auth, BasicAuth | TokenAuth) or callable(auth) else list(auth or [])
    material = [
        m.password if isinstance(m, BasicAuth) else m.token
        for m in methods
        if isinstance(m, BasicAuth | TokenAuth)
    ]
    if not material:
        return secrets.token_bytes(32)
    return hashlib.sha256(("nestq-dashboard-csrf\0" + "\0".join(material)).encode()).digest()


def _csrf_signature(key: bytes, nonce: str) -> str:
    return hmac.new(key, nonce.encode(), hashlib.sha256).hexdigest()[:32]


def _csrf_signed(key: bytes, token: str) -> bool:
    """Whether `token` is `nonce.signature` signed with `key` (so a cookie set by someone else, e.g. from a
    sibling subdomain, is refused)."""
    nonce, _, signature = token.rpartition(".")
    return len(nonce) >= 32 and hmac.compare_digest(signature.encode(), _csrf_signature(key, nonce).encode())


def _csrf_ok(request: Request, form_token: str | None, key: bytes) -> bool:
    if request.scope.get("state", {}).get("nestq_auth") == "bearer":
        return True  # a browser never adds a bearer token on its own
    headers = request.headers
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return False
    origin = headers.get("origin")
    if origin is not None:
        host = headers.get("x-forwarded-host") or headers.get("host", "")
        if origin == "null" or urlsplit(origin).netloc.lower() != host.split(",")[0].strip().lower():
            return False
    cookie = request.cookies.get(CSRF_COOKIE, "")
    given = form_token or headers.get(CSRF_HEADER, "")
    return _csrf_signed(key, cookie) and hmac.compare_digest(cookie.encode(), given.encode())
