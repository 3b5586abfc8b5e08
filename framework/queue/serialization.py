"""JSON on the wire, never pickle.

Payloads, options, results and errors are JSON. A value JSON cannot carry faithfully (a set, a datetime,
NaN, a non-string key, an object) is refused with an error naming its path, before anything is written.
Pydantic models are accepted and dumped in JSON mode, so typed DTOs can be enqueued as they are.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

from framework.errors import InvalidJobDataError

# Datetimes and dataclasses are passed to `_default`, which refuses them: orjson would otherwise turn them
# into strings/dicts silently, and the handler would receive another type than was enqueued.
MAX_DEPTH = 254  # orjson's limit on nested lists/dicts
_OPTS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS


def _default(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if callable(dump):  # a pydantic model
        return dump(mode="json")
    raise TypeError


def dumps(value: Any, *, what: str = "data") -> str:
    """Serialize `value` to a JSON string, or raise InvalidJobDataError naming the offending path."""
    try:
        raw = orjson.dumps(value, default=_default, option=_OPTS)
    except (TypeError, orjson.JSONEncodeError) as exc:
        if "recursion" in str(exc).lower():
            raise InvalidJobDataError(
                f"{what} is nested too deeply for JSON (more than {MAX_DEPTH} levels of lists/dicts). "
                "Flatten it (or store the structure as a string) before enqueueing. Nothing was written."
            ) from None
        try:
            problem = _find_problem(value, what)
        except RecursionError:
            problem = f"{what} is nested too deeply (or refers to itself)"
        raise InvalidJobDataError(
            f"{problem}. Job {what} must be JSON: dict (str keys), list, str, int, float, bool or None "
            "(or a pydantic model). Convert the value (e.g. datetime -> isoformat string) before enqueueing."
        ) from None
    # orjson writes NaN/inf as null; look for them only when a null is present at all (cheap fast path).
    if b"null" in raw:
        nan_at = _find_nan(value, what)
        if nan_at:
            raise InvalidJobDataError(f"{nan_at}: NaN and infinity are not JSON. Nothing was written.")
    return raw.decode()


def loads(raw: str | bytes | None) -> Any:
    """Parse JSON written by `dumps`; None stays None."""
    if raw is None:
        return None
    return orjson.loads(raw)


def _find_problem(value: Any, path: str) -> str:
    """Walk a value and describe the first part JSON cannot carry."""
    if value is None or isinstance(value, bool | str):
        return f"{path} is fine"
    if isinstance(value, int):
        if -(2**63) <= value < 2**64:
            return f"{path} is fine"
        return f"{path} is an integer too large for JSON (64-bit limit)"
    if isinstance(value, float):
        return f"{path} is fine"
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                return f"{path} has a non-string key {k!r} ({type(k).__name__})"
            found = _find_problem(v, f"{path}[{k!r}]")
            if not found.endswith("is fine"):
                return found
        return f"{path} is fine"
    if isinstance(value, list | tuple):
        for i, v in enumerate(value):
            found = _find_problem(v, f"{path}[{i}]")
            if not found.endswith("is fine"):
                return found
        return f"{path} is fine"
    if callable(getattr(value, "model_dump", None)):
        return f"{path} is fine"
    return f"{path} is a {type(value).__module__}.{type(value).__qualname__}, which JSON cannot carry"


def _find_nan(value: Any, path: str) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return f"{path} is {value}"
    if isinstance(value, dict):
        for k, v in value.items():
            found = _find_nan(v, f"{path}[{k!r}]")
            if found:
                return found
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            found = _find_nan(v, f"{path}[{i}]")
            if found:
                return found
    return None


def as_text(value: Any) -> str:
    """A Redis reply (bytes, decoded as UTF-8) or any other value, as str."""
    return value.decode() if isinstance(value, bytes) else str(value)
