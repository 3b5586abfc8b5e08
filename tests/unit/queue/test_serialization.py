"""JSON on the wire, never pickle: what is refused, and how the error names the path."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from pydantic import BaseModel

from framework.errors import InvalidJobDataError
from framework.queue.serialization import as_text, dumps, loads


class Point(BaseModel):
    x: int
    y: int


class TestDumps:
    def test_json_values_round_trip(self) -> None:
        """Dicts, lists, strings, numbers, booleans and None come back as they went."""
        value = {"a": [1, 2.5, "s", True, None], "b": {"c": -(2**63)}}
        assert loads(dumps(value)) == value

    def test_pydantic_models_are_dumped_as_json(self) -> None:
        """A pydantic model is accepted and stored in JSON mode."""
        assert loads(dumps({"p": Point(x=1, y=2)})) == {"p": {"x": 1, "y": 2}}

    @pytest.mark.parametrize(
        ("value", "path"),
        [
            ({"when": datetime.datetime(2026, 1, 1)}, "data['when'] is a datetime.datetime"),
            ({"tags": {"a"}}, "data['tags'] is a builtins.set"),
            ({1: "x"}, "data has a non-string key 1"),
            ([0, [object()]], "data[1][0] is a builtins.object"),
            ({"n": 2**70}, "data['n'] is an integer too large"),
        ],
    )
    def test_refused_values_name_their_path(self, value: Any, path: str) -> None:
        """What JSON cannot carry faithfully is refused, naming where it is."""
        with pytest.raises(InvalidJobDataError, match=path.replace("[", r"\[").replace("]", r"\]")):
            dumps(value)

    @pytest.mark.parametrize("bad", [float("nan"), float("inf")])
    def test_nan_and_infinity_are_refused(self, bad: float) -> None:
        """NaN and infinity (written as null by orjson) are refused, not silently nulled."""
        with pytest.raises(InvalidJobDataError, match=r"opts\['x'\] is"):
            dumps({"x": bad}, what="opts")

    def test_too_deep_is_refused(self) -> None:
        """Nesting beyond orjson's limit says to flatten it."""
        value: Any = []
        for _ in range(300):
            value = [value]
        with pytest.raises(InvalidJobDataError, match="nested too deeply"):
            dumps(value)

    def test_a_self_reference_is_refused(self) -> None:
        """A value that contains itself is refused rather than looping."""
        value: list[Any] = []
        value.append(value)
        with pytest.raises(InvalidJobDataError):
            dumps(value)


class TestLoadsAndText:
    def test_none_stays_none(self) -> None:
        """A missing field reads as None."""
        assert loads(None) is None and loads(b'{"a": 1}') == {"a": 1}

    def test_as_text(self) -> None:
        """Redis replies (bytes) and other values as str."""
        assert (as_text(b"caf\xc3\xa9"), as_text(7)) == ("café", "7")
