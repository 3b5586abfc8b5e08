"""The dashboard's answers to failures, without a server: one status table, security headers always."""

from __future__ import annotations

import httpx
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from framework.dashboard import create_dashboard
from framework.dashboard.data import ActionError
from framework.dashboard.errors import Refused, UnknownAction, status_of
from framework.errors import CorruptJobError, JobNotFoundError
from framework.queue import Queue

BASE = "/admin/queues"


class FailingSource:
    """A queue source whose reads raise what the test says."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    async def names(self) -> list[str]:
        raise self.error

    async def get(self, name: str) -> Queue:
        raise self.error

    async def close(self) -> None:
        return None


def _client(error: BaseException) -> httpx.AsyncClient:
    app = create_dashboard(FailingSource(error), auth=lambda conn: True)
    # A server error reaches the client as a 500 answer, as behind uvicorn, not as a raised exception.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


class TestStatusTable:
    @pytest.mark.parametrize(
        ("error", "read", "action"),
        [
            (JobNotFoundError("x"), 404, 404),
            (ActionError("x"), 400, 409),
            (CorruptJobError("x"), None, 409),
            (ValueError("x"), 400, 400),
            (RedisConnectionError("x"), 503, 503),
            (Refused("x"), None, 403),
            (UnknownAction("x"), None, 404),
            (RuntimeError("x"), None, None),
        ],
    )
    def test_one_table(self, error: BaseException, read: int | None, action: int | None) -> None:
        """A read and an action map each failure to one status (None: not expected, a 500)."""
        assert status_of(error, action=False) == read
        assert status_of(error, action=True) == action


class TestAnswers:
    async def test_redis_down_is_503_page_and_json(self) -> None:
        """Redis unreachable is a 503: an error page for a browser, `{"error"}` for the API."""
        async with _client(RedisConnectionError("refused")) as http:
            page = await http.get(f"{BASE}/")
            api = await http.get(f"{BASE}/api/queues")
        assert page.status_code == 503 and "Redis is unreachable" in page.text
        assert api.status_code == 503 and api.json() == {"error": "Redis is unreachable: refused"}

    async def test_unexpected_error_is_500_with_security_headers(self) -> None:
        """A bug is a 500, and still carries the CSP and no-framing headers."""
        async with _client(RuntimeError("bug")) as http:
            response = await http.get(f"{BASE}/")
        assert response.status_code == 500
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert response.headers["x-frame-options"] == "DENY"

    async def test_outside_base_path_is_404_before_auth(self) -> None:
        """Standalone, a path outside the base path is a 404 whatever the credentials."""
        app = create_dashboard(FailingSource(RuntimeError()), auth=lambda conn: False)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            outside = await http.get("/elsewhere")
            root = await http.get("/")
        assert outside.status_code == 404
        assert root.status_code == 401  # the bare root redirects to the base path, but only after auth
