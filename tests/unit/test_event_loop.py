"""NESTQ_LOOP: which event loop `nestq run` / `nestq worker` use."""

from __future__ import annotations

import builtins
from typing import Any

import pytest

from framework.cli import event_loop_factory
from framework.errors import ConfigurationError


def test_auto_takes_uvloop_when_installed() -> None:
    uvloop = pytest.importorskip("uvloop")
    assert event_loop_factory("auto") is uvloop.new_event_loop
    assert event_loop_factory("uvloop") is uvloop.new_event_loop


def test_asyncio_is_the_standard_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NESTQ_LOOP", "asyncio")
    assert event_loop_factory() is None


def test_without_uvloop_auto_falls_back_and_uvloop_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_uvloop(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "uvloop":
            raise ImportError("No module named 'uvloop'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_uvloop)
    assert event_loop_factory("auto") is None
    with pytest.raises(ConfigurationError, match=r"pip install 'nestq\[uvloop\]'"):
        event_loop_factory("uvloop")


def test_an_unknown_loop_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NESTQ_LOOP", "trio")
    with pytest.raises(
        ConfigurationError, match="NESTQ_LOOP must be one of auto, asyncio, uvloop, got 'trio'"
    ):
        event_loop_factory()
