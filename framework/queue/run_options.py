"""What the runtime reads of a job's stored options, decoded once into a typed object.

`JobOptions` validates options strictly when a job is added. A job read back from Redis may carry
options that are not valid any more (a hash changed by hand, another tool): the runtime must still
report an outcome for it, so `RunOptions.decode` never raises. Each field falls back to its default,
and the stored value that was refused is kept in `corrupt` (the failure path names it and does not
retry). The worker, the outcome rules, the job's properties and tracing all read this object; nothing
in `framework/` picks keys out of the stored dict by hand. A job decodes its options on first use
(`job.run_options`); jobs whose stored options text is the same share one decoded object.

To add an option the runtime reads: a field of `JobOptions` (options.py, validated at `add`), the key in
`AddOptions` (add_options.py), a field here and its line in `decode`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel

from framework.queue.backoff import Backoff
from framework.queue.options import DEFAULT_KEEP_COMPLETED, DEFAULT_KEEP_FAILED, KeepJobs, keep_for

__all__ = ["RunOptions"]

M = TypeVar("M", bound=BaseModel)


_RETENTION = (("remove_on_complete", DEFAULT_KEEP_COMPLETED), ("remove_on_fail", DEFAULT_KEEP_FAILED))


def _keep(raw: Any, default: KeepJobs) -> tuple[int, int]:
    """Retention as (count, age_ms); raises on a value that is not a retention rule."""
    if isinstance(raw, dict):
        raw = _validated(KeepJobs, raw, _retentions)
    return keep_for(raw, default)


@dataclass(frozen=True, slots=True)
class RunOptions:
    """A job's options as the runtime uses them (see the module docstring).

    Attributes:
        attempts: attempts in all (>= 1).
        backoff: the retry backoff, or None (retry at once).
        backoff_error: why the stored backoff was refused (the retry then waits no time), or None.
        timeout: seconds an attempt may run, or None.
        keep_completed, keep_failed: retention as (count, age_ms) for the scripts (count -1 keeps all).
        deduplication_id, group_id: job control (control.py), or None.
        trace_context: the W3C trace context of the span that added the job, or None.
        corrupt: option name -> the stored value that was refused.
    """

    attempts: int = 1
    backoff: Backoff | None = None
    backoff_error: BaseException | None = None
    timeout: float | None = None
    keep_completed: tuple[int, int] = keep_for(None, DEFAULT_KEEP_COMPLETED)
    keep_failed: tuple[int, int] = keep_for(None, DEFAULT_KEEP_FAILED)
    deduplication_id: str | None = None
    group_id: str | None = None
    trace_context: Mapping[str, Any] | None = None
    corrupt: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, stored: bytes | str | None, raw: Any) -> RunOptions:
        """`decode(raw)`, where `stored` is the JSON text `raw` was parsed from: the jobs of a queue share a
        few option texts, so each text is decoded once per process, not once per job."""
        if not isinstance(stored, bytes | str):
            return cls.decode(raw)
        found = _by_text.get(stored)
        if found is None:
            found = cls.decode(raw)
            if len(_by_text) >= _CACHE_SIZE:
                _by_text.clear()
            _by_text[stored] = found
        return found

    @classmethod
    def decode(cls, raw: Any) -> RunOptions:
        """The runtime's view of a stored options dict (anything else counts as no options)."""
        if not isinstance(raw, dict) or not raw:
            return _DEFAULT
        corrupt: dict[str, Any] = {}
        attempts = raw.get("attempts", 1)
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            corrupt["attempts"] = attempts
            attempts = 1
        keep: dict[str, tuple[int, int]] = {}
        for name, default in (
            ("remove_on_complete", DEFAULT_KEEP_COMPLETED),
            ("remove_on_fail", DEFAULT_KEEP_FAILED),
        ):
            try:
                keep[name] = _keep(raw.get(name), default)
            except Exception:  # not a retention rule: the default one
                corrupt[name] = raw.get(name)
                keep[name] = keep_for(None, default)
        backoff, backoff_error = _backoff(raw.get("backoff"))
        dedup, group_id, carrier = raw.get("deduplication"), raw.get("group_id"), raw.get("trace_context")
        return cls(
            attempts=attempts,
            backoff=backoff,
            backoff_error=backoff_error,
            timeout=_timeout(raw.get("timeout"), corrupt),
            keep_completed=keep["remove_on_complete"],
            keep_failed=keep["remove_on_fail"],
            deduplication_id=dedup.get("id") if isinstance(dedup, dict) else None,
            group_id=group_id if isinstance(group_id, str) else None,
            trace_context=carrier if isinstance(carrier, dict) else None,
            corrupt=corrupt,
        )


# Validated backoff and retention rules by their stored value: jobs of one queue share a handful of them,
# so each is validated once per process, not once per job.
_CACHE_SIZE = 256
_by_text: dict[bytes | str, RunOptions] = {}
_backoffs: dict[tuple[tuple[str, Any], ...], Backoff] = {}
_retentions: dict[tuple[tuple[str, Any], ...], KeepJobs] = {}


def _cache_key(raw: dict[str, Any]) -> tuple[tuple[str, Any], ...] | None:
    # The type is part of the key: 1, 1.0 and True are equal in Python but not the same stored rule.
    items = tuple(sorted((k, (type(v).__name__, v)) for k, v in raw.items()))
    try:
        hash(items)
    except TypeError:  # a nested value: not a rule nestq wrote; validated (and refused) every time
        return None
    return items


def _validated(model: type[M], raw: dict[str, Any], cache: dict[tuple[tuple[str, Any], ...], M]) -> M:
    key = _cache_key(raw)
    found = cache.get(key) if key is not None else None
    if found is None:
        found = model.model_validate(raw)
        if key is not None:
            if len(cache) >= _CACHE_SIZE:
                cache.clear()
            cache[key] = found
    return found


def _backoff(raw: Any) -> tuple[Backoff | None, BaseException | None]:
    if not raw:
        return None, None
    try:
        if isinstance(raw, dict):
            return _validated(Backoff, raw, _backoffs), None
        return Backoff.model_validate(raw), None
    except Exception as exc:
        return None, exc


def _timeout(raw: Any, corrupt: dict[str, Any]) -> float | None:
    if raw is None or raw == 0:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float) or raw < 0:
        corrupt["timeout"] = raw
        return None
    return float(raw)


_DEFAULT = RunOptions()
