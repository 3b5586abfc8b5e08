"""FastAPI and Starlette on the nestq container, on a real server: injection, overrides, lifecycle, errors."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from framework import Job, Module, Queue, QueueModule, inject_queue, process, processor
from framework.http import ApplicationNotRunningError, Inject, dashboard_app, lifespan, resolve
from framework.testing import http_client, http_server, http_test_client


class Greeter:
    def greet(self, name: str) -> str:
        return f"Hello, {name}!"


class FakeGreeter(Greeter):
    def greet(self, name: str) -> str:
        return f"fake hello {name}"


class Events:
    """What happened, in order: the endpoints and the application's shutdown hook write here."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def on_application_shutdown(self) -> None:
        self.items.append("application shutdown")


@processor("greetings")
class GreetingsProcessor:
    def __init__(self, greeter: Greeter) -> None:
        self.greeter = greeter

    @process("greet")
    async def greet(self, job: Job[Any]) -> str:
        return self.greeter.greet(job.data["name"])


def build_api(module: type[Module], *, workers: bool = False) -> FastAPI:
    api = FastAPI(lifespan=lifespan(module, workers=workers))
    api.mount("/admin/queues", dashboard_app())

    @api.post("/greetings/{name}")
    async def greet(
        name: str,
        greeter: Annotated[Greeter, Inject(Greeter)],
        queue: Annotated[Queue, Inject(inject_queue("greetings"))],
    ) -> dict[str, Any]:
        job = await queue.add("greet", {"name": name})
        return {"now": greeter.greet(name), "job_id": job.id}

    @api.post("/slow")
    async def slow(
        events: Annotated[Events, Inject(Events)],
        queue: Annotated[Queue, Inject(inject_queue("greetings"))],
    ) -> dict[str, Any]:
        events.items.append("request started")
        gate = api.state.gate
        gate["entered"].set()
        await gate["release"].wait()
        job = await queue.add("greet", {"name": "late"})  # the application is still up
        events.items.append("request finished")
        return {"job_id": job.id}

    return api


@pytest.fixture
def app_module(redis_url: str, prefix: str) -> type[Module]:
    class AppModule(Module):
        imports = [QueueModule.for_root(redis_url, prefix=prefix), QueueModule.register_queue("greetings")]
        providers = [Greeter, Events]
        processors = [GreetingsProcessor]

    return AppModule


async def test_endpoint_injects_a_provider_and_a_queue(app_module: type[Module], prefix: str) -> None:
    """Inject(Greeter) and Inject(inject_queue(...)) give the application's singleton and queue."""
    api = build_api(app_module)
    async with http_client(api) as client:
        response = await client.post("/greetings/Ada")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["now"] == "Hello, Ada!"
        queue = client.nest.queue("greetings")
        job = await queue.get_job(body["job_id"])
        assert job is not None and job.data == {"name": "Ada"} and await job.get_state() == "waiting"
        # producer-only by default: nothing ran it; the test drains it itself
        await client.nest.run_until_drained("greetings")
        assert await job.wait_until_finished(timeout=5) == "Hello, Ada!"


async def test_http_client_overrides_providers(app_module: type[Module]) -> None:
    """Overrides reach the endpoints and the processors alike."""
    api = build_api(app_module)
    async with http_client(api, overrides={Greeter: FakeGreeter()}) as client:
        body = (await client.post("/greetings/Bob")).json()
        assert body["now"] == "fake hello Bob"
        await client.nest.run_until_drained("greetings")
        job = await client.nest.queue("greetings").get_job(body["job_id"])
        assert job is not None and job.return_value == "fake hello Bob"
    async with http_client(api) as client:  # a new lifespan: the real provider again
        assert (await client.post("/greetings/Bob")).json()["now"] == "Hello, Bob!"


async def test_workers_true_runs_processors_in_the_web_process(app_module: type[Module]) -> None:
    """lifespan(..., workers=True) starts the processors with the web app."""
    api = build_api(app_module, workers=True)
    async with http_client(api) as client:
        body = (await client.post("/greetings/Cy")).json()
        job = await client.nest.queue("greetings").get_job(body["job_id"])
        assert job is not None
        assert await job.wait_until_finished(timeout=10) == "Hello, Cy!"


async def test_dashboard_is_mountable_before_startup(app_module: type[Module]) -> None:
    """dashboard_app() answers 503 before the lifespan ran and serves the application's queues after."""
    api = build_api(app_module)
    transport = httpx.ASGITransport(app=api)  # runs no lifespan
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as bare:
        assert (await bare.get("/admin/queues/")).status_code == 503
    async with http_client(api) as client:
        page = await client.get("/admin/queues/")
        assert page.status_code == 200 and "greetings" in page.text


