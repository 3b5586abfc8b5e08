"""Who may look and act: auth, loopback-only without auth, read-only mode, CSRF, headers, and serving."""

from __future__ import annotations

import asyncio
import base64
import socket
from collections.abc import Iterator

import httpx
import pytest
from starlette.requests import HTTPConnection

from framework.dashboard import (
    BasicAuth,
    DashboardError,
    TokenAuth,
    check_bind,
    create_dashboard,
    dashboard_server,
    start_dashboard,
)
from framework.queue import JobState
from framework.settings import DashboardSettings, get_settings

from .conftest import BASE, Seed, client, csrf_token

TOKEN = "t0ken-for-scripts-1234"


def _basic(user: str, password: str) -> dict[str, str]:
    raw = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


@pytest.fixture
def clean_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Settings read afresh from an environment this test controls."""
    for name in ("USERNAME", "PASSWORD", "TOKEN", "READ_ONLY", "ENABLED"):
        monkeypatch.delenv(f"NESTQ_DASHBOARD__{name}", raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


class TestAuth:
    async def test_basic_auth_required(self, seeded: Seed) -> None:
        """Without credentials, or with wrong ones, every page and API is 401 with a basic challenge."""
        app = create_dashboard([seeded.queue], auth=BasicAuth("admin", "s3cret"))
        async with client(app) as http:
            for path in (f"{BASE}/", f"{BASE}/api/queues", f"{BASE}/static/dashboard.css", "/"):
                response = await http.get(path)
                assert response.status_code == 401, path
                assert response.headers["www-authenticate"].startswith("Basic")
            wrong = await http.get(f"{BASE}/", headers=_basic("admin", "nope"))
            right = await http.get(f"{BASE}/", headers=_basic("admin", "s3cret"))
        assert wrong.status_code == 401
        assert right.status_code == 200 and "email" in right.text

    async def test_bearer_token_skips_csrf(self, seeded: Seed) -> None:
        """A bearer token opens the API, and its actions need no CSRF token (browsers never send one)."""
        app = create_dashboard([seeded.queue], auth=TokenAuth(TOKEN))
        async with client(app) as http:
            denied = await http.get(f"{BASE}/api/queues", headers={"Authorization": "Bearer wrong-token"})
            listed = await http.get(f"{BASE}/api/queues", headers={"Authorization": f"Bearer {TOKEN}"})
            retried = await http.post(
                f"{BASE}/api/queues/email/jobs/{seeded.failed}/retry",
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
        assert denied.status_code == 401
        assert listed.status_code == 200
        assert retried.status_code == 200
        assert await seeded.queue.get_job_state(seeded.failed) == JobState.WAITING

    async def test_token_as_basic_password_still_needs_csrf(self, seeded: Seed) -> None:
        """A browser may log in with the token as basic-auth password; its POSTs still need the token."""
        app = create_dashboard([seeded.queue], auth=TokenAuth(TOKEN))
        async with client(app, headers=_basic("anyone", TOKEN)) as http:
            page = await http.get(f"{BASE}/")
            refused = await http.post(f"{BASE}/api/queues/email/pause")
            token = http.cookies["nestq_csrf"]
            accepted = await http.post(f"{BASE}/api/queues/email/pause", headers={"X-CSRF-Token": token})
        assert page.status_code == 200
        assert refused.status_code == 403
        assert accepted.status_code == 200

    async def test_callable_auth_sync_and_async(self, seeded: Seed) -> None:
        """A callable (plain or async) of the request decides."""

        def header_check(conn: HTTPConnection) -> bool:
            return conn.headers.get("x-user") == "ops"

        async def async_check(conn: HTTPConnection) -> bool:
            await asyncio.sleep(0)
            return conn.headers.get("x-user") == "admin"

        app = create_dashboard([seeded.queue], auth=[header_check, async_check])
        async with client(app) as http:
            nobody = await http.get(f"{BASE}/")
            ops = await http.get(f"{BASE}/", headers={"x-user": "ops"})
            admin = await http.get(f"{BASE}/", headers={"x-user": "admin"})
        assert nobody.status_code == 401 and "www-authenticate" in nobody.headers
        assert ops.status_code == 200 and admin.status_code == 200

    async def test_auth_from_settings(self, seeded: Seed, clean_settings: pytest.MonkeyPatch) -> None:
        """With auth=None, NESTQ_DASHBOARD__USERNAME/PASSWORD are used."""
        clean_settings.setenv("NESTQ_DASHBOARD__USERNAME", "ops")
        clean_settings.setenv("NESTQ_DASHBOARD__PASSWORD", "from-env")
        get_settings.cache_clear()
        app = create_dashboard([seeded.queue])
        async with client(app) as http:
            anonymous = await http.get(f"{BASE}/")
            logged_in = await http.get(f"{BASE}/", headers=_basic("ops", "from-env"))
        assert anonymous.status_code == 401
        assert logged_in.status_code == 200

    def test_auth_objects_hide_secrets(self) -> None:
        """repr() of an auth object shows no password or token."""
        assert "s3cret" not in repr(BasicAuth("admin", "s3cret"))
        assert TOKEN not in repr(TokenAuth(TOKEN))


class TestLoopbackOnlyWithoutAuth:
    async def test_remote_client_refused(self, seeded: Seed, clean_settings: pytest.MonkeyPatch) -> None:
        """With no auth configured, a client from another machine gets 403 and the way to fix it."""
        app = create_dashboard([seeded.queue])
        async with client(app, host="10.1.2.3") as remote, client(app, host="127.0.0.1") as local:
            refused = await remote.get(f"{BASE}/")
            allowed = await local.get(f"{BASE}/")
        assert refused.status_code == 403 and "NESTQ_DASHBOARD__USERNAME" in refused.text
        assert allowed.status_code == 200

    async def test_remote_client_with_auth(self, seeded: Seed) -> None:
        """With auth, a remote client that authenticates is served."""
        app = create_dashboard([seeded.queue], auth=BasicAuth("admin", "s3cret"))
        async with client(app, host="10.1.2.3", headers=_basic("admin", "s3cret")) as http:
            response = await http.get(f"{BASE}/")
        assert response.status_code == 200


class TestReadOnly:
    async def test_actions_are_hidden(self, seeded: Seed) -> None:
        """Read-only pages have no action form at all."""
        app = create_dashboard([seeded.queue], read_only=True)
        async with client(app) as http:
            for path in (f"{BASE}/", f"{BASE}/queues/email", f"{BASE}/queues/email/jobs/{seeded.failed}"):
                html = (await http.get(path)).text
                assert 'method="post"' not in html, path
                assert "Read-only" in html

    async def test_actions_are_refused(self, seeded: Seed) -> None:
        """Every action is 403, through the API and through a form, even with a valid token."""
        app = create_dashboard([seeded.queue], read_only=True)
        async with client(app) as http:
            token = await csrf_token(http)
            api = await http.post(
                f"{BASE}/api/queues/email/jobs/{seeded.failed}/retry", headers={"X-CSRF-Token": token}
            )
            form = await http.post(f"{BASE}/queues/email/pause", data={"csrf_token": token})
            clean = await http.post(
                f"{BASE}/api/queues/email/clean", data={"state": "completed"}, headers={"X-CSRF-Token": token}
            )
        assert api.status_code == 403 and api.json() == {"error": "The dashboard is read-only."}
        assert form.status_code == 403 and "read-only" in form.text
        assert clean.status_code == 403
        assert await seeded.queue.get_job_state(seeded.failed) == JobState.FAILED
        assert not await seeded.queue.is_paused()
        assert (await seeded.queue.get_job_counts("completed"))["completed"] == 3

    async def test_reads_still_work(self, seeded: Seed) -> None:
        """The JSON API still answers reads in read-only mode."""
        app = create_dashboard([seeded.queue], read_only=True)
        async with client(app) as http:
            response = await http.get(f"{BASE}/api/queues")
        assert response.status_code == 200 and response.json()["read_only"] is True


class TestCsrf:
    async def test_missing_token_refused(self, seeded: Seed) -> None:
        """A POST without the token (a cross-site form) changes nothing."""
        async with client(create_dashboard([seeded.queue])) as http:
            await csrf_token(http)
            form = await http.post(f"{BASE}/queues/email/jobs/{seeded.failed}/retry", data={})
            api = await http.post(f"{BASE}/api/queues/email/jobs/{seeded.failed}/retry")
        assert form.status_code == 403 and "CSRF" in form.text
        assert api.status_code == 403
        assert await seeded.queue.get_job_state(seeded.failed) == JobState.FAILED

    async def test_wrong_token_refused(self, seeded: Seed) -> None:
        """A token that does not match the cookie is refused."""
        async with client(create_dashboard([seeded.queue])) as http:
            await csrf_token(http)
            response = await http.post(f"{BASE}/queues/email/pause", data={"csrf_token": "x" * 43})
        assert response.status_code == 403
        assert not await seeded.queue.is_paused()

    async def test_token_without_cookie_refused(self, seeded: Seed) -> None:
        """A token alone (no cookie) is refused."""
        async with client(create_dashboard([seeded.queue])) as http:
            token = await csrf_token(http)
            http.cookies.clear()
            response = await http.post(f"{BASE}/queues/email/pause", data={"csrf_token": token})
        assert response.status_code == 403

    async def test_foreign_origin_refused(self, seeded: Seed) -> None:
        """Even with the right token, a POST whose Origin is another site is refused."""
        async with client(create_dashboard([seeded.queue])) as http:
            token = await csrf_token(http)
            foreign = await http.post(
                f"{BASE}/queues/email/pause",
                data={"csrf_token": token},
                headers={"Origin": "https://evil.example"},
            )
            cross_site = await http.post(
                f"{BASE}/queues/email/pause",
                data={"csrf_token": token},
                headers={"Sec-Fetch-Site": "cross-site"},
            )
            same = await http.post(
                f"{BASE}/queues/email/pause",
                data={"csrf_token": token},
                headers={"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"},
            )
        assert foreign.status_code == 403 and cross_site.status_code == 403
        assert same.status_code == 303
        assert await seeded.queue.is_paused()

    async def test_basic_auth_does_not_replace_csrf(self, seeded: Seed) -> None:
        """Basic credentials are sent by browsers on their own, so they do not exempt a POST."""
        app = create_dashboard([seeded.queue], auth=BasicAuth("admin", "s3cret"))
        async with client(app, headers=_basic("admin", "s3cret")) as http:
            response = await http.post(f"{BASE}/api/queues/email/pause")
        assert response.status_code == 403

    async def test_csrf_endpoint_for_cookie_jar_scripts(self, seeded: Seed) -> None:
        """GET /api/csrf hands a script the token and sets the cookie."""
        async with client(create_dashboard([seeded.queue])) as http:
            payload = (await http.get(f"{BASE}/api/csrf")).json()
            response = await http.post(
                f"{BASE}/api/queues/email/pause", headers={"X-CSRF-Token": payload["token"]}
            )
        assert response.status_code == 200

    async def test_cookie_flags(self, seeded: Seed) -> None:
        """The CSRF cookie is HttpOnly, SameSite=Strict and scoped to the dashboard's path."""
        async with client(create_dashboard([seeded.queue])) as http:
            response = await http.get(f"{BASE}/")
        cookie = response.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and f"Path={BASE}/" in cookie


