"""framework.http without a server: argument checks and the error before startup."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette

from framework import Module, inject_queue
from framework.http import ApplicationNotRunningError, Inject, get_application, lifespan


def test_lifespan_takes_a_module_class() -> None:
    """lifespan(...) refuses anything but a Module subclass, naming what it got."""
    with pytest.raises(TypeError, match="takes the root Module class, got 'AppModule'"):
        lifespan("AppModule")  # type: ignore[arg-type]


def test_get_application_before_startup_names_the_fix() -> None:
    """Without a lifespan the error says which lifespan to pass and how tests run it."""
    with pytest.raises(ApplicationNotRunningError, match=r"lifespan=framework.http.lifespan\(AppModule\)"):
        get_application(Starlette())
    with pytest.raises(ApplicationNotRunningError, match="http_client"):
        get_application({"type": "http", "state": {}})


def test_inject_unwraps_inject_queue_into_a_named_dependency() -> None:
    """Inject(inject_queue("x")) is a FastAPI Depends whose function is named after the queue."""
    depends = Inject(inject_queue("reports"))
    assert depends.dependency.__name__ == "inject_Queue_reports"
    assert repr(lifespan(Module, workers=True)) == "lifespan(Module, workers=True)"