def test_inject_before_startup_names_the_fix(app_module: type[Module]) -> None:
    """A request served without the lifespan fails with an error naming lifespan() and the test fix."""
    api = build_api(app_module)
    client = TestClient(api)  # not `with TestClient(...)`: the lifespan never runs
    with pytest.raises(ApplicationNotRunningError) as caught:
        client.post("/greetings/Ada")
    message = str(caught.value)
    assert "cannot inject Greeter" in message
    assert "lifespan=framework.http.lifespan(AppModule)" in message and "with TestClient(app)" in message


def test_inject_with_test_client_runs_the_lifespan(app_module: type[Module]) -> None:
    """`with TestClient(app)` runs the lifespan, so injection works there too."""
    with TestClient(build_api(app_module)) as client:
        assert client.post("/greetings/Di").json()["now"] == "Hello, Di!"


async def test_starlette_endpoint_resolves_from_the_container(app_module: type[Module]) -> None:
    """Plain Starlette: resolve(request, token) with the same lifespan."""

    async def hello(request: Request) -> JSONResponse:
        greeter = resolve(request, Greeter)
        queue = resolve(request, inject_queue("greetings"))
        job = await queue.add("greet", {"name": "St"})
        return JSONResponse({"now": greeter.greet("St"), "queue": queue.name, "job_id": job.id})

    api = Starlette(routes=[Route("/", hello)], lifespan=lifespan(app_module))
    async with http_client(api, overrides={Greeter: FakeGreeter()}) as client:
        body = (await client.get("/")).json()
        assert body["now"] == "fake hello St" and body["queue"] == "greetings"


@contextlib.contextmanager
def _gate(api: FastAPI) -> Iterator[dict[str, asyncio.Event]]:
    api.state.gate = {"entered": asyncio.Event(), "release": asyncio.Event()}
    yield api.state.gate


async def _refused(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return True
    writer.close()
    return False


async def _eventually(check: Callable[[], Awaitable[bool]], timeout: float) -> None:
    """Poll `check` until it is true; fail after `timeout` seconds."""
    async with asyncio.timeout(timeout):
        while True:
            if await check():
                return
            await asyncio.sleep(0.02)


async def test_application_closes_after_the_server_stops_accepting(app_module: type[Module]) -> None:
    """On shutdown the server stops accepting first, the open request still uses the application,
    and the application closes only after that request finished."""
    api = build_api(app_module)
    with _gate(api) as gate:
        async with http_server(api) as served, httpx.AsyncClient(base_url=served.url, timeout=20) as http:
            events: Events = served.nest.get(Events)
            port = int(served.url.rsplit(":", 1)[1])
            request = asyncio.create_task(http.post("/slow"))
            await asyncio.wait_for(gate["entered"].wait(), 10)
            served.server.should_exit = True  # what SIGTERM does
            await _eventually(lambda: _refused(port), 10)  # the listening socket closes first
            assert events.items == ["request started"]  # the application is still running
            gate["release"].set()
            response = await asyncio.wait_for(request, 10)
            assert response.status_code == 200, response.text
    # http_server's exit waited for the server to stop, its lifespan shutdown included
    assert events.items == ["request started", "request finished", "application shutdown"]


async def test_http_server_serves_with_overrides(app_module: type[Module]) -> None:
    """http_server runs the app on a real uvicorn server with providers replaced."""
    async with (
        http_server(build_api(app_module), overrides={Greeter: FakeGreeter()}) as served,
        httpx.AsyncClient(base_url=served.url) as http,
    ):
        assert (await http.post("/greetings/Ed")).json()["now"] == "fake hello Ed"


def test_http_test_client_overrides_providers(app_module: type[Module]) -> None:
    """http_test_client is TestClient with the lifespan run and providers replaced (sync tests)."""
    with http_test_client(build_api(app_module), overrides={Greeter: FakeGreeter()}) as client:
        assert client.post("/greetings/Fay").json()["now"] == "fake hello Fay"
        assert client.nest.get(Greeter).greet("x") == "fake hello x"


async def test_lifespan_takes_overrides(app_module: type[Module]) -> None:
    """lifespan(..., overrides=...) builds the application with those providers (an app factory's way)."""
    api = FastAPI(lifespan=lifespan(app_module, overrides={Greeter: FakeGreeter()}))

    @api.get("/")
    async def hello(greeter: Annotated[Greeter, Inject(Greeter)]) -> str:
        return greeter.greet("Gus")

    async with http_client(api) as client:
        assert (await client.get("/")).json() == "fake hello Gus"
