"""Flows in the dashboard and the ops CLI: the waiting-children tab, the flow tree on a job's page."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from framework import FlowJob, FlowProducer
from framework.cli import main
from framework.dashboard import create_dashboard
from framework.queue import Queue
from framework.settings import get_settings

from .conftest import BASE, XSS, MakeQueue, client

pytestmark = pytest.mark.single_node(
    "flows across queues (hash slots) are single-server for now, see docs/flows.md"
)


@pytest.fixture
async def tree(redis_url: str, prefix: str, drain: Callable[..., Any], make_queue: MakeQueue):
    """A parent in `reports` (waiting) with two children in `sections`: one completed, one pending."""
    async with FlowProducer(connection=redis_url, prefix=prefix) as flow:
        node = await flow.add(
            FlowJob("assemble", "reports", children=[
                FlowJob("section", "sections", 1, opts={"job_id": "done-1"}),
                FlowJob(XSS, "sections", 2, opts={"delay": 3600}),
            ])
        )  # fmt: skip
        await drain(make_queue("sections"), lambda job: "ok")
        yield node, [make_queue("reports"), make_queue("sections")]


class TestFlowPages:
    async def test_parent_page_lists_children_with_states_and_links(self, tree) -> None:
        """The parent's page shows each child (queue:id, name, state, outcome), linked and escaped."""
        node, queues = tree
        async with client(create_dashboard(queues)) as http:
            html = (await http.get(f"{BASE}/queues/reports/jobs/{node.job.id}")).text
        assert 'data-section="flow"' in html
        assert f'href="{BASE}/queues/sections/jobs/done-1"' in html
        assert "1 pending · 1 completed" in html
        assert "badge-delayed" in html and "badge-completed" in html
        assert XSS not in html and "&lt;script&gt;" in html
        assert "Waiting children" in html  # the parent's own state

    async def test_child_page_links_its_parent(self, tree) -> None:
        """A child's page names and links its parent, with the parent's state."""
        node, queues = tree
        async with client(create_dashboard(queues)) as http:
            html = (await http.get(f"{BASE}/queues/sections/jobs/done-1")).text
        assert f'href="{BASE}/queues/reports/jobs/{node.job.id}"' in html
        assert "badge-waiting-children" in html

    async def test_waiting_children_tab_lists_the_parent(self, tree) -> None:
        """The queue page has a waiting-children tab listing the parent."""
        node, queues = tree
        async with client(create_dashboard(queues)) as http:
            html = (await http.get(f"{BASE}/queues/reports?state=waiting-children")).text
            api = (await http.get(f"{BASE}/api/queues/reports/jobs/{node.job.id}")).json()
        assert f"/queues/reports/jobs/{node.job.id}" in html
        assert api["state"] == "waiting-children"
        assert api["flow"]["counts"] == {"pending": 1, "processed": 1, "failed": 0, "ignored": 0}

    async def test_job_in_no_flow_has_no_flow_section(self, make_queue: MakeQueue) -> None:
        """A plain job's page has no flow section."""
        q: Queue = make_queue("plain")
        job = await q.add("x")
        async with client(create_dashboard([q])) as http:
            html = (await http.get(f"{BASE}/queues/plain/jobs/{job.id}")).text
        assert 'data-section="flow"' not in html


def test_nestq_job_shows_parent_and_children(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], redis_url: str, prefix: str
) -> None:
    """`nestq job` prints a Flow panel: the parent of a child, the children of a parent, with states."""

    async def seed() -> tuple[str, str]:
        async with FlowProducer(connection=redis_url, prefix=prefix) as flow:
            node = await flow.add(FlowJob("assemble", "reports", children=[FlowJob("section", "sections")]))
            return node.job.id, node.children[0].job.id

    parent_id, child_id = asyncio.run(seed())
    monkeypatch.setenv("NESTQ_REDIS_URL", redis_url)
    monkeypatch.setenv("NESTQ_PREFIX", prefix)
    get_settings.cache_clear()
    try:
        assert main(["job", "reports", parent_id]) == 0
        out = capsys.readouterr().out
        assert "Flow" in out and f"sections:{child_id} section" in out and "1 pending" in out
        assert main(["job", "sections", child_id]) == 0
        out = capsys.readouterr().out
        assert f"reports:{parent_id} assemble" in out and "waiting-children" in out
    finally:
        get_settings.cache_clear()
