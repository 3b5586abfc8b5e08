"""Dashboard findings of issue 13: a basic-auth user named `bearer`, a signed CSRF token, and listings that
read only what their previews show."""

from __future__ import annotations

import base64
import tracemalloc

from framework.dashboard import BasicAuth, TokenAuth, create_dashboard
from framework.dashboard.data import list_jobs

from .conftest import BASE, Seed, client, csrf_token

TOKEN = "t0ken-for-scripts-1234"


def _basic(user: str, password: str) -> dict[str, str]:
    raw = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


class TestBearerUserName:
    async def test_basic_user_named_bearer_must_pass_csrf(self, seeded: Seed) -> None:
        """Basic auth as user `bearer` with the token as password is a browser login: no CSRF skip."""
        app = create_dashboard([seeded.queue], auth=TokenAuth(TOKEN))
        async with client(app, headers=_basic("bearer", TOKEN)) as http:
            refused = await http.post(f"{BASE}/api/queues/email/pause")
        assert refused.status_code == 403
        assert not await seeded.queue.is_paused()

    async def test_real_user_named_bearer_can_log_in(self, seeded: Seed) -> None:
        """A BasicAuth user called `bearer` logs in like any other user."""
        app = create_dashboard([seeded.queue], auth=BasicAuth("bearer", "pass-word-1"))
        async with client(app, headers=_basic("bearer", "pass-word-1")) as http:
            page = await http.get(f"{BASE}/")
        assert page.status_code == 200


class TestSignedCsrfToken:
    async def test_token_not_signed_by_the_dashboard_is_refused(self, seeded: Seed) -> None:
        """A CSRF cookie planted by someone else (matching header, no valid signature) does not pass."""
        app = create_dashboard([seeded.queue], auth=BasicAuth("admin", "s3cret-pw"))
        forged = "A" * 43
        async with client(app, headers=_basic("admin", "s3cret-pw"), cookies={"nestq_csrf": forged}) as http:
            refused = await http.post(f"{BASE}/api/queues/email/pause", headers={"X-CSRF-Token": forged})
        assert refused.status_code == 403
        assert not await seeded.queue.is_paused()

    async def test_signed_token_from_the_dashboard_is_accepted(self, seeded: Seed) -> None:
        """The token the dashboard sets is signed, and works (also across two app instances)."""
        auth = BasicAuth("admin", "s3cret-pw")
        first, second = (
            create_dashboard([seeded.queue], auth=auth),
            create_dashboard([seeded.queue], auth=auth),
        )
        async with client(first, headers=_basic("admin", "s3cret-pw")) as http:
            token = await csrf_token(http)
        assert "." in token
        async with client(
            second, headers=_basic("admin", "s3cret-pw"), cookies={"nestq_csrf": token}
        ) as http:
            paused = await http.post(f"{BASE}/api/queues/email/pause", headers={"X-CSRF-Token": token})
        assert paused.status_code == 200
        assert await seeded.queue.is_paused()


class TestListingsReadPreviewsOnly:
    async def test_listing_large_jobs_does_not_load_their_payloads(self, make_queue) -> None:
        """Listing 5 jobs of 4 MB each allocates far less than one payload; previews are cut."""
        queue = make_queue("big")
        big = {"blob": "x" * 4_000_000}
        for _ in range(5):
            await queue.add("big", big)
        await list_jobs(queue, "waiting")  # scripts loaded, connection made
        tracemalloc.start()
        try:
            page = await list_jobs(queue, "waiting")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert len(page["jobs"]) == 5
        assert peak < 1_000_000, f"listing allocated {peak} bytes"
        preview = page["jobs"][0]["data_preview"]
        assert preview.startswith('{"blob":"xxx') and preview.endswith("…") and len(preview) <= 160

    async def test_small_jobs_keep_their_exact_previews(self, make_queue) -> None:
        """Small payloads are previewed as before (whole JSON values, strings without quotes)."""
        queue = make_queue("small")
        await queue.add("a", "hello")
        await queue.add("b", {"to": "x@example.com"})
        page = await list_jobs(queue, "waiting")
        assert [j["data_preview"] for j in page["jobs"]] == ['{"to":"x@example.com"}', "hello"]
