"""The smaller findings of issue 13: deep JSON, non-finite intervals, redacted URLs, queue names."""

from __future__ import annotations

import ssl

import pydantic
import pytest
from redis.exceptions import AuthenticationError, NoPermissionError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError

from framework import InvalidJobDataError, Repeat, Worker
from framework.connection import is_permanent
from framework.queue import serialization
from framework.queue.durations import to_seconds
from framework.settings import redact_url


def test_deeply_nested_data_is_a_clear_error() -> None:
    """Data nested 2000 levels deep raises InvalidJobDataError saying so, not a bare RecursionError."""
    data: list[object] = []
    for _ in range(2000):
        data = [data]
    with pytest.raises(InvalidJobDataError, match="nested too deeply"):
        serialization.dumps(data)


@pytest.mark.parametrize("every", [float("nan"), float("inf"), -1.0])
def test_repeat_every_must_be_finite_and_names_the_field(every: float) -> None:
    """Repeat(every=nan/inf) is refused with a message naming `every`."""
    with pytest.raises(pydantic.ValidationError, match="every"):
        Repeat(every=every)


def test_durations_refuse_infinity() -> None:
    """A duration of infinity is refused, naming the field."""
    with pytest.raises(ValueError, match="lock_duration"):
        to_seconds(float("inf"), field="lock_duration")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://secret@host:6379/0", "redis://***@host:6379/0"),
        ("redis://user:pw@host/0", "redis://user:***@host/0"),
        ("rediss://default:p@ss@host", "rediss://default:***@host"),
        ("redis://host:6379", "redis://host:6379"),
    ],
)
def test_redact_url_hides_a_lone_userinfo(url: str, shown: str) -> None:
    """redact_url hides `redis://secret@host` too (a token written without a user name)."""
    assert redact_url(url) == shown


@pytest.mark.parametrize("name", ["", "a:b", "{x}"])
def test_worker_checks_its_queue_name_at_construction(name: str) -> None:
    """Worker("a:b", ...) raises at once, like Queue, not later in run()."""
    with pytest.raises(ValueError, match="queue name"):
        Worker(name, lambda job: None)


def _caused_by(error: BaseException, cause: BaseException) -> BaseException:
    error.__cause__ = cause
    return error


@pytest.mark.parametrize(
    ("error", "permanent"),
    [
        (AuthenticationError("invalid username-password pair"), True),
        (NoPermissionError("this user has no permissions to run the 'evalsha' command"), True),
        (ResponseError("NOPERM this user has no permissions to access one of the keys"), True),
        (
            _caused_by(RedisConnectionError("Error 1 connecting"), ssl.SSLCertVerificationError("verify")),
            True,
        ),
        (RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused."), False),
        (ResponseError("BUSY Redis is busy running a script"), False),
    ],
)
def test_permanent_errors_are_told_apart(error: BaseException, permanent: bool) -> None:
    """Wrong password, NOPERM and TLS verification are permanent; refused connections and BUSY are not."""
    assert is_permanent(error) is permanent