class TestHeaders:
    async def test_security_headers_on_every_answer(self, seeded: Seed) -> None:
        """Pages, API answers and refusals carry CSP, nosniff and no-framing headers."""
        app = create_dashboard([seeded.queue], auth=BasicAuth("admin", "s3cret"))
        async with client(app) as http:
            refused = await http.get(f"{BASE}/")
            page = await http.get(f"{BASE}/", headers=_basic("admin", "s3cret"))
            api = await http.get(f"{BASE}/api/queues", headers=_basic("admin", "s3cret"))
        for response in (refused, page, api):
            assert "script-src 'self'" in response.headers["content-security-policy"]
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["x-frame-options"] == "DENY"


class TestServing:
    def test_refuses_public_host_without_auth(self) -> None:
        """Binding 0.0.0.0 (or any non-loopback host) without auth is refused with a clear message."""
        with pytest.raises(DashboardError, match="without authentication"):
            check_bind("0.0.0.0", None)
        with pytest.raises(DashboardError, match="NESTQ_DASHBOARD__USERNAME"):
            check_bind("192.0.2.10", None)
        check_bind("0.0.0.0", BasicAuth("a", "b"))
        check_bind("127.0.0.1", None)
        check_bind("localhost", None)
        check_bind("::1", None)

    async def test_start_dashboard_refuses_public_host(
        self, seeded: Seed, clean_settings: pytest.MonkeyPatch
    ) -> None:
        """start_dashboard checks before binding anything."""
        with pytest.raises(DashboardError, match="without authentication"):
            await start_dashboard([seeded.queue], DashboardSettings(host="0.0.0.0"), port=0)

    async def test_serves_over_http_and_stops(self, seeded: Seed) -> None:
        """A real uvicorn server on a free port answers, and stops cleanly."""
        server = await start_dashboard([seeded.queue], DashboardSettings(), port=0)
        try:
            assert server.url.startswith("http://127.0.0.1:") and server.url.endswith("/admin/queues/")
            async with httpx.AsyncClient() as http:
                page = await http.get(server.url)
                api = await http.get(server.url + "api/queues")
            assert page.status_code == 200 and "email" in page.text
            assert api.json()["queues"][0]["counts"]["failed"] == 1
        finally:
            await server.stop()
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", server.port)) != 0

    async def test_port_in_use(self, seeded: Seed) -> None:
        """A port already taken is a DashboardError naming it, not an exit."""
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            with pytest.raises(DashboardError, match=f"127.0.0.1:{port}"):
                await start_dashboard([seeded.queue], DashboardSettings(), port=port)

    async def test_dashboard_server_context(self, seeded: Seed) -> None:
        """dashboard_server serves for the block when enabled, and does nothing when disabled."""
        async with dashboard_server([seeded.queue], DashboardSettings(enabled=False)) as off:
            assert off is None
        free = socket.socket()
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
        free.close()
        async with dashboard_server([seeded.queue], DashboardSettings(port=port, read_only=True)) as server:
            assert server is not None and server.app.read_only
            async with httpx.AsyncClient() as http:
                assert (await http.get(server.url)).status_code == 200
